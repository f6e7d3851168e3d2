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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

from threatwatch.collect.language import detect_languages
from threatwatch.collect.parse import FeedEntry
from threatwatch.db.models import Mention, Post, Source
from threatwatch.db.types import UTCDateTime
from threatwatch.domain import AuthorKey, author_key
from threatwatch.persons.accounts import resolve_authors
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
_POST_COLUMNS = ("source_id", "external_id", "url", "author", "author_id", "published_at", "collected_at",
                 "text", "language", "content_hash", "duplicate_of_id")  # fmt: skip
_MENTION_COLUMNS = ("post_id", "official_id", "matched_on")


def _record_type(kind: TypeEngine[Any]) -> TypeEngine[Any]:
    """Unbounded types for the JSON records, so that the columns' own types check lengths on INSERT and a
    too long value fails with the same error as a row-by-row insert."""
    if isinstance(kind, String):
        return Text()
    if isinstance(kind, UTCDateTime):
        return DateTime(timezone=True)
    assert isinstance(kind, Integer), f"no record type for {kind!r}"
    return Integer()


def _records(parameter: str, fields: dict[str, TypeEngine[Any]]) -> TableValuedAlias:
    """PostgreSQL: ``json_to_recordset(:parameter)`` as a table with typed ``fields``. All rows travel as
    one JSON text that orjson writes in C; psycopg would dump one array per column element by element in
    Python, which cost as much per source as the whole INSERT on the server."""
    payload = cast(bindparam(parameter, type_=Text()), JSON())
    typed = [column(name, _record_type(kind)) for name, kind in fields.items()]
    return func.json_to_recordset(payload).table_valued(*typed).render_derived(with_types=True)


def _posts_and_mentions_statement() -> Select[int, str]:
    """PostgreSQL: the posts and their mentions in one statement (one round trip), a data-modifying
    CTE per table; mentions find their post through its external id. Gives (id, external id) per post.
    Parameters: ``posts`` and ``mentions``, JSON lists of records (see ``_records``)."""
    posts = _records("posts", {c: _POSTS.c[c].type for c in _POST_COLUMNS})
    new_posts = (
        insert(_POSTS)
        .from_select(list(_POST_COLUMNS), select(*posts.c))
        .returning(_POSTS.c.id, _POSTS.c.external_id)
        .cte("new_posts")
    )
    found = _records(
        "mentions",
        {
            "external_id": _POSTS.c.external_id.type,
            "official_id": _MENTIONS.c.official_id.type,
            "matched_on": _MENTIONS.c.matched_on.type,
        },
    )
    new_mentions = (
        insert(_MENTIONS)
        .from_select(
            list(_MENTION_COLUMNS),
            select(new_posts.c.id, found.c.official_id, found.c.matched_on).join(
                found, found.c.external_id == new_posts.c.external_id
            ),
        )
        .cte("new_mentions")
    )
    return select(new_posts.c.id, new_posts.c.external_id).add_cte(new_mentions)


_POSTS_AND_MENTIONS = _posts_and_mentions_statement()


def _insert(
    connection: Connection, rows: list[dict[str, Any]], matches: list[list[Match]], *, postgres: bool
) -> list[int]:
    """Insert ``rows`` (one source's, so external ids are unique) with the mentions ``matches`` found in
    each, and give the posts' ids in row order."""
    if postgres:
        mentions = [
            {"external_id": row["external_id"], "official_id": m.official_id, "matched_on": m.matched_on}
            for row, found in zip(rows, matches, strict=True)
            for m in found
        ]
        parameters = {"posts": orjson.dumps(rows).decode(), "mentions": orjson.dumps(mentions).decode()}
        by_external = dict(
            (external_id, post_id)
            for post_id, external_id in connection.execute(_POSTS_AND_MENTIONS, parameters)
        )
        return [by_external[row["external_id"]] for row in rows]
    # SQLite: plain INSERT ... RETURNING through SQLAlchemy Core (its insertmanyvalues), no ORM.
    statement = insert(_POSTS).returning(_POSTS.c.id, sort_by_parameter_order=True)
    ids = list(connection.execute(statement, rows).scalars())
    mentions = [
        {"post_id": post_id, "official_id": m.official_id, "matched_on": m.matched_on}
        for post_id, found in zip(ids, matches, strict=True)
        for m in found
    ]
    if mentions:
        connection.execute(insert(_MENTIONS), mentions)
    return ids


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


def _hashed(text: str) -> tuple[str, list[str]]:
    words = post_words(text)
    return content_hash(text, words), words


_KNOWN, _SAME_SOURCE, _FIRST_POST = 0, 1, 2

# PostgreSQL: the three lookups in one statement built once. The values travel as two JSON texts that
# orjson writes in C (psycopg dumps array parameters element by element in Python), and the first post
# of each hash is one index probe per hash, written so that the planner cannot choose otherwise: given
# ``content_hash = ANY(...)`` it estimated a sequential scan cheaper while the table is young (a few
# thousand rows), several times the cost of the probes (`benchmarks/collect.py` measures the path).
_LOOKUP_POSTGRES = text(
    """
    SELECT 0 AS kind, external_id AS key, CAST(NULL AS VARCHAR) AS author, CAST(NULL AS INTEGER) AS first
      FROM posts
     WHERE source_id = :source_id
       AND external_id = ANY(ARRAY(SELECT json_array_elements_text(CAST(:external_ids AS JSON))))
    UNION ALL
    SELECT 1, content_hash, author, NULL
      FROM posts
     WHERE source_id = :source_id
       AND content_hash = ANY(ARRAY(SELECT json_array_elements_text(CAST(:hashes AS JSON))))
    UNION ALL
    SELECT 2, wanted.digest, NULL,
           (SELECT id FROM posts
             WHERE content_hash = wanted.digest AND duplicate_of_id IS NULL ORDER BY id LIMIT 1)
      FROM json_array_elements_text(CAST(:hashes AS JSON)) AS wanted(digest)
    """
)


