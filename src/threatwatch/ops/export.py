"""Subject access: everything threatwatch stores about one author or one watched official, as JSON.

Tables other issues add are found generically: any table with an ``official_id`` column (or an
``official_ids`` list) contributes the rows that name the official, so the export stays complete
as the schema grows.

An author's export also holds what ``threatwatch.persons`` keeps about them: the accounts their posts
came from (with the display names seen), and each person those accounts belong to: the other accounts
analysts linked to it, its computed signals and counts, its status and the analysts' notes.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session, selectinload

from threatwatch import audit
from threatwatch.db.models import (
    AuditEvent,
    Author,
    Base,
    Decision,
    Mention,
    Official,
    Person,
    PersonNote,
    PersonOfficial,
    Post,
    ReviewItem,
)

logger = logging.getLogger(__name__)

# Tables whose rows the post section already covers, or that hold only aggregates.
_COVERED = {"mentions", "daily_counts"}


class SubjectNotFoundError(LookupError):
    """Nothing is stored about the subject asked for."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(table: Table, row: Any) -> dict[str, Any]:
    return {column.name: _plain(row._mapping[column]) for column in table.columns}


def _post(session: Session, post: Post) -> dict[str, Any]:
    item = session.scalar(
        select(ReviewItem).options(selectinload(ReviewItem.decisions)).where(ReviewItem.post_id == post.id)
    )
    return {
        "id": post.id,
        "source": {"id": post.source.id, "name": post.source.name, "url": post.source.url},
        "external_id": post.external_id,
        "url": post.url,
        "author": post.author,
        "published_at": _plain(post.published_at),
        "collected_at": _plain(post.collected_at),
        "text": post.text,
        "language": post.language,
        "mentions": [
            {"official_id": m.official_id, "official": m.official.name, "matched_on": m.matched_on}
            for m in post.mentions
        ],
        "classifications": [
            {
                "model_version": c.model_version,
                "label": c.label,
                "flagged": c.flagged,
                "scores": c.scores,
                "explanation": c.explanation,
                "created_at": _plain(c.created_at),
            }
            for c in sorted(post.classifications, key=lambda c: c.id)
        ],
        "review": None
        if item is None
        else {
            "id": item.id,
            "status": item.status,
            "priority": item.priority,
            "created_at": _plain(item.created_at),
            "updated_at": _plain(item.updated_at),
            "decisions": [_decision(d) for d in sorted(item.decisions, key=lambda d: d.id)],
        },
    }


def _decision(decision: Decision) -> dict[str, Any]:
    return {
        "label": decision.label,
        "note": decision.note,
        "user_id": decision.user_id,
        "created_at": _plain(decision.created_at),
    }


def _posts(session: Session, where: Any) -> list[dict[str, Any]]:
    posts = session.scalars(
        select(Post)
        .options(
            selectinload(Post.source),
            selectinload(Post.mentions).selectinload(Mention.official),
            selectinload(Post.classifications),
        )
        .where(where)
        .order_by(Post.id)
    ).all()
    return [_post(session, post) for post in posts]


def _account(author: Author) -> dict[str, Any]:
    return {
        "id": author.id,
        "platform": author.platform,
        "handle": author.handle,
        "first_seen_at": _plain(author.first_seen_at),
        "last_seen_at": _plain(author.last_seen_at),
        "display_names": [
            {"name": n.name, "first_seen_at": _plain(n.first_seen_at), "last_seen_at": _plain(n.last_seen_at)}
            for n in author.names
        ],
    }


def _persons_of_author(session: Session, author: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The accounts behind the byline ``author`` (its posts' accounts, or an account of that handle)
    and the persons they belong to."""
    accounts = list(
        session.scalars(
            select(Author)
            .where(
                or_(
                    Author.id.in_(select(Post.author_id).where(Post.author == author)),
                    Author.handle == author,
                )
            )
            .options(selectinload(Author.names))
            .order_by(Author.id)
        )
    )
    person_ids = sorted({a.person_id for a in accounts})
    persons: list[dict[str, Any]] = []
    for person in session.scalars(
        select(Person)
        .where(Person.id.in_(person_ids))
        .options(selectinload(Person.authors).selectinload(Author.names))
        .order_by(Person.id)
    ):
        notes = session.scalars(
            select(PersonNote).where(PersonNote.person_id == person.id).order_by(PersonNote.id)
        )
        officials = session.execute(
            select(PersonOfficial.official_id, Official.name, PersonOfficial.posts, PersonOfficial.flagged)
            .join(Official, Official.id == PersonOfficial.official_id)
            .where(PersonOfficial.person_id == person.id)
            .order_by(PersonOfficial.official_id)
        )
        persons.append(
            {
                "id": person.id,
                "status": person.status,
                "concern": person.concern,
                "signals": person.signals,
                "post_count": person.post_count,
                "flagged_count": person.flagged_count,
                "first_post_at": _plain(person.first_post_at),
                "last_post_at": _plain(person.last_post_at),
                "created_at": _plain(person.created_at),
                "updated_at": _plain(person.updated_at),
                "accounts": [_account(a) for a in person.authors],
                "officials": [
                    {"official_id": oid, "official": name, "posts": posts, "flagged": flagged}
                    for oid, name, posts, flagged in officials
                ],
                "notes": [
                    {"by": n.author_label, "text": n.text, "created_at": _plain(n.created_at)} for n in notes
                ],
            }
        )
    return [_account(a) for a in accounts], persons


def _rows_naming_official(session: Session, official_id: int) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in _COVERED:
            continue
        if "official_id" in table.columns:
            rows = session.execute(select(table).where(table.c.official_id == official_id)).all()
        elif "official_ids" in table.columns:
            rows = [r for r in session.execute(select(table)).all() if official_id in (r.official_ids or [])]
        else:
            continue
        if rows:
            found[table.name] = [_row(table, r) for r in rows]
    return found


def export_subject(
    session: Session, *, actor: str, author: str | None = None, official_id: int | None = None
) -> dict[str, Any]:
    """Everything about exactly one of ``author`` or ``official_id``; the export itself is audited."""
    if (author is None) == (official_id is None):
        raise ValueError("give exactly one of author or official_id")
    export: dict[str, Any]
    if author is not None:
        posts = _posts(session, Post.author == author)
        accounts, persons = _persons_of_author(session, author)
        if not posts and not accounts:
            raise SubjectNotFoundError(f"no posts by author {author!r}")
        export = {
            "subject": {"kind": "author", "author": author},
            "posts": posts,
            "accounts": accounts,
            "persons": persons,
        }
    else:
        official = session.get(Official, official_id)
        if official is None:
            raise SubjectNotFoundError(f"no official with id {official_id}")
        mentioned = select(Mention.post_id).where(Mention.official_id == official.id)
        officials, audit_events = Base.metadata.tables["officials"], Base.metadata.tables["audit_events"]
        export = {
            "subject": {"kind": "official", "official_id": official.id},
            "official": _row(
                officials, session.execute(select(officials).where(officials.c.id == official.id)).one()
            ),
            "posts_mentioning": _posts(session, Post.id.in_(mentioned)),
            "related": _rows_naming_official(session, official.id),
            "audit_events": [
                _row(audit_events, r)
                for r in session.execute(
                    select(audit_events).where(
                        AuditEvent.object_type == "official", AuditEvent.object_id == str(official.id)
                    )
                ).all()
            ],
        }
    audit.record(
        session,
        actor=actor,
        action="export_subject",
        object_type=export["subject"]["kind"],
        object_id=author if author is not None else official_id,
    )
    return export
