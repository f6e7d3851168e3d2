"""Claims: an analyst holds an item under a lease, so two analysts never work on the same item.

Every state change is one conditional UPDATE whose WHERE says who may make it; the database settles
races. "Claim next" picks its row with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent analysts skip
each other's rows instead of queueing on them) and as a single ``UPDATE ... WHERE id = (SELECT ...)``
on SQLite, where writers are serialised anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, or_, select, update
from sqlalchemy.orm import Session

from threatwatch import audit
from threatwatch.db.models import ReviewItem, User
from threatwatch.domain import ReviewStatus
from threatwatch.review.errors import ClaimConflict, ItemNotFound
from threatwatch.review.queue import ITEMS, QUEUE_ORDER, active_clause, claimable_clause, filtered, rowcount

# An analyst who walks away loses the item after this long; claiming it again renews the lease.
CLAIM_LEASE = timedelta(minutes=15)
# "LIMIT 1" written into the SQL, not sent as a parameter: PostgreSQL then finds the prepared statement's
# generic plan as cheap as a custom one and stops planning "claim next" anew on every call.
ONE_ROW = bindparam("one_row", 1, type_=Integer, literal_execute=True)


def _claim_returning(
    session: Session, *where: ColumnElement[bool], values: dict[str, Any]
) -> ReviewItem | None:
    """One conditional ``UPDATE ... RETURNING``: the claimed item, or None when the WHERE matched nothing."""
    stmt = (
        update(ReviewItem)
        .where(*where)
        .values(values)
        .returning(ReviewItem)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()


def _claim_values(user: User, now: datetime, lease: timedelta | None) -> dict[str, Any]:
    return {
        "status": ReviewStatus.CLAIMED.value,
        "assignee_id": user.id,
        "lease_expires_at": now + (lease or CLAIM_LEASE),
        "updated_at": now,
    }


def claim_item(
    session: Session, *, item_id: int, user: User, now: datetime, lease: timedelta | None = None
) -> ReviewItem:
    """Claim (or renew the claim on) one item; ClaimConflict when another holds it or it is decided."""
    item = _claim_returning(
        session,
        ReviewItem.id == item_id,
        claimable_clause(user_id=user.id, now=now),
        values=_claim_values(user, now, lease),
    )
    if item is None:
        raise _conflict(session, item_id=item_id)
    audit.record(session, actor=user.username, action="claim", object_type="review_item", object_id=item_id)
    return item


def claim_next(
    session: Session,
    *,
    user: User,
    now: datetime,
    official_id: int | None = None,
    label: str | None = None,
    lease: timedelta | None = None,
) -> ReviewItem | None:
    """Claim the most urgent free item (matching the filters), or None when there is none.

    One round trip: ``UPDATE ... WHERE id = (SELECT id ... LIMIT 1 [FOR UPDATE SKIP LOCKED]) RETURNING``.
    """
    free = or_(
        ReviewItem.status == ReviewStatus.OPEN.value,
        (ReviewItem.status == ReviewStatus.CLAIMED.value) & (ReviewItem.lease_expires_at < now),
    )
    pick = (
        filtered(select(ReviewItem.id).where(active_clause(), free), official_id=official_id, label=label)
        .order_by(*QUEUE_ORDER)
        .limit(ONE_ROW)
    )
    values = _claim_values(user, now, lease)
    dialect = session.get_bind().dialect.name
    item: ReviewItem | None = None
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        item = _claim_returning(session, ReviewItem.id == pick.scalar_subquery(), free, values=values)
    else:  # a backend without RETURNING: optimistic, retry when someone else won the row
        for _ in range(20):
            item_id = session.scalar(pick)
            if item_id is None:
                break
            won = session.execute(update(ITEMS).where(ITEMS.c.id == item_id, free).values(values))
            if rowcount(won) == 1:
                item = session.get(ReviewItem, item_id, populate_existing=True)
                break
    if item is None:
        return None
    audit.record(
        session,
        actor=user.username,
        action="claim",
        object_type="review_item",
        object_id=item.id,
        details={"next": True},
    )
    return item


def release_item(session: Session, *, item_id: int, user: User, now: datetime) -> None:
    """Give a claimed item back to the queue; only its holder can (ClaimConflict otherwise)."""
    result = session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.id == item_id,
            ReviewItem.status == ReviewStatus.CLAIMED.value,
            ReviewItem.assignee_id == user.id,
        )
        .values(status=ReviewStatus.OPEN.value, assignee_id=None, lease_expires_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise _conflict(session, item_id=item_id, releasing=True)
    audit.record(session, actor=user.username, action="release", object_type="review_item", object_id=item_id)


def _conflict(session: Session, *, item_id: int, releasing: bool = False) -> Exception:
    """Why a conditional UPDATE matched nothing, as the error the caller should see."""
    item = session.get(ReviewItem, item_id, populate_existing=True)
    if item is None:
        return ItemNotFound(f"no review item {item_id}")
    if item.status == ReviewStatus.CLAIMED.value:
        holder = item.assignee.username if item.assignee is not None else "someone"
        return ClaimConflict(f"item {item_id} is held by {holder}")
    if releasing and item.status == ReviewStatus.OPEN.value:
        return ClaimConflict(f"item {item_id} is not claimed")
    return ClaimConflict(f"item {item_id} is already {item.status}")
