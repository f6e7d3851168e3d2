"""Reading the queue: what analysts see, in priority order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from threatwatch.db.models import Classification, Mention, Post, ReviewItem
from threatwatch.domain import ReviewStatus

ACTIVE_STATUSES: tuple[ReviewStatus, ...] = (ReviewStatus.OPEN, ReviewStatus.CLAIMED)


@dataclass(frozen=True)
class QueueEntry:
    id: int
    status: str
    priority: float
    label: str
    scores: dict[str, float]
    explanation: list[dict[str, Any]]
    model_version: str
    text: str
    url: str | None
    author: str | None
    source: str
    officials: list[str]
    published_at: datetime | None
    collected_at: datetime


def list_queue(
    session: Session,
    *,
    statuses: Sequence[ReviewStatus] = ACTIVE_STATUSES,
    label: str | None = None,
    official_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[QueueEntry]:
    stmt = (
        select(ReviewItem)
        .options(
            selectinload(ReviewItem.post).selectinload(Post.mentions).selectinload(Mention.official),
            selectinload(ReviewItem.post).selectinload(Post.source),
            selectinload(ReviewItem.classification),
        )
        .where(ReviewItem.status.in_([s.value for s in statuses]))
        .order_by(ReviewItem.priority.desc(), ReviewItem.created_at.desc(), ReviewItem.id)
        .limit(limit)
        .offset(offset)
    )
    if label is not None:
        stmt = stmt.join(Classification, Classification.id == ReviewItem.classification_id).where(
            Classification.label == label
        )
    if official_id is not None:
        stmt = stmt.where(
            ReviewItem.post_id.in_(select(Mention.post_id).where(Mention.official_id == official_id))
        )
    return [
        QueueEntry(
            id=item.id,
            status=item.status,
            priority=item.priority,
            label=item.classification.label,
            scores=item.classification.scores,
            explanation=item.classification.explanation,
            model_version=item.classification.model_version,
            text=item.post.text,
            url=item.post.url,
            author=item.post.author,
            source=item.post.source.name,
            officials=sorted(m.official.name for m in item.post.mentions),
            published_at=item.post.published_at,
            collected_at=item.post.collected_at,
        )
        for item in session.scalars(stmt)
    ]


def queue_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(ReviewItem.status, func.count()).group_by(ReviewItem.status)).all()
    return {status: count for status, count in rows}
