"""The one interface every source kind implements: where to ask, and how to read the answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from threatwatch.collect.parse import FeedEntry

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
JSON_ACCEPT = "application/json"


@dataclass(frozen=True)
class Page:
    """What one response held: its entries, the cursor to remember, and where older entries are.

    ``cursor`` is stored on the source after a successful poll (Mastodon: the newest status id, so the
    next poll asks only for newer ones). ``older_url`` is followed by backfill only.
    """

    entries: list[FeedEntry] = field(default_factory=list)
    cursor: str | None = None
    older_url: str | None = None
    skipped: list[str] = field(default_factory=list)  # why each unreadable entry was left out


class SourceAdapter(Protocol):
    """One small adapter per source kind; the poller knows nothing else about the kind."""

    accept: str

    def poll_url(self, url: str, *, cursor: str | None) -> str:
        """The URL of the newest page, given the cursor stored after the previous poll."""
        ...

    def parse(self, body: bytes, *, content_type: str | None, url: str) -> Page:
        """Entries of one response; raises ``FeedError`` when the body is not what this kind serves."""
        ...


def with_query(url: str, **params: str | int | None) -> str:
    """``url`` with ``params`` set (replacing any of the same name); ``None`` removes a parameter."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, str(v)) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_param(url: str, name: str) -> str | None:
    return dict(parse_qsl(urlsplit(url).query)).get(name)
