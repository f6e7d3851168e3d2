"""The review queue, analysts' decisions (training labels) and escalations to support teams."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Connection, Float, ForeignKey, Index, String, Text, event, select, text
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from threatwatch.db.models.base import Base
from threatwatch.db.types import StrEnumColumn, utcnow
from threatwatch.domain import ReviewStatus

if TYPE_CHECKING:
    from threatwatch.db.models.accounts import User
    from threatwatch.db.models.classify import Classification
    from threatwatch.db.models.collect import Post

# Rows still in the queue; the partial indexes below cover only these, so they stay small and the queue
# page and "claim next" read them in priority order without sorting.
ACTIVE_ITEM_SQL = "status IN ('open', 'claimed')"
ACTIVE_DECISION_SQL = "undone_at IS NULL"


class ReviewItem(Base):
    """A flagged post waiting for (or past) an analyst's decision."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), unique=True)
    classification_id: Mapped[int] = mapped_column(ForeignKey("classifications.id", ondelete="CASCADE"))
    status: Mapped[ReviewStatus] = mapped_column(StrEnumColumn(ReviewStatus), default=ReviewStatus.OPEN)
    # The model's label, copied from the classification (filled in on insert when not given) so the
    # queue filters by label from an index instead of walking the whole queue.
    label: Mapped[str | None] = mapped_column(String(20))
    priority: Mapped[float] = mapped_column(Float)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Why it is queued: "flagged" by the model, or "uncertain" (active learning, issue 7: the model was
    # least sure; kept out of the retraining evaluation window). Column added by migration 0005.
    reason: Mapped[str] = mapped_column(String(20), default="flagged", server_default="flagged")

    post: Mapped[Post] = relationship()
    classification: Mapped[Classification] = relationship()
    assignee: Mapped[User | None] = relationship()
    decisions: Mapped[list[Decision]] = relationship(back_populates="review_item", order_by="Decision.id")
    escalations: Mapped[list[Escalation]] = relationship(
        back_populates="review_item", order_by="Escalation.id"
    )

    __table_args__ = (
        Index("ix_review_items_status_priority", "status", "priority"),
        Index(
            "ix_review_items_active_order",
            "priority",
            "created_at",
            "id",
            postgresql_where=text(ACTIVE_ITEM_SQL),
            sqlite_where=text(ACTIVE_ITEM_SQL),
        ),
        Index(
            "ix_review_items_active_label_order",
            "label",
            "priority",
            "created_at",
            "id",
            postgresql_where=text(ACTIVE_ITEM_SQL),
            sqlite_where=text(ACTIVE_ITEM_SQL),
        ),
    )


@event.listens_for(ReviewItem, "before_insert")
def _copy_model_label(_mapper: Mapper[ReviewItem], connection: Connection, item: ReviewItem) -> None:
    """Whoever queues an item (intake, active learning, tests) gets ``label`` right without knowing."""
    if item.label is not None:
        return
    loaded = item.__dict__.get("classification")
    if loaded is not None:
        item.label = loaded.label
    elif item.classification_id is not None:
        from threatwatch.db.models.classify import Classification

        item.label = connection.scalar(
            select(Classification.label).where(Classification.id == item.classification_id)
        )


class Decision(Base):
    """An analyst's verdict on a review item; doubles as a training label (issue 7 reads these rows).

    ``corrected`` says the analyst chose another label than the model; an undone decision keeps its row
    with ``undone_at`` set, so retraining must skip those.
    """

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(String(20))
    model_label: Mapped[str | None] = mapped_column(String(20))
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]

    review_item: Mapped[ReviewItem] = relationship(back_populates="decisions")
    user: Mapped[User | None] = relationship()

    __table_args__ = (
        Index("ix_decisions_review_item_id", "review_item_id"),
        # The database itself refuses a second live decision on one item, whatever the code does.
        Index(
            "uq_decisions_live_item",
            "review_item_id",
            unique=True,
            postgresql_where=text(ACTIVE_DECISION_SQL),
            sqlite_where=text(ACTIVE_DECISION_SQL),
        ),
    )


class Escalation(Base):
    """A decided item marked for the support team of the officials it concerns; alerts subscribe to it."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    urgency: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    review_item: Mapped[ReviewItem] = relationship(back_populates="escalations")
    user: Mapped[User | None] = relationship()
