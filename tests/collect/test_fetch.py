"""Fetching against a real HTTP server on loopback: each kind of bad server ends in a clear FetchError."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from threatwatch.collect.fetch import FetchError, fetch_url, make_client

from ..loopback import LoopbackServer, Route

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout_s=1.0, max_redirects=3, user_agent="threatwatch-test/1") as client:
        yield client


def test_conditional_get_returns_not_modified_on_matching_etag(
    loopback: LoopbackServer, client: httpx.Client
) -> None:
    loopback.routes["/feed"] = Route(body=FEED, etag='"v1"', headers={"Content-Type": "application/rss+xml"})
    first = fetch_url(client, loopback.url("/feed"), max_bytes=10_000, deadline_s=5)
    assert not first.not_modified and first.body == FEED and first.etag == '"v1"'
    assert first.content_type == "application/rss+xml"
    second = fetch_url(client, loopback.url("/feed"), etag=first.etag, max_bytes=10_000, deadline_s=5)
    assert second.not_modified and second.body == b""
    assert loopback.request_headers["/feed"]["If-None-Match"] == '"v1"'
    assert loopback.request_headers["/feed"]["User-Agent"] == "threatwatch-test/1"


@pytest.mark.parametrize(
    ("route", "message", "transient"),
    [
        (Route(status=500), "HTTP 500", True),
        (Route(status=404), "HTTP 404", False),
        (Route(status=429, headers={"Retry-After": "120"}), "HTTP 429", True),
        (Route(body=b"x" * 5000), "over the 1000-byte limit", False),
        (Route(body=b"x" * 5000, headers={"Content-Length": "5000"}), "1000-byte limit", False),
        (Route(delay_s=3), "timed out", True),
        (Route(body=b"<rss>" + b" " * 200, trickle_s=0.02), "too slow", True),
    ],
    ids=["500", "404", "429", "too-big", "too-big-declared", "no-answer", "trickle"],
)
def test_bad_servers_give_a_reason(
    loopback: LoopbackServer, client: httpx.Client, route: Route, message: str, transient: bool
) -> None:
    loopback.routes["/bad"] = route
    with pytest.raises(FetchError, match=message) as info:
        fetch_url(client, loopback.url("/bad"), max_bytes=1000, deadline_s=2)
    assert info.value.transient is transient


def test_retry_after_is_read(loopback: LoopbackServer, client: httpx.Client) -> None:
    loopback.routes["/slow-down"] = Route(status=503, headers={"Retry-After": "42"})
    with pytest.raises(FetchError) as info:
        fetch_url(client, loopback.url("/slow-down"), max_bytes=1000, deadline_s=2)
    assert info.value.retry_after_s == 42


def test_redirect_loop_is_cut_off(loopback: LoopbackServer, client: httpx.Client) -> None:
    loopback.routes["/a"] = Route(redirect_to="/b")
    loopback.routes["/b"] = Route(redirect_to="/a")
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_url(client, loopback.url("/a"), max_bytes=1000, deadline_s=2)


def test_unreachable_host_is_a_transient_network_error(client: httpx.Client) -> None:
    with pytest.raises(FetchError, match="network error") as info:
        fetch_url(client, "http://127.0.0.1:9/feed", max_bytes=1000, deadline_s=2)
    assert info.value.transient


def test_file_urls_use_mtime_as_validator(tmp_path: Path, client: httpx.Client) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    first = fetch_url(client, path.as_uri(), max_bytes=10_000, deadline_s=1)
    assert first.body == FEED and first.last_modified
    again = fetch_url(
        client, path.as_uri(), last_modified=first.last_modified, max_bytes=10_000, deadline_s=1
    )
    assert again.not_modified
    with pytest.raises(FetchError, match="cannot read"):
        fetch_url(client, (tmp_path / "missing.xml").as_uri(), max_bytes=10_000, deadline_s=1)
