"""Decisions (which double as training labels), undo, bulk dismissal and escalation.

A decision is only written by the transaction whose conditional UPDATE moved the item out of the queue,
and a partial unique index allows one live decision per item, so an item is decided exactly once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from threatwatch import audit, events
from threatwatch.config import Settings
from threatwatch.db.models import Classification, Decision, Escalation, Mention, ReviewItem, User
from threatwatch.domain import Label, ReviewStatus, Urgency
from threatwatch.persons.profile import refresh_persons_of_items
from threatwatch.review.claims import CLAIM_LEASE, _conflict
from threatwatch.review.errors import ClaimConflict, DecisionError, ItemNotFound
from threatwatch.review.queue import ITEMS, claimable_clause, rowcount

logger = logging.getLogger(__name__)

# How long an analyst can take back a decision (a mis-key in a fast keyboard workflow).
UNDO_WINDOW = timedelta(minutes=5)
MAX_NOTE_LENGTH = 4000
DECIDED_STATUSES = (ReviewStatus.DECIDED.value, ReviewStatus.DISMISSED.value)


def _label(value: Label | str) -> Label:
    try:
        return Label(value)
    except ValueError:
        raise DecisionError(f"unknown label {value!r}; one of {', '.join(Label)}") from None


def _note(note: str | None) -> str | None:
    if note is None or not note.strip():
        return None
    if len(note) > MAX_NOTE_LENGTH:
        raise DecisionError(f"a note is at most {MAX_NOTE_LENGTH} characters")
    return note.strip()


def _status_for(label: Label) -> str:
    return (ReviewStatus.DISMISSED if label is Label.NONE else ReviewStatus.DECIDED).value


def decide_item(
    session: Session, *, item_id: int, user: User, label: Label | str, note: str | None = None, now: datetime
) -> Decision:
    """Confirm or correct the model's label. The item must be held by ``user`` or free (then it is
    claimed implicitly); ClaimConflict when another holds it or it is decided already."""
    chosen, note = _label(label), _note(note)
    item = session.scalars(
        update(ReviewItem)
        .where(ReviewItem.id == item_id, claimable_clause(user_id=user.id, now=now))
        .values(status=_status_for(chosen), assignee_id=user.id, lease_expires_at=None, updated_at=now)
        .returning(ReviewItem)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()
    if item is None:
        raise _conflict(session, item_id=item_id)
    model_label = item.classification.label
    decision = Decision(
        review_item_id=item_id,
        user_id=user.id,
        label=chosen.value,
        model_label=model_label,
        corrected=chosen.value != model_label,
        note=note,
        created_at=now,
    )
    session.add(decision)
    session.flush()
    audit.record(
        session,
        actor=user.username,
        action="decide",
        object_type="review_item",
        object_id=item_id,
        details={"decision_id": decision.id, "label": chosen.value, "corrected": decision.corrected},
    )
    refresh_persons_of_items(session, item_ids=[item_id], now=now)  # the label that counts changed
    return decision


def undo_decision(session: Session, *, decision_id: int, user: User, now: datetime) -> None:
    """Take back one's own decision within UNDO_WINDOW; the item returns to ``user``'s claim."""
    decision = session.get(Decision, decision_id, populate_existing=True)
    if decision is None:
        raise ItemNotFound(f"no decision {decision_id}")
    if decision.user_id != user.id:
        raise DecisionError("only the analyst who made a decision can undo it")
    if decision.undone_at is not None:
        raise DecisionError(f"decision {decision_id} was undone already")
    if now - decision.created_at > UNDO_WINDOW:
        raise DecisionError(f"decisions can be undone for {int(UNDO_WINDOW.total_seconds() // 60)} minutes")
    result = session.execute(
        update(ReviewItem)
        .where(ReviewItem.id == decision.review_item_id, ReviewItem.status.in_(DECIDED_STATUSES))
        .values(
            status=ReviewStatus.CLAIMED.value,
            assignee_id=user.id,
            lease_expires_at=now + CLAIM_LEASE,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise DecisionError("the item has been escalated since; an escalation cannot be undone")
    decision.undone_at = now
    session.flush()
    session.get(ReviewItem, decision.review_item_id, populate_existing=True)
    audit.record(
        session,
        actor=user.username,
        action="undo_decision",
        object_type="review_item",
        object_id=decision.review_item_id,
        details={"decision_id": decision_id},
    )
    refresh_persons_of_items(session, item_ids=[decision.review_item_id], now=now)


def bulk_dismiss(
    session: Session, *, item_ids: list[int], user: User, now: datetime, note: str | None = None
) -> int:
    """Label obvious noise ``none`` in one go; items held by others or decided already are skipped.
    Returns how many were dismissed."""
    note = _note(note)
    ids = sorted(set(item_ids))
    if not ids:
        return 0
    table = ITEMS
    dismissed: list[int] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        dismissed += session.scalars(
            update(table)
            .where(table.c.id.in_(chunk), claimable_clause(user_id=user.id, now=now))
            .values(
                status=ReviewStatus.DISMISSED.value,
                assignee_id=user.id,
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(table.c.id)
        ).all()
    labels: dict[int, str] = {
        item_id: label
        for item_id, label in session.execute(
            select(ReviewItem.id, Classification.label)
            .join(Classification, Classification.id == ReviewItem.classification_id)
            .where(ReviewItem.id.in_(dismissed))
        )
    }
    for item_id in sorted(dismissed):
        model_label = labels.get(item_id)
        session.add(
            Decision(
                review_item_id=item_id,
                user_id=user.id,
                label=Label.NONE.value,
                model_label=model_label,
                corrected=model_label != Label.NONE.value,
                note=note,
                created_at=now,
            )
        )
    session.flush()
    if dismissed:
        session.expire_all()
    audit.record(
        session,
        actor=user.username,
        action="bulk_dismiss",
        object_type="review_item",
        details={"requested": ids, "dismissed": sorted(dismissed)},
    )
    refresh_persons_of_items(session, item_ids=dismissed, now=now)
    return len(dismissed)


def escalate_item(
    session: Session,
    *,
    item_id: int,
    user: User,
    urgency: Urgency | str,
    note: str | None = None,
    now: datetime,
    settings: Settings,
) -> Escalation:
    """Mark a decided item for the support team of its officials and publish ``ItemEscalated`` in the
    same transaction (alerts read it). The item must carry a live decision other than ``none``; decide
    first (the web app does both in one request)."""
    try:
        level = Urgency(urgency)
    except ValueError:
        raise DecisionError(f"unknown urgency {urgency!r}; one of {', '.join(Urgency)}") from None
    note = _note(note)
    item = session.get(ReviewItem, item_id, populate_existing=True)
    if item is None:
        raise ItemNotFound(f"no review item {item_id}")
    live = session.scalars(
        select(Decision)
        .where(Decision.review_item_id == item_id, Decision.undone_at.is_(None))
        .order_by(Decision.id)
    ).all()
    if not live:
        if item.status == ReviewStatus.CLAIMED.value and item.assignee_id != user.id:
            raise ClaimConflict(f"item {item_id} is held by another analyst")
        raise DecisionError("decide the item (a label other than none) before escalating it")
    decision = live[-1]
    if decision.label == Label.NONE.value:
        raise DecisionError("an item dismissed as none cannot be escalated; undo or re-decide it first")
    moved = session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.id == item_id,
            ReviewItem.status.in_([ReviewStatus.DECIDED.value, ReviewStatus.ESCALATED.value]),
        )
        .values(status=ReviewStatus.ESCALATED.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved) != 1:
        raise DecisionError(f"item {item_id} changed meanwhile (decision undone?); reload and try again")
    escalation = Escalation(
        review_item_id=item_id, user_id=user.id, urgency=level.value, note=note, created_at=now
    )
    session.add(escalation)
    session.flush()
    official_ids = tuple(
        session.scalars(
            select(Mention.official_id).where(Mention.post_id == item.post_id).order_by(Mention.official_id)
        )
    )
    events.publish(
        session,
        events.ItemEscalated(
            review_item_id=item_id,
            post_id=item.post_id,
            official_ids=official_ids,
            label=decision.label,
            urgency=level.value,
            escalated_by=user.username,
            at=now,
        ),
        settings=settings,
    )
    audit.record(
        session,
        actor=user.username,
        action="escalate",
        object_type="review_item",
        object_id=item_id,
        details={"escalation_id": escalation.id, "urgency": level.value},
    )
    session.get(ReviewItem, item_id, populate_existing=True)
    logger.info("item %s escalated (%s) by %s", item_id, level.value, user.username)
    return escalation


def close_item(session: Session, *, item_id: int, user: User, note: str | None = None, now: datetime) -> None:
    """Mark an escalated item done: the support team has handled it (contacted the official, helped
    with the report). It leaves the escalations list, and retention may erase it once
    ``retention_closed_days`` have passed; before, it is kept whatever its age."""
    note = _note(note)
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ItemNotFound(f"no review item {item_id}")
    closed = session.execute(
        update(ReviewItem)
        .where(ReviewItem.id == item_id, ReviewItem.status == ReviewStatus.ESCALATED.value)
        .values(status=ReviewStatus.CLOSED.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(closed) != 1:
        session.refresh(item)
        raise DecisionError(f"only an escalated item can be closed; item {item_id} is {item.status}")
    audit.record(
        session,
        actor=user.username,
        action="close_escalation",
        object_type="review_item",
        object_id=item_id,
        details={"note": note} if note else None,
    )
    session.get(ReviewItem, item_id, populate_existing=True)
    logger.info("item %s closed by %s", item_id, user.username)
