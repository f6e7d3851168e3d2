"""Feed parsing: any RSS or Atom version via feedparser, into plain entries with clean text."""

from __future__ import annotations

import calendar
import codecs
import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from threatwatch.collect.text import clean_field, html_to_text, needs_cleaning, plain_text

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000
# A document that declares entities is refused before any parser sees it: no billion laughs, no
# external entities reading local files or URLs. Real feeds do not declare entities.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# A character reference to a code point no text may hold (a lone surrogate, NUL, beyond U+10FFFF) makes
# feedparser raise mid-parse; it becomes U+FFFD first, so the entry keeps the rest of its text.
# Only references that may be impossible are matched (NUL, hex D800-DFFF or above FFFFF, decimal of 5+
# digits), so the everyday ones (&#8217;, &#x2019;) cost nothing; the callback decides.
_CHAR_REFERENCE = re.compile(
    rb"&#(0+|0*[1-9][0-9]{4,19}|[xX]0*(?:0|[dD][89a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{5,15}));"
)
#: Text constructs that are text, not markup (feedparser's ``*_detail.type``; Atom ``type="text"``).
_PLAIN_TYPES = frozenset({"text/plain"})
_HTML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)


class FeedError(ValueError):
    """The body is not a usable feed (malformed XML, an HTML page, ...)."""


@dataclass(frozen=True)
class FeedEntry:
    """One entry, from any adapter; its strings are made storable here (no control characters in the
    one-line fields, no lone surrogates anywhere), the one place every source kind passes through."""

    external_id: str
    url: str | None
    author: str | None
    published_at: datetime | None
    text: str
    language: str | None
    # The account's display name where the platform gives one beside the handle in ``author``.
    author_name: str | None = None

    def __post_init__(self) -> None:
        if needs_cleaning(self.text):  # long, and already clean from every adapter unless hostile
            object.__setattr__(self, "text", plain_text(self.text))
        for name in _ONE_LINE_FIELDS:
            value = getattr(self, name)
            if value is not None and needs_cleaning(value, one_line=True):
                object.__setattr__(self, name, clean_field(value))


_ONE_LINE_FIELDS = ("external_id", "url", "author", "language", "author_name")


@dataclass(frozen=True)
class ParsedFeed:
    entries: list[FeedEntry] = field(default_factory=list)
    language: str | None = None
    older_url: str | None = None  # RFC 5005 paging: where older entries are, for backfill
    skipped: list[str] = field(default_factory=list)  # why each unreadable entry was left out


