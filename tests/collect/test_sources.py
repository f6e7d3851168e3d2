"""Source records: adding, due-ness and health bookkeeping."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
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


# --- importing many sources from a file (`threatwatch sources import`) ---


def _csv_of_feeds(count: int) -> str:
    lines = ["url,name,kind,poll_interval_s"]
    for i in range(count):
        if i % 3 == 0:
            lines.append(f"https://regio{i}.example/feed.xml,Regio {i},,")
        elif i % 3 == 1:
            lines.append(f'https://gemeente{i}.example/nieuws.rss,"Gemeente {i}, nieuws",municipal,900')
        else:
            lines.append(f"https://news.google.com/rss/search?q=wethouder{i}")  # trailing cells left out
    return "\n".join(lines) + "\n"


def test_import_sources_from_csv_adds_hundreds_in_one_transaction(session: Session, tmp_path: Path) -> None:
    from threatwatch.collect.source_import import import_sources
    from threatwatch.db.models import Source

    path = tmp_path / "sources.csv"
    path.write_text(_csv_of_feeds(300), encoding="utf-8")
    report = import_sources(session, path=path, default_poll_interval_s=600)
    session.commit()
    assert (report.added, report.already_present) == (300, 0)
    sources = {s.url: s for s in session.scalars(select(Source))}
    assert len(sources) == 300
    town = sources["https://gemeente1.example/nieuws.rss"]
    assert (town.name, town.kind, town.poll_interval_s) == ("Gemeente 1, nieuws", "municipal", 900)
    regio = sources["https://regio0.example/feed.xml"]
    assert (regio.name, regio.kind, regio.poll_interval_s) == ("Regio 0", "feed", 600)
    assert sources["https://news.google.com/rss/search?q=wethouder2"].kind == "google_news"

    # The grown file again: only the new rows are added, the known ones are left as they are.
    path.write_text(_csv_of_feeds(310), encoding="utf-8")
    again = import_sources(session, path=path, default_poll_interval_s=60)
    session.commit()
    assert (again.added, again.already_present) == (10, 300)
    session.refresh(regio)
    assert regio.poll_interval_s == 600


def test_import_sources_refuses_the_whole_file_naming_each_bad_row(session: Session, tmp_path: Path) -> None:
    from threatwatch.collect.source_import import SourceImportError, import_sources
    from threatwatch.db.models import Source

    good = _csv_of_feeds(300).splitlines()
    bad = [
        "ftp://files.example/feed.xml,ftp",
        "https://,geen host",
        "feeds/regio.xml,pad",
        "https://regio3.example/feed.xml,dubbel",  # also on line 5
        "https://x.example/a.rss,x,telegram,",
        "https://y.example/b.rss,y,,5",
        "https://z.example/c.rss,Jansen, Piet,feed,600",
        ",leeg",
    ]
    path = tmp_path / "sources.csv"
    path.write_text("\n".join(good[:150] + bad + good[150:]) + "\n", encoding="utf-8")
    with pytest.raises(SourceImportError) as refused:
        import_sources(session, path=path, default_poll_interval_s=600)
    problems = dict(refused.value.problems)
    assert list(problems) == [f"line {n}" for n in range(151, 159)]
    assert "unsupported source URL 'ftp://files.example/feed.xml'" in problems["line 151"]
    assert "no valid host" in problems["line 152"]
    assert "not paths" in problems["line 153"]
    assert problems["line 154"] == "duplicate of line 5 (the same URL)"
    assert "unknown source kind 'telegram'" in problems["line 155"]
    assert "at least 30; got '5'" in problems["line 156"]
    assert "5 cells but the header has 4" in problems["line 157"]
    assert problems["line 158"] == "no URL"
    assert str(refused.value).startswith(f"{path}: nothing imported, 8 problem(s):\n  line 151: ")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Source)) == 0

    path.write_text("url,interval\nhttps://a.example/feed\n", encoding="utf-8")
    with pytest.raises(SourceImportError, match="unknown column"):
        import_sources(session, path=path, default_poll_interval_s=600)


def _opml(outlines: str, head: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{head}<opml version="2.0">\n'
        f"<head><title>Feeds</title></head>\n<body>\n{outlines}</body>\n</opml>\n"
    )


def test_import_sources_from_opml(session: Session, tmp_path: Path) -> None:
    from threatwatch.collect.source_import import SourceImportError, import_sources
    from threatwatch.db.models import Source

    feeds = "".join(
        f'  <outline type="rss" text="Regio {i}" xmlUrl="https://regio{i}.example/feed.xml"/>\n'
        for i in range(250)
    )
    path = tmp_path / "feeds.opml"
    path.write_text(_opml(f'<outline text="Nieuws">\n{feeds}</outline>\n'), encoding="utf-8")
    report = import_sources(session, path=path, default_poll_interval_s=600)
    session.commit()
    assert report.added == 250  # the folder outline is not a source
    regio = session.scalars(select(Source).where(Source.url == "https://regio7.example/feed.xml")).one()
    assert (regio.name, regio.kind, regio.poll_interval_s) == ("Regio 7", "feed", 600)

    bad = '  <outline title="Kapot" xmlUrl="gopher://kapot.example/"/>\n'
    path.write_text(_opml(feeds.replace("regio", "nieuw") + bad), encoding="utf-8")
    with pytest.raises(SourceImportError) as refused:
        import_sources(session, path=path, default_poll_interval_s=600)
    [(where, reason)] = refused.value.problems
    assert where == "line 255 (outline 'Kapot')" and "unsupported source URL 'gopher://" in reason
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Source)) == 250


@pytest.mark.parametrize(
    "head",
    [
        '<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n',
        '<!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n',
        '<!DOCTYPE opml SYSTEM "http://dtd.example/opml.dtd">\n',
    ],
    ids=["entity-expansion", "external-entity", "external-dtd"],
)
def test_opml_with_a_doctype_is_refused_before_anything_is_expanded(
    session: Session, tmp_path: Path, head: str
) -> None:
    from threatwatch.collect.source_import import SourceImportError, import_sources

    path = tmp_path / "feeds.opml"
    path.write_text(_opml('<outline text="&b;" xmlUrl="https://a.example/feed"/>\n', head), encoding="utf-8")
    with pytest.raises(SourceImportError, match="line 2: a DOCTYPE or entity declaration is not allowed"):
        import_sources(session, path=path, default_poll_interval_s=600)
