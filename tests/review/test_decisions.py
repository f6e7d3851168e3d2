"""Decisions as training labels, undo, bulk dismissal and escalation (with its domain event)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from threatwatch import events
from threatwatch.config import Settings
from threatwatch.db.models import AuditEvent, Decision, Escalation, User
from threatwatch.domain import Label, Urgency
from threatwatch.review import (
    UNDO_WINDOW,
    ClaimConflict,
    DecisionError,
    ItemNotFound,
    bulk_dismiss,
    claim_item,
    decide_item,
    escalate_item,
    list_queue,
    undo_decision,
)

from .conftest import NOW, MakeItem, later, make_official


def _audit(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def test_decide_stores_a_training_label_with_who_and_when(
    session: Session, make_item: MakeItem, ann: User
) -> None:
    confirmed, corrected = make_item(label="threat"), make_item(label="coercion")
    claim_item(session, item_id=confirmed.id, user=ann, now=NOW)
    first = decide_item(session, item_id=confirmed.id, user=ann, label=Label.THREAT, note="  ", now=later(1))
    # A free item is claimed implicitly; a different label is recorded as a correction.
    second = decide_item(
        session, item_id=corrected.id, user=ann, label="abuse", note="scheldpartij", now=later(2)
    )
    assert (first.label, first.model_label, first.corrected, first.note) == ("threat", "threat", False, None)
    assert (second.label, second.model_label, second.corrected, second.note) == (
        "abuse",
        "coercion",
        True,
        "scheldpartij",
    )
    assert (first.user_id, first.created_at, first.undone_at) == (ann.id, later(1), None)
    session.refresh(confirmed)
    assert (confirmed.status, confirmed.assignee_id, confirmed.lease_expires_at) == ("decided", ann.id, None)
    assert list_queue(session) == []
    assert [e.details["label"] for e in _audit(session, "decide")] == ["threat", "abuse"]


def test_decide_refuses_bad_input_and_other_holders(
    session: Session, make_item: MakeItem, ann: User, bob: User
) -> None:
    item = make_item()
    with pytest.raises(DecisionError, match="unknown label 'bedreiging'"):
        decide_item(session, item_id=item.id, user=ann, label="bedreiging", now=NOW)
    with pytest.raises(DecisionError, match="at most"):
        decide_item(session, item_id=item.id, user=ann, label="threat", note="x" * 5000, now=NOW)
    with pytest.raises(ItemNotFound):
        decide_item(session, item_id=item.id + 1000, user=ann, label="threat", now=NOW)
    claim_item(session, item_id=item.id, user=bob, now=NOW)
    with pytest.raises(ClaimConflict, match="held by bob"):
        decide_item(session, item_id=item.id, user=ann, label="threat", now=later(1))
    # Nothing was written by the refused attempts; the item is still bob's.
    assert session.scalars(select(Decision)).all() == []
    decide_item(session, item_id=item.id, user=bob, label="none", now=later(2))
    session.refresh(item)
    assert item.status == "dismissed"
    with pytest.raises(ClaimConflict, match="already dismissed"):
        decide_item(session, item_id=item.id, user=bob, label="threat", now=later(3))


def test_database_refuses_a_second_live_decision(session: Session, make_item: MakeItem, ann: User) -> None:
    item = make_item()
    decide_item(session, item_id=item.id, user=ann, label="threat", now=NOW)
    session.add(Decision(review_item_id=item.id, user_id=ann.id, label="none", created_at=NOW))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_undo_within_window_returns_item_to_its_analyst(
    session: Session, make_item: MakeItem, ann: User, bob: User
) -> None:
    item = make_item()
    decision = decide_item(session, item_id=item.id, user=ann, label="none", now=NOW)
    with pytest.raises(DecisionError, match="only the analyst"):
        undo_decision(session, decision_id=decision.id, user=bob, now=later(1))
    undo_decision(session, decision_id=decision.id, user=ann, now=later(1))
    session.refresh(item)
    session.refresh(decision)
    assert (item.status, item.assignee_id) == ("claimed", ann.id)
    assert decision.undone_at == later(1)
    with pytest.raises(DecisionError, match="undone already"):
        undo_decision(session, decision_id=decision.id, user=ann, now=later(2))
    # The corrected decision is the live label; the undone one stays for the record.
    redo = decide_item(session, item_id=item.id, user=ann, label="threat", now=later(2))
    assert [d.label for d in session.scalars(select(Decision).where(Decision.undone_at.is_(None)))] == [
        "threat"
    ]
    with pytest.raises(DecisionError, match="can be undone for 5 minutes"):
        undo_decision(
            session, decision_id=redo.id, user=ann, now=later(2) + UNDO_WINDOW + timedelta(seconds=1)
        )
    with pytest.raises(ItemNotFound):
        undo_decision(session, decision_id=redo.id + 100, user=ann, now=later(3))
    assert len(_audit(session, "undo_decision")) == 1


def test_bulk_dismiss_skips_items_held_by_others_or_decided(
    session: Session, make_item: MakeItem, ann: User, bob: User
) -> None:
    free, mine, bobs, done = (make_item(label="abuse") for _ in range(4))
    claim_item(session, item_id=mine.id, user=ann, now=NOW)
    claim_item(session, item_id=bobs.id, user=bob, now=NOW)
    decide_item(session, item_id=done.id, user=bob, label="threat", now=NOW)
    count = bulk_dismiss(
        session, item_ids=[free.id, mine.id, bobs.id, done.id, free.id], user=ann, now=later(1), note="ruis"
    )
    assert count == 2
    dismissed = session.scalars(select(Decision).where(Decision.label == "none").order_by(Decision.id)).all()
    assert [(d.review_item_id, d.user_id, d.note, d.corrected) for d in dismissed] == [
        (free.id, ann.id, "ruis", True),
        (mine.id, ann.id, "ruis", True),
    ]
    assert [e.id for e in list_queue(session)] == [bobs.id]
    assert bulk_dismiss(session, item_ids=[], user=ann, now=later(2)) == 0
    assert _audit(session, "bulk_dismiss")[0].details["dismissed"] == [free.id, mine.id]


def test_escalate_publishes_event_in_the_same_transaction(
    session: Session,
    make_item: MakeItem,
    ann: User,
    bob: User,
    published_events: list[Any],
    settings: Settings,
) -> None:
    mayor, alderman = (
        make_official(session, "Anna de Vries"),
        make_official(session, "Kees Bakker", "wethouder"),
    )
    item = make_item(officials=(alderman, mayor))
    with pytest.raises(DecisionError, match="decide the item"):
        escalate_item(session, settings=settings, item_id=item.id, user=ann, urgency="high", now=NOW)
    decide_item(session, item_id=item.id, user=ann, label="doxxing", now=NOW)
    with pytest.raises(DecisionError, match="unknown urgency"):
        escalate_item(session, settings=settings, item_id=item.id, user=ann, urgency="urgent", now=NOW)
    escalation = escalate_item(
        session,
        settings=settings,
        item_id=item.id,
        user=bob,
        urgency=Urgency.CRITICAL,
        note="adres gepubliceerd",
        now=later(1),
    )
    assert (escalation.urgency, escalation.user_id, escalation.note, escalation.created_at) == (
        "critical",
        bob.id,
        "adres gepubliceerd",
        later(1),
    )
    assert published_events == [
        events.ItemEscalated(
            review_item_id=item.id,
            post_id=item.post_id,
            official_ids=tuple(sorted((mayor.id, alderman.id))),
            label="doxxing",
            urgency="critical",
            escalated_by="bob",
            at=later(1),
        )
    ]
    session.refresh(item)
    assert item.status == "escalated"
    # An escalated decision can no longer be undone.
    decision = session.scalars(select(Decision)).one()
    with pytest.raises(DecisionError, match="escalated"):
        undo_decision(session, decision_id=decision.id, user=ann, now=later(2))
    assert len(_audit(session, "escalate")) == 1


def test_escalation_rolls_back_with_its_transaction(
    session: Session, make_item: MakeItem, ann: User, published_events: list[Any], settings: Settings
) -> None:
    item = make_item()
    session.commit()
    decide_item(session, item_id=item.id, user=ann, label="threat", now=NOW)
    escalate_item(session, settings=settings, item_id=item.id, user=ann, urgency="low", now=NOW)
    session.rollback()
    assert session.scalars(select(Escalation)).all() == []
    assert session.scalars(select(Decision)).all() == []


def test_dismissed_item_cannot_be_escalated(
    session: Session, make_item: MakeItem, ann: User, bob: User, settings: Settings
) -> None:
    item, held = make_item(), make_item()
    decide_item(session, item_id=item.id, user=ann, label="none", now=NOW)
    with pytest.raises(DecisionError, match="dismissed as none"):
        escalate_item(session, settings=settings, item_id=item.id, user=ann, urgency="low", now=NOW)
    claim_item(session, item_id=held.id, user=ann, now=NOW)
    with pytest.raises(ClaimConflict):
        escalate_item(session, settings=settings, item_id=held.id, user=bob, urgency="low", now=NOW)
    with pytest.raises(ItemNotFound):
        escalate_item(session, settings=settings, item_id=held.id + 100, user=bob, urgency="low", now=NOW)


def test_only_an_escalated_item_can_be_closed_and_closing_is_audited(
    session: Session, make_item: MakeItem, ann: User, bob: User, settings: Settings
) -> None:
    from threatwatch.review.decisions import close_item

    item = make_item()
    with pytest.raises(DecisionError, match=r"only an escalated item can be closed; item \d+ is open"):
        close_item(session, item_id=item.id, user=bob, now=NOW)
    decide_item(session, item_id=item.id, user=ann, label="threat", now=NOW)
    escalate_item(session, settings=settings, item_id=item.id, user=ann, urgency="high", now=NOW)
    assert [e.id for e in list_queue(session, status="escalated")] == [item.id]

    close_item(session, item_id=item.id, user=bob, note="  burgemeester gebeld ", now=later(60))
    assert (item.status, item.updated_at) == ("closed", later(60))
    assert list_queue(session, status="escalated") == []  # off the support team's list
    with pytest.raises(DecisionError, match="is closed"):
        close_item(session, item_id=item.id, user=bob, now=later(61))
    with pytest.raises(ItemNotFound):
        close_item(session, item_id=987654, user=bob, now=NOW)
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "close_escalation")).all()
    assert [(a.actor, a.object_id, a.details) for a in audit] == [
        (bob.username, str(item.id), {"note": "burgemeester gebeld"})
    ]
