"""Reading the outbox: recent alerts, and which channels are failing (CLI, web, metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from threatwatch.alerts.targets import TargetURLError, parse_webhook_url
from threatwatch.db.models import Alert, DeliveryAttempt, Subscription
from threatwatch.domain import AlertStatus


@dataclass(frozen=True)
class AlertRow:
    id: int
    subscription_id: int
    subscription: str
    channel: str
    kind: str
    label: str
    item_count: int
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class ChannelHealth:
    """A subscription whose channel is failing: its latest failure and what is waiting on it."""

    subscription_id: int
    subscription: str
    channel: str
    target: str
    failing_alerts: int
    gave_up: int
    last_error: str | None
    last_failure_at: datetime | None
    last_success_at: datetime | None


def list_alerts(
    session: Session, *, status: str | None = None, subscription_id: int | None = None, limit: int = 50
) -> list[AlertRow]:
    stmt = (
        select(Alert, Subscription)
        .join(Subscription, Subscription.id == Alert.subscription_id)
        .order_by(Alert.id.desc())
        .limit(limit)
        .execution_options(populate_existing=True)  # fresh status even if the caller holds old rows
    )
    if status is not None:
        stmt = stmt.where(Alert.status == status)
    if subscription_id is not None:
        stmt = stmt.where(Alert.subscription_id == subscription_id)
    return [
        AlertRow(
            id=a.id,
            subscription_id=s.id,
            subscription=s.name,
            channel=s.channel,
            kind=a.kind,
            label=a.label,
            item_count=a.item_count,
            status=a.status,
            attempts=a.attempts,
            created_at=a.created_at,
            next_attempt_at=a.next_attempt_at,
            sent_at=a.sent_at,
            last_error=a.last_error,
        )
        for a, s in session.execute(stmt)
    ]


def failing_channels(session: Session) -> list[ChannelHealth]:
    """Subscriptions with alerts that failed at least once and are not sent yet (retrying or given up)."""
    failing = (
        select(
            Alert.subscription_id,
            func.count().label("failing"),
            func.sum(case((Alert.status == AlertStatus.FAILED, 1), else_=0)).label("gave_up"),
        )
        .where(
            Alert.status.in_([AlertStatus.PENDING, AlertStatus.SENDING, AlertStatus.FAILED]),
            Alert.attempts > 0,
        )
        .group_by(Alert.subscription_id)
        .subquery()
    )
    rows = session.execute(
        select(Subscription, failing.c.failing, failing.c.gave_up)
        .join(failing, failing.c.subscription_id == Subscription.id)
        .order_by(Subscription.id)
        .execution_options(populate_existing=True)
    )
    result = []
    for subscription, count, gave_up in rows:
        last_failure = session.execute(
            select(DeliveryAttempt.error, DeliveryAttempt.started_at)
            .join(Alert, Alert.id == DeliveryAttempt.alert_id)
            .where(Alert.subscription_id == subscription.id, DeliveryAttempt.ok.is_(False))
            .order_by(DeliveryAttempt.started_at.desc())
            .limit(1)
        ).first()
        last_success = session.scalar(
            select(func.max(DeliveryAttempt.started_at))
            .join(Alert, Alert.id == DeliveryAttempt.alert_id)
            .where(Alert.subscription_id == subscription.id, DeliveryAttempt.ok.is_(True))
        )
        result.append(
            ChannelHealth(
                subscription_id=subscription.id,
                subscription=subscription.name,
                channel=subscription.channel,
                target=redact_target(subscription.channel, subscription.target),
                failing_alerts=int(count),
                gave_up=int(gave_up or 0),
                last_error=last_failure[0] if last_failure else None,
                last_failure_at=last_failure[1] if last_failure else None,
                last_success_at=last_success,
            )
        )
    return result


def redact_target(channel: str, target: str) -> str:
    """Apprise URLs and webhook URLs often carry tokens: show scheme and host only.

    A webhook URL's host is the one the sender reads (``targets.parse_webhook_url``, urllib3), never a
    guess from splitting the text, which named example.com for ``http://127.0.0.1\\@example.com/``.
    A stored URL that the check refuses (made before it existed) is shown as urllib3 would contact it,
    marked as refused; alerts to it fail at send time with the reason.
    """
    if channel == "email":
        return target
    if channel == "webhook":
        try:
            parts = parse_webhook_url(target)
        except TargetURLError:
            try:
                parts = parse_url(target.strip())
            except LocationParseError:
                return "(unreadable webhook URL)"
            return f"{parts.scheme}://{parts.netloc}/… (refused: ambiguous URL)"
        return f"{parts.scheme}://{parts.netloc}/…"
    scheme, _, rest = target.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/…"


def retry_failed(session: Session, *, now: datetime, subscription_id: int | None = None) -> int:
    """Give alerts that were given up on a fresh set of attempts (after a channel is fixed); caller commits.

    Their earlier attempts stay in ``delivery_attempts``.
    """
    stmt = update(Alert).where(Alert.status == AlertStatus.FAILED)
    if subscription_id is not None:
        stmt = stmt.where(Alert.subscription_id == subscription_id)
    result = session.execute(
        stmt.values(status=AlertStatus.PENDING, attempts=0, next_attempt_at=now).execution_options(
            synchronize_session=False
        )
    )
    return int(getattr(result, "rowcount", 0))
