"""Read models of the persons pages: the persons-of-concern list and one person's page.

Reading a person is itself recorded (``person.view``, ``person.list``): profiling people is sensitive,
so who looked at whom is part of the audit trail. Callers check the role first (analysts and admins).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from threatwatch import audit
from threatwatch.db.models import (
    AuditEvent,
    Author,
    Official,
    Person,
    PersonNote,
    PersonOfficial,
    Post,
    ReviewItem,
    Source,
)
from threatwatch.domain import LABELS, PersonStatus
from threatwatch.persons.casework import PersonNotFoundError
from threatwatch.persons.profile import assess_person, post_facts
from threatwatch.persons.signals import SIGNALS

MAX_PAGE = 200


class PersonSort(StrEnum):
    CONCERN = "concern"
    RECENT = "recent"
    POSTS = "posts"


@dataclass(frozen=True)
class PersonRow:
    id: int
    accounts: list[str]
    status: str | None
    concern: float
    signals: list[str]
    post_count: int
    flagged_count: int
    last_post_at: datetime | None


@dataclass(frozen=True)
class PersonList:
    rows: list[PersonRow]
    total: int


def list_persons(
    session: Session,
    *,
    actor: str,
    official_id: int | None = None,
    status: PersonStatus | None = None,
    signal: str | None = None,
    everyone: bool = False,
    sort: PersonSort = PersonSort.CONCERN,
    limit: int = 50,
    offset: int = 0,
) -> PersonList:
    """Persons of concern (with a flagged post; ``everyone`` for all), highest concern first by default,
    filtered by the official they wrote about, status or a raised signal."""
    if signal is not None and signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}; one of {', '.join(SIGNALS)}")
    limit = max(1, min(limit, MAX_PAGE))
    query: Select[Person] = select(Person)
    if not everyone:
        query = query.where(Person.flagged_count > 0)
    if official_id is not None:
        query = query.where(
            Person.id.in_(select(PersonOfficial.person_id).where(PersonOfficial.official_id == official_id))
        )
    if status is not None:
        query = query.where(Person.status == status.value)
    if signal is not None:
        query = query.where(Person.signals[signal].as_string().is_not(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order: tuple[Any, ...] = {
        PersonSort.CONCERN: (Person.concern.desc(), Person.id.desc()),
        PersonSort.RECENT: (Person.last_post_at.desc().nulls_last(), Person.id.desc()),
        PersonSort.POSTS: (Person.post_count.desc(), Person.id.desc()),
    }[sort]
    persons = list(session.scalars(query.order_by(*order).offset(offset).limit(limit)))
    accounts: dict[int, list[str]] = defaultdict(list)
    if persons:
        for person_id, handle, platform in session.execute(
            select(Author.person_id, Author.handle, Author.platform)
            .where(Author.person_id.in_([p.id for p in persons]))
            .order_by(Author.id)
        ):
            accounts[person_id].append(f"{handle} ({platform})")
    audit.record(
        session,
        actor=actor,
        action="person.list",
        object_type="person",
        details={
            "official_id": official_id,
            "status": status and status.value,
            "signal": signal,
            "shown": [p.id for p in persons],
        },
    )
    rows = [
        PersonRow(
            id=p.id,
            accounts=accounts[p.id],
            status=p.status,
            concern=p.concern,
            signals=[name for name in SIGNALS if name in (p.signals or {})],
            post_count=p.post_count,
            flagged_count=p.flagged_count,
            last_post_at=p.last_post_at,
        )
        for p in persons
    ]
    return PersonList(rows=rows, total=total)


@dataclass(frozen=True)
class AccountView:
    id: int
    platform: str
    handle: str
    names: list[tuple[str, datetime, datetime]]
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    post_id: int
    at: datetime
    label: str
    officials: list[str]
    text: str
    url: str | None
    account: str
    source: str
    review_item_id: int | None
    item_status: str | None


@dataclass(frozen=True)
class SignalView:
    name: str
    value: float
    detail: str
    post_ids: list[int]


@dataclass(frozen=True)
class OfficialCount:
    official_id: int
    name: str
    posts: int
    flagged: int


@dataclass
class PersonPage:
    id: int
    status: str | None
    concern: float
    accounts: list[AccountView]
    timeline: list[TimelineEntry]
    label_counts: dict[str, int]
    officials: list[OfficialCount]
    # (Monday of the week, label) → posts; the chart of labels over time
    weeks: list[tuple[date, dict[str, int]]]
    signals: list[SignalView]
    notes: list[PersonNote]
    history: list[AuditEvent] = field(default_factory=list)
    # The timeline is one page of the person's posts: ``timeline_offset`` newest skipped, of the total.
    timeline_total: int = 0
    timeline_offset: int = 0


TIMELINE_PAGE = 100


def person_with_accounts(session: Session, person_id: int) -> Person:
    """The person with its accounts and their display names loaded; ``PersonNotFoundError`` if none."""
    person = session.scalar(
        select(Person)
        .where(Person.id == person_id)
        .options(selectinload(Person.authors).selectinload(Author.names))
    )
    if person is None:
        raise PersonNotFoundError(f"no person {person_id}")
    return person


def person_page(
    session: Session,
    *,
    person_id: int,
    actor: str,
    record_view: bool = True,
    timeline_offset: int = 0,
    timeline_limit: int | None = TIMELINE_PAGE,
) -> PersonPage:
    """Everything the person page shows: counts and the chart over all their posts, the timeline one
    page at a time (newest first; ``timeline_limit=None`` for all of it).

    Signals and concern are the ones ``refresh_persons`` stored (every change of the person's posts,
    labels or accounts refreshes them); where the stored summary does not match the posts (a person the
    upgrade created and nobody refreshed yet) they are computed here from the posts as they are now.
    """
    person = person_with_accounts(session, person_id)
    facts = post_facts(session, [person_id], texts=False).get(person_id, [])
    if person.post_count == len(facts):
        concern = person.concern
        signals = [
            SignalView(name, float(found["value"]), str(found["detail"]), [int(p) for p in found["post_ids"]])
            for name in SIGNALS
            if (found := (person.signals or {}).get(name)) is not None
        ]
    else:
        assessment = assess_person(session, post_facts(session, [person_id]).get(person_id, []))
        concern = assessment.concern
        signals = [
            SignalView(s.name, s.value, s.detail, list(s.post_ids))
            for name in SIGNALS
            if (s := assessment.signals.get(name)) is not None
        ]
    newest_first = facts[::-1]
    end = None if timeline_limit is None else timeline_offset + max(1, timeline_limit)
    shown = newest_first[timeline_offset:end]
    details = _post_details(session, [f.post_id for f in shown])
    official_ids = sorted({o for f in facts for o in f.official_ids})
    names = {
        official_id: name
        for official_id, name in session.execute(
            select(Official.id, Official.name).where(Official.id.in_(official_ids))
        )
    }
    timeline = [
        TimelineEntry(
            post_id=f.post_id,
            at=f.at,
            label=f.label.value,
            officials=[names.get(o, str(o)) for o in f.official_ids],
            text=details[f.post_id][5],
            url=details[f.post_id][0],
            account=details[f.post_id][1],
            source=details[f.post_id][2],
            review_item_id=details[f.post_id][3],
            item_status=details[f.post_id][4],
        )
        for f in shown
    ]
    per_official: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    weeks: dict[date, Counter[str]] = defaultdict(Counter)
    label_counts: Counter[str] = Counter()
    for fact in facts:
        for official in set(fact.official_ids):
            per_official[official][0] += 1
            per_official[official][1] += int(fact.flagged)
        day = fact.at.date()
        weeks[day - timedelta(days=day.weekday())][fact.label.value] += 1
        label_counts[fact.label.value] += 1
    if record_view:
        audit.record(session, actor=actor, action="person.view", object_type="person", object_id=person_id)
    return PersonPage(
        id=person.id,
        status=person.status,
        concern=concern,
        accounts=[
            AccountView(
                id=a.id,
                platform=a.platform,
                handle=a.handle,
                names=[(n.name, n.first_seen_at, n.last_seen_at) for n in a.names],
                first_seen_at=a.first_seen_at,
                last_seen_at=a.last_seen_at,
            )
            for a in person.authors
        ],
        timeline=timeline,
        timeline_total=len(facts),
        timeline_offset=timeline_offset,
        label_counts={label.value: label_counts[label.value] for label in LABELS},
        officials=sorted(
            (OfficialCount(o, names.get(o, str(o)), c[0], c[1]) for o, c in per_official.items()),
            key=lambda c: (-c.posts, c.name),
        ),
        weeks=[(week, {label.value: weeks[week][label.value] for label in LABELS}) for week in sorted(weeks)],
        signals=signals,
        notes=list(
            session.scalars(
                select(PersonNote)
                .where(PersonNote.person_id == person_id)
                .order_by(PersonNote.created_at.desc())
            )
        ),
        history=list(
            session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.object_type == "person",
                    AuditEvent.object_id == str(person_id),
                    AuditEvent.action.in_(["person.link", "person.unlink", "person.status", "person.note"]),
                )
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                .limit(100)
            )
        ),
    )


def _post_details(
    session: Session, post_ids: list[int]
) -> dict[int, tuple[str | None, str, str, int | None, str | None, str]]:
    """(url, account, source name, review item id, item status, text) of the posts shown (one page)."""
    if not post_ids:
        return {}
    return {
        post_id: (url, handle, source, item_id, status, text)
        for post_id, url, handle, source, item_id, status, text in session.execute(
            select(Post.id, Post.url, Author.handle, Source.name, ReviewItem.id, ReviewItem.status, Post.text)
            .join(Author, Author.id == Post.author_id)
            .join(Source, Source.id == Post.source_id)
            .outerjoin(ReviewItem, ReviewItem.post_id == Post.id)
            .where(Post.id.in_(post_ids))
        )
    }


def person_of_item(session: Session, *, item_id: int) -> int | None:
    """The person who wrote a review item's post (the item page links to it)."""
    return session.scalar(
        select(Author.person_id)
        .join(Post, Post.author_id == Author.id)
        .join(ReviewItem, ReviewItem.post_id == Post.id)
        .where(ReviewItem.id == item_id)
    )
