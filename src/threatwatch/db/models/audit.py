"""The audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from threatwatch.db.models.base import Base
from threatwatch.db.types import utcnow


class AuditEvent(Base):
    """Who saw or did what, when: posts are about real people."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    object_type: Mapped[str | None] = mapped_column(String(50))
    object_id: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    # A person's (or any object's) history without reading the whole trail.
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id", "action"),)
