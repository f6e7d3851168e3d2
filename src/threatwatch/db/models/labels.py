"""Retraining (issue 7): labels imported from outside the app."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threatwatch.db.models.base import Base
from threatwatch.db.types import utcnow


class ExternalLabel(Base):
    """A label made outside the app (``threatwatch labels import``), keyed by the file's own id."""

    __tablename__ = "external_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(20))
    labeller: Mapped[str] = mapped_column(String(200), default="")  # "" when the file names nobody
    labelled_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    import_name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("external_id", "labeller", name="uq_external_labels_id_labeller"),)
