"""Reading the queue: what analysts see, most urgent first.

Priority is stored on the item (severity × score, plus a surge bonus that intake raises while many posts
target the same official) so the order comes straight from a partial index; recency breaks ties.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    CursorResult,
    Engine,
    Integer,
    Result,
    Select,
    String,
    Table,
    bindparam,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import ScalarSelect

from threatwatch import audit
from threatwatch.db.models import Classification, Mention, Official, Post, ReviewItem, Source, User
from threatwatch.domain import ReviewStatus

logger = logging.getLogger(__name__)

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
    explanation: list[dict[str, Any]] | None  # None: not explained yet (the explain flow follows intake)
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
    official_id: int | BindParameter[int] | None = None,
    label: str | BindParameter[str] | None = None,
    source_id: int | BindParameter[int] | None = None,
) -> Select[Any]:
    """``stmt`` narrowed to the filters that are not None (values, or bind parameters for a statement
    that is built once and executed with values)."""
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


# Queue statements by (dialect, filters given): built once with bind parameters, so a queue view only
# binds its values; building the 19 columns, 5 joins and the page subquery anew took an eighth of
# list_queue's time. The SQL sent is the same either way.
_QueueShape = tuple[str, bool, bool, bool, bool]
_QUEUE_STATEMENTS: dict[_QueueShape, Select[Any]] = {}


def _queue_statement(session: Session, shape: _QueueShape) -> Select[Any]:
    stmt = _QUEUE_STATEMENTS.get(shape)
    if stmt is not None:
        return stmt
    _, active, by_official, by_label, by_source = shape
    page = select(ReviewItem.id).where(
        active_clause() if active else ReviewItem.status == bindparam("status", type_=String)
    )
    page = filtered(
        page,
        official_id=bindparam("official_id", type_=Integer) if by_official else None,
        label=bindparam("label", type_=String) if by_label else None,
        source_id=bindparam("source_id", type_=Integer) if by_source else None,
    )
    # A deferred join: the page's ids come from the index alone, and only those rows are joined to their
    # posts and model output; with the joins outside, OFFSET 5,000 built and dropped 5,000 joined rows.
    # LIMIT and OFFSET are written into the SQL (literal_execute), not sent as parameters: knowing them,
    # PostgreSQL's generic plan for the prepared statement is the good one, so it stops planning this
    # six-table query on every view (with "LIMIT $1" it plans each time, or would join the whole table).
    ids = (
        page.order_by(*QUEUE_ORDER)
        .limit(bindparam("limit", type_=Integer, literal_execute=True))
        .offset(bindparam("offset", type_=Integer, literal_execute=True))
        .subquery("page")
    )
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
        .select_from(ReviewItem)
        .join(ids, ids.c.id == ReviewItem.id)
        .join(Post, Post.id == ReviewItem.post_id)
        .join(Source, Source.id == Post.source_id)
        .join(Classification, Classification.id == ReviewItem.classification_id)
        .outerjoin(User, User.id == ReviewItem.assignee_id)
        .order_by(*QUEUE_ORDER)
    )
    _QUEUE_STATEMENTS[shape] = stmt
    return stmt


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
    dialect = session.get_bind().dialect.name
    shape = (dialect, status is None, official_id is not None, label is not None, source_id is not None)
    values: dict[str, Any] = {"limit": limit, "offset": offset}
    if status is not None:
        values["status"] = ReviewStatus(status).value
    for name, value in (("official_id", official_id), ("label", label), ("source_id", source_id)):
        if value is not None:
            values[name] = value
    rows = session.execute(_queue_statement(session, shape), values).all()
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


# Counting every item of a large queue costs more than the rest of a queue page (a scan of the table), so
# the web app keeps a QueueCounts: above its ``min_items`` the counts are shared by all its requests: up
# to ``max_age_s`` old they are served as they are; up to ``stale_s`` old they are still served while one
# background thread counts afresh (no request waits for the count); older ones are recounted before
# answering. Small queues, and callers without a QueueCounts (the CLI, flows), are counted exactly.
COUNTS_CACHE_MIN_ITEMS = 20_000
COUNTS_MAX_AGE_S = 5.0
COUNTS_STALE_S = 60.0


def _count_statuses(connection: Session | Connection) -> dict[str, int]:
    rows = connection.execute(select(ReviewItem.status, func.count()).group_by(ReviewItem.status)).all()
    return {str(status): count for status, count in rows}


@dataclass
class _Counts:
    counts: dict[str, int]
    at: float  # time.monotonic() of the count
    refreshing: bool = False


class QueueCounts:
    """The queue's counts per status, shared by the requests of one web app (``app.state``) and owned by
    it: its entries and its background recounts live and die with the app, not with the process."""

    def __init__(
        self,
        *,
        min_items: int = COUNTS_CACHE_MIN_ITEMS,
        max_age_s: float = COUNTS_MAX_AGE_S,
        stale_s: float = COUNTS_STALE_S,
    ) -> None:
        self.min_items, self.max_age_s, self.stale_s = min_items, max_age_s, stale_s
        self._entries: dict[str, _Counts] = {}
        self._lock = threading.Lock()

    def counts(self, session: Session) -> dict[str, int]:
        engine = session.get_bind().engine
        key = str(engine.url)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry.at < self.stale_s:
                if now - entry.at >= self.max_age_s and not entry.refreshing:
                    entry.refreshing = True
                    threading.Thread(
                        target=self._recount, args=(engine, key), name="queue-counts", daemon=True
                    ).start()
                return dict(entry.counts)
        counts = _count_statuses(session)
        self._store(key, counts, now)
        return dict(counts)

    def entry(self, session: Session) -> _Counts | None:
        """The shared entry of ``session``'s database, if any (for tests and diagnostics)."""
        with self._lock:
            return self._entries.get(str(session.get_bind().engine.url))

    def _store(self, key: str, counts: dict[str, int], at: float) -> None:
        with self._lock:
            if sum(counts.values()) >= self.min_items:
                self._entries[key] = _Counts(counts, at)
            else:
                self._entries.pop(key, None)

    def _recount(self, engine: Engine, key: str) -> None:
        """Background refresh of a stale entry (its own connection); a failure leaves it for the next view."""
        started = time.monotonic()
        try:
            with engine.connect() as connection:
                counts = _count_statuses(connection)
        except Exception:
            logger.exception("recounting the review queue failed")
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.refreshing = False
            return
        self._store(key, counts, started)


def queue_counts(session: Session, *, shared: QueueCounts | None = None) -> dict[str, int]:
    """Items per status (only statuses that occur): exact, in the caller's transaction, or through the
    app's ``shared`` counts (on a large queue up to its ``max_age_s`` old, at worst ``stale_s``)."""
    return shared.counts(session) if shared is not None else _count_statuses(session)


def view_queue(
    session: Session,
    *,
    viewer: str,
    page_size: int,
    offset: int = 0,
    official_id: int | None = None,
    label: str | None = None,
    source_id: int | None = None,
    status: ReviewStatus | str | None = None,
    action: str = "view_queue",
) -> tuple[list[QueueEntry], bool]:
    """A page of the queue as a person sees it, and whether more follow: the page's items are recorded
    as seen by ``viewer`` (``action``), the one place the web page, the API and the CLI log who saw
    what of the queue."""
    entries = list_queue(
        session,
        limit=page_size + 1,
        offset=offset,
        official_id=official_id,
        label=label,
        source_id=source_id,
        status=status,
    )
    shown = entries[:page_size]
    audit.record(session, actor=viewer, action=action, details={"items": [e.id for e in shown]})
    return shown, len(entries) > page_size


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
