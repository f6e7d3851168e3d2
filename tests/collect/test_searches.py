"""Per-official search sources generated from the watchlist: created on import, idempotent, removable."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.searches import NO_LONGER_WANTED, SyncReport, remove_official, sync_searches
from threatwatch.config import Settings
from threatwatch.db.models import Official, Post, Source
from threatwatch.watchlist import import_officials

from ..conftest import DEMO_DIR
from ..loopback import LoopbackServer, Route
from .helpers import count, fixture, run_round


def _settings(settings: Settings, loopback: LoopbackServer) -> Settings:
    base = loopback.base_url
    return settings.model_copy(
        update={"google_news_url": base, "reddit_url": base, "mastodon_url": base, "bluesky_api_url": base}
    )


def _import(session: Session, path: Path, search: Settings) -> tuple[int, SyncReport]:
    """Import the watchlist, then generate its searches, as `threatwatch officials import` does."""
    report = import_officials(session, path=path)
    return report.created, sync_searches(session, officials=report.officials, settings=search)


def _sources(session: Session, official: str) -> dict[str, Source]:
    session.expire_all()
    query = select(Source).join(Official, Official.id == Source.official_id).where(Official.name == official)
    return {s.kind + ":" + s.name: s for s in session.scalars(query)}


def test_importing_officials_generates_their_searches_once(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    search = _settings(settings, loopback)
    _, report = _import(session, DEMO_DIR / "watchlist.yaml", search)
    session.commit()
    mayor = _sources(session, "Marieke van der Linden")
    assert sorted(mayor) == [
        "google_news:Google News: Marieke van der Linden",
        "mastodon:Mastodon #mariekevanderlinden",
        "mastodon:Mastodon @mvdlinden@mastodon.zuiderhaven.example",
        "reddit:Reddit: Marieke van der Linden",
    ]
    news = mayor["google_news:Google News: Marieke van der Linden"].url
    assert news.startswith(
        f"{loopback.base_url}/rss/search?q=%22Marieke+van+der+Linden%22+OR+%22burgemeester"
    )
    assert news.endswith("&hl=nl&gl=NL&ceid=NL:nl")
    assert mayor["mastodon:Mastodon @mvdlinden@mastodon.zuiderhaven.example"].url == (
        "https://mastodon.zuiderhaven.example/@mvdlinden.rss"
    )
    gedeputeerde = _sources(session, "Pieter Hoekstra")
    assert gedeputeerde["bluesky:Bluesky @pieterhoekstra.bsky.social"].url == (
        f"{loopback.base_url}/xrpc/app.bsky.feed.getAuthorFeed?actor=pieterhoekstra.bsky.social"
        "&filter=posts_with_replies"
    )
    total = count(session, Source)
    assert report.created == total > 0

    created, again = _import(session, DEMO_DIR / "watchlist.yaml", search)
    session.commit()
    assert (created, again.created, again.paused) == (0, 0, 0)
    assert count(session, Source) == total


def test_dropped_variants_and_removed_officials_pause_their_searches_and_keep_posts(
    session: Session, settings: Settings, loopback: LoopbackServer, tmp_path: Path
) -> None:
    search = _settings(settings, loopback)
    officials = yaml.safe_load((DEMO_DIR / "watchlist.yaml").read_text())["officials"][:1]
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump({"officials": officials}))
    _import(session, path, search)
    session.commit()
    loopback.routes["/rss/search"] = Route(body=fixture("google_news.xml"))
    loopback.routes["/search.rss"] = Route(body=fixture("reddit_search.xml"))
    loopback.routes["/api/v1/timelines/tag/mariekevanderlinden"] = Route(body=b"[]")
    reports = run_round(search.model_copy(update={"http_timeout_s": 1.0}))
    stored = count(session, Post)
    assert stored >= 2 and sum(r.new_posts for r in reports.values()) == stored  # monitoring started

    officials[0]["aliases"] = []  # the Google News and Reddit queries change: old searches are paused
    path.write_text(yaml.safe_dump({"officials": officials}))
    _, report = _import(session, path, search)
    session.commit()
    assert (report.created, report.paused) == (2, 2)
    paused = [s for s in session.scalars(select(Source)) if s.status == "paused"]
    assert {s.paused_reason for s in paused} == {NO_LONGER_WANTED}

    official = session.scalars(select(Official)).one()
    remove_official(session, official=official)
    session.commit()
    assert {s.status for s in session.scalars(select(Source))} == {"paused"}
    assert count(session, Post) == stored  # what was collected stays (it may be evidence)

    _, report = _import(session, path, search)  # back on the watchlist
    session.commit()
    assert report.created == 0
    active = [s for s in session.scalars(select(Source)) if s.status == "active"]
    assert len(active) == 4 and all(s.official_id is not None for s in active)


def test_importing_alone_makes_no_sources(session: Session) -> None:
    import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    assert count(session, Source) == 0
