"""The model registry's history (``threatwatch.registry``): one row per trained model and its fate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threatwatch.db.models.base import Base
from threatwatch.db.types import StrEnumColumn, utcnow
from threatwatch.domain import ModelStatus


class ModelVersion(Base):
    """One trained model and its fate: ``candidate`` while evaluated, then ``live``, ``rejected``
    (with the reason), ``retired`` (replaced or rolled back) or ``failed`` (the run crashed).

    ``models/CURRENT`` is what the classifier loads; these rows are the history behind it.
    """

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[ModelStatus] = mapped_column(StrEnumColumn(ModelStatus))
    reason: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
