"""Queue order (severity × score, surge, recency), filters, item detail with audit, official timeline."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.db.models import AuditEvent, User
from threatwatch.review import (
    ItemNotFound,
    QueueCounts,
    claim_item,
    decide_item,
    get_item,
    list_queue,
    official_timeline,
    queue_counts,
)
from threatwatch.review.priority import SURGE_STEP, SURGE_WINDOW, refresh_priorities

from .conftest import NOW, MakeItem, later, make_official, make_source


def test_order_is_severity_times_score_then_recency(session: Session, make_item: MakeItem) -> None:
    abuse = make_item(label="abuse", score=0.99)
    coercion = make_item(label="coercion", score=0.9)
    threat = make_item(label="threat", score=0.9)
    older_twin = make_item(label="threat", score=0.7, created_at=NOW - timedelta(hours=1))
    newer_twin = make_item(label="threat", score=0.7)
    assert [e.id for e in list_queue(session)] == [
        threat.id,
        coercion.id,
        newer_twin.id,
        older_twin.id,
        abuse.id,
    ]
    assert [e.id for e in list_queue(session, limit=2, offset=1)] == [coercion.id, newer_twin.id]


def test_a_surge_about_one_official_raises_all_their_items(session: Session, make_item: MakeItem) -> None:
    targeted, quiet = make_official(session, "Anna de Vries"), make_official(session, "Kees Bakker")
    calm = make_item(label="threat", score=0.75, officials=(quiet,))
    surge = [
        make_item(label="coercion", score=0.7, officials=(targeted,), created_at=NOW - timedelta(minutes=n))
        for n in range(5)
    ]
    stale = make_item(label="coercion", score=0.7, officials=(targeted,), created_at=NOW - 2 * SURGE_WINDOW)
    assert list_queue(session)[0].id == calm.id
    changed = refresh_priorities(session, now=NOW)
    assert changed == len(surge) + 1
    session.expire_all()
    entries = {e.id: e for e in list_queue(session)}
    # Each surge item counts the four others (0.56 + 4 × 0.05); the stale one counts all five.
    assert all(entries[i.id].priority == pytest.approx(0.56 + 4 * SURGE_STEP) for i in surge)
    assert entries[stale.id].priority == pytest.approx(0.56 + 5 * SURGE_STEP)
    assert entries[calm.id].priority == pytest.approx(0.75)
    assert list_queue(session)[-1].id == calm.id
    # When the surge has passed, priorities sink back.
    refresh_priorities(session, now=NOW + 3 * SURGE_WINDOW)
    session.expire_all()
    assert [e.priority for e in list_queue(session) if e.id != calm.id] == [pytest.approx(0.56)] * 6


def test_filters_and_counts(session: Session, make_item: MakeItem, ann: User) -> None:
    mayor = make_official(session, "Anna de Vries")
    other_source = make_source(session, "Andere bron")
    about_mayor = make_item(label="threat", officials=(mayor,))
    doxxing = make_item(label="doxxing", source=other_source)
    decided = make_item(label="threat")
    claim_item(session, item_id=about_mayor.id, user=ann, now=NOW)
    decide_item(session, item_id=decided.id, user=ann, label="threat", now=NOW)
    assert [e.id for e in list_queue(session, official_id=mayor.id)] == [about_mayor.id]
    assert [e.id for e in list_queue(session, label="doxxing")] == [doxxing.id]
    # Items queued without a label get the model's label copied from their classification on insert.
    assert (doxxing.label, about_mayor.label) == ("doxxing", "threat")
    assert [e.id for e in list_queue(session, source_id=other_source.id)] == [doxxing.id]
    assert [e.id for e in list_queue(session, status="decided")] == [decided.id]
    entry = list_queue(session, status="claimed")[0]
    assert (entry.assignee, entry.officials, entry.official_ids) == ("ann", ["Anna de Vries"], [mayor.id])
    assert queue_counts(session) == {"open": 1, "claimed": 1, "decided": 1}
    with pytest.raises(ValueError):
        list_queue(session, status="lost")


def test_large_queue_counts_are_shared_and_recounted_in_the_background(
    session: Session, make_item: MakeItem
) -> None:
    """Above the app's ``min_items`` (here: any queue) a count is reused while fresh, served stale while
    one background thread recounts, and recounted before answering once it is too old; without shared
    counts (the CLI, flows) every call counts."""
    shared = QueueCounts(min_items=1)
    make_item()
    session.commit()  # the background recount reads on its own connection
    assert queue_counts(session, shared=shared) == {"open": 1}
    make_item()
    session.commit()
    assert queue_counts(session) == {"open": 2}  # not shared: exact
    assert queue_counts(session, shared=shared) == {"open": 1}  # fresh: reused
    shared.max_age_s = 0.0
    assert queue_counts(session, shared=shared) == {"open": 1}  # stale: served, and a recount starts
    deadline = time.monotonic() + 30
    while (entry := shared.entry(session)) is None or entry.counts != {"open": 2}:
        assert time.monotonic() < deadline, "the background recount never landed"
        time.sleep(0.05)
    while (entry := shared.entry(session)) is not None and entry.refreshing:  # a later call's recount
        time.sleep(0.05)
    shared.stale_s = 0.0
    make_item()
    session.commit()
    assert queue_counts(session, shared=shared) == {"open": 3}  # too old to serve: counted before answering


def test_get_item_shows_everything_and_is_audited(session: Session, make_item: MakeItem, ann: User) -> None:
    mayor = make_official(session, "Anna de Vries")
    text = "Anna, we weten waar je woont."
    item = make_item(
        text=text,
        officials=(mayor,),
        published_at=NOW - timedelta(hours=2),
        explanation=[{"start": 15, "end": 29, "text": "waar je woont", "weight": 0.4}],
    )
    earlier = make_item(
        text="Eerder bericht over Anna", officials=(mayor,), created_at=NOW - timedelta(days=1)
    )
    decide_item(session, item_id=earlier.id, user=ann, label="abuse", note="grof", now=NOW)
    detail = get_item(session, item_id=item.id, viewer=ann, now=later(1))
    assert (detail.text, detail.author, detail.url, detail.status) == (
        text,
        "@iemand",
        "https://example.org/post",
        "open",
    )
    assert detail.published_at == NOW - timedelta(hours=2) and detail.collected_at == NOW
    assert [o.name for o in detail.officials] == ["Anna de Vries"]
    assert detail.explanation[0]["text"] == "waar je woont"
    assert [(r.review_item_id, r.status, r.label) for r in detail.related] == [
        (earlier.id, "decided", "threat")
    ]
    assert detail.source == "Voorbeeldfeed" and detail.label == "threat" and detail.decisions == []
    other = get_item(session, item_id=earlier.id, viewer=ann, now=later(2))
    assert [(d.label, d.user, d.note, d.corrected) for d in other.decisions] == [
        ("abuse", "ann", "grof", True)
    ]
    views = session.scalars(select(AuditEvent).where(AuditEvent.action == "view_post")).all()
    assert [(v.actor, v.object_id) for v in views] == [("ann", str(item.id)), ("ann", str(earlier.id))]
    with pytest.raises(ItemNotFound):
        get_item(session, item_id=item.id + 100, viewer=ann, now=NOW)


def test_official_timeline_counts_mentions_and_flags_per_day(session: Session, make_item: MakeItem) -> None:
    from threatwatch.db.models import Mention, Post

    mayor = make_official(session, "Anna de Vries")
    make_item(officials=(mayor,), published_at=NOW - timedelta(days=2, hours=1))
    make_item(officials=(mayor,), created_at=NOW - timedelta(hours=1))  # no publication time: collected
    make_item(officials=(mayor,), published_at=NOW - timedelta(days=40))  # outside the window
    make_item(published_at=NOW)  # someone else
    unflagged = Post(
        source_id=make_source(session).id,
        external_id="calm",
        text="Dank Anna!",
        collected_at=NOW,
        published_at=NOW - timedelta(minutes=5),
        content_hash="0" * 64,
    )
    unflagged.mentions = [Mention(official_id=mayor.id, matched_on="Anna")]
    session.add(unflagged)
    session.flush()
    days = official_timeline(session, official_id=mayor.id, days=7, now=NOW)
    assert len(days) == 7 and days[-1].day == NOW.date() and days[0].day == (NOW - timedelta(days=6)).date()
    by_day = {d.day: (d.mentions, d.flagged) for d in days}
    assert by_day[NOW.date()] == (2, 1)
    assert by_day[(NOW - timedelta(days=2)).date()] == (1, 1)
    assert sum(m for m, _ in by_day.values()) == 3
    with pytest.raises(ItemNotFound):
        official_timeline(session, official_id=mayor.id + 100, now=NOW)
    with pytest.raises(ValueError):
        official_timeline(session, official_id=mayor.id, days=0, now=NOW)


def test_viewing_a_page_of_the_queue_records_who_saw_which_items(
    session: Session, make_item: MakeItem
) -> None:
    """One rule for the web page, the API and the CLI: the items shown are audited, and no others."""
    from threatwatch.review.queue import view_queue

    items = [make_item(score=0.9 - i / 10) for i in range(3)]
    shown, more = view_queue(session, viewer="anna", page_size=2)
    assert [e.id for e in shown] == [items[0].id, items[1].id] and more
    rest, more = view_queue(session, viewer="anna", page_size=2, offset=2, action="view_escalations")
    assert [e.id for e in rest] == [items[2].id] and not more
    audited = session.execute(
        select(AuditEvent.actor, AuditEvent.action, AuditEvent.details).order_by(AuditEvent.id)
    ).all()
    assert [tuple(a) for a in audited] == [
        ("anna", "view_queue", {"items": [items[0].id, items[1].id]}),
        ("anna", "view_escalations", {"items": [items[2].id]}),
    ]
