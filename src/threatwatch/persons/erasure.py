"""Retention and erasure of persons: an account with no retained post goes, and a person left without
accounts goes with it (display names, notes, per-official counts, alert items on its signals, the
subscriptions that followed it); a person that keeps posts is recomputed from what is left.

Retention (``ops.retention``) redacts posts first and calls ``erase_unretained`` with the accounts that
wrote them. The erasure is audited with ids and counts only; analysts' notes on a person that stays
have the erased account's handle blanked, and the link and unlink records of the audit trail lose
the account and the note they carried.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.orm import Session

from threatwatch import audit
from threatwatch.db.models import (
    Alert,
    AlertItem,
    AuditEvent,
    Author,
    AuthorName,
    Person,
    PersonNote,
    PersonOfficial,
    Post,
    RedactedPost,
    Subscription,
)
from threatwatch.domain import AlertStatus
from threatwatch.persons.profile import refresh_persons

_CHUNK = 500
ERASED_ACCOUNT = "[gewist account]"
_LINK_ACTIONS = ("person.link", "person.unlink")


@dataclass
class PersonErasure:
    accounts: int = 0  # accounts erased
    persons: list[int] = field(default_factory=list)  # persons erased
    refreshed: list[int] = field(default_factory=list)  # persons that keep posts, recomputed


def _chunks(ids: Collection[int]) -> Iterable[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def authors_of(session: Session, post_ids: Collection[int]) -> set[int]:
    """The accounts that wrote these posts (read before redaction clears ``Post.author_id``)."""
    found: set[int] = set()
    for chunk in _chunks(post_ids):
        found.update(
            session.scalars(select(Post.author_id).where(Post.id.in_(chunk), Post.author_id.is_not(None)))
        )
    return found


def _retains_nothing() -> ColumnElement[bool]:
    return ~exists().where(Post.author_id == Author.id, ~exists().where(RedactedPost.post_id == Post.id))


def erase_unretained(
    session: Session,
    *,
    author_ids: Collection[int],
    actor: str,
    reason: str,
    now: datetime,
    sweep: bool = False,
    seen_before: datetime | None = None,
) -> PersonErasure:
    """Erase those of ``author_ids`` (and with ``sweep``, of every account) that have no retained post
    (one that retention has not redacted), then every person left without accounts; recompute the
    others of the persons involved. ``seen_before`` leaves out accounts collection met since then (it
    may be storing their posts right now; a later purge's sweep takes them). In the caller's transaction.
    """
    report = PersonErasure()
    candidates: dict[int, tuple[int, str]] = {}
    touched: set[int] = set()
    conditions: list[ColumnElement[bool]] = [_retains_nothing()]
    if seen_before is not None:
        conditions.append(Author.last_seen_at < seen_before)
    queries = [select(Author.id, Author.person_id, Author.handle).where(*conditions)] if sweep else []
    queries += [
        select(Author.id, Author.person_id, Author.handle).where(Author.id.in_(chunk), *conditions)
        for chunk in _chunks(author_ids)
    ]
    for query in queries:
        for author_id, person_id, handle in session.execute(query):
            candidates[author_id] = (person_id, handle)
    for chunk in _chunks(author_ids):
        touched.update(session.scalars(select(Author.person_id).where(Author.id.in_(chunk))))
    touched.update(person_id for person_id, _h in candidates.values())
    erased_authors = sorted(candidates)
    for chunk in _chunks(erased_authors):
        # Redacted posts (and tombstones from before authors were cleared on redaction) let go first.
        session.execute(
            update(Post).where(Post.author_id.in_(chunk)).values(author_id=None),
            execution_options={"synchronize_session": False},
        )
        session.execute(delete(AuthorName).where(AuthorName.author_id.in_(chunk)))
        session.execute(delete(Author).where(Author.id.in_(chunk)))
    report.accounts = len(erased_authors)
    remaining: set[int] = set()
    for chunk in _chunks(touched):
        remaining.update(session.scalars(select(Author.person_id).where(Author.person_id.in_(chunk))))
    gone = sorted(touched - remaining)
    _scrub_link_records(session, person_ids=touched, author_ids=set(erased_authors), everything=set(gone))
    for chunk in _chunks(gone):
        session.execute(delete(PersonNote).where(PersonNote.person_id.in_(chunk)))
        session.execute(delete(PersonOfficial).where(PersonOfficial.person_id.in_(chunk)))
        session.execute(delete(AlertItem).where(AlertItem.person_id.in_(chunk)))
        session.execute(delete(Person).where(Person.id.in_(chunk)))
    if gone:
        _unfollow(session, set(gone))
        # An alert still waiting that told only about erased persons has nothing left to say.
        session.execute(
            delete(Alert).where(
                Alert.status == AlertStatus.PENDING, ~exists().where(AlertItem.alert_id == Alert.id)
            )
        )
    kept = sorted(remaining)
    handles = {handle for person_id, handle in candidates.values() if person_id in remaining}
    if handles:
        _blank_handles(session, person_ids=kept, handles=handles)
    session.expire_all()
    refresh_persons(session, person_ids=kept, now=now)
    report.persons, report.refreshed = gone, kept
    if report.accounts or report.persons:
        audit.record(
            session,
            actor=actor,
            action="person.erase",
            object_type="person",
            details={
                "reason": reason,
                "accounts": report.accounts,
                "persons": report.persons,
                "refreshed": report.refreshed,
            },
        )
    session.flush()
    return report


def _unfollow(session: Session, gone: set[int]) -> None:
    """Subscriptions stop following erased persons (one left following nothing matches nothing)."""
    for subscription in session.scalars(select(Subscription)):
        followed = list(subscription.person_ids or [])
        if gone & set(followed):
            subscription.person_ids = [p for p in followed if p not in gone]


def _blank_handles(session: Session, *, person_ids: list[int], handles: set[str]) -> None:
    """Notes of persons that stay no longer name an erased account (link and unlink notes do)."""
    for chunk in _chunks(person_ids):
        for note in session.scalars(select(PersonNote).where(PersonNote.person_id.in_(chunk))):
            text = note.text
            for handle in sorted(handles, key=len, reverse=True):
                text = text.replace(handle, ERASED_ACCOUNT)
            if text != note.text:
                note.text = text
    session.flush()


def _scrub_link_records(
    session: Session, *, person_ids: set[int], author_ids: set[int], everything: set[int]
) -> None:
    """Link and unlink audit records keep their ids but lose the account label and the note, for the
    erased accounts, and for every account of an erased person."""
    if not person_ids:
        return
    for chunk in _chunks(person_ids):
        for event in session.scalars(
            select(AuditEvent).where(
                AuditEvent.object_type == "person",
                AuditEvent.object_id.in_([str(p) for p in chunk]),
                AuditEvent.action.in_(_LINK_ACTIONS),
            )
        ):
            details = dict(event.details or {})
            if int(event.object_id or 0) in everything or details.get("author_id") in author_ids:
                details.pop("account", None)
                details.pop("note", None)
                details["erased"] = True
                event.details = details
    session.flush()
