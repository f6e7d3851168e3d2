"""Storing entries: each (source, external id) once, with its mentions of watched officials.

Three kinds of repetition, three answers:
- the same (source, external id) again: counted, not stored;
- the same text from the same author in the same source under a new id (feeds that regenerate ids):
  recognised by content hash, counted, not stored;
- the same text elsewhere (a boost, a repost, copy-paste from many accounts): stored and linked to the
  first post through ``duplicate_of_id``, so it is visible but never classified or queued again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from threatwatch.collect.language import detect_language
from threatwatch.collect.parse import FeedEntry
from threatwatch.db.models import Mention, Post
from threatwatch.watchlist.matching import Match, OfficialMatcher
from threatwatch.watchlist.names import tokens

# Clock skew we tolerate before a publication date "in the future" is clamped to the collection time.
FUTURE_TOLERANCE = timedelta(minutes=10)
_URL = re.compile(r"https?://\S+")
_CHUNK = 500


def post_words(text: str) -> list[str]:
    """The folded words of a post without its links: what is hashed and matched."""
    return tokens(_URL.sub(" ", text))


def content_hash(text: str, words: list[str] | None = None) -> str:
    """Hash of the folded words without links, so the same message with other spacing, accents or
    tracking links hashes the same. A message without words (only links or emoji) hashes its whole text,
    so two different link-only posts are never taken for one another."""
    words = post_words(text) if words is None else words
    basis = " ".join(words) if words else "raw:" + " ".join(text.split())
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


@dataclass
class StoreReport:
    new_post_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    linked: int = 0
    mentions: int = 0


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def store_entries(
    session: Session,
    *,
    source_id: int,
    entries: Sequence[FeedEntry],
    matcher: OfficialMatcher,
    now: datetime,
) -> StoreReport:
    """Insert what this source has not delivered before, in the caller's transaction."""
    report = StoreReport()
    known: set[str] = set()
    for chunk in _chunks([e.external_id for e in entries]):
        known.update(
            session.scalars(
                select(Post.external_id).where(Post.source_id == source_id, Post.external_id.in_(chunk))
            )
        )
    fresh: list[tuple[FeedEntry, str, list[str]]] = []
    for entry in entries:
        if entry.external_id in known:
            report.duplicates += 1
            continue
        known.add(entry.external_id)
        words = post_words(entry.text)
        fresh.append((entry, content_hash(entry.text, words), words))
    if not fresh:
        return report

    hashes = sorted({h for _e, h, _w in fresh})
    same_source: set[tuple[str, str | None]] = set()
    first_post: dict[str, int] = {}
    for chunk in _chunks(hashes):
        same_source.update(
            (row.content_hash, row.author)
            for row in session.execute(
                select(Post.content_hash, Post.author).where(
                    Post.source_id == source_id, Post.content_hash.in_(chunk)
                )
            )
        )
        first_post.update(
            (row[0], row[1])
            for row in session.execute(
                select(Post.content_hash, func.min(Post.id))
                .where(Post.content_hash.in_(chunk), Post.duplicate_of_id.is_(None))
                .group_by(Post.content_hash)
            )
        )

    # Plain INSERT ... RETURNING in batches (SQLAlchemy's insertmanyvalues) rather than ORM objects:
    # collection stores thousands of rows a minute and the unit of work would cost more than parsing.
    rows: list[dict[str, Any]] = []
    matches: list[list[Match]] = []
    for entry, digest, words in fresh:
        if (digest, entry.author) in same_source:  # the same message re-delivered under a new id
            report.duplicates += 1
            continue
        same_source.add((digest, entry.author))
        published = entry.published_at
        if published is not None and published > now + FUTURE_TOLERANCE:
            published = now
        rows.append(
            {
                "source_id": source_id,
                "external_id": entry.external_id,
                "url": entry.url,
                "author": entry.author,
                "published_at": published,
                "collected_at": now,
                "text": entry.text,
                "language": detect_language(entry.text, declared=entry.language),
                "content_hash": digest,
                "duplicate_of_id": first_post.get(digest),
            }
        )
        matches.append(matcher.match_tokens(words))
    if not rows:
        return report
    ids = list(session.scalars(insert(Post).returning(Post.id, sort_by_parameter_order=True), rows))
    batch_first: dict[str, int] = {}
    relink: list[dict[str, int]] = []
    for post_id, row in zip(ids, rows, strict=True):
        digest = row["content_hash"]
        if row["duplicate_of_id"] is not None:
            continue
        if digest in batch_first:  # a copy of a post first seen in this very batch
            relink.append({"b_id": post_id, "b_original": batch_first[digest]})
        else:
            batch_first[digest] = post_id
    if relink:
        posts = Post.__table__
        assert isinstance(posts, Table)
        session.connection().execute(
            update(posts)
            .where(posts.c.id == bindparam("b_id"))
            .values(duplicate_of_id=bindparam("b_original")),
            relink,
        )
    mentions = [
        {"post_id": post_id, "official_id": m.official_id, "matched_on": m.matched_on}
        for post_id, found in zip(ids, matches, strict=True)
        for m in found
    ]
    if mentions:
        session.execute(insert(Mention), mentions)
    report.new_post_ids = ids
    report.mentions = len(mentions)
    report.linked = sum(1 for row in rows if row["duplicate_of_id"] is not None) + len(relink)
    return report
