"""When to retrain: after N new labels (checked by a frequent schedule), besides the plain schedule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.db.models import Decision, ExternalLabel, ModelVersion

NOT_A_RUN = "adopted"  # rows the registry made for models it found live, not retraining runs


def last_run_at(session: Session) -> datetime | None:
    return session.scalar(select(func.max(ModelVersion.created_at)).where(ModelVersion.trigger != NOT_A_RUN))


def new_labels_since_last_run(session: Session) -> int:
    """Live analyst decisions plus imported labels made after the last retraining run (all, if none)."""
    since = last_run_at(session)
    decisions = select(func.count(Decision.id)).where(Decision.undone_at.is_(None))
    imported = select(func.count(ExternalLabel.id))
    if since is not None:
        decisions = decisions.where(Decision.created_at > since)
        imported = imported.where(ExternalLabel.created_at > since)
    return int(session.scalar(decisions) or 0) + int(session.scalar(imported) or 0)


def retrain_due(session: Session, *, threshold: int) -> tuple[bool, int]:
    """(due, new label count); a threshold of 0 turns this trigger off."""
    count = new_labels_since_last_run(session)
    return threshold > 0 and count >= threshold, count
