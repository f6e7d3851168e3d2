"""Whatever the internet sends: each bad response comes from the real loopback server, in a round
with a good source. Each ends in a stored health record and no crash, the good source completes, and
nothing already stored is lost or duplicated (a second round adds nothing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.sources import add_source
from threatwatch.config import Settings
from threatwatch.db.models import Post, Source

from ..loopback import LoopbackServer, Route
from .helpers import count, run_round


def rss(items: str, *, encoding: str = "utf-8", declaration: bool = True) -> str:
    head = f'<?xml version="1.0" encoding="{encoding}"?>' if declaration else ""
    return f'{head}<rss version="2.0"><channel><title>t</title><language>nl</language>{items}</channel></rss>'


def item(guid: str | None, text: str, date: str | None = "Mon, 23 Nov 2026 08:12:00 +0000") -> str:
    parts = [f"<guid>{guid}</guid>" if guid else "", f"<pubDate>{date}</pubDate>" if date else ""]
    return f"<item>{''.join(parts)}<description>{text}</description></item>"


GOOD = rss(item("g1", "Burgemeester opent de nieuwe brug") + item("g2", "Raad stemt in met de begroting"))


@dataclass
class Case:
    route: Route
    error: str | None  # expected in the source's last error; None: the poll succeeds
    posts: int = 0  # posts stored from the bad source
    check: Callable[[list[Post]], None] | None = None
    settings: dict[str, object] = field(default_factory=dict)


def _future_clamped(posts: list[Post]) -> None:
    [post] = posts
    assert post.published_at is not None
    assert abs(post.published_at - post.collected_at) < timedelta(seconds=1)


def _no_ids_no_dates(posts: list[Post]) -> None:
    assert all(p.external_id.startswith("sha256:") and p.published_at is None for p in posts)


def _latin1_read(posts: list[Post]) -> None:
    assert any("Café" in p.text for p in posts)


CASES = {
    "malformed-xml": Case(Route(body=b"\x00\x01<<<garbage"), "not a valid feed"),
    "truncated-xml": Case(  # what can be read is kept; the half entry is not
        Route(body=rss(item("t1", "eerste heel") + item("t2", "tweede"))[:-60].encode()), None, posts=1
    ),
    "billion-laughs": Case(
        Route(
            body=(
                '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
                + "]>"
                + rss(item("b1", "&lol9;"), declaration=False)
            )
            .replace("&lol0;", "&lol;")
            .encode()
        ),
        "declares XML entities",
    ),
    "external-entity": Case(
        Route(
            body=(
                '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                + rss(item("x1", "&xxe;"), declaration=False)
            ).encode()
        ),
        "declares XML entities",
    ),
    "100-mb-streamed": Case(Route(stream_bytes=100 * 1024 * 1024), "exceeds the 1048576-byte limit"),
    "100-mb-declared": Case(
        Route(body=b"x", headers={"Content-Length": str(100 * 1024 * 1024)}), "over the 1048576-byte limit"
    ),
    "trickle": Case(Route(body=GOOD.encode(), trickle_s=0.01), "too slow", settings={"http_timeout_s": 0.5}),
    "redirect-loop": Case(Route(redirect_to="/bad"), "too many redirects"),
    "wrong-charset": Case(
        Route(
            body=rss(item("w1", "Café één keer")).encode("latin-1"),
            headers={"Content-Type": "application/rss+xml; charset=utf-8"},
        ),
        None,
        posts=1,
        check=_latin1_read,
    ),
    "missing-charset": Case(
        Route(body=rss(item("m1", "Café open"), declaration=False).encode("latin-1")),
        None,
        posts=1,
        check=_latin1_read,
    ),
    "html-page": Case(
        Route(body=b"<!doctype html><html><body><h1>Welkom</h1></body></html>"), "an HTML page"
    ),
    "empty-body": Case(Route(body=b""), "not an RSS or Atom feed"),
    "empty-feed": Case(Route(body=rss("").encode()), None),
    "no-ids-or-dates": Case(
        Route(body=rss(item(None, "zonder id", date=None) + item(None, "ook zonder", date=None)).encode()),
        None,
        posts=2,
        check=_no_ids_no_dates,
    ),
    "future-date": Case(
        Route(body=rss(item("f1", "uit de toekomst", date="Fri, 01 Jan 2100 00:00:00 +0000")).encode()),
        None,
        posts=1,
        check=_future_clamped,
    ),
    "duplicate-ids": Case(
        Route(body=rss(item("d1", "eerste versie") + item("d1", "tweede versie")).encode()),
        None,
        posts=1,
        check=lambda posts: [p.text for p in posts] == ["eerste versie"] or pytest.fail("kept the wrong one"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_ends_in_a_health_record_and_loses_nothing(
    name: str, session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    case = CASES[name]
    settings = settings.model_copy(update={"max_feed_bytes": 1024 * 1024, **case.settings})
    loopback.routes["/good.xml"] = Route(body=GOOD.encode())
    good = add_source(session, url=loopback.url("/good.xml"), poll_interval_s=60)
    session.commit()
    run_round(settings)  # the good source's posts are stored before the bad source exists
    assert count(session, Post) == 2
    loopback.routes["/bad"] = case.route
    bad = add_source(session, url=loopback.url("/bad"), poll_interval_s=60)
    session.commit()

    reports = run_round(settings)
    assert reports[good.id].ok and reports[good.id].duplicates == 2  # the other source completed
    session.expire_all()
    health = session.get(Source, bad.id)
    assert health is not None and health.last_polled_at is not None
    if case.error is None:
        assert reports[bad.id].ok, reports[bad.id].error
        assert (health.status, health.consecutive_failures, health.items_last_run) == (
            "active",
            0,
            case.posts,
        )
    else:
        assert not reports[bad.id].ok
        assert case.error in (health.last_error or ""), health.last_error
        assert (health.status, health.consecutive_failures) == ("failing", 1)
        assert health.next_poll_at is not None and health.last_error_at is not None
    posts = list(session.scalars(select(Post).where(Post.source_id == bad.id).order_by(Post.id)))
    assert len(posts) == case.posts
    if case.check is not None:
        case.check(posts)
    assert all("root:" not in p.text for p in posts)  # no local file ever read

    run_round(settings)  # again: nothing lost, nothing duplicated
    assert count(session, Post) == 2 + case.posts


def test_a_feed_that_changes_every_id_is_deduplicated_by_content(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    texts = ["Wethouder, we weten waar je woont.", "Mooie markt vandaag", "Raad vergadert donderdag"]
    loopback.routes["/shifty.xml"] = Route(
        body=rss("".join(item(f"a-{i}", t) for i, t in enumerate(texts))).encode()
    )
    source = add_source(session, url=loopback.url("/shifty.xml"), poll_interval_s=60)
    session.commit()
    assert run_round(settings)[source.id].new_posts == 3
    loopback.routes["/shifty.xml"] = Route(
        body=rss("".join(item(f"b-{i}", t) for i, t in enumerate(texts))).encode()
    )
    again = run_round(settings)[source.id]
    assert (again.new_posts, again.duplicates) == (0, 3)
    assert count(session, Post) == 3