def _timestamp(entry: Any) -> datetime | None:
    """The first date Python can represent (year 9999-12-31 at UTC-12 is year 10000 in UTC: skipped)."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (ValueError, OverflowError, OSError, TypeError):
                continue
    return None


def _construct_text(value: str, detail: Any) -> str:
    """A text construct as text: markup only when the feed says it is markup."""
    if (detail or {}).get("type") in _PLAIN_TYPES:
        return plain_text(value)
    return html_to_text(value)


def _entry_text(entry: Any) -> str:
    """Title plus body, without repeating the title when the body starts with it (social feeds do)."""
    title = _construct_text(entry.get("title", "") or "", entry.get("title_detail"))
    contents = [c for c in entry.get("content", []) if c.get("value")]
    if contents:
        longest = max(contents, key=lambda c: len(c.get("value", "")))
        body = _construct_text(longest["value"], longest)
    else:
        body = _construct_text(entry.get("summary", "") or "", entry.get("summary_detail"))
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
    if _declares_entities(body):
        raise FeedError("refused: the document declares XML entities (entity expansion attack?)")
    headers = {"content-type": content_type} if content_type else {}
    try:
        parsed = feedparser.parse(
            _without_impossible_characters(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as crash:  # feedparser itself failed on something we did not foresee
        raise FeedError(f"the feed parser failed: {type(crash).__name__}: {crash}") from crash
    if not parsed.entries:
        if _HTML_START.match(body[:1024]):
            raise FeedError("not an RSS or Atom feed: an HTML page (a feed link may have moved)")
        if parsed.bozo and not parsed.get("version"):
            exc = parsed.get("bozo_exception")
            raise FeedError(f"not a valid feed: {type(exc).__name__}: {exc}" if exc else "not a valid feed")
        if not parsed.get("version") and not _is_cdf(body):
            raise FeedError("not an RSS or Atom feed (no feed element found; an HTML page?)")
    language = parsed.feed.get("language") or None
    read, skipped = read_entries(parsed.entries, lambda raw: _entry(raw, language))
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for entry in read:
        if entry.external_id not in seen:  # duplicate ids inside one feed: keep the first
            seen.add(entry.external_id)
            entries.append(entry)
    return ParsedFeed(entries=entries, language=language, older_url=_older_url(parsed), skipped=skipped)


def read_entries(
    items: Iterable[Any], convert: Callable[[Any], FeedEntry | None]
) -> tuple[list[FeedEntry], list[str]]:
    """``convert`` each item on its own: one that raises is left out with its reason, the others kept."""
    entries: list[FeedEntry] = []
    skipped: list[str] = []
    for position, item in enumerate(items, start=1):
        try:
            entry = convert(item)
        except Exception as exc:
            skipped.append(f"entry {position}: {type(exc).__name__}: {exc}"[:300])
            logger.warning("entry %d left out: %s: %s", position, type(exc).__name__, exc)
            continue
        if entry is not None:
            entries.append(entry)
    return entries, skipped


def _entry(raw: Any, feed_language: str | None) -> FeedEntry | None:
    text = _entry_text(raw)
    if not text:
        return None
    link = raw.get("link")
    return FeedEntry(
        external_id=_external_id(raw, text),
        url=str(link)[:2000] if link and str(link).startswith(("http://", "https://")) else None,
        author=_author(raw),
        published_at=_timestamp(raw),
        text=text,
        language=(raw.get("language") or feed_language or None),
    )


def _replace_impossible_character(match: re.Match[bytes]) -> bytes:
    digits = match.group(1)
    point = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
    if point == 0 or 0xD800 <= point <= 0xDFFF or point > 0x10FFFF:
        return b"&#xFFFD;"
    return match.group(0)


def _wide_encoding(body: bytes) -> str | None:
    """UTF-16 or UTF-32, from the byte-order mark or the NUL bytes around the first ``<``."""
    if body.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for prefix, encoding in (
        (b"<\x00\x00\x00", "utf-32-le"),
        (b"\x00\x00\x00<", "utf-32-be"),
        (b"<\x00", "utf-16-le"),
        (b"\x00<", "utf-16-be"),
    ):
        if body.startswith(prefix):
            return encoding
    return None


def _without_impossible_characters(body: bytes) -> bytes:
    """Character references to code points no text may hold become U+FFFD, in any encoding."""
    encoding = _wide_encoding(body)
    if encoding is None:
        return _CHAR_REFERENCE.sub(_replace_impossible_character, body)
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        return body  # feedparser says what is wrong with it
    fixed = _CHAR_REFERENCE.sub(_replace_impossible_character, text.encode("utf-8", "surrogatepass"))
    return fixed.decode("utf-8", "surrogatepass").encode(encoding, "surrogatepass")


def _declares_entities(body: bytes) -> bool:
    """``<!ENTITY`` in the bytes, or in the text of a UTF-16/32 document (NUL bytes between letters)."""
    if _ENTITY_DECLARATION.search(body):
        return True
    encoding = _wide_encoding(body)
    if encoding is None:
        return False
    return "<!entity" in body.decode(encoding, errors="replace").lower()


def _is_cdf(body: bytes) -> bool:
    """Microsoft's Channel Definition Format: feedparser reads its items but names no version."""
    return re.search(rb"<channel\b[^>]*\bhref=", body[:4096], re.IGNORECASE) is not None
