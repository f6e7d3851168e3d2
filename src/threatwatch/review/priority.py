"""Queue priority: severity of the label × the model's score, plus a bonus while many flagged posts
target the same official (a surge), recomputed as the surge grows and fades.

The value is stored on the item so the queue reads in order from an index; recency breaks ties there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from threatwatch.db.models import Author, Classification, Mention, Person, Post, ReviewItem
from threatwatch.domain import FLAGGED_LABELS, SEVERITY, Label
from threatwatch.review.queue import ITEMS, active_clause

SURGE_WINDOW = timedelta(hours=6)
SURGE_STEP = 0.05  # each other recent flagged post about the same official adds this much ...
SURGE_CAP = 0.5  # ... up to this much
# A post by a person of concern (threatwatch.persons) rises by this share of the person's concern.
PERSON_WEIGHT = 0.3
PERSON_CAP = 0.45


def base_priority(label: str, scores: Mapping[str, float]) -> float:
    try:
        severity = SEVERITY[Label(label)]
    except ValueError:
        severity = 0.0
    return severity * float(scores.get(label, 0.0))


def repeat_concern(concern: float | None, *, other_flagged_posts: int) -> float:
    """The author's concern as it bears on one of their posts: only when they wrote flagged posts besides
    this one (a first threat is judged on its own; its person's concern would count it twice)."""
    return (concern or 0.0) if other_flagged_posts > 0 else 0.0


def priority(
    label: str, scores: Mapping[str, float], *, others_in_surge: int, person_concern: float = 0.0
) -> float:
    """Severity × score, plus the surge bonus, plus a bonus when the author is a person of concern
    (``person_concern``: see ``repeat_concern``)."""
    surge = min(SURGE_CAP, SURGE_STEP * max(0, others_in_surge))
    person = min(PERSON_CAP, PERSON_WEIGHT * max(0.0, person_concern))
    return round(base_priority(label, scores) + surge + person, 4)


def recent_counts(session: Session, *, official_ids: Iterable[int] | None, now: datetime) -> dict[int, int]:
    """Flagged items per official created in the surge window."""
    stmt = (
        select(Mention.official_id, func.count(func.distinct(ReviewItem.id)))
        .join(ReviewItem, ReviewItem.post_id == Mention.post_id)
        .where(ReviewItem.created_at >= now - SURGE_WINDOW, ReviewItem.created_at <= now)
        .group_by(Mention.official_id)
    )
    if official_ids is not None:
        stmt = stmt.where(Mention.official_id.in_(list(official_ids)))
    return {official_id: count for official_id, count in session.execute(stmt)}


def refresh_priorities(session: Session, *, now: datetime, official_ids: Iterable[int] | None = None) -> int:
    """Recompute the priority of active items (about ``official_ids``, or all); returns how many changed.

    Intake calls this for the officials of newly queued posts; a periodic run lets faded surges sink.
    """
    wanted = None if official_ids is None else sorted(set(official_ids))
    if wanted == []:
        return 0
    counts = recent_counts(session, official_ids=wanted, now=now)
    stmt = (
        select(
            ReviewItem.id,
            ReviewItem.priority,
            ReviewItem.created_at,
            Classification.label,
            Classification.scores,
            Mention.official_id,
            Person.concern,
            Person.flagged_count,
        )
        .join(Classification, Classification.id == ReviewItem.classification_id)
        .outerjoin(Mention, Mention.post_id == ReviewItem.post_id)
        .join(Post, Post.id == ReviewItem.post_id)
        .outerjoin(Author, Author.id == Post.author_id)
        .outerjoin(Person, Person.id == Author.person_id)
        .where(active_clause())
    )
    if wanted is not None:
        stmt = stmt.where(
            ReviewItem.post_id.in_(select(Mention.post_id).where(Mention.official_id.in_(wanted)))
        )
    items: dict[int, tuple[float, str, dict[str, float], float]] = {}
    surge: dict[int, int] = defaultdict(int)
    for item_id, old, created_at, label, scores, official_id, concern, flagged in session.execute(stmt):
        own = 1 if label in FLAGGED_LABELS else 0
        items[item_id] = (
            old,
            label,
            scores,
            repeat_concern(concern, other_flagged_posts=(flagged or 0) - own),
        )
        if official_id is not None:
            in_window = now - SURGE_WINDOW <= created_at <= now
            others = counts.get(official_id, 0) - (1 if in_window else 0)
            surge[item_id] = max(surge[item_id], others)
    # In id order, so two concurrent refreshes lock shared rows in the same order and cannot deadlock.
    changed = [
        {"item_id": item_id, "new_priority": new}
        for item_id, (old, label, scores, concern) in sorted(items.items())
        if (new := priority(label, scores, others_in_surge=surge[item_id], person_concern=concern)) != old
    ]
    table = ITEMS
    if changed:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("item_id"))
            .values(priority=bindparam("new_priority")),
            changed,
        )
    return len(changed)
