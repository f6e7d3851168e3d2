"""Which account wrote a post: one ``Author`` per (platform, handle), each in a person of its own until
an analyst links it to another.

Collection resolves the authors of a batch of entries here, in its own transaction and with a few
set-based statements per batch (not one per post), so storing stays about as cheap as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import String, any_, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from threatwatch.db.models import Author, AuthorName, Person
from threatwatch.domain import AuthorKey

_CHUNK = 400
# How stale ``last_seen_at`` (of accounts and of display names) may get: finer than retention's one-day
# guard for accounts collection is storing, coarse enough that a known account's row is rarely written.
SEEN_GRANULARITY = timedelta(hours=1)
_HANDLES = bindparam("handles", type_=postgresql.ARRAY(String()))


def _insert_ignoring_conflicts(
    session: Session, model: type[Author] | type[AuthorName], rows: list[dict[str, object]]
) -> None:
    """Insert rows; one already there (another run's, meanwhile) is left as it is."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(model).on_conflict_do_nothing(), rows)


def _known(session: Session, keys: list[AuthorKey]) -> dict[AuthorKey, tuple[int, datetime]]:
    """(id, last seen) of the accounts among ``keys`` that exist: one query per platform (a source's
    authors share one), on PostgreSQL with the handles as one array parameter, so the statement is the
    same whatever their number (an expanded ``IN`` of row values is rendered anew on every call)."""
    by_platform: dict[str, list[str]] = {}
    for key in keys:
        by_platform.setdefault(key.platform, []).append(key.handle)
    postgres = session.get_bind().dialect.name == "postgresql"
    columns = select(Author.handle, Author.id, Author.last_seen_at)
    found: dict[AuthorKey, tuple[int, datetime]] = {}
    for platform, handles in by_platform.items():
        if postgres:
            batches = [
                session.execute(
                    columns.where(Author.platform == platform, Author.handle == any_(_HANDLES)),
                    {"handles": handles},
                )
            ]
        else:
            batches = [
                session.execute(
                    columns.where(Author.platform == platform, Author.handle.in_(handles[i : i + _CHUNK]))
                )
                for i in range(0, len(handles), _CHUNK)
            ]
        for rows in batches:
            found.update({AuthorKey(platform, h): (author_id, seen) for h, author_id, seen in rows})
    return found


def _touch(session: Session, model: type[Author] | type[AuthorName], ids: list[int], now: datetime) -> None:
    """Move ``last_seen_at`` of these rows to ``now``, locking them in id order first: sources stored
    side by side meet the same accounts, and rows updated in different orders could deadlock."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        session.scalars(
            select(model.id).where(model.id.in_(chunk)).order_by(model.id).with_for_update()
        ).all()
        session.execute(update(model).where(model.id.in_(chunk)).values(last_seen_at=now))


def resolve_authors(
    session: Session, *, names: Mapping[AuthorKey, str | None], now: datetime
) -> dict[AuthorKey, int]:
    """The author id of every key, creating the accounts (and a person for each) not seen before, and
    recording the display names seen; in the caller's transaction.

    Two runs may meet the same new account at once (on PostgreSQL): the loser's insert does nothing and
    its spare person row is deleted again, so every account has one person. ``last_seen_at`` moves only
    when it is more than ``SEEN_GRANULARITY`` old: rewriting every known account's row on every store
    made sources stored side by side wait on each other's row locks (``benchmarks/collect.py``).
    """
    keys = sorted(names)
    if not keys:
        return {}
    known = _known(session, keys)
    missing = [key for key in keys if key not in known]
    if missing:
        person_ids = list(
            session.scalars(
                insert(Person).returning(Person.id, sort_by_parameter_order=True),
                [
                    {
                        "concern": 0.0,
                        "signals": {},
                        "post_count": 0,
                        "flagged_count": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for _ in missing
                ],
            )
        )
        _insert_ignoring_conflicts(
            session,
            Author,
            [
                {
                    "person_id": person_id,
                    "platform": key.platform,
                    "handle": key.handle,
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
                for key, person_id in zip(missing, person_ids, strict=True)
            ],
        )
        known.update(_known(session, missing))
        used = set(session.scalars(select(Author.person_id).where(Author.person_id.in_(person_ids))))
        spare = [person_id for person_id in person_ids if person_id not in used]
        if spare:
            session.execute(delete(Person).where(Person.id.in_(spare)))
    stale = [author_id for author_id, seen in known.values() if seen < now - SEEN_GRANULARITY]
    if stale:
        _touch(session, Author, stale, now)
    found = {key: author_id for key, (author_id, _seen) in known.items()}
    _record_names(session, {found[key]: name for key, name in names.items() if name}, now=now)
    return found


def _record_names(session: Session, names: Mapping[int, str], *, now: datetime) -> None:
    if not names:
        return
    pairs = sorted(names.items())
    known: dict[tuple[int, str], tuple[int, datetime]] = {}
    for start in range(0, len(pairs), _CHUNK):
        for row_id, author_id, name, seen in session.execute(
            select(AuthorName.id, AuthorName.author_id, AuthorName.name, AuthorName.last_seen_at).where(
                tuple_(AuthorName.author_id, AuthorName.name).in_(pairs[start : start + _CHUNK])
            )
        ):
            known[(author_id, name)] = (row_id, seen)
    fresh = [
        {"author_id": a, "name": n, "first_seen_at": now, "last_seen_at": now}
        for a, n in pairs
        if (a, n) not in known
    ]
    if fresh:
        _insert_ignoring_conflicts(session, AuthorName, fresh)
    stale = [row_id for row_id, seen in known.values() if seen < now - SEEN_GRANULARITY]
    if stale:
        _touch(session, AuthorName, stale, now)
