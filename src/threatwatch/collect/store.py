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

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from threatwatch.collect.language import detect_languages
from threatwatch.collect.parse import FeedEntry
from threatwatch.db.models import Mention, Post
from threatwatch.db.types import UTCDateTime
from threatwatch.watchlist.matching import Match, OfficialMatcher
from threatwatch.watchlist.names import tokens

# Clock skew we tolerate before a publication date "in the future" is clamped to the collection time.
FUTURE_TOLERANCE = timedelta(minutes=10)
_URL = re.compile(r"https?://\S+")
_CHUNK = 500


def _table(model: type[Post] | type[Mention]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_POSTS = _table(Post)
_MENTIONS = _table(Mention)
_POST_COLUMNS = ("source_id", "external_id", "url", "author", "published_at", "collected_at", "text",
                 "language", "content_hash", "duplicate_of_id")  # fmt: skip
_MENTION_COLUMNS = ("post_id", "official_id", "matched_on")


def _array_type(column: str, table: Table) -> TypeEngine[Any]:
    """Unbounded element types: a too long value then fails the INSERT as it would row by row, where a
    cast to ``VARCHAR(n)[]`` would silently cut it."""
    kind = table.c[column].type
    if isinstance(kind, String):
        return ARRAY(String())
    if isinstance(kind, UTCDateTime):
        return ARRAY(UTCDateTime())
    assert isinstance(kind, Integer), f"no array type for {table.name}.{column}"
    return ARRAY(Integer())


def _unnest_insert(table: Table, columns: tuple[str, ...]) -> Insert:
    """PostgreSQL: ``INSERT ... SELECT FROM unnest(one array per column)``. A handful of parameters
    instead of one per value, so the driver neither splits nor re-parses a statement per batch."""
    arrays = [bindparam(c, type_=_array_type(c, table)) for c in columns]
    rows = func.unnest(*arrays).table_valued(*columns).render_derived()
    return insert(table).from_select(list(columns), select(*rows.c))


_POSTS_UNNEST = _unnest_insert(_POSTS, _POST_COLUMNS).returning(_POSTS.c.id, _POSTS.c.external_id)
_MENTIONS_UNNEST = _unnest_insert(_MENTIONS, _MENTION_COLUMNS)


def _among(column: ColumnElement[str], values: Sequence[str], *, postgres: bool) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY(array)``, one parameter (psycopg parses statements with
    more than 50 parameters anew on every call)."""
    if postgres:
        return column == any_(bindparam(None, list(values), type_=ARRAY(String())))
    return column.in_(values)


def _columns(rows: Sequence[dict[str, Any]], columns: tuple[str, ...]) -> dict[str, list[Any]]:
    return {c: [row[c] for row in rows] for c in columns}


def _insert_posts(connection: Connection, rows: list[dict[str, Any]], *, postgres: bool) -> list[int]:
    """Insert ``rows`` (one source's, so external ids are unique) and give their ids in row order."""
    if postgres:
        by_external = dict(
            (external_id, post_id)
            for post_id, external_id in connection.execute(_POSTS_UNNEST, _columns(rows, _POST_COLUMNS))
        )
        return [by_external[row["external_id"]] for row in rows]
    # SQLite: plain INSERT ... RETURNING through SQLAlchemy Core (its insertmanyvalues), no ORM.
    statement = insert(_POSTS).returning(_POSTS.c.id, sort_by_parameter_order=True)
    return list(connection.execute(statement, rows).scalars())


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
    postgres = session.get_bind().dialect.name == "postgresql"
    # Core on the session's connection, not ORM selects: these lookups run three times per source per
    # round and ORM result processing cost as much as the queries.
    connection = session.connection()
    posts = _POSTS.c
    known: set[str] = set()
    for chunk in _chunks([e.external_id for e in entries]):
        known.update(
            connection.execute(
                select(posts.external_id).where(
                    posts.source_id == source_id, _among(posts.external_id, chunk, postgres=postgres)
                )
            ).scalars()
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
            (row[0], row[1])
            for row in connection.execute(
                select(posts.content_hash, posts.author).where(
                    posts.source_id == source_id, _among(posts.content_hash, chunk, postgres=postgres)
                )
            )
        )
        first_post.update(
            (row[0], row[1])
            for row in connection.execute(
                select(posts.content_hash, func.min(posts.id))
                .where(_among(posts.content_hash, chunk, postgres=postgres), posts.duplicate_of_id.is_(None))
                .group_by(posts.content_hash)
            )
        )

    kept: list[tuple[FeedEntry, str, list[str]]] = []
    for entry, digest, words in fresh:
        if (digest, entry.author) in same_source:  # the same message re-delivered under a new id
            report.duplicates += 1
            continue
        same_source.add((digest, entry.author))
        kept.append((entry, digest, words))
    if not kept:
        return report
    languages = detect_languages([e.text for e, _h, _w in kept], [e.language for e, _h, _w in kept])
    rows: list[dict[str, Any]] = []
    matches: list[list[Match]] = []
    latest = now + FUTURE_TOLERANCE
    for (entry, digest, words), language in zip(kept, languages, strict=True):
        published = entry.published_at
        if published is not None and published > latest:
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
                "language": language,
                "content_hash": digest,
                "duplicate_of_id": first_post.get(digest),
            }
        )
        matches.append(matcher.match_tokens(words))
    # Core statements rather than ORM objects or ORM bulk inserts: collection stores thousands of rows a
    # minute and the unit of work would cost more than parsing.
    ids = _insert_posts(connection, rows, postgres=postgres)
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
        connection.execute(
            update(_POSTS)
            .where(_POSTS.c.id == bindparam("b_id"))
            .values(duplicate_of_id=bindparam("b_original")),
            relink,
        )
    mentions = [
        {"post_id": post_id, "official_id": m.official_id, "matched_on": m.matched_on}
        for post_id, found in zip(ids, matches, strict=True)
        for m in found
    ]
    if mentions and postgres:
        connection.execute(_MENTIONS_UNNEST, _columns(mentions, _MENTION_COLUMNS))
    elif mentions:
        connection.execute(insert(_MENTIONS), mentions)
    report.new_post_ids = ids
    report.mentions = len(mentions)
    report.linked = sum(1 for row in rows if row["duplicate_of_id"] is not None) + len(relink)
    return report
