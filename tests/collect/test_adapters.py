"""Each source kind end to end: recorded-shape responses from a real loopback server, real databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.adapters import adapter_for, infer_kind
from threatwatch.collect.sources import add_source
from threatwatch.config import Settings
from threatwatch.db.models import Mention, Post, Source
from threatwatch.domain import SourceKind
from threatwatch.watchlist import import_officials

from ..conftest import DEMO_DIR
from ..loopback import LoopbackServer, Route
from .helpers import count, fixture, run_round

TAG_PATH = "/api/v1/timelines/tag/zuiderhaven"


def test_kind_is_inferred_from_the_url() -> None:
    cases = {
        "https://news.google.com/rss/search?q=x&hl=nl&gl=NL&ceid=NL:nl": SourceKind.GOOGLE_NEWS,
        "https://www.reddit.com/search.rss?q=x": SourceKind.REDDIT,
        "https://www.reddit.com/r/thenetherlands/new/.rss": SourceKind.REDDIT,
        "https://www.youtube.com/feeds/videos.xml?channel_id=UC1": SourceKind.YOUTUBE,
        "https://public.api.bsky.app/xrpc/app.bsky.feed.getAuthorFeed?actor=a.bsky.social": (
            SourceKind.BLUESKY
        ),
        "https://bsky.app/profile/a.bsky.social/rss": SourceKind.BLUESKY,
        "https://mastodon.social/api/v1/timelines/tag/zuiderhaven": SourceKind.MASTODON,
        "https://mastodon.social/@jan.rss": SourceKind.MASTODON,
        "https://mastodon.social/tags/zuiderhaven.rss": SourceKind.MASTODON,
        "https://www.zuiderhaven.example/nieuws/rss": SourceKind.FEED,
    }
    assert {url: infer_kind(url) for url in cases} == cases
    # JSON APIs get their own adapter; the RSS flavours of the same kinds use the feed adapter.
    assert adapter_for("mastodon", "https://m.example/api/v1/timelines/tag/x").accept == "application/json"
    assert adapter_for("mastodon", "https://m.example/@jan.rss").accept.startswith("application/rss+xml")


def test_mastodon_tag_timeline_pages_forward_with_since_id_and_links_boosts_and_copies(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    loopback.routes[TAG_PATH] = Route(body=fixture("mastodon_tag_page1.json"))
    loopback.routes[f"{TAG_PATH}?limit=40&since_id=113507391624849300"] = Route(
        body=fixture("mastodon_tag_newer.json")
    )
    source = add_source(session, url=loopback.url(TAG_PATH), poll_interval_s=60)
    session.commit()
    assert source.kind == "mastodon"

    first = run_round(settings)[source.id]
    assert first.ok and first.new_posts == 3
    assert loopback.requested[-1] == f"{TAG_PATH}?limit=40"
    assert loopback.request_headers[TAG_PATH]["Accept"] == "application/json"
    session.expire_all()
    assert session.get(Source, source.id).cursor == "113507391624849300"  # type: ignore[union-attr]
    posts = {p.author: p for p in session.scalars(select(Post))}
    threat = posts["@boos_burger@mastodon.zuiderhaven.example"]
    assert threat.text == "Als @mvdlinden dat azc doorzet weten we haar wel te vinden. #zuiderhaven"
    assert threat.published_at == datetime(2026, 11, 27, 21, 14, 7, tzinfo=UTC)
    assert threat.url == "https://mastodon.zuiderhaven.example/@boos_burger/113507391624849300"
    assert posts["@lotte"].text.startswith("politiek\nGoed gesprek")  # content warning kept as text
    assert posts["@tourist"].language == "en" and threat.language == "nl"
    assert count(session, Mention, Mention.post_id == threat.id) == 1

    second = run_round(settings)[source.id]
    assert loopback.requested[-1] == f"{TAG_PATH}?limit=40&since_id=113507391624849300"
    # The boost is the boosted status itself (already stored); the copy-paste is stored, linked.
    assert (second.new_posts, second.duplicates, second.linked) == (1, 1, 1)
    copy = session.scalars(select(Post).where(Post.author == "@kopie_1")).one()
    assert copy.duplicate_of_id == threat.id
    assert session.get(Source, source.id).cursor == "113508000000000100"  # type: ignore[union-attr]


def test_bluesky_author_feed_collects_the_posts_an_official_replies_to(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    path = "/xrpc/app.bsky.feed.getAuthorFeed"
    loopback.routes[path] = Route(body=fixture("bluesky_author_feed_page1.json"))
    source = add_source(
        session, url=loopback.url(f"{path}?actor=pieterhoekstra.bsky.social"), poll_interval_s=60
    )
    session.commit()
    assert source.kind == "bluesky"
    report = run_round(settings)[source.id]
    assert (
        report.ok and report.new_posts == 3
    )  # own reply, the post replied to, the repost; not the empty one
    texts = {p.author: p.text for p in session.scalars(select(Post))}
    assert texts["@windmolenweg.bsky.social"].endswith("We weten waar je woont.")
    assert "@statennoordwaarde.bsky.social" in texts
    reply = session.scalars(select(Post).where(Post.author == "@windmolenweg.bsky.social")).one()
    assert reply.url == "https://bsky.app/profile/windmolenweg.bsky.social/post/3lbqyvv3x2c2b"
    assert reply.external_id == "at://did:plc:boos9k/app.bsky.feed.post/3lbqyvv3x2c2b"
    assert "limit=50" in loopback.requested[-1] and "cursor" not in loopback.requested[-1]


def test_reddit_google_news_youtube_and_municipal_feeds(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    served = {
        "/search.rss": ("reddit_search.xml", SourceKind.REDDIT),
        "/rss/search": ("google_news.xml", SourceKind.GOOGLE_NEWS),
        "/feeds/videos.xml": ("youtube_channel.xml", SourceKind.YOUTUBE),
        "/nieuws/rss": ("municipal_news.xml", SourceKind.MUNICIPAL),
    }
    ids = {}
    for path, (name, kind) in served.items():
        loopback.routes[path] = Route(body=fixture(name), headers={"Content-Type": "application/xml"})
        ids[kind] = add_source(session, url=loopback.url(path + "?q=x"), kind=kind, poll_interval_s=60).id
    session.commit()
    reports = run_round(settings)
    assert all(r.ok for r in reports.values())
    by_source: dict[int, list[Post]] = {}
    for post in session.scalars(select(Post).order_by(Post.id)):
        by_source.setdefault(post.source_id, []).append(post)
    [reddit] = by_source[ids[SourceKind.REDDIT]]
    assert reddit.author == "havenkade_bewoner" and "opwachten bij het stadhuis" in reddit.text
    news = by_source[ids[SourceKind.GOOGLE_NEWS]]
    assert len(news) == 2 and news[0].text.startswith("Burgemeester Van der Linden krijgt extra beveiliging")
    [video] = by_source[ids[SourceKind.YOUTUBE]]
    assert "burgemeester Marieke van der Linden" in video.text
    [municipal] = by_source[ids[SourceKind.MUNICIPAL]]
    assert "café in de bibliotheek" in municipal.text and "“Een ontmoetingsplek" in municipal.text
    assert municipal.language == "nl"
    assert count(session, Mention) >= 4  # each of these names a watched official


def test_malformed_api_json_is_a_recorded_failure(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    loopback.routes[TAG_PATH] = Route(body=b'{"error": "This action is not allowed"}')
    loopback.routes["/xrpc/app.bsky.feed.getAuthorFeed"] = Route(body=json.dumps([1, 2]).encode()[:-1])
    mastodon = add_source(session, url=loopback.url(TAG_PATH), poll_interval_s=60)
    bluesky = add_source(
        session, url=loopback.url("/xrpc/app.bsky.feed.getAuthorFeed?actor=a.example"), poll_interval_s=60
    )
    session.commit()
    reports = run_round(settings)
    assert "expected a JSON list" in (reports[mastodon.id].error or "")
    assert "invalid JSON" in (reports[bluesky.id].error or "")
    session.expire_all()
    assert {s.status for s in session.scalars(select(Source))} == {"failing"}
