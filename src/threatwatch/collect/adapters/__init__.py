"""Source kinds: one small adapter each behind ``SourceAdapter``, and the kind a URL implies."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from threatwatch.collect.adapters.base import Page, SourceAdapter, with_query
from threatwatch.collect.adapters.bluesky import BlueskyApiAdapter
from threatwatch.collect.adapters.mastodon import MastodonApiAdapter
from threatwatch.collect.adapters.rss import RssAdapter
from threatwatch.domain import SourceKind

__all__ = ["Page", "SourceAdapter", "adapter_for", "infer_kind", "with_query"]

_RSS = RssAdapter()
_MASTODON_API = MastodonApiAdapter()
_BLUESKY_API = BlueskyApiAdapter()
_MASTODON_RSS = re.compile(r"^/(?:@[^/]+|tags/[^/]+|users/[^/]+)\.rss$")


def adapter_for(kind: str, url: str) -> SourceAdapter:
    """The adapter for a source: Mastodon and Bluesky speak JSON through their APIs, RSS otherwise."""
    path = urlsplit(url).path
    if kind == SourceKind.MASTODON and "/api/v1/" in path:
        return _MASTODON_API
    if kind == SourceKind.BLUESKY and "/xrpc/app.bsky.feed.getAuthorFeed" in path:
        return _BLUESKY_API
    return _RSS


def infer_kind(url: str) -> SourceKind:
    """The kind a URL implies; anything unrecognised is a plain RSS/Atom feed."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = parts.path
    if host == "news.google.com" or host.endswith(".news.google.com"):
        return SourceKind.GOOGLE_NEWS
    if host == "reddit.com" or host.endswith(".reddit.com"):
        return SourceKind.REDDIT
    if host.endswith("youtube.com") and path.startswith("/feeds/"):
        return SourceKind.YOUTUBE
    if "/xrpc/app.bsky.feed.getAuthorFeed" in path or (host == "bsky.app" and path.endswith("/rss")):
        return SourceKind.BLUESKY
    if "/api/v1/timelines/tag/" in path or _MASTODON_RSS.match(path):
        return SourceKind.MASTODON
    return SourceKind.FEED
