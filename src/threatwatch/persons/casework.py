"""What analysts do with persons: link accounts they judge to be one person, unlink them, set the
person's status and write notes. Every change is audited and noted on the person; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from threatwatch import audit
from threatwatch.db.models import Author, Person, PersonNote, Subscription, User
from threatwatch.domain import PersonStatus
from threatwatch.persons.profile import refresh_persons

MAX_NOTE_LENGTH = 4000


class PersonError(ValueError):
    """A change to a person that cannot be made (unknown person or account, nothing to unlink...)."""


class PersonNotFoundError(PersonError):
    pass


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id, with_for_update=True)
    if person is None:
        raise PersonNotFoundError(f"no person {person_id}")
    return person


def _author(session: Session, author_id: int) -> Author:
    author = session.get(Author, author_id, with_for_update=True)
    if author is None:
        raise PersonNotFoundError(f"no account {author_id}")
    return author


def _clean_note(note: str | None, *, required: bool = False) -> str | None:
    text = (note or "").strip()
    if required and not text:
        raise PersonError("a note is required: say why")
    if len(text) > MAX_NOTE_LENGTH:
        raise PersonError(f"a note is at most {MAX_NOTE_LENGTH} characters")
    return text or None


def _note(session: Session, *, person_id: int, user: User, text: str, now: datetime) -> PersonNote:
    row = PersonNote(
        person_id=person_id, user_id=user.id, author_label=user.username, text=text, created_at=now
    )
    session.add(row)
    return row


def account_label(author: Author) -> str:
    return f"{author.handle} ({author.platform})"


def link_account(
    session: Session, *, person_id: int, author_id: int, user: User, note: str, now: datetime
) -> Person:
    """Move an account into ``person_id``: the analyst judges it the same person. A person left without
    accounts is merged in (notes and followers move over; its status is kept if ``person_id`` has none)."""
    text = _clean_note(note, required=True)
    assert text is not None
    target = _person(session, person_id)
    author = _author(session, author_id)
    if author.person_id == target.id:
        raise PersonError(f"{account_label(author)} belongs to person {person_id} already")
    old_id = author.person_id
    author.person_id = target.id
    session.flush()
    merged = not session.scalar(select(func.count()).select_from(Author).where(Author.person_id == old_id))
    if merged:
        old = _person(session, old_id)
        if target.status is None:
            target.status = old.status
        session.execute(update(PersonNote).where(PersonNote.person_id == old_id).values(person_id=target.id))
        _follow_instead(session, old_id=old_id, new_id=target.id)
        session.delete(old)
    _note(session, person_id=target.id, user=user, text=f"Linked {account_label(author)}: {text}", now=now)
    audit.record(
        session,
        actor=user.username,
        action="person.link",
        object_type="person",
        object_id=target.id,
        details={
            "author_id": author.id,
            "account": account_label(author),
            "from_person": old_id,
            "merged": merged,
            "note": text,
        },
    )
    refresh_persons(session, person_ids=[target.id] + ([] if merged else [old_id]), now=now)
    return target


def unlink_account(session: Session, *, author_id: int, user: User, note: str, now: datetime) -> Person:
    """Take an account out of its person into a person of its own (a link the analyst now doubts)."""
    text = _clean_note(note, required=True)
    assert text is not None
    author = _author(session, author_id)
    old = _person(session, author.person_id)
    accounts = session.scalar(select(func.count()).select_from(Author).where(Author.person_id == old.id))
    if (accounts or 0) < 2:
        raise PersonError(f"{account_label(author)} is person {old.id}'s only account: nothing to unlink")
    new = Person(concern=0.0, signals={}, post_count=0, flagged_count=0, created_at=now, updated_at=now)
    session.add(new)
    session.flush()
    author.person_id = new.id
    message = f"Unlinked {account_label(author)}: {text}"
    _note(session, person_id=old.id, user=user, text=message + f" (now person {new.id})", now=now)
    _note(session, person_id=new.id, user=user, text=message + f" (was person {old.id})", now=now)
    audit.record(
        session,
        actor=user.username,
        action="person.unlink",
        object_type="person",
        object_id=old.id,
        details={"author_id": author.id, "account": account_label(author), "to_person": new.id, "note": text},
    )
    refresh_persons(session, person_ids=[old.id, new.id], now=now)
    return new


def _follow_instead(session: Session, *, old_id: int, new_id: int) -> None:
    """Subscriptions that followed a merged person follow the person it was merged into."""
    for subscription in session.scalars(select(Subscription)):
        followed = list(subscription.person_ids or [])
        if old_id in followed:
            subscription.person_ids = sorted({new_id, *(p for p in followed if p != old_id)})


def set_status(
    session: Session, *, person_id: int, status: PersonStatus | str | None, user: User, now: datetime
) -> Person:
    """Set the analysts' assessment (``watching``, ``escalated``, ``closed``, or none)."""
    try:
        chosen = None if status in (None, "") else PersonStatus(status)
    except ValueError:
        raise PersonError(f"unknown status {status!r}; one of {', '.join(PersonStatus)}") from None
    person = _person(session, person_id)
    before = person.status
    person.status = chosen
    person.updated_at = now
    audit.record(
        session,
        actor=user.username,
        action="person.status",
        object_type="person",
        object_id=person_id,
        details={"from": before, "to": person.status},
    )
    return person


def add_note(session: Session, *, person_id: int, text: str, user: User, now: datetime) -> PersonNote:
    cleaned = _clean_note(text, required=True)
    assert cleaned is not None
    _person(session, person_id)
    row = _note(session, person_id=person_id, user=user, text=cleaned, now=now)
    session.flush()
    audit.record(
        session,
        actor=user.username,
        action="person.note",
        object_type="person",
        object_id=person_id,
        details={"note_id": row.id},
    )
    return row
