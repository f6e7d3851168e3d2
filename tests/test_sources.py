"""Source records: adding, due-ness and health bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from threatwatch.collect.sources import (
    PAUSE_AFTER_FAILURES,
    SourceError,
    add_source,
    due_sources,
    normalise_source_url,
    record_failure,
    record_success,
)

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
