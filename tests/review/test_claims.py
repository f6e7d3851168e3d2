"""Claims with leases: one holder at a time, proven under real concurrency on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch import accounts
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import AuditEvent, Decision, ReviewItem, User
from threatwatch.domain import Label, Role
from threatwatch.review import (
    CLAIM_LEASE,
    ClaimConflict,
    ItemNotFound,
    claim_item,
    claim_next,
    decide_item,
    release_item,
)

from .conftest import NOW, PASSWORD, MakeItem, add_item, later, make_official, make_source


def test_claim_holds_item_until_lease_expires(
    session: Session, make_item: MakeItem, ann: User, bob: User
) -> None:
    item = make_item()
    claimed = claim_item(session, item_id=item.id, user=ann, now=NOW)
    assert (claimed.status, claimed.assignee_id, claimed.lease_expires_at) == (
        "claimed",
        ann.id,
        NOW + CLAIM_LEASE,
    )
    with pytest.raises(ClaimConflict, match="held by ann"):
        claim_item(session, item_id=item.id, user=bob, now=later(1))
    # Claiming again renews the holder's lease.
    assert (
        claim_item(session, item_id=item.id, user=ann, now=later(10)).lease_expires_at
        == later(10) + CLAIM_LEASE
    )
    # Once the lease has run out, another analyst may take it over.
    taken = claim_item(session, item_id=item.id, user=bob, now=later(10) + CLAIM_LEASE + timedelta(seconds=1))
    assert taken.assignee_id == bob.id
    actions = session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "claim")).all()
    assert actions == ["ann", "ann", "bob"]


def test_claim_errors(session: Session, make_item: MakeItem, ann: User, bob: User) -> None:
    with pytest.raises(ItemNotFound):
        claim_item(session, item_id=999_999, user=ann, now=NOW)
    item = make_item()
    decide_item(session, item_id=item.id, user=ann, label=Label.THREAT, now=NOW)
    with pytest.raises(ClaimConflict, match="already decided"):
        claim_item(session, item_id=item.id, user=bob, now=NOW)
    with pytest.raises(ClaimConflict, match="already decided"):
        claim_item(session, item_id=item.id, user=ann, now=NOW)


def test_release_only_by_holder(session: Session, make_item: MakeItem, ann: User, bob: User) -> None:
    item = make_item()
    claim_item(session, item_id=item.id, user=ann, now=NOW)
    with pytest.raises(ClaimConflict, match="held by ann"):
        release_item(session, item_id=item.id, user=bob, now=NOW)
    release_item(session, item_id=item.id, user=ann, now=later(1))
    session.refresh(item)
    assert (item.status, item.assignee_id, item.lease_expires_at) == ("open", None, None)
    with pytest.raises(ClaimConflict, match="not claimed"):
        release_item(session, item_id=item.id, user=ann, now=later(2))


def test_claim_next_takes_most_urgent_free_item_and_honours_filters(
    session: Session, make_item: MakeItem, ann: User, bob: User
) -> None:
    mayor = make_official(session, "Anna de Vries")
    abuse = make_item(label="abuse", score=0.99)
    threat_low = make_item(label="threat", score=0.6, officials=(mayor,))
    threat_high = make_item(label="threat", score=0.95)
    doxxing = make_item(label="doxxing", score=0.9, officials=(mayor,))

    first = claim_next(session, user=ann, now=NOW)
    assert first is not None and first.id == threat_high.id
    # ann's claim is skipped: bob gets the next one; filters narrow the choice.
    second = claim_next(session, user=bob, now=NOW)
    assert second is not None and second.id == doxxing.id
    only_mayor = claim_next(session, user=bob, now=NOW, official_id=mayor.id)
    assert only_mayor is not None and only_mayor.id == threat_low.id
    assert claim_next(session, user=bob, now=NOW, label="threat") is None
    last = claim_next(session, user=bob, now=NOW)
    assert last is not None and last.id == abuse.id
    assert claim_next(session, user=bob, now=NOW) is None
    # An expired lease makes ann's item available again.
    again = claim_next(session, user=bob, now=NOW + CLAIM_LEASE + timedelta(seconds=1))
    assert again is not None and again.id == threat_high.id and again.assignee_id == bob.id


WORKERS = 8
ITEMS = 60


def test_concurrent_analysts_decide_every_item_exactly_once(database_url: str) -> None:
    """Many analysts claim and decide at once on a real database: no item is lost or decided twice."""
    factory = session_factory(engine_for(database_url))
    with factory() as setup, setup.begin():
        source = make_source(setup)
        official = make_official(setup, "Piet Jansen")
        for n in range(ITEMS):
            add_item(setup, source=source, score=0.5 + (n % 10) / 20, officials=(official,) if n % 2 else ())
        users = [
            accounts.create_user(setup, username=f"analyst{n}", password=PASSWORD, role=Role.ANALYST)
            for n in range(WORKERS)
        ]
        user_ids = [u.id for u in users]

    start = threading.Barrier(WORKERS)
    decided: dict[int, list[int]] = {uid: [] for uid in user_ids}
    errors: list[BaseException] = []

    def analyst(user_id: int) -> None:
        try:
            with factory() as session:
                user = session.get(User, user_id)
                assert user is not None
                session.commit()
                start.wait()
                while True:
                    with session.begin():
                        item = claim_next(session, user=user, now=NOW)
                        if item is None:
                            return
                        decide_item(session, item_id=item.id, user=user, label=Label.NONE, now=NOW)
                        decided[user_id].append(item.id)
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)

    threads = [threading.Thread(target=analyst, args=(uid,)) for uid in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    all_decided = [item_id for ids in decided.values() for item_id in ids]
    assert len(all_decided) == ITEMS and len(set(all_decided)) == ITEMS
    with factory() as check:
        per_item = Counter(check.scalars(select(Decision.review_item_id)).all())
        assert len(per_item) == ITEMS and set(per_item.values()) == {1}
        statuses = dict(
            check.execute(select(ReviewItem.status, func.count()).group_by(ReviewItem.status)).all()
        )
        assert statuses == {"dismissed": ITEMS}
    # More than one analyst got work (the test would be vacuous if one thread did everything).
    assert sum(1 for ids in decided.values() if ids) > 1


def test_two_analysts_racing_for_one_item(database_url: str) -> None:
    """Both try to claim and decide the same item at the same moment: exactly one wins."""
    factory = session_factory(engine_for(database_url))
    with factory() as setup, setup.begin():
        item_id = add_item(setup, source=make_source(setup)).id
        ids = [
            accounts.create_user(setup, username=name, password=PASSWORD, role=Role.ANALYST).id
            for name in ("ann", "bob")
        ]
    outcomes: list[str] = []
    start = threading.Barrier(len(ids))

    def race(user_id: int) -> None:
        with factory() as session:
            user = session.get(User, user_id)
            assert user is not None
            session.commit()
            start.wait()
            try:
                with session.begin():
                    decide_item(session, item_id=item_id, user=user, label=Label.THREAT, now=NOW)
                outcomes.append("won")
            except ClaimConflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=race, args=(uid,)) for uid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict", "won"]
    with factory() as check:
        assert check.scalar(select(func.count()).select_from(Decision)) == 1
