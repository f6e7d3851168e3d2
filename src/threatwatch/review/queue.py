"""Reading the queue: what analysts see, most urgent first.

Priority is stored on the item (severity × score, plus a surge bonus that intake raises while many posts
target the same official) so the order comes straight from a partial index; recency breaks ties.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    CursorResult,
    Result,
    Select,
    Table,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect

from threatwatch.db.models import Classification, Mention, Official, Post, ReviewItem, Source, User
from threatwatch.domain import ReviewStatus

# Core view of the table, for UPDATE ... RETURNING and executemany, which bypass the identity map.
ITEMS = cast(Table, ReviewItem.__table__)

ACTIVE_STATUSES: tuple[ReviewStatus, ...] = (ReviewStatus.OPEN, ReviewStatus.CLAIMED)
# Backed by ix_review_items_active_order (a partial index on active items), read backwards.
QUEUE_ORDER = (ReviewItem.priority.desc(), ReviewItem.created_at.desc(), ReviewItem.id.desc())


@dataclass(frozen=True)
class QueueEntry:
    id: int
    post_id: int
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
    source_id: int
    officials: list[str]
    official_ids: list[int]
    published_at: datetime | None
    collected_at: datetime
    created_at: datetime
    assignee: str | None
    lease_expires_at: datetime | None


def active_clause() -> ColumnElement[bool]:
    """The partial index's predicate, with the statuses as SQL literals, not parameters: a prepared
    statement's generic plan cannot prove ``status IN ($1, $2)`` implies the index predicate, and falls
    back to sorting every row (psycopg prepares a statement after five runs)."""
    return ReviewItem.status.in_([literal_column(f"'{s.value}'") for s in ACTIVE_STATUSES])


def filtered(
    stmt: Select[Any],
    *,
    official_id: int | None = None,
    label: str | None = None,
    source_id: int | None = None,
) -> Select[Any]:
    if official_id is not None:
        stmt = stmt.where(
            ReviewItem.post_id.in_(select(Mention.post_id).where(Mention.official_id == official_id))
        )
    if label is not None:
        stmt = stmt.where(ReviewItem.label == label)
    if source_id is not None:
        stmt = stmt.where(ReviewItem.post_id.in_(select(Post.id).where(Post.source_id == source_id)))
    return stmt


def _officials_json(session: Session) -> ScalarSelect[Any]:
    """The officials a row's post mentions, as a JSON array of [name, id] pairs (NULL or [] for none)."""
    if session.get_bind().dialect.name == "postgresql":
        pairs = func.json_agg(func.json_build_array(Official.name, Official.id), type_=JSON)
    else:
        pairs = func.json_group_array(func.json_array(Official.name, Official.id), type_=JSON)
    return (
        select(pairs)
        .select_from(Mention)
        .join(Official, Official.id == Mention.official_id)
        .where(Mention.post_id == ReviewItem.post_id)
        .scalar_subquery()
    )


def list_queue(
    session: Session,
    *,
    limit: int = 50,
    offset: int = 0,
    official_id: int | None = None,
    label: str | None = None,
    source_id: int | None = None,
    status: ReviewStatus | str | None = None,
) -> list[QueueEntry]:
    """One page of items; ``status`` None means the active queue (open and claimed).

    One plain query (the page's rows with their post, source, model output, assignee and the officials
    they mention as a JSON array) and no ORM objects: this runs on every queue view of every analyst.
    """
    stmt = (
        select(
            ReviewItem.id,
            ReviewItem.post_id,
            ReviewItem.status,
            ReviewItem.priority,
            ReviewItem.created_at,
            ReviewItem.lease_expires_at,
            Classification.label,
            Classification.scores,
            Classification.explanation,
            Classification.model_version,
            Post.text,
            Post.url,
            Post.author,
            Post.published_at,
            Post.collected_at,
            Post.source_id,
            Source.name,
            User.username,
            _officials_json(session).label("officials"),
        )
        .join(Post, Post.id == ReviewItem.post_id)
        .join(Source, Source.id == Post.source_id)
        .join(Classification, Classification.id == ReviewItem.classification_id)
        .outerjoin(User, User.id == ReviewItem.assignee_id)
    )
    if status is None:
        stmt = stmt.where(active_clause())
    else:
        stmt = stmt.where(ReviewItem.status == ReviewStatus(status).value)
    stmt = filtered(stmt, official_id=official_id, label=label, source_id=source_id)
    rows = session.execute(stmt.order_by(*QUEUE_ORDER).limit(limit).offset(offset)).all()
    officials = {r.id: sorted((str(name), int(oid)) for name, oid in (r.officials or [])) for r in rows}
    return [
        QueueEntry(
            id=r.id,
            post_id=r.post_id,
            status=r.status,
            priority=r.priority,
            label=r.label,
            scores=r.scores,
            explanation=r.explanation,
            model_version=r.model_version,
            text=r.text,
            url=r.url,
            author=r.author,
            source=r.name,
            source_id=r.source_id,
            officials=[name for name, _ in officials[r.id]],
            official_ids=[oid for _, oid in officials[r.id]],
            published_at=r.published_at,
            collected_at=r.collected_at,
            created_at=r.created_at,
            assignee=r.username,
            lease_expires_at=r.lease_expires_at,
        )
        for r in rows
    ]


# Counting every item of a large queue costs more than the rest of a queue page (~100 ms for 100,000
# rows), so above this size a count is reused for a few seconds; small queues are always counted exactly.
COUNTS_CACHE_MIN_ITEMS = 20_000
COUNTS_MAX_AGE_S = 5.0
_counts_cache: dict[str, tuple[float, dict[str, int]]] = {}
_counts_lock = threading.Lock()


def queue_counts(session: Session) -> dict[str, int]:
    """Items per status (only statuses that occur); up to COUNTS_MAX_AGE_S old on a large queue."""
    key = str(session.get_bind().engine.url)
    with _counts_lock:
        cached = _counts_cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return dict(cached[1])
    rows = session.execute(select(ReviewItem.status, func.count()).group_by(ReviewItem.status)).all()
    counts = {status: count for status, count in rows}
    with _counts_lock:
        if sum(counts.values()) >= COUNTS_CACHE_MIN_ITEMS:
            _counts_cache[key] = (time.monotonic() + COUNTS_MAX_AGE_S, counts)
        else:
            _counts_cache.pop(key, None)
    return dict(counts)


def claimable_clause(*, user_id: int, now: datetime) -> ColumnElement[bool]:
    """Open, or claimed by this user, or claimed by someone whose lease ran out."""
    return or_(
        ReviewItem.status == ReviewStatus.OPEN.value,
        (ReviewItem.status == ReviewStatus.CLAIMED.value)
        & or_(ReviewItem.assignee_id == user_id, ReviewItem.lease_expires_at < now),
    )


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched: how a conditional UPDATE tells whether this caller won the race."""
    return cast(CursorResult[Any], result).rowcount
