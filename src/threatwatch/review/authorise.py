"""The role table applied where the work is done, so the web app, the API and the CLI refuse the same
things: a support account cannot claim or decide from the command line (its decisions would become
training labels), nor export an item nobody escalated to it.

The table itself is ``accounts.access`` (a plain module without web imports); routes check it through
``deps.require`` before they run, the CLI through the functions here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from threatwatch.accounts.access import Permission, can, may_view_item
from threatwatch.db.models import Escalation, Mention, Post, ReviewItem, User
from threatwatch.review.errors import ItemNotFound, NotAllowedError


def is_escalated(session: Session, item_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Escalation.review_item_id == item_id))))


def ensure_allowed(user: User, permission: Permission) -> None:
    if not user.active:
        raise NotAllowedError(f"account {user.username!r} is deactivated")
    if not can(user.role, permission):
        raise NotAllowedError(f"role {user.role!r} may not {permission.value.replace('_', ' ')}")


def ensure_item_visible(session: Session, *, user: User, item_id: int) -> None:
    """ItemNotFound when the item does not exist; NotAllowedError for a role that sees only escalated
    items, on one nobody escalated. Checked before the item is read (and the look audited)."""
    if session.get(ReviewItem, item_id) is None:
        raise ItemNotFound(f"no review item {item_id}")
    if not may_view_item(user.role, escalated=is_escalated(session, item_id)):
        raise NotAllowedError("only escalated items are visible to your role")


def escalated_item_ids(
    session: Session, *, official_id: int, start: datetime | None, end: datetime | None
) -> list[int]:
    """The escalated items about an official in a period: all an official's evidence holds for a
    role that sees only escalated items."""
    when = func.coalesce(Post.published_at, Post.collected_at)
    stmt = (
        select(ReviewItem.id)
        .join(Post, Post.id == ReviewItem.post_id)
        .join(Mention, Mention.post_id == Post.id)
        .where(Mention.official_id == official_id, exists().where(Escalation.review_item_id == ReviewItem.id))
        .order_by(ReviewItem.id)
    )
    if start is not None:
        stmt = stmt.where(when >= start)
    if end is not None:
        stmt = stmt.where(when <= end)
    return list(session.scalars(stmt))
