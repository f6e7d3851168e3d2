"""Subscriptions and alerts (issue 6): who is told what, through which channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from threatwatch.events import Event


def enqueue_alerts(*, session: Session, event: Event) -> None:
    """Write outbox rows for every subscription ``event`` matches (issue 6 fills this in)."""
    del session, event
