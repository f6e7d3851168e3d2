"""The review queue and analysts' decisions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threatwatch.db.models.base import Base
from threatwatch.db.types import utcnow

if TYPE_CHECKING:
    from threatwatch.db.models.classify import Classification
    from threatwatch.db.models.collect import Post


class ReviewItem(Base):
    """A flagged post waiting for (or past) an analyst's decision."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), unique=True)
    classification_id: Mapped[int] = mapped_column(ForeignKey("classifications.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    priority: Mapped[float] = mapped_column(Float)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    post: Mapped[Post] = relationship()
    classification: Mapped[Classification] = relationship()
    decisions: Mapped[list[Decision]] = relationship(back_populates="review_item")

    __table_args__ = (Index("ix_review_items_status_priority", "status", "priority"),)


class Decision(Base):
    """An analyst's verdict on a review item; doubles as a training label."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    review_item: Mapped[ReviewItem] = relationship(back_populates="decisions")
