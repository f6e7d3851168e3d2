"""The review queue: flagged posts become items that analysts claim, decide, escalate and export.

Every function takes the session explicitly and never commits; the caller's transaction decides.
"""

from threatwatch.review.claims import CLAIM_LEASE, claim_item, claim_next, release_item
from threatwatch.review.decisions import UNDO_WINDOW, bulk_dismiss, decide_item, escalate_item, undo_decision
from threatwatch.review.detail import (
    DayCount,
    DecisionView,
    EscalationView,
    ItemDetail,
    OfficialRef,
    RelatedPost,
    get_item,
    official_ref,
    official_timeline,
)
from threatwatch.review.errors import ClaimConflict, DecisionError, ItemNotFound, ReviewError
from threatwatch.review.intake import IntakeReport, classify_pending
from threatwatch.review.queue import ACTIVE_STATUSES, QueueCounts, QueueEntry, list_queue, queue_counts

__all__ = [
    "ACTIVE_STATUSES",
    "CLAIM_LEASE",
    "UNDO_WINDOW",
    "ClaimConflict",
    "DayCount",
    "DecisionError",
    "DecisionView",
    "EscalationView",
    "IntakeReport",
    "ItemDetail",
    "ItemNotFound",
    "OfficialRef",
    "QueueCounts",
    "QueueEntry",
    "RelatedPost",
    "ReviewError",
    "bulk_dismiss",
    "claim_item",
    "claim_next",
    "classify_pending",
    "decide_item",
    "escalate_item",
    "get_item",
    "list_queue",
    "official_ref",
    "official_timeline",
    "queue_counts",
    "release_item",
    "undo_decision",
]
