"""Writing the outbox: every subscription an event matches gets an alert row, in the event's transaction.

Bursts are coalesced per subscription and official: while an alert is still waiting to be sent, new
flagged posts are added to it (its count goes up) instead of making another. Once it has gone out,
posts within ``alert_coalesce_window_s`` gather in one follow-up alert sent when the window closes, so
fifty posts in a few minutes make two messages, not fifty. A threat is never held back: it joins a
waiting alert and pulls it forward, or goes out on its own at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from threatwatch.alerts.schedule import release_time
from threatwatch.alerts.subscriptions import matched_officials, severity_of
from threatwatch.config import Settings
from threatwatch.db.models import Alert, AlertItem, Official, Subscription, User
from threatwatch.domain import SEVERITY, AlertStatus, Label, Urgency
from threatwatch.events import Event, ItemEscalated, PersonSignalRaised, PostFlagged

logger = logging.getLogger(__name__)

URGENT_ESCALATIONS = frozenset({Urgency.HIGH.value, Urgency.CRITICAL.value})


def _rank(label: str) -> float:
    try:
        return SEVERITY[Label(label)]
    except ValueError:
        return 0.0


def is_urgent(*, label: str, urgency: str | None) -> bool:
    """Urgent alerts ignore digests and quiet hours: every threat, and escalations marked urgent."""
    return label == Label.THREAT.value or (urgency or "").lower() in URGENT_ESCALATIONS


def enqueue_alerts(*, session: Session, event: Event, settings: Settings) -> int:
    """Record the alerts ``event`` causes, in ``settings``' time zone and coalescing window; returns
    how many subscriptions it reached. Caller commits."""
    if isinstance(event, PostFlagged):
        trigger, urgency, severity = "flagged", None, severity_of(event.label, event.score)
    elif isinstance(event, ItemEscalated):
        trigger, urgency, severity = "escalated", event.urgency, 1.0
    elif isinstance(event, PersonSignalRaised):
        return 0  # followed persons: see the persons-of-concern alerts
    else:  # pragma: no cover - Event is a closed union
        raise TypeError(f"not an event: {event!r}")
    # A deactivated user's subscriptions fall silent with their account.
    subscriptions = session.scalars(
        select(Subscription)
        .outerjoin(User, User.id == Subscription.subscriber_user_id)
        .where(
            Subscription.active.is_(True),
            Subscription.trigger.in_([trigger, "both"]),
            or_(Subscription.subscriber_user_id.is_(None), User.active.is_(True)),
        )
    ).all()
    if not subscriptions or not event.official_ids:
        return 0
    organisations: dict[int, str] = {
        oid: organisation
        for oid, organisation in session.execute(
            select(Official.id, Official.organisation).where(Official.id.in_(event.official_ids))
        )
    }
    tz = ZoneInfo(settings.alert_timezone)
    reached = 0
    for subscription in subscriptions:
        officials = matched_officials(
            subscription,
            trigger=trigger,
            label=event.label,
            severity=severity,
            official_ids=event.official_ids,
            organisations=organisations,
        )
        if not officials:
            continue
        already = session.scalar(
            select(AlertItem.id).where(
                AlertItem.subscription_id == subscription.id,
                AlertItem.trigger == trigger,
                AlertItem.review_item_id == event.review_item_id,
            )
        )
        if already is not None:  # the same event published again: idempotent
            continue
        alert = _alert_for(
            session,
            subscription=subscription,
            trigger=trigger,
            official_id=officials[0],
            label=event.label,
            urgency=urgency,
            review_item_id=event.review_item_id,
            now=event.at,
            window=timedelta(seconds=settings.alert_coalesce_window_s),
            tz=tz,
        )
        session.add(
            AlertItem(
                alert=alert,
                subscription_id=subscription.id,
                trigger=trigger,
                review_item_id=event.review_item_id,
                label=event.label,
                urgency=urgency,
                event_at=event.at,
            )
        )
        reached += 1
    session.flush()
    return reached


def _alert_for(
    session: Session,
    *,
    subscription: Subscription,
    trigger: str,
    official_id: int,
    label: str,
    urgency: str | None,
    review_item_id: int,
    now: datetime,
    window: timedelta,
    tz: ZoneInfo,
) -> Alert:
    """The waiting alert this event joins, or a new one."""
    urgent = is_urgent(label=label, urgency=urgency)
    release = release_time(
        now,
        urgent=urgent,
        mode=subscription.mode,
        digest_times=subscription.digest_times,
        quiet_start=subscription.quiet_start,
        quiet_end=subscription.quiet_end,
        tz=tz,
    )
    digest = subscription.mode == "digest" and not urgent
    kind = "digest" if digest else trigger
    if trigger == "flagged" or digest:
        if not digest and not urgent and window > timedelta(0):
            recent_sent = session.scalar(
                select(Alert.created_at)
                .where(
                    Alert.subscription_id == subscription.id,
                    Alert.kind == kind,
                    Alert.official_id == official_id,
                    Alert.status.in_([AlertStatus.SENDING, AlertStatus.SENT]),
                    Alert.created_at >= now - window,
                )
                .order_by(Alert.created_at.desc())
                .limit(1)
            )
            if recent_sent is not None:  # one went out just now: hold the rest until the window closes
                release = max(release, recent_sent + window)
        waiting = session.scalars(
            select(Alert)
            .where(
                Alert.subscription_id == subscription.id,
                Alert.kind == kind,
                Alert.status == AlertStatus.PENDING,
                Alert.attempts == 0,
                *(() if digest else (Alert.official_id == official_id,)),
            )
            .order_by(Alert.id.desc())
            .limit(1)
        ).first()
        if waiting is not None and _join(session, waiting, label=label, release=release, now=now):
            return waiting
    alert = Alert(
        subscription_id=subscription.id,
        idempotency_key=f"s{subscription.id}:{kind}:{trigger}:i{review_item_id}",
        kind=kind,
        official_id=None if digest else official_id,
        label=label,
        item_count=1,
        status=AlertStatus.PENDING,
        not_before=release,
        next_attempt_at=release,
        attempts=0,
        first_event_at=now,
        last_event_at=now,
        created_at=now,
    )
    session.add(alert)
    return alert


def _join(session: Session, alert: Alert, *, label: str, release: datetime, now: datetime) -> bool:
    """Add one event to a waiting alert, unless a dispatcher claimed it meanwhile (conditional UPDATE)."""
    new_label = label if _rank(label) > _rank(alert.label) else alert.label
    new_release = min(alert.next_attempt_at, release)
    result = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.status == AlertStatus.PENDING, Alert.attempts == 0)
        .values(
            item_count=Alert.item_count + 1,
            label=new_label,
            last_event_at=max(alert.last_event_at, now),
            not_before=new_release,
            next_attempt_at=new_release,
        )
        .execution_options(synchronize_session=False)
    )
    joined = bool(getattr(result, "rowcount", 0))
    if joined:
        session.expire(alert)
    return joined
