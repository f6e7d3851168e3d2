"""Retention and subject rights cover persons: erasing posts lets go of their account, an account with
no retained post goes, a person left without accounts goes with everything about it (audited by id
only), a person that keeps posts is recomputed; the subject export holds the person. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.alerts import SubscriptionSpec, create_subscription
from threatwatch.db.models import (
    AuditEvent,
    Author,
    AuthorName,
    Person,
    PersonNote,
    PersonOfficial,
    Post,
    ReviewItem,
    Subscription,
    User,
)
from threatwatch.domain import Label
from threatwatch.ops.export import export_subject
from threatwatch.ops.retention import RetentionPolicy, erase_author, purge
from threatwatch.persons.casework import add_note, link_account
from threatwatch.persons.profile import refresh_persons
from threatwatch.persons.signals import PERSISTENCE

from .seeding import officials, person_of, post

START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
LATER = START + timedelta(days=60)  # past the 30 days not-flagged posts are kept


def _analyst(session: Session) -> User:
    user = User(username="ana", display_name="Ana", password_hash="x", role="analyst", active=True)
    session.add(user)
    session.flush()
    return user


def _count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def test_purge_erases_a_person_whose_posts_all_expired(session: Session) -> None:
    ids = officials(session)
    analyst = _analyst(session)
    for day in range(4):
        post(
            session,
            author="@fan",
            text=f"Marieke van der Linden, dag {day}: goed gedaan!",
            at=START + timedelta(days=day),
            name="Fan van Marieke",
        )
    person = person_of(session, "@fan@social.example")
    refresh_persons(session, person_ids=[person], now=START + timedelta(days=4))
    assert PERSISTENCE in session.get(Person, person).signals  # type: ignore[union-attr]
    add_note(session, person_id=person, text="Schrijft elke dag, geen zorg.", user=analyst, now=START)
    follow = create_subscription(
        session,
        spec=SubscriptionSpec(
            name="volg", subscriber_team="Steunpunt", channel="email", target="t@x.nl", person_ids=[person]
        ),
        actor="test",
        allow_private_targets=True,
    )
    session.commit()

    report = purge(session, policy=RetentionPolicy(), now=LATER)
    session.commit()

    assert report.not_flagged_posts == 4 and report.persons_erased == 1 and report.accounts_erased == 1
    assert session.get(Person, person) is None
    assert _count(session, Author) == _count(session, AuthorName) == 0
    assert _count(session, PersonNote) == _count(session, PersonOfficial) == 0
    assert _count(session, Post, Post.author_id.is_not(None)) == 0
    assert session.get(Subscription, follow.id).person_ids == []  # type: ignore[union-attr]
    [erased] = session.scalars(select(AuditEvent).where(AuditEvent.action == "person.erase")).all()
    assert erased.details["persons"] == [person] and erased.details["accounts"] == 1
    assert "fan" not in str(erased.details).lower()  # audited by id, without the name
    assert ids  # the officials stay


def test_purge_keeps_a_person_with_retained_posts_and_recomputes_them(session: Session) -> None:
    officials(session)
    for day in range(4):  # noise that expires
        post(session, author="@dreiger", text=f"Marieke van der Linden {day}", at=START + timedelta(days=day))
    threat = post(
        session,
        author="@dreiger",
        text="Marieke van der Linden, we weten waar je woont.",
        at=LATER - timedelta(days=1),
        label=Label.THREAT,
    )
    person = person_of(session, "@dreiger@social.example")
    refresh_persons(session, person_ids=[person], now=LATER)
    before = session.get(Person, person)
    assert before is not None and before.post_count == 5 and PERSISTENCE in before.signals
    session.commit()

    report = purge(session, policy=RetentionPolicy(), now=LATER)
    session.commit()

    assert report.not_flagged_posts == 4 and report.persons_erased == 0 and report.accounts_erased == 0
    kept = session.get(Person, person)
    assert kept is not None and kept.post_count == 1 and kept.flagged_count == 1
    assert PERSISTENCE not in kept.signals  # never resting on erased posts
    assert session.get(Post, threat.id).author_id is not None  # type: ignore[union-attr]
    assert _count(session, Post, Post.author_id.is_not(None)) == 1


def test_purge_leaves_accounts_seen_recently_to_a_later_sweep(session: Session) -> None:
    officials(session)
    post(session, author="@nieuw", text="Marieke van der Linden, hallo", at=START)
    person = person_of(session, "@nieuw@social.example")
    session.execute(Author.__table__.update().values(last_seen_at=LATER - timedelta(hours=1)))
    session.commit()

    first = purge(session, policy=RetentionPolicy(), now=LATER)
    session.commit()
    assert first.not_flagged_posts == 1 and first.persons_erased == 0
    assert session.get(Person, person) is not None  # collection may be storing its posts right now

    second = purge(session, policy=RetentionPolicy(), now=LATER + timedelta(days=2))
    session.commit()
    assert second.not_flagged_posts == 0 and second.persons_erased == 1
    assert session.get(Person, person) is None


def test_subject_erasure_erases_the_account_and_blanks_it_from_a_linked_person(session: Session) -> None:
    officials(session)
    analyst = _analyst(session)
    post(session, author="@hoofd", text="Marieke van der Linden, pas op.", at=START, label=Label.THREAT)
    post(session, author="@tweede", text="Marieke van der Linden, ik weet het.", at=START, name="Jan Tweede")
    main, second = person_of(session, "@hoofd@social.example"), person_of(session, "@tweede@social.example")
    second_author = session.scalars(select(Author.id).where(Author.handle == "@tweede@social.example")).one()
    link_account(
        session,
        person_id=main,
        author_id=second_author,
        user=analyst,
        note="Zelfde schrijfstijl",
        now=START,
    )
    session.commit()
    assert session.get(Person, second) is None  # merged

    report = erase_author(session, author="@tweede", actor="dpo", now=LATER)
    session.commit()

    assert report.erased == 1 and report.accounts_erased == 1 and report.persons_erased == 0
    assert session.get(Author, second_author) is None
    assert _count(session, AuthorName) == 0  # the display name went with the account
    person = session.get(Person, main)
    assert person is not None and person.post_count == 1
    notes = session.scalars(select(PersonNote.text).where(PersonNote.person_id == main)).all()
    assert notes and not any("@tweede@social.example" in n for n in notes)
    assert any("[gewist account]" in n for n in notes)
    link = session.scalars(select(AuditEvent).where(AuditEvent.action == "person.link")).one()
    assert "account" not in link.details and "note" not in link.details and link.details["erased"] is True


def test_subject_erasure_keeps_a_person_with_an_open_item(session: Session) -> None:
    officials(session)
    threat = post(
        session, author="@dreiger", text="Marieke van der Linden, pas op.", at=START, label=Label.THREAT
    )
    session.add(
        ReviewItem(
            post_id=threat.id, classification_id=threat.classifications[0].id, status="open", priority=1
        )
    )
    post(session, author="@dreiger", text="Marieke van der Linden, nog eens.", at=START + timedelta(hours=1))
    person = person_of(session, "@dreiger@social.example")
    session.commit()

    report = erase_author(session, author="@dreiger", actor="dpo", now=LATER)
    session.commit()
    assert report.erased == 1 and report.kept_active == 1 and report.persons_erased == 0
    kept = session.get(Person, person)
    assert kept is not None and kept.post_count == 1


def test_subject_export_holds_the_account_and_person(session: Session) -> None:
    officials(session)
    analyst = _analyst(session)
    post(
        session,
        author="@dreiger",
        text="Marieke van der Linden, pas op.",
        at=START,
        label=Label.THREAT,
        name="Dirk Dreiger",
    )
    person = person_of(session, "@dreiger@social.example")
    refresh_persons(session, person_ids=[person], now=START)
    add_note(session, person_id=person, text="Bekend bij de politie.", user=analyst, now=START)
    session.commit()

    export = export_subject(session, actor="dpo", author="@dreiger")

    [account] = export["accounts"]
    assert account["handle"] == "@dreiger@social.example"
    assert account["display_names"][0]["name"] == "Dirk Dreiger"
    [exported] = export["persons"]
    assert exported["id"] == person and exported["flagged_count"] == 1
    assert exported["notes"][0]["text"] == "Bekend bij de politie."
    assert exported["officials"][0]["official"] == "Marieke van der Linden"
