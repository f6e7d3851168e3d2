"""Operations: what retention keeps after it erases (aggregate counts, and which posts it erased)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threatwatch.db.models.base import Base
from threatwatch.db.types import utcnow


class DailyCount(Base):
    """How many posts of one day, source, official and label existed before retention erased them.

    No foreign keys on purpose: the counts outlive the sources and officials they count.
    ``official_id`` 0 means "mentioned no watched official"; ``outcome`` is what review made of it.
    """

    __tablename__ = "daily_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    source_id: Mapped[int] = mapped_column(Integer)
    official_id: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    posts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("day", "source_id", "official_id", "label", "outcome", name="uq_daily_counts_key"),
    )


class RedactedPost(Base):
    """A post whose personal content retention erased; the row stays so the feed cannot bring it back."""

    __tablename__ = "redacted_posts"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(30))
    redacted_at: Mapped[datetime] = mapped_column(default=utcnow)
