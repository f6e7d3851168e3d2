"""Analysts link accounts they judge to be one person and unlink them; the person's posts, signals and
notes follow, and every change is audited. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.db.models import AuditEvent, Author, Person, PersonNote, PersonOfficial, Subscription, User
from threatwatch.domain import Label, PersonStatus, Role
from threatwatch.persons.casework import PersonError, add_note, link_account, set_status, unlink_account
from threatwatch.persons.profile import refresh_persons
from threatwatch.persons.signals import ESCALATION, MULTIPLE_TARGETS
from threatwatch.persons.views import list_persons, person_page

from .seeding import officials, person_of, post

NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
MAYOR = "Burgemeester Van der Linden"
ALDERMAN = "Wethouder El Amrani"


@pytest.fixture
def analyst(session: Session) -> User:
    user = User(username="analist", display_name="Analist", password_hash="x", role=Role.ANALYST.value)
    session.add(user)
    session.flush()
    return user


def _two_accounts(session: Session) -> tuple[int, int]:
    """@oud insults the mayor for three days; @nieuw threatens the alderman a week later."""
    officials(session)
    for day in range(3):
        at = NOW + timedelta(days=day)
        post(session, author="@oud", text=f"{MAYOR} is een zakkenvuller ({day})", at=at, label=Label.ABUSE)
    at = NOW + timedelta(days=7)
    post(session, author="@nieuw", text=f"{ALDERMAN}, ik weet je te vinden", at=at, label=Label.THREAT)
    at = NOW + timedelta(days=8)
    post(session, author="@nieuw", text=f"{MAYOR}, jij bent de volgende", at=at, label=Label.THREAT)
    persons = [person_of(session, "@oud@social.example"), person_of(session, "@nieuw@social.example")]
    refresh_persons(session, person_ids=persons, now=NOW)
    return person_of(session, "@oud@social.example"), person_of(session, "@nieuw@social.example")


def _author(session: Session, handle: str) -> Author:
    return session.scalars(select(Author).where(Author.handle == handle)).one()


def test_linking_merges_the_posts_and_raises_signals_no_single_account_shows(
    session: Session, analyst: User
) -> None:
    old, new = _two_accounts(session)
    assert ESCALATION not in (session.get(Person, old).signals or {})
    assert session.get(Person, old).concern == pytest.approx(0.06)  # three insults (abuse), nothing flagged

    set_status(session, person_id=new, status=PersonStatus.WATCHING, user=analyst, now=NOW)
    add_note(session, person_id=new, text="Dreigt sinds vorige week", user=analyst, now=NOW)
    subscription = Subscription(
        name="team",
        official_ids=[],
        person_ids=[new],
        trigger="flagged",
        channel="webhook",
        target="https://hook.example",
        created_by="admin",
    )
    session.add(subscription)
    session.flush()

    nieuw = _author(session, "@nieuw@social.example")
    note = "Zelfde schrijfstijl en profielfoto"
    person = link_account(session, person_id=old, author_id=nieuw.id, user=analyst, note=note, now=NOW)

    assert session.get(Person, new) is None  # its only account moved: merged into the target
    assert [a.handle for a in person.authors] == ["@oud@social.example", "@nieuw@social.example"]
    assert person.status == PersonStatus.WATCHING.value  # the merged person's status, the target had none
    assert {ESCALATION, MULTIPLE_TARGETS} <= set(person.signals)
    assert person.post_count == 5 and person.flagged_count == 2
    assert subscription.person_ids == [old]  # followers follow the merged person
    notes = [n.text for n in session.scalars(select(PersonNote).where(PersonNote.person_id == old))]
    assert "Dreigt sinds vorige week" in notes
    assert any(n.startswith("Linked @nieuw@social.example (mastodon): Zelfde schrijfstijl") for n in notes)
    counts = {r.official_id: (r.posts, r.flagged) for r in session.scalars(select(PersonOfficial))}
    assert sorted(counts.values()) == [(1, 1), (4, 1)]
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "person.link")).one()
    assert audit.actor == "analist" and audit.object_id == str(old)
    assert audit.details["from_person"] == new and audit.details["merged"] is True

    page = person_page(session, person_id=old, actor="analist")
    assert [e.label for e in page.timeline] == ["threat", "threat", "abuse", "abuse", "abuse"]
    assert {s.name for s in page.signals} >= {ESCALATION, MULTIPLE_TARGETS}
    assert page.label_counts["threat"] == 2 and sum(w[1]["abuse"] for w in page.weeks) == 3
    assert (
        session.scalars(select(AuditEvent).where(AuditEvent.action == "person.view")).one().actor == "analist"
    )


def test_unlinking_gives_the_account_a_person_of_its_own_again(session: Session, analyst: User) -> None:
    old, _new = _two_accounts(session)
    nieuw = _author(session, "@nieuw@social.example")
    link_account(session, person_id=old, author_id=nieuw.id, user=analyst, note="lijkt dezelfde", now=NOW)

    separate = unlink_account(
        session, author_id=nieuw.id, user=analyst, note="toch niet: andere stad", now=NOW
    )

    assert [a.handle for a in separate.authors] == ["@nieuw@social.example"]
    assert separate.flagged_count == 2 and session.get(Person, old).flagged_count == 0
    assert ESCALATION not in session.get(Person, old).signals
    assert session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("person.%"))).all() == [
        "person.link",
        "person.unlink",
    ]
    with pytest.raises(PersonError, match="only account"):
        unlink_account(session, author_id=nieuw.id, user=analyst, note="nogmaals", now=NOW)


def test_changes_need_a_reason_and_a_known_person_and_status(session: Session, analyst: User) -> None:
    old, new = _two_accounts(session)
    nieuw = _author(session, "@nieuw@social.example")
    with pytest.raises(PersonError, match="note is required"):
        link_account(session, person_id=old, author_id=nieuw.id, user=analyst, note="  ", now=NOW)
    with pytest.raises(PersonError, match="no person"):
        link_account(session, person_id=10_000, author_id=nieuw.id, user=analyst, note="x", now=NOW)
    with pytest.raises(PersonError, match="belongs to person"):
        link_account(session, person_id=new, author_id=nieuw.id, user=analyst, note="x", now=NOW)
    with pytest.raises(PersonError, match="unknown status"):
        set_status(session, person_id=new, status="dangerous", user=analyst, now=NOW)
    set_status(session, person_id=new, status=PersonStatus.ESCALATED, user=analyst, now=NOW)
    set_status(session, person_id=new, status=None, user=analyst, now=NOW)
    changes = session.scalars(select(AuditEvent).where(AuditEvent.action == "person.status")).all()
    assert [(c.details["from"], c.details["to"]) for c in changes] == [
        (None, "escalated"),
        ("escalated", None),
    ]


def test_the_list_puts_persons_of_concern_first_and_filters_by_official(session: Session) -> None:
    old, new = _two_accounts(session)
    post(session, author="@fan", text=f"{MAYOR} doet het geweldig", at=NOW, label=Label.NONE)
    refresh_persons(session, person_ids=[person_of(session, "@fan@social.example")], now=NOW)

    concern = list_persons(session, actor="analist")
    assert [r.id for r in concern.rows] == [new] and concern.total == 1  # only persons with flagged posts
    everyone = list_persons(session, actor="analist", everyone=True)
    assert everyone.rows[0].id == new and everyone.total == 3
    assert everyone.rows[0].accounts == ["@nieuw@social.example (mastodon)"]
    signal = list_persons(session, actor="analist", everyone=True, signal=MULTIPLE_TARGETS)
    assert [r.id for r in signal.rows] == [new]
    with pytest.raises(ValueError, match="unknown signal"):
        list_persons(session, actor="analist", signal="anger")
    from threatwatch.db.models import Official

    water = session.scalars(select(Official.id).where(Official.name == "Sanne Verbruggen")).one()
    assert list_persons(session, actor="analist", everyone=True, official_id=water).total == 0
    assert old in [r.id for r in list_persons(session, actor="analist", everyone=True, sort="posts").rows]


def test_the_page_shows_the_timeline_a_page_at_a_time_and_the_stored_signals(
    session: Session, analyst: User
) -> None:
    old, _new = _two_accounts(session)
    nieuw = _author(session, "@nieuw@social.example")
    link_account(session, person_id=old, author_id=nieuw.id, user=analyst, note="zelfde persoon", now=NOW)
    first = person_page(session, person_id=old, actor="analist", timeline_limit=2)
    rest = person_page(session, person_id=old, actor="analist", timeline_offset=2, timeline_limit=2)
    everything = person_page(session, person_id=old, actor="analist", timeline_limit=None)
    assert [e.post_id for e in first.timeline + rest.timeline] == [e.post_id for e in everything.timeline][:4]
    assert first.timeline_total == rest.timeline_total == len(everything.timeline) == 5
    assert sum(first.label_counts.values()) == 5  # counts and chart cover every post, not the page
    stored = session.get(Person, old)
    assert stored is not None
    assert {s.name: s.post_ids for s in first.signals} == {
        name: found["post_ids"] for name, found in stored.signals.items()
    }
    # A summary that does not match the posts (never refreshed) is computed from the posts instead.
    stored.post_count, stored.signals, stored.concern = 0, {}, 0.0
    live = person_page(session, person_id=old, actor="analist")
    assert {s.name for s in live.signals} == {s.name for s in first.signals} and live.concern > 0
