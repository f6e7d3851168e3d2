"""Which account wrote a post: one ``Author`` per (platform, handle), each in a person of its own until
an analyst links it to another.

Collection resolves the authors of a batch of entries here, in its own transaction and with a few
set-based statements per batch (not one per post), so storing stays about as cheap as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from threatwatch.db.models import Author, AuthorName, Person
from threatwatch.domain import AuthorKey

_CHUNK = 400


def _insert_ignoring_conflicts(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert authors; one already there (another run's, meanwhile) is left as it is."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(postgresql.insert(Author).on_conflict_do_nothing(), rows)
    else:
        session.execute(sqlite.insert(Author).on_conflict_do_nothing(), rows)


def _known(session: Session, keys: list[AuthorKey]) -> dict[AuthorKey, int]:
    found: dict[AuthorKey, int] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows = session.execute(
            select(Author.platform, Author.handle, Author.id).where(
                tuple_(Author.platform, Author.handle).in_([(k.platform, k.handle) for k in chunk])
            )
        )
        found.update({AuthorKey(platform, handle): author_id for platform, handle, author_id in rows})
    return found


def resolve_authors(
    session: Session, *, names: Mapping[AuthorKey, str | None], now: datetime
) -> dict[AuthorKey, int]:
    """The author id of every key, creating the accounts (and a person for each) not seen before, and
    recording the display names seen; in the caller's transaction.

    Two runs may meet the same new account at once (on PostgreSQL): the loser's insert does nothing and
    its spare person row is deleted again, so every account has one person.
    """
    keys = sorted(names)
    if not keys:
        return {}
    found = _known(session, keys)
    missing = [key for key in keys if key not in found]
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
        found.update(_known(session, missing))
        used = set(session.scalars(select(Author.person_id).where(Author.person_id.in_(person_ids))))
        spare = [person_id for person_id in person_ids if person_id not in used]
        if spare:
            session.execute(delete(Person).where(Person.id.in_(spare)))
    seen = sorted(found[key] for key in keys)
    session.execute(update(Author).where(Author.id.in_(seen)).values(last_seen_at=now))
    _record_names(session, {found[key]: name for key, name in names.items() if name}, now=now)
    return found


def _record_names(session: Session, names: Mapping[int, str], *, now: datetime) -> None:
    if not names:
        return
    pairs = sorted(names.items())
    known = set(
        session.execute(
            select(AuthorName.author_id, AuthorName.name).where(
                tuple_(AuthorName.author_id, AuthorName.name).in_(pairs)
            )
        )
    )
    fresh = [
        {"author_id": a, "name": n, "first_seen_at": now, "last_seen_at": now}
        for a, n in pairs
        if (a, n) not in known
    ]
    if fresh:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(postgresql.insert(AuthorName).on_conflict_do_nothing(), fresh)
        else:
            session.execute(sqlite.insert(AuthorName).on_conflict_do_nothing(), fresh)
    seen = [(a, n) for a, n in pairs if (a, n) in known]
    for start in range(0, len(seen), _CHUNK):
        session.execute(
            update(AuthorName)
            .where(tuple_(AuthorName.author_id, AuthorName.name).in_(seen[start : start + _CHUNK]))
            .values(last_seen_at=now)
        )


def accounts_of(session: Session, person_ids: Iterable[int]) -> dict[int, list[Author]]:
    """Each person's accounts, oldest first."""
    out: dict[int, list[Author]] = {}
    for author in session.scalars(
        select(Author).where(Author.person_id.in_(sorted(set(person_ids)))).order_by(Author.id)
    ):
        out.setdefault(author.person_id, []).append(author)
    return out
