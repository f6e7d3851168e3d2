"""Feed parsing: any RSS or Atom version via feedparser, into plain entries with clean text."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from threatwatch.collect.text import html_to_text

MAX_TEXT_CHARS = 20_000
# A document that declares entities is refused before any parser sees it: no billion laughs, no
# external entities reading local files or URLs. Real feeds do not declare entities.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_HTML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)


class FeedError(ValueError):
    """The body is not a usable feed (malformed XML, an HTML page, ...)."""


@dataclass(frozen=True)
class FeedEntry:
    external_id: str
    url: str | None
    author: str | None
    published_at: datetime | None
    text: str
    language: str | None


@dataclass(frozen=True)
class ParsedFeed:
    entries: list[FeedEntry] = field(default_factory=list)
    language: str | None = None
    older_url: str | None = None  # RFC 5005 paging: where older entries are, for backfill


def _timestamp(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


def _entry_text(entry: Any) -> str:
    """Title plus body, without repeating the title when the body starts with it (social feeds do)."""
    title = html_to_text(entry.get("title", "") or "")
    bodies = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    body_html = max(bodies, key=len) if bodies else entry.get("summary", "") or ""
    body = html_to_text(body_html)
    title_key = title.rstrip(".… ")
    if not body or (title_key and title_key in body[: len(title_key) + 5]):
        text = body or title
    elif not title or body.startswith(title_key):
        text = body
    else:
        text = f"{title}\n{body}"
    return text[:MAX_TEXT_CHARS]


def _external_id(entry: Any, text: str) -> str:
    """The entry's id, else its link, else a hash of its text: the best identity the feed offers."""
    for key in ("id", "guid", "link"):
        value = entry.get(key)
        if value:
            return str(value)[:1000]
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _author(entry: Any) -> str | None:
    author = entry.get("author") or (entry.get("author_detail") or {}).get("name")
    if not author:
        return None
    author = str(author).strip()
    return (author[3:] if author.startswith("/u/") else author)[:300] or None  # Reddit writes /u/name


def _older_url(parsed: Any) -> str | None:
    for link in parsed.feed.get("links", []):
        if link.get("rel") in ("next", "prev-archive") and str(link.get("href", "")).startswith("http"):
            return str(link["href"])
    return None


def parse_feed(body: bytes, *, content_type: str | None = None) -> ParsedFeed:
    """Entries of the feed and its declared language; raises ``FeedError`` when it is no feed at all.

    A feed that parsed with a recoverable problem (wrong charset, say) is accepted, as feedparser does.
    """
    if _ENTITY_DECLARATION.search(body):
        raise FeedError("refused: the document declares XML entities (entity expansion attack?)")
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    if not parsed.entries:
        if _HTML_START.match(body[:1024]):
            raise FeedError("not an RSS or Atom feed: an HTML page (a feed link may have moved)")
        if parsed.bozo and not parsed.get("version"):
            exc = parsed.get("bozo_exception")
            raise FeedError(f"not a valid feed: {type(exc).__name__}: {exc}" if exc else "not a valid feed")
        if not parsed.get("version"):
            raise FeedError("not an RSS or Atom feed (no feed element found; an HTML page?)")
    language = parsed.feed.get("language") or None
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for raw in parsed.entries:
        text = _entry_text(raw)
        if not text:
            continue
        external_id = _external_id(raw, text)
        if external_id in seen:  # duplicate ids inside one feed: keep the first
            continue
        seen.add(external_id)
        link = raw.get("link")
        entries.append(
            FeedEntry(
                external_id=external_id,
                url=str(link)[:2000] if link and str(link).startswith(("http://", "https://")) else None,
                author=_author(raw),
                published_at=_timestamp(raw),
                text=text,
                language=(raw.get("language") or language or None),
            )
        )
    return ParsedFeed(entries=entries, language=language, older_url=_older_url(parsed))
