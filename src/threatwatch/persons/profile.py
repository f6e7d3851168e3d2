"""A person's posts as facts, their signals, and the summary the persons list reads.

``refresh_persons`` is the one writer of ``Person.concern``/``signals``/counts and of
``PersonOfficial``: intake calls it for the persons whose posts it classified, decisions for the
person whose post was judged, linking for both persons involved. It returns the signals that were
raised by this refresh (not before), so the caller can publish them for alerts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from threatwatch import events
from threatwatch.config import Settings
from threatwatch.db.models import (
    Author,
    Classification,
    Decision,
    Mention,
    Official,
    Person,
    PersonOfficial,
    Post,
    RedactedPost,
    ReviewItem,
)
from threatwatch.domain import Label
from threatwatch.persons.signals import Assessment, PostFact, assess
from threatwatch.watchlist.names import context_words

_CHUNK = 500


@dataclass(frozen=True)
class RaisedSignal:
    """A signal a refresh found raised that was not raised before it."""

    person_id: int
    name: str
    post_ids: tuple[int, ...]
    detail: str


def _kept_posts(
    person_ids: Collection[int], *, texts: bool
) -> Select[int, int, datetime, str, str | None, str | None]:
    """The person's posts about watched officials that retention has not erased, each with the label of
    its live decision and of its newest classification (correlated subqueries: one statement, one
    index probe per post, however many posts the person has)."""
    decided = (
        select(Decision.label)
        .join(ReviewItem, ReviewItem.id == Decision.review_item_id)
        .where(ReviewItem.post_id == Post.id, Decision.undone_at.is_(None))
        .limit(1)
        .scalar_subquery()
    )
    classified = (
        select(Classification.label)
        .where(Classification.post_id == Post.id)
        .order_by(Classification.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            Post.id,
            Author.person_id,
            func.coalesce(Post.published_at, Post.collected_at),
            Post.text if texts else literal(""),
            decided,
            classified,
        )
        .join(Author, Author.id == Post.author_id)
        .where(
            Author.person_id.in_(sorted(person_ids)),
            exists().where(Mention.post_id == Post.id),
            ~exists().where(RedactedPost.post_id == Post.id),
        )
    )


def post_facts(
    session: Session, person_ids: Collection[int], *, texts: bool = True
) -> dict[int, list[PostFact]]:
    """Each person's posts as the signals read them, oldest first (``texts=False``: without their text,
    for readers that show only a page of them; the leakage signal needs it).

    The label that counts is the analyst's live decision, else the newest classification; a post not
    classified (yet, or never: a linked repost, another language) counts as ``none``.
    """
    if not person_ids:
        return {}
    rows = session.execute(_kept_posts(person_ids, texts=texts)).all()
    # Mentions are selected by the persons' accounts, not by a list of post ids: a person with 1,000
    # posts would otherwise cost statements of hundreds of bound parameters, rendered anew on each call.
    officials: dict[int, list[int]] = defaultdict(list)
    for post_id, official_id in session.execute(
        select(Mention.post_id, Mention.official_id)
        .join(Post, Post.id == Mention.post_id)
        .join(Author, Author.id == Post.author_id)
        .where(Author.person_id.in_(sorted(person_ids)))
    ):
        officials[post_id].append(official_id)
    facts: dict[int, list[PostFact]] = defaultdict(list)
    for post_id, person_id, at, text, decided, classified in rows:
        facts[person_id].append(
            PostFact(
                post_id=post_id,
                at=at,
                label=_label(decided or classified or Label.NONE.value),
                official_ids=tuple(sorted(officials[post_id])),
                text=text,
            )
        )
    for found in facts.values():
        found.sort(key=lambda f: (f.at, f.post_id))
    return dict(facts)


def _label(value: str) -> Label:
    try:
        return Label(value)
    except ValueError:  # a label of an older model that this vocabulary no longer has
        return Label.NONE


def official_context(
    session: Session, official_ids: Iterable[int]
) -> tuple[dict[int, str], dict[int, frozenset[str]]]:
    """Names of the officials (for the signals' wording) and the places tied to each (leakage)."""
    names: dict[int, str] = {}
    places: dict[int, frozenset[str]] = {}
    wanted = sorted(set(official_ids))
    if not wanted:
        return names, places
    for official in session.scalars(select(Official).where(Official.id.in_(wanted))):
        names[official.id] = official.name
        places[official.id] = frozenset(
            w for w in context_words(official.role, official.organisation) if " " in w or len(w) > 3
        )
    return names, places


def assess_person(session: Session, facts: Sequence[PostFact]) -> Assessment:
    names, places = official_context(session, (o for f in facts for o in f.official_ids))
    return assess(facts, official_names=names, places=places)


def refresh_persons(session: Session, *, person_ids: Iterable[int], now: datetime) -> list[RaisedSignal]:
    """Recompute the summary of these persons in the caller's transaction; returns newly raised signals
    of persons with flagged posts (a fan who writes daily raises persistence but concerns nobody)."""
    wanted = sorted(set(person_ids))
    raised: list[RaisedSignal] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        facts = post_facts(session, chunk)
        all_officials = {o for found in facts.values() for f in found for o in f.official_ids}
        names, places = official_context(session, all_officials)
        # Persons locked in id order first, so concurrent refreshes (workers) cannot deadlock.
        persons = session.scalars(
            select(Person).where(Person.id.in_(chunk)).order_by(Person.id).with_for_update()
        ).all()
        session.execute(delete(PersonOfficial).where(PersonOfficial.person_id.in_(chunk)))
        per_official: list[dict[str, int]] = []
        for person in persons:
            found = facts.get(person.id, [])
            assessment = assess(found, official_names=names, places=places)
            before = set(person.signals or {})
            flagged = sum(1 for f in found if f.flagged)
            person.signals = {name: s.stored() for name, s in assessment.signals.items()}
            person.concern = assessment.concern
            person.post_count = len(found)
            person.flagged_count = flagged
            person.first_post_at = found[0].at if found else None
            person.last_post_at = found[-1].at if found else None
            person.updated_at = now
            if flagged:
                raised.extend(
                    RaisedSignal(person.id, name, s.post_ids, s.detail)
                    for name, s in assessment.signals.items()
                    if name not in before
                )
            counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
            for fact in found:
                for official in set(fact.official_ids):
                    counts[official][0] += 1
                    counts[official][1] += int(fact.flagged)
            per_official.extend(
                {"person_id": person.id, "official_id": o, "posts": c[0], "flagged": c[1]}
                for o, c in sorted(counts.items())
            )
        if per_official:
            session.execute(insert(PersonOfficial), per_official)
    session.flush()
    return raised


def concern_changed(session: Session, before: Mapping[int, float]) -> set[int]:
    """Those persons whose concern is no longer what ``before`` says (after a refresh)."""
    ids = sorted(before)
    changed: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        for person_id, concern in session.execute(
            select(Person.id, Person.concern).where(Person.id.in_(ids[start : start + _CHUNK]))
        ):
            if concern != before[person_id]:
                changed.add(person_id)
    return changed


def officials_of_persons(session: Session, person_ids: Collection[int]) -> set[int]:
    """The officials these persons wrote about (from the summary ``refresh_persons`` keeps)."""
    ids = sorted(person_ids)
    found: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        found.update(
            session.scalars(
                select(PersonOfficial.official_id).where(
                    PersonOfficial.person_id.in_(ids[start : start + _CHUNK])
                )
            )
        )
    return found


def refresh_and_publish(
    session: Session, *, person_ids: Iterable[int], now: datetime, settings: Settings
) -> list[RaisedSignal]:
    """``refresh_persons``, then each newly raised signal published (alerts to followers of the person
    and of the officials its posts are about), in the caller's transaction."""
    raised = refresh_persons(session, person_ids=person_ids, now=now)
    if not raised:
        return raised
    about = _officials_of_posts(session, {p for r in raised for p in r.post_ids})
    for signal in raised:
        events.publish(
            session,
            events.PersonSignalRaised(
                person_id=signal.person_id,
                signal=signal.name,
                detail=signal.detail,
                post_ids=signal.post_ids,
                official_ids=tuple(sorted({o for p in signal.post_ids for o in about.get(p, ())})),
                at=now,
            ),
            settings=settings,
        )
    return raised


def _officials_of_posts(session: Session, post_ids: Collection[int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    ids = sorted(post_ids)
    for start in range(0, len(ids), _CHUNK):
        for post_id, official_id in session.execute(
            select(Mention.post_id, Mention.official_id).where(
                Mention.post_id.in_(ids[start : start + _CHUNK])
            )
        ):
            found[post_id].add(official_id)
    return found


def authors_of_posts(session: Session, post_ids: Collection[int]) -> dict[int, tuple[int, float, int]]:
    """Each post's person, with that person's concern and flagged posts so far (posts without an author
    are left out)."""
    found: dict[int, tuple[int, float, int]] = {}
    ids = sorted(post_ids)
    for start in range(0, len(ids), _CHUNK):
        found.update(
            (post_id, (person_id, concern, flagged))
            for post_id, person_id, concern, flagged in session.execute(
                select(Post.id, Person.id, Person.concern, Person.flagged_count)
                .join(Author, Author.id == Post.author_id)
                .join(Person, Person.id == Author.person_id)
                .where(Post.id.in_(ids[start : start + _CHUNK]))
            )
        )
    return found


def refresh_persons_of_items(session: Session, *, item_ids: Collection[int], now: datetime) -> None:
    """After analysts' decisions: the persons who wrote those review items' posts, recomputed. Signals
    a decision raises show on the person at once; alerts on signals come from intake."""
    if not item_ids:
        return
    persons = set(
        session.scalars(
            select(Author.person_id)
            .join(Post, Post.author_id == Author.id)
            .join(ReviewItem, ReviewItem.post_id == Post.id)
            .where(ReviewItem.id.in_(sorted(item_ids)))
        )
    )
    refresh_persons(session, person_ids=persons, now=now)
