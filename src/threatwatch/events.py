"""Domain events that other parts of threatwatch react to, inside the transaction that caused them.

``publish`` runs in the caller's session and adds rows only (the outbox pattern): whatever an event
causes (alerts today) is committed or rolled back together with the change that raised it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class PostFlagged:
    """The model flagged a post and it entered the review queue."""

    review_item_id: int
    post_id: int
    official_ids: tuple[int, ...]
    label: str
    score: float
    at: datetime


@dataclass(frozen=True)
class ItemEscalated:
    """An analyst escalated a review item to the support team of the officials it concerns."""

    review_item_id: int
    post_id: int
    official_ids: tuple[int, ...]
    label: str
    urgency: str
    escalated_by: str
    at: datetime


Event = PostFlagged | ItemEscalated


def publish(session: Session, event: Event) -> None:
    """Record what ``event`` causes in ``session``; the caller commits."""
    from threatwatch.alerts import enqueue_alerts

    enqueue_alerts(session=session, event=event)
