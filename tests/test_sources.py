"""Source records: adding, due-ness and health bookkeeping."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from threatwatch.collect.sources import (
    PAUSE_AFTER_FAILURES,
    SourceError,
    add_source,
    claim_source,
    due_sources,
    new_lease_owner,
    normalise_source_url,
    parse_kind,
    record_failure,
    record_success,
    release_source,
    resume_source,
)
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.domain import SourceKind

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_local_paths_become_file_urls_and_other_schemes_are_refused(tmp_path: Path) -> None:
    assert normalise_source_url(str(tmp_path / "f.xml")) == (tmp_path / "f.xml").as_uri()
    assert normalise_source_url("https://example.org/feed") == "https://example.org/feed"
    with pytest.raises(SourceError, match="unsupported source URL"):
        normalise_source_url("gopher://example.org/")


def test_due_sources_follow_the_interval(session: Session) -> None:
    source = add_source(session, url="https://example.org/a.xml", poll_interval_s=600)
    assert due_sources(session, now=NOW) == [source]
    record_success(source=source, now=NOW, items=3, etag='"x"', last_modified=None)
    assert due_sources(session, now=NOW + timedelta(seconds=599)) == []
    assert due_sources(session, now=NOW + timedelta(seconds=600)) == [source]
    assert due_sources(session, now=NOW, include_not_due=True) == [source]


def test_a_source_that_keeps_failing_is_paused_with_its_reason(session: Session) -> None:
    source = add_source(session, url="https://example.org/broken.xml", poll_interval_s=60)
    for attempt in range(1, PAUSE_AFTER_FAILURES):
        record_failure(source=source, now=NOW, reason="HTTP 500")
        assert source.status == "failing" and source.consecutive_failures == attempt
    record_failure(source=source, now=NOW, reason="HTTP 500")
    session.commit()
    assert source.status == "paused"
    assert source.last_error == f"paused after {PAUSE_AFTER_FAILURES} failures in a row; last: HTTP 500"
    assert due_sources(session, now=NOW + timedelta(days=1), include_not_due=True) == []


def test_success_resets_the_failure_count(session: Session) -> None:
    source = add_source(session, url="https://example.org/flaky.xml", poll_interval_s=60)
    record_failure(source=source, now=NOW, reason="timed out")
    record_success(source=source, now=NOW, items=1, etag=None, last_modified="Sat, 28 Nov 2026 12:00:00 GMT")
    session.commit()
    session.refresh(source)
    assert (source.status, source.consecutive_failures, source.last_success_at) == ("active", 0, NOW)
    assert source.last_error == "timed out"  # the last error stays visible after recovery


def test_failures_back_off_exponentially_and_honour_retry_after(session: Session) -> None:
    source = add_source(session, url="https://example.org/down.xml", poll_interval_s=60)
    waits = []
    for _ in range(4):
        record_failure(source=source, now=NOW, reason="HTTP 500", max_backoff_s=300)
        assert source.next_poll_at is not None
        waits.append((source.next_poll_at - NOW).total_seconds())
    assert waits == [60, 120, 240, 300]  # doubled each time, capped
    record_failure(source=source, now=NOW, reason="HTTP 429", retry_after_s=3600, max_backoff_s=300)
    assert source.next_poll_at == NOW + timedelta(seconds=3600)  # the server's wish wins when longer
    assert due_sources(session, now=NOW + timedelta(seconds=3599)) == []
    assert due_sources(session, now=NOW + timedelta(seconds=3600)) == [source]
    record_success(source=source, now=NOW, items=0, etag=None, last_modified=None)
    assert source.next_poll_at == NOW + timedelta(seconds=60) and source.paused_reason is None


def test_paused_sources_keep_their_reason_and_can_be_resumed(session: Session) -> None:
    source = add_source(session, url="https://example.org/gone.xml", poll_interval_s=60)
    for _ in range(PAUSE_AFTER_FAILURES):
        record_failure(source=source, now=NOW, reason="HTTP 410")
    assert source.paused_reason == f"paused after {PAUSE_AFTER_FAILURES} failures in a row; last: HTTP 410"
    resume_source(source=source, now=NOW)
    assert (source.status, source.consecutive_failures, source.paused_reason) == ("active", 0, None)
    assert due_sources(session, now=NOW) == [source]


def test_kind_is_inferred_or_given_and_filters_due_sources(session: Session) -> None:
    news = add_source(session, url="https://news.google.com/rss/search?q=x", poll_interval_s=60)
    town = add_source(
        session, url="https://www.zuiderhaven.example/rss", kind=SourceKind.MUNICIPAL, poll_interval_s=60
    )
    assert (news.kind, town.kind) == ("google_news", "municipal")
    assert due_sources(session, now=NOW, kinds=["municipal"]) == [town]
    with pytest.raises(SourceError, match="unknown source kind 'gopher'"):
        parse_kind("gopher")


def test_only_one_run_holds_a_source_at_a_time(database_url: str, session: Session) -> None:
    """The lease is one conditional UPDATE: of many runs claiming at once, exactly one wins, on both
    backends; it can be taken again after release or expiry."""
    source = add_source(session, url="https://example.org/busy.xml", poll_interval_s=60)
    session.commit()
    sessions = session_factory(engine_for(database_url))
    owners = [new_lease_owner() for _ in range(8)]
    barrier = threading.Barrier(len(owners))

    def claim(owner: str) -> bool:
        with sessions() as s, s.begin():
            barrier.wait()
            return claim_source(s, source_id=source.id, owner=owner, now=NOW, lease_s=600)

    with ThreadPoolExecutor(len(owners)) as pool:
        won = list(pool.map(claim, owners))
    assert won.count(True) == 1
    winner = owners[won.index(True)]
    with sessions() as s, s.begin():
        assert not claim_source(s, source_id=source.id, owner=owners[0] if winner != owners[0] else owners[1],
                                now=NOW + timedelta(seconds=599), lease_s=600)  # fmt: skip
        assert claim_source(
            s, source_id=source.id, owner="late", now=NOW + timedelta(seconds=600), lease_s=60
        )
        release_source(s, source_id=source.id, owner="late")
        assert claim_source(s, source_id=source.id, owner="next", now=NOW, lease_s=60)