def _lookup_rows(
    connection: Connection,
    *,
    source_id: int,
    external_ids: Sequence[str],
    hashes: Sequence[str],
    postgres: bool,
) -> Iterator[Sequence[Any]]:
    """(kind, key, author, first post id) rows; on PostgreSQL one round trip, on SQLite one per chunk
    (its statements take at most a few thousand parameters; its UNION needs no typed NULLs)."""
    if postgres:
        parameters = {
            "source_id": source_id,
            "external_ids": orjson.dumps(list(external_ids)).decode(),
            "hashes": orjson.dumps(list(hashes)).decode(),
        }
        yield from connection.execute(_LOOKUP_POSTGRES, parameters)
        return
    posts = _POSTS.c
    for start in range(0, max(len(external_ids), len(hashes)), _CHUNK):
        ids, digests = external_ids[start : start + _CHUNK], hashes[start : start + _CHUNK]
        parts = []
        if ids:
            parts.append(
                select(literal(_KNOWN), posts.external_id, null(), null()).where(
                    posts.source_id == source_id, posts.external_id.in_(ids)
                )
            )
        if digests:
            parts.append(
                select(literal(_SAME_SOURCE), posts.content_hash, posts.author, null()).where(
                    posts.source_id == source_id, posts.content_hash.in_(digests)
                )
            )
            parts.append(
                select(literal(_FIRST_POST), posts.content_hash, null(), func.min(posts.id))
                .where(posts.content_hash.in_(digests), posts.duplicate_of_id.is_(None))
                .group_by(posts.content_hash)
            )
        yield from connection.execute(union_all(*parts))


def _lookup(
    connection: Connection,
    *,
    source_id: int,
    external_ids: Sequence[str],
    hashes: Sequence[str],
    postgres: bool,
) -> tuple[set[str], set[tuple[str, str | None]], dict[str, int]]:
    """What the database already holds of these entries: the external ids this source delivered before,
    the (content hash, author) pairs of this source, and the first post of each content hash anywhere.

    Core on the session's connection, not ORM selects: this runs once per source per round and ORM
    result processing cost as much as the queries."""
    known: set[str] = set()
    same_source: set[tuple[str, str | None]] = set()
    first_post: dict[str, int] = {}
    rows = _lookup_rows(
        connection, source_id=source_id, external_ids=external_ids, hashes=hashes, postgres=postgres
    )
    for kind, key, author, first in rows:
        if kind == _KNOWN:
            known.add(key)
        elif kind == _SAME_SOURCE:
            same_source.add((key, author))
        elif first is not None:  # PostgreSQL: NULL for a hash that no post has yet
            first_post[key] = first
    return known, same_source, first_post


def _authors(
    session: Session, *, source_id: int, entries: Sequence[FeedEntry], now: datetime
) -> dict[str, int]:
    """The author id of each byline in ``entries`` (``threatwatch.persons``), accounts created as needed."""
    source = session.get(Source, source_id)
    if source is None:
        raise LookupError(f"source {source_id} does not exist")
    keys: dict[str, AuthorKey] = {}
    names: dict[AuthorKey, str | None] = {}
    for entry in entries:
        if entry.author is None or entry.author in keys:
            continue
        key = author_key(source_kind=source.kind, source_url=source.url, author=entry.author)
        if key is not None:
            keys[entry.author] = key
            names[key] = entry.author_name or names.get(key)
    ids = resolve_authors(session, names=names, now=now)
    return {byline: ids[key] for byline, key in keys.items()}


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
    connection = session.connection()
    # Entries this source delivered before are hashed too, so the three lookups go in one statement; for
    # a feed that repeats most of its entries, that hashing costs about what the saved round trip did.
    hashed = [(entry, *_hashed(entry.text)) for entry in entries]
    known, same_source, first_post = _lookup(
        connection,
        source_id=source_id,
        external_ids=[e.external_id for e in entries],
        hashes=sorted({digest for _e, digest, _w in hashed}),
        postgres=postgres,
    )
    fresh: list[tuple[FeedEntry, str, list[str]]] = []
    for entry, digest, words in hashed:
        if entry.external_id in known:
            report.duplicates += 1
            continue
        known.add(entry.external_id)
        fresh.append((entry, digest, words))
    if not fresh:
        return report

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
    authors = _authors(session, source_id=source_id, entries=[e for e, _h, _w in kept], now=now)
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
                "author_id": authors.get(entry.author) if entry.author else None,
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
    ids = _insert(connection, rows, matches, postgres=postgres)
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
    report.new_post_ids = ids
    report.mentions = sum(map(len, matches))
    report.linked = sum(1 for row in rows if row["duplicate_of_id"] is not None) + len(relink)
    return report
