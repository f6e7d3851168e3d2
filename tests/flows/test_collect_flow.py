"""The collection flow end to end: loopback feeds, real database, real Prefect (test harness)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.collect.sources import add_source
from threatwatch.db.models import Classification, Mention, Post, ReviewItem, Source
from threatwatch.flows.collect import CollectSummary, collect_flow
from threatwatch.flows.explain import explain_flow
from threatwatch.watchlist import import_officials

from ..conftest import DEMO_DIR, flow_overrides
from ..loopback import LoopbackServer, Route

pytestmark = pytest.mark.usefixtures("prefect_harness")

FEEDS = sorted((DEMO_DIR / "feeds").glob("*.xml"))


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def demo_setup(session: Session, loopback: LoopbackServer) -> dict[str, int]:
    """The demo watchlist, the demo feeds served over HTTP with ETags, and three broken sources."""
    import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    ids = {}
    for feed in FEEDS:
        loopback.routes[f"/{feed.name}"] = Route(body=feed.read_bytes(), etag=f'"{feed.stem}-1"')
        ids[feed.stem] = add_source(session, url=loopback.url(f"/{feed.name}"), poll_interval_s=3600).id
    loopback.routes["/page.html"] = Route(body=b"<html><body>Welkom!</body></html>")
    loopback.routes["/slow.xml"] = Route(body=FEEDS[0].read_bytes(), delay_s=3)
    loopback.routes["/error.xml"] = Route(status=500)
    for name in ("page.html", "slow.xml", "error.xml"):
        ids[name] = add_source(session, url=loopback.url(f"/{name}"), poll_interval_s=3600).id
    session.commit()
    return ids


def test_collect_stores_classifies_and_queues_and_survives_bad_sources(
    database_url: str, session: Session, tmp_path: Path, demo_setup: dict[str, int]
) -> None:
    summary = collect_flow(settings_overrides=flow_overrides(database_url, tmp_path))
    assert isinstance(summary, CollectSummary)
    demo_entries = sum(f.read_text().count("<item>") + f.read_text().count("<entry>") for f in FEEDS)
    assert summary.sources_polled == len(FEEDS) + 3
    assert summary.sources_failed == 3
    assert summary.new_posts == demo_entries == _count(session, Post)
    assert summary.classified == demo_entries == _count(session, Classification)
    flagged_items = session.scalar(
        select(func.count())
        .select_from(ReviewItem)
        .join(Classification, Classification.id == ReviewItem.classification_id)
        .where(Classification.flagged)
    )
    assert 0 < summary.queued == flagged_items < demo_entries  # active learning may queue a few more
    assert summary.mentions == _count(session, Mention) > 0

    health = {s.id: s for s in session.scalars(select(Source))}
    assert "not an RSS or Atom feed" in (health[demo_setup["page.html"]].last_error or "")
    assert "timed out" in (health[demo_setup["slow.xml"]].last_error or "")
    assert health[demo_setup["error.xml"]].last_error == "HTTP 500"
    for name in ("page.html", "slow.xml", "error.xml"):
        assert health[demo_setup[name]].status == "failing"
        assert health[demo_setup[name]].consecutive_failures == 1
    for feed in FEEDS:
        good = health[demo_setup[feed.stem]]
        assert (
            good.status == "active" and good.last_success_at is not None and good.etag == f'"{feed.stem}-1"'
        )

    # Flagged items are the threatening demo posts; their explanations follow in the explain flow.
    flagged_texts = session.scalars(
        select(Post.text)
        .join(ReviewItem, ReviewItem.post_id == Post.id)
        .join(Classification, Classification.id == ReviewItem.classification_id)
        .where(Classification.flagged)
    ).all()
    assert any("sloopvergunning" in t for t in flagged_texts)  # coercion of the alderman
    assert all("fietsstraat" not in t for t in flagged_texts)  # praise for a cycle street
    flagged = select(Classification.explanation).where(Classification.flagged)
    assert session.scalars(flagged).all() == [None] * len(flagged_texts)  # queued before explained
    unflagged = select(Classification.explanation).where(~Classification.flagged)
    assert set(map(len, session.scalars(unflagged))) == {0}

    assert explain_flow(settings_overrides=flow_overrides(database_url, tmp_path)) == len(flagged_texts)
    session.expire_all()
    rows = session.execute(
        select(Post.text, Classification.explanation).join(Post).where(Classification.flagged)
    ).all()
    assert rows and all(explanation for _text, explanation in rows)
    for text, explanation in rows:  # spans point into the stored text
        assert all(text[span["start"] : span["end"]] == span["text"] for span in explanation)
    assert explain_flow(settings_overrides=flow_overrides(database_url, tmp_path)) == 0  # nothing left


def test_second_run_adds_nothing_and_uses_conditional_get(
    database_url: str, session: Session, tmp_path: Path, demo_setup: dict[str, int], loopback: LoopbackServer
) -> None:
    first = collect_flow(settings_overrides=flow_overrides(database_url, tmp_path))
    counts = {m: _count(session, m) for m in (Post, Classification, ReviewItem, Mention)}
    second = collect_flow(settings_overrides=flow_overrides(database_url, tmp_path), force=True)
    assert second.new_posts == 0 and second.classified == 0 and second.queued == 0
    assert second.sources_not_modified == len(FEEDS)
    session.expire_all()
    assert {m: _count(session, m) for m in counts} == counts
    assert first.new_posts == counts[Post]

    # The feed changes: served without an ETag, so its entries are re-delivered; only the new one is stored.
    feed = FEEDS[0]
    body = feed.read_bytes().replace(
        b"<item>",
        b"<item><guid>nieuw-1</guid><description>Wethouder El Amrani, we weten waar je woont.</description>"
        b"</item><item>",
        1,
    )
    loopback.routes[f"/{feed.name}"] = Route(body=body)
    third = collect_flow(settings_overrides=flow_overrides(database_url, tmp_path), force=True)
    assert third.new_posts == 1
    assert third.duplicates == feed.read_text().count("<item>")
    assert _count(session, Post) == counts[Post] + 1


def test_not_due_sources_are_skipped(
    database_url: str, session: Session, tmp_path: Path, demo_setup: dict[str, int], loopback: LoopbackServer
) -> None:
    collect_flow(settings_overrides=flow_overrides(database_url, tmp_path))
    hits = dict(loopback.hits)
    again = collect_flow(settings_overrides=flow_overrides(database_url, tmp_path))
    assert again.sources_polled == 0
    assert dict(loopback.hits) == hits


def test_transient_failures_are_retried(
    database_url: str, session: Session, tmp_path: Path, loopback: LoopbackServer
) -> None:
    loopback.routes["/flaky.xml"] = Route(body=FEEDS[0].read_bytes(), fail_first=1)
    add_source(session, url=loopback.url("/flaky.xml"), poll_interval_s=60)
    session.commit()
    summary = collect_flow(
        settings_overrides=flow_overrides(database_url, tmp_path, fetch_retries=1, fetch_retry_delay_s=0)
    )
    assert summary.sources_failed == 0 and summary.new_posts > 0
    assert loopback.hits["/flaky.xml"] == 2


def test_a_crash_after_storing_loses_nothing(
    database_url: str, session: Session, tmp_path: Path, demo_setup: dict[str, int]
) -> None:
    """The classifier step fails (model missing): posts stay stored and the next run classifies them."""
    from prefect.exceptions import PrefectException  # noqa: F401  (the flow re-raises the task's error)

    with pytest.raises(Exception, match="not found"):
        collect_flow(settings_overrides=flow_overrides(database_url, tmp_path, model_name="no-such-model"))
    stored = _count(session, Post)
    assert stored > 0 and _count(session, Classification) == 0
    recovered = collect_flow(settings_overrides=flow_overrides(database_url, tmp_path), force=True)
    assert recovered.new_posts == 0
    assert recovered.classified == stored == _count(session, Classification)
    assert 0 < recovered.queued <= _count(session, ReviewItem)


def test_a_round_polls_only_its_kinds_and_skips_sources_another_run_holds(
    database_url: str, session: Session, tmp_path: Path, loopback: LoopbackServer
) -> None:
    from threatwatch.collect.sources import claim_source
    from threatwatch.db.types import utcnow
    from threatwatch.domain import SourceKind

    for name in ("a.xml", "b.xml", "c.xml"):
        loopback.routes[f"/{name}"] = Route(body=FEEDS[0].read_bytes())
    free = add_source(session, url=loopback.url("/a.xml"), poll_interval_s=60)
    held = add_source(session, url=loopback.url("/b.xml"), poll_interval_s=60)
    other_kind = add_source(
        session, url=loopback.url("/c.xml"), kind=SourceKind.MUNICIPAL, poll_interval_s=60
    )
    assert claim_source(session, source_id=held.id, owner="another-run", now=utcnow(), lease_s=600)
    session.commit()
    summary = collect_flow(settings_overrides=flow_overrides(database_url, tmp_path), kinds=["feed"])
    assert summary.sources_polled == 1 and summary.new_posts > 0
    assert (loopback.hits["/a.xml"], loopback.hits["/b.xml"], loopback.hits["/c.xml"]) == (1, 0, 0)
    session.expire_all()
    assert session.get(Source, free.id).locked_until is None  # type: ignore[union-attr]  # released
    assert session.get(Source, held.id).lock_owner == "another-run"  # type: ignore[union-attr]
    assert session.get(Source, other_kind.id).last_polled_at is None  # type: ignore[union-attr]
