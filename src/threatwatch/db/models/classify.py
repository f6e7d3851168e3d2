"""Model output stored per post and model version."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threatwatch.db.models.base import Base
from threatwatch.db.types import NullableJSONType, utcnow

if TYPE_CHECKING:
    from threatwatch.db.models.collect import Post


class Classification(Base):
    """What one model version said about one post."""

    __tablename__ = "classifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(20))
    flagged: Mapped[bool] = mapped_column(Boolean)
    scores: Mapped[dict[str, Any]] = mapped_column()
    # The spans that drove a flagged label; ``None`` until the explain flow has computed them (intake
    # stores labels first so that queue and alerts do not wait for the costly occlusion).
    explanation: Mapped[list[Any] | None] = mapped_column(NullableJSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    post: Mapped[Post] = relationship(back_populates="classifications")

    __table_args__ = (UniqueConstraint("post_id", "model_version", name="uq_classifications_post_model"),)
