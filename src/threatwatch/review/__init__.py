"""The review queue: flagged posts become items that analysts work through."""

from threatwatch.review.intake import IntakeReport, classify_pending
from threatwatch.review.queue import QueueEntry, list_queue, queue_counts

__all__ = ["IntakeReport", "QueueEntry", "classify_pending", "list_queue", "queue_counts"]
