"""HTTP behaviour of a round over many sources: per-host limits, Retry-After, back-off, User-Agent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

from threatwatch.collect.fetch import FetchResult
from threatwatch.collect.run import FetchOutcome, store_health_outcomes
from threatwatch.collect.sources import add_source
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Source
from threatwatch.db.types import utcnow

from ..loopback import LoopbackServer, Route
from .helpers import run_round

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def test_sources_are_fetched_concurrently_but_never_more_than_the_host_limit(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    for i in range(6):
        loopback.routes[f"/f{i}.xml"] = Route(body=FEED, delay_s=1.0)  # long enough to overlap under load
        add_source(session, url=loopback.url(f"/f{i}.xml"), poll_interval_s=60)
    session.commit()
    settings = settings.model_copy(update={"per_host_concurrency": 2, "fetch_workers": 6})
    reports = run_round(settings)
    assert len(reports) == 6 and all(r.ok for r in reports.values())
    assert loopback.max_in_flight == 2  # concurrent, and bounded per host


def test_retry_after_sets_the_next_poll_and_user_agent_is_clear(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    loopback.routes["/busy.xml"] = Route(status=429, headers={"Retry-After": "900"})
    loopback.routes["/down.xml"] = Route(status=503)
    busy = add_source(session, url=loopback.url("/busy.xml"), poll_interval_s=60)
    down = add_source(session, url=loopback.url("/down.xml"), poll_interval_s=60)
    session.commit()
    before = utcnow()
    run_round(settings)
    session.expire_all()
    busy_row, down_row = session.get(Source, busy.id), session.get(Source, down.id)
    assert busy_row is not None and down_row is not None
    assert busy_row.next_poll_at is not None and down_row.next_poll_at is not None
    assert busy_row.next_poll_at - before >= timedelta(seconds=900)
    assert timedelta(seconds=60) <= down_row.next_poll_at - before < timedelta(seconds=70)
    assert "HTTP 429" in (busy_row.last_error or "")
    assert loopback.request_headers["/busy.xml"]["User-Agent"] == settings.user_agent
    assert run_round(settings, force=False) == {}  # neither is due yet


def test_unchanged_and_failed_sources_are_recorded_together_or_one_by_one(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    """304s and errors only update health, in one transaction; when that transaction fails (here: a
    source deleted while its fetch ran), each outcome is recorded alone and only the bad one is lost."""
    loopback.routes["/same.xml"] = Route(body=FEED, etag='"v1"')
    loopback.routes["/gone.xml"] = Route(status=404)
    same = add_source(session, url=loopback.url("/same.xml"), poll_interval_s=60)
    gone = add_source(session, url=loopback.url("/gone.xml"), poll_interval_s=60)
    session.commit()
    assert run_round(settings)[same.id].new_posts == 0  # first poll: 200 with an ETag
    sessions = session_factory(engine_for(settings.database_url))
    outcomes = [
        FetchOutcome(source_id=same.id, result=FetchResult(url=same.url, not_modified=True, etag='"v1"')),
        FetchOutcome(source_id=gone.id, error="HTTP 404"),
        FetchOutcome(source_id=10_000_000, result=FetchResult(url="x", not_modified=True)),  # vanished
    ]
    reports = store_health_outcomes(sessions, outcomes=outcomes, settings=settings, owner=None)
    assert [(r.source_id, r.ok, r.not_modified) for r in reports] == [
        (same.id, True, True),
        (gone.id, False, False),
        (10_000_000, False, False),
    ]
    assert "vanished" in (reports[2].error or "")
    session.expire_all()
    same_row, gone_row = session.get(Source, same.id), session.get(Source, gone.id)
    assert same_row is not None and gone_row is not None
    assert same_row.consecutive_failures == 0 and same_row.last_error is None
    assert gone_row.last_error == "HTTP 404" and gone_row.consecutive_failures == 2

    again = run_round(settings)  # a real round: the unchanged source answers 304
    assert again[same.id].not_modified and not again[gone.id].ok


def test_a_round_of_unchanged_sources_costs_a_fixed_number_of_statements(
    session: Session, settings: Settings
) -> None:
    """Recording 304s is one SELECT and the UPDATEs at commit, however many sources: a lookup per
    source (the identity map losing the loaded rows) would also flush the previous UPDATE each time."""
    sources = [
        add_source(session, url=f"https://feeds.example/{i}.xml", poll_interval_s=60) for i in range(12)
    ]
    session.commit()
    sessions = session_factory(engine_for(settings.database_url))
    outcomes = [
        FetchOutcome(source_id=s.id, result=FetchResult(url=s.url, not_modified=True, etag=f'"{s.id}"'))
        for s in sources
    ]
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    engine = engine_for(settings.database_url)
    event.listen(engine, "before_cursor_execute", count)
    try:
        reports = store_health_outcomes(sessions, outcomes=outcomes, settings=settings, owner=None)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert all(r.ok and r.not_modified for r in reports) and len(reports) == 12
    assert statements.count("SELECT") == 1, statements
    assert len(statements) <= 3, statements  # SELECT, then the UPDATEs (one executemany) at commit
    session.expire_all()
    assert [session.get(Source, s.id).etag for s in sources] == [f'"{s.id}"' for s in sources]  # type: ignore[union-attr]
