"""Backfill pages back as far as a source allows; language decides what is classified."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.adapters import with_query
from threatwatch.collect.backfill import backfill_snapshots, backfill_source
from threatwatch.collect.language import classifiable_posts, detect_language
from threatwatch.collect.sources import add_source
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Post, Source

from ..loopback import LoopbackServer, Route
from .helpers import count, fixture, run_round

FEED_PATH = "/xrpc/app.bsky.feed.getAuthorFeed"


def _bluesky_pages(loopback: LoopbackServer) -> str:
    url = f"{FEED_PATH}?actor=pieterhoekstra.bsky.social&limit=50"
    loopback.routes[url] = Route(body=fixture("bluesky_author_feed_page1.json"))
    loopback.routes[with_query(url, cursor="2026-11-25T12:00:00.000Z")] = Route(
        body=fixture("bluesky_author_feed_page2.json")
    )
    loopback.routes[with_query(url, cursor="2026-10-02T08:15:00.000Z")] = Route(body=b'{"feed": []}')
    return loopback.url(f"{FEED_PATH}?actor=pieterhoekstra.bsky.social")


def test_bluesky_backfill_follows_the_cursor_down_to_the_date(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    source = add_source(session, url=_bluesky_pages(loopback), poll_interval_s=60)
    session.commit()
    sessions = session_factory(engine_for(settings.database_url))
    [snapshot] = backfill_snapshots(sessions)
    pages: list[int] = []
    report = backfill_source(
        sessions,
        snapshot=snapshot,
        since=datetime(2026, 11, 1, tzinfo=UTC),
        settings=settings,
        on_page=lambda r: pages.append(r.pages),
    )
    assert (report.pages, report.new_posts, report.error) == (2, 4, None)  # page 2 reaches past the date
    assert pages == [1, 2]
    deeper = backfill_source(
        sessions, snapshot=snapshot, since=datetime(2026, 1, 1, tzinfo=UTC), settings=settings
    )
    assert (deeper.pages, deeper.new_posts) == (3, 0)  # the empty third page ends it; nothing twice
    session.expire_all()
    assert count(session, Post) == 4
    assert session.get(Source, source.id).posts_total == 4  # type: ignore[union-attr]


def test_mastodon_backfill_pages_back_with_max_id(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    template = json.loads(fixture("mastodon_tag_page1.json"))[1]
    statuses = []
    for n in range(45):  # newest first, one per hour back from 27 Nov
        status = dict(template, id=str(113507000000000000 - n), uri=f"https://m.example/s/{n}")
        status["created_at"] = f"2026-11-{27 - n // 24:02d}T{23 - n % 24:02d}:00:00.000Z"
        status["content"] = f"<p>Bericht nummer {n} over de gemeenteraad van Zuiderhaven</p>"
        statuses.append(status)
    path = "/api/v1/timelines/tag/zuiderhaven"
    loopback.routes[f"{path}?limit=40"] = Route(body=json.dumps(statuses[:40]).encode())
    loopback.routes[f"{path}?limit=40&max_id={statuses[39]['id']}"] = Route(
        body=json.dumps(statuses[40:]).encode()
    )
    add_source(session, url=loopback.url(path), poll_interval_s=60)
    session.commit()
    sessions = session_factory(engine_for(settings.database_url))
    [snapshot] = backfill_snapshots(sessions)
    report = backfill_source(
        sessions, snapshot=snapshot, since=datetime(2026, 11, 1, tzinfo=UTC), settings=settings
    )
    assert (report.pages, report.new_posts) == (2, 45)
    assert f"{path}?limit=40&max_id=113506999999999961" in loopback.requested


def test_a_failing_backfill_is_recorded_on_the_source(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    loopback.routes["/feed.xml"] = Route(status=500)
    source = add_source(session, url=loopback.url("/feed.xml"), poll_interval_s=60)
    session.commit()
    sessions = session_factory(engine_for(settings.database_url))
    [snapshot] = backfill_snapshots(sessions)
    report = backfill_source(
        sessions, snapshot=snapshot, since=datetime(2026, 1, 1, tzinfo=UTC), settings=settings
    )
    assert (report.pages, report.error) == (0, "HTTP 500")
    session.expire_all()
    assert session.get(Source, source.id).consecutive_failures == 1  # type: ignore[union-attr]


def test_language_is_detected_and_only_configured_languages_are_classified(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    assert detect_language("Wethouder, we weten waar je woont en we komen eraan.") == "nl"
    assert detect_language("The mayor should resign, this is a disgrace.") == "en"
    assert detect_language("Ok!", declared="nl-NL") == "nl"  # too short to tell: the feed's word
    assert detect_language("Ok!") is None
    items = "".join(
        f"<item><guid>{i}</guid><description>{text}</description></item>"
        for i, text in enumerate(
            [
                "Burgemeester Van der Linden moet maar eens goed opletten als ze naar huis fietst.",
                "The mayor of Zuiderhaven was handing out coffee at the harbour today.",
                "Der Bürgermeister von Zuiderhaven hat heute den Hafen besucht.",
                "Oké",
            ]
        )
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    loopback.routes["/mixed.xml"] = Route(body=body.encode())
    loopback.routes["/copy.xml"] = Route(
        body=body.replace("<guid>0</guid>", "<guid>c0</guid><author>iemand_anders</author>").encode()
    )
    add_source(session, url=loopback.url("/mixed.xml"), poll_interval_s=60)
    session.commit()
    run_round(settings)
    add_source(session, url=loopback.url("/copy.xml"), poll_interval_s=60)
    session.commit()
    run_round(settings)
    session.expire_all()
    languages = {
        p.text[:10]: p.language for p in session.scalars(select(Post).where(Post.duplicate_of_id.is_(None)))
    }
    assert languages == {"Burgemeest": "nl", "The mayor ": "en", "Der Bürger": "de", "Oké": None}
    chosen = session.scalars(select(Post.text).where(classifiable_posts({"nl"})).order_by(Post.id)).all()
    assert [t[:10] for t in chosen] == ["Burgemeest", "Oké"]  # Dutch and unknown; the copies are linked
    assert count(session, Post, Post.duplicate_of_id.is_not(None)) == 4
    with_english = session.scalars(select(Post.language).where(classifiable_posts({"nl", "en"}))).all()
    assert len(with_english) == 3 and set(with_english) == {"en", "nl", None}
