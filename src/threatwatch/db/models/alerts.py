"""Subscriptions, the alert outbox and every delivery attempt.

``alerts`` is the outbox: rows are written in the transaction of the event that causes them and a
dispatcher delivers them. One alert row is one message to one subscription; ``idempotency_key`` is
unique, so the same alert is never created (and never sent) twice for a subscription.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threatwatch.db.models.base import Base
from threatwatch.db.types import NullableJSONType, StrEnumColumn, utcnow
from threatwatch.domain import AlertStatus

if TYPE_CHECKING:
    from threatwatch.db.models.persons import Person
    from threatwatch.db.models.review import ReviewItem


class Subscription(Base):
    """Who wants to hear about which officials, about what, through which channel and when."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    subscriber_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subscriber_team: Mapped[str | None] = mapped_column(String(200))
    official_ids: Mapped[list[Any]] = mapped_column(default=list)
    # Persons followed (threatwatch.persons): their new flagged posts and raised signals alert too.
    person_ids: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    organisation: Mapped[str | None] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(20))  # flagged | escalated | both
    min_severity: Mapped[float] = mapped_column(Float, default=0.0)
    labels: Mapped[list[Any]] = mapped_column(default=list)  # empty: every flagged label
    channel: Mapped[str] = mapped_column(String(20))  # email | webhook | apprise
    target: Mapped[str] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20), default="immediate")  # immediate | digest
    digest_times: Mapped[list[Any]] = mapped_column(default=list)  # "HH:MM", Europe/Amsterdam
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """One message for one subscription (the outbox row); several events may be coalesced into it."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # flagged | escalated | digest
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(String(20))  # the most severe label among its items
    item_count: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[AlertStatus] = mapped_column(StrEnumColumn(AlertStatus), default=AlertStatus.PENDING)
    not_before: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    first_event_at: Mapped[datetime]
    last_event_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    subscription: Mapped[Subscription] = relationship()
    items: Mapped[list[AlertItem]] = relationship(back_populates="alert", cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_alerts_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_alerts_subscription_id_kind_official_id", "subscription_id", "kind", "official_id"),
    )


class AlertItem(Base):
    """What an alert tells about: a review item (unique per subscription and trigger, so never told
    twice), or a person's newly raised signal (``trigger`` ``signal``; unique per subscription, person
    and signal, so a signal that drops and rises again is not told again).

    ``person_id`` is also set on a flagged item that reached the subscription because it follows the
    post's author, so the message can say why.
    """

    __tablename__ = "alert_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(20))  # flagged | escalated | signal
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    # A person erased by retention takes the alert items about them along.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    signal: Mapped[str | None] = mapped_column(String(30))  # persons.signals.SIGNALS
    # Of a signal: {"detail": str, "post_ids": [...], "review_item_ids": [...]} (ids and wording only).
    signal_details: Mapped[dict[str, Any] | None] = mapped_column(NullableJSONType)
    label: Mapped[str] = mapped_column(String(20))  # a label, or "signal"
    urgency: Mapped[str | None] = mapped_column(String(20))
    event_at: Mapped[datetime]

    alert: Mapped[Alert] = relationship(back_populates="items")
    review_item: Mapped[ReviewItem | None] = relationship()
    person: Mapped[Person | None] = relationship()

    __table_args__ = (
        UniqueConstraint(
            "subscription_id", "trigger", "review_item_id", name="uq_alert_items_subscription_trigger_item"
        ),
        UniqueConstraint(
            "subscription_id", "person_id", "signal", name="uq_alert_items_subscription_person_signal"
        ),
    )


class DeliveryAttempt(Base):
    """One try to deliver one alert: the record that makes a failing channel visible."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime]
    worker: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("ix_delivery_attempts_started_at", "started_at"),)
