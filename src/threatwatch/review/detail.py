"""One item in full (every view is audited), and an official's timeline of mentions and flags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from threatwatch import audit
from threatwatch.db.models import (
    Classification,
    Decision,
    Escalation,
    Mention,
    Official,
    Post,
    ReviewItem,
    User,
)
from threatwatch.review.errors import ItemNotFound

RELATED_LIMIT = 10


@dataclass(frozen=True)
class OfficialRef:
    id: int
    name: str
    role: str
    organisation: str


@dataclass(frozen=True)
class DecisionView:
    id: int
    label: str
    model_label: str | None
    corrected: bool
    note: str | None
    user: str | None
    created_at: datetime
    undone_at: datetime | None


@dataclass(frozen=True)
class EscalationView:
    id: int
    urgency: str
    note: str | None
    user: str | None
    created_at: datetime


@dataclass(frozen=True)
class RelatedPost:
    post_id: int
    review_item_id: int | None
    status: str | None
    label: str | None
    text: str
    url: str | None
    published_at: datetime | None
    collected_at: datetime


@dataclass(frozen=True)
class ItemDetail:
    id: int
    post_id: int
    status: str
    priority: float
    text: str
    url: str | None
    author: str | None
    published_at: datetime | None
    collected_at: datetime
    source_id: int
    source: str
    source_url: str
    label: str
    scores: dict[str, float]
    explanation: list[dict[str, Any]] | None  # None: not explained yet (the explain flow follows intake)
    model_version: str
    assignee: str | None
    assignee_id: int | None
    lease_expires_at: datetime | None
    created_at: datetime
    officials: list[OfficialRef]
    decisions: list[DecisionView]
    escalations: list[EscalationView]
    related: list[RelatedPost]


def official_ref(official: Official) -> OfficialRef:
    return OfficialRef(
        id=official.id, name=official.name, role=official.role, organisation=official.organisation
    )


def _decision_view(d: Decision) -> DecisionView:
    return DecisionView(
        id=d.id,
        label=d.label,
        model_label=d.model_label,
        corrected=d.corrected,
        note=d.note,
        user=d.user.username if d.user is not None else None,
        created_at=d.created_at,
        undone_at=d.undone_at,
    )


def _escalation_view(e: Escalation) -> EscalationView:
    return EscalationView(
        id=e.id,
        urgency=e.urgency,
        note=e.note,
        user=e.user.username if e.user is not None else None,
        created_at=e.created_at,
    )


def load_items(session: Session, item_ids: list[int]) -> list[ReviewItem]:
    """Items with everything a detail view or evidence pack shows, loaded in a fixed number of queries."""
    stmt = (
        select(ReviewItem)
        .where(ReviewItem.id.in_(item_ids))
        .options(
            selectinload(ReviewItem.post).selectinload(Post.mentions).selectinload(Mention.official),
            selectinload(ReviewItem.post).selectinload(Post.source),
            selectinload(ReviewItem.classification),
            selectinload(ReviewItem.assignee),
            selectinload(ReviewItem.decisions).selectinload(Decision.user),
            selectinload(ReviewItem.escalations).selectinload(Escalation.user),
        )
        .order_by(ReviewItem.id)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def related_posts(
    session: Session, *, post_id: int, official_ids: list[int], limit: int = RELATED_LIMIT
) -> list[RelatedPost]:
    """The latest other posts about the same officials, with their queue state if they were flagged."""
    if not official_ids:
        return []
    rows = session.execute(
        select(Post, ReviewItem.id, ReviewItem.status, Classification.label)
        .outerjoin(ReviewItem, ReviewItem.post_id == Post.id)
        .outerjoin(Classification, Classification.id == ReviewItem.classification_id)
        .where(
            Post.id != post_id,
            Post.id.in_(select(Mention.post_id).where(Mention.official_id.in_(official_ids))),
        )
        .order_by(Post.collected_at.desc(), Post.id.desc())
        .limit(limit)
    ).all()
    return [
        RelatedPost(
            post_id=post.id,
            review_item_id=item_id,
            status=status,
            label=label,
            text=post.text,
            url=post.url,
            published_at=post.published_at,
            collected_at=post.collected_at,
        )
        for post, item_id, status, label in rows
    ]


def get_item(session: Session, *, item_id: int, viewer: User, now: datetime) -> ItemDetail:
    """Everything about one item; the view is written to the audit log (posts are about real people)."""
    items = load_items(session, [item_id])
    if not items:
        raise ItemNotFound(f"no review item {item_id}")
    item = items[0]
    post = item.post
    mentions = sorted(post.mentions, key=lambda m: m.official.name)
    officials = [official_ref(m.official) for m in mentions]
    audit.record(
        session,
        actor=viewer.username,
        action="view_post",
        object_type="review_item",
        object_id=item.id,
        details={"post_id": post.id, "at": now.isoformat()},
    )
    return ItemDetail(
        id=item.id,
        post_id=post.id,
        status=item.status,
        priority=item.priority,
        text=post.text,
        url=post.url,
        author=post.author,
        published_at=post.published_at,
        collected_at=post.collected_at,
        source_id=post.source_id,
        source=post.source.name,
        source_url=post.source.url,
        label=item.classification.label,
        scores=item.classification.scores,
        explanation=item.classification.explanation,
        model_version=item.classification.model_version,
        assignee=item.assignee.username if item.assignee is not None else None,
        assignee_id=item.assignee_id,
        lease_expires_at=item.lease_expires_at,
        created_at=item.created_at,
        officials=officials,
        decisions=[_decision_view(d) for d in item.decisions],
        escalations=[_escalation_view(e) for e in item.escalations],
        related=related_posts(session, post_id=post.id, official_ids=[o.id for o in officials]),
    )


@dataclass(frozen=True)
class DayCount:
    day: date
    mentions: int
    flagged: int


def official_timeline(session: Session, *, official_id: int, days: int = 30, now: datetime) -> list[DayCount]:
    """Posts mentioning the official and how many of them were flagged, per UTC day, oldest first;
    days without posts are listed with zeros so a chart has no gaps. Days count by publication time,
    or collection time when the feed gave none."""
    if session.get(Official, official_id) is None:
        raise ItemNotFound(f"no official {official_id}")
    if not 1 <= days <= 366:
        raise ValueError("days must be between 1 and 366")
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    when = func.coalesce(Post.published_at, Post.collected_at)
    rows = session.execute(
        select(when, ReviewItem.id)
        .join(Mention, Mention.post_id == Post.id)
        .outerjoin(ReviewItem, ReviewItem.post_id == Post.id)
        .where(Mention.official_id == official_id, when >= start, when <= now)
    ).all()
    counts = {first + timedelta(days=i): [0, 0] for i in range(days)}
    for at, item_id in rows:
        if isinstance(at, str):  # SQLite hands coalesce() back as text
            at = datetime.fromisoformat(at)
        day = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).date()
        if day in counts:
            counts[day][0] += 1
            counts[day][1] += item_id is not None
    return [DayCount(day=day, mentions=m, flagged=f) for day, (m, f) in counts.items()]
