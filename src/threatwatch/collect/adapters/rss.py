"""RSS and Atom of any URL (also Reddit, Google News, YouTube, municipal and Mastodon/Bluesky RSS)."""

from __future__ import annotations

from threatwatch.collect.adapters.base import FEED_ACCEPT, Page
from threatwatch.collect.parse import parse_feed


class RssAdapter:
    """Every RSS and Atom version through feedparser; RFC 5005 ``next``/``prev-archive`` links page back."""

    accept = FEED_ACCEPT

    def poll_url(self, url: str, *, cursor: str | None) -> str:
        return url

    def parse(self, body: bytes, *, content_type: str | None, url: str) -> Page:
        feed = parse_feed(body, content_type=content_type)
        return Page(entries=feed.entries, older_url=feed.older_url, skipped=feed.skipped)
