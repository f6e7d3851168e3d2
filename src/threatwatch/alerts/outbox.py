"""Writing the outbox: every subscription an event matches gets an alert row, in the event's transaction.

Bursts are coalesced per subscription and official: while an alert is still waiting to be sent, new
flagged posts are added to it (its count goes up) instead of making another. Once it has gone out,
posts within ``alert_coalesce_window_s`` gather in one follow-up alert sent when the window closes, so
fifty posts in a few minutes make two messages, not fifty. A threat is never held back: it joins a
waiting alert and pulls it forward, or goes out on its own at once.

Persons of concern (``Subscription.person_ids``): a flagged post by a followed person alerts the
subscription even when it follows none of the post's officials (its trigger, labels and minimum severity
still apply); its alert item carries the person, so the message says why. A newly raised signal
(``PersonSignalRaised``) alerts the subscriptions that follow the person and those that follow an
official the signal's posts are about, if their trigger takes what the model raises (``flagged`` or
``both``; labels and minimum severity are about single posts and do not apply). Each subscription hears
of a person's signal once: the alert item (subscription, person, signal) is unique, so a signal that is
published again, or drops and rises again later, is not told twice (the person page shows it). Signals
of one person raised together join one waiting alert; a leakage signal (a weapon, time or place) is
urgent, the others respect digests and quiet hours.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from threatwatch.alerts.schedule import release_time
from threatwatch.alerts.subscriptions import (
    followed_officials,
    follows_person,
    matched_officials,
    severity_of,
    wants_post,
)
from threatwatch.config import Settings
from threatwatch.db.models import Alert, AlertItem, Official, ReviewItem, Subscription, User
from threatwatch.domain import SEVERITY, AlertStatus, Label, Urgency
from threatwatch.events import Event, ItemEscalated, PersonSignalRaised, PostFlagged

logger = logging.getLogger(__name__)

URGENT_ESCALATIONS = frozenset({Urgency.HIGH.value, Urgency.CRITICAL.value})
SIGNAL = "signal"  # the trigger, kind and label of alerts on persons' signals
URGENT_SIGNALS = frozenset({"leakage"})


def _rank(label: str) -> float:
    try:
        return SEVERITY[Label(label)]
    except ValueError:
        return 0.0


def is_urgent(*, label: str, urgency: str | None) -> bool:
    """Urgent alerts ignore digests and quiet hours: every threat, and escalations marked urgent."""
    return label == Label.THREAT.value or (urgency or "").lower() in URGENT_ESCALATIONS


def _subscriptions(session: Session, *, triggers: list[str]) -> list[Subscription]:
    """Active subscriptions with one of ``triggers``; a deactivated user's fall silent with their account."""
    return list(
        session.scalars(
            select(Subscription)
            .outerjoin(User, User.id == Subscription.subscriber_user_id)
            .where(
                Subscription.active.is_(True),
                Subscription.trigger.in_(triggers),
                or_(Subscription.subscriber_user_id.is_(None), User.active.is_(True)),
            )
            .order_by(Subscription.id)
        )
    )


def _organisations(session: Session, official_ids: tuple[int, ...]) -> dict[int, str]:
    if not official_ids:
        return {}
    return {
        oid: organisation
        for oid, organisation in session.execute(
            select(Official.id, Official.organisation).where(Official.id.in_(official_ids))
        )
    }


def enqueue_alerts(*, session: Session, event: Event, settings: Settings) -> int:
    """Record the alerts ``event`` causes, in ``settings``' time zone and coalescing window; returns
    how many subscriptions it reached. Caller commits."""
    if isinstance(event, PersonSignalRaised):
        return _enqueue_signal(session=session, event=event, settings=settings)
    person_id: int | None = None
    if isinstance(event, PostFlagged):
        trigger, urgency, severity = "flagged", None, severity_of(event.label, event.score)
        person_id = event.person_id
    elif isinstance(event, ItemEscalated):
        trigger, urgency, severity = "escalated", event.urgency, 1.0
    else:  # pragma: no cover - Event is a closed union
        raise TypeError(f"not an event: {event!r}")
    if not event.official_ids and person_id is None:
        return 0
    subscriptions = _subscriptions(session, triggers=[trigger, "both"])
    if not subscriptions:
        return 0
    organisations = _organisations(session, event.official_ids)
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
        by_person = follows_person(subscription, person_id) and wants_post(
            subscription, trigger=trigger, label=event.label, severity=severity
        )
        if not officials and not by_person:
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
            official_id=officials[0] if officials else (event.official_ids or (None,))[0],
            label=event.label,
            urgent=is_urgent(label=event.label, urgency=urgency),
            key=f"i{event.review_item_id}",
            person_id=None,
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
                person_id=person_id if by_person else None,
                label=event.label,
                urgency=urgency,
                event_at=event.at,
            )
        )
        reached += 1
    session.flush()
    return reached


def _enqueue_signal(*, session: Session, event: PersonSignalRaised, settings: Settings) -> int:
    """A person's newly raised signal, to the followers of the person and of its posts' officials."""
    subscriptions = _subscriptions(session, triggers=["flagged", "both"])
    if not subscriptions:
        return 0
    organisations = _organisations(session, event.official_ids)
    details: dict[str, object] | None = None
    tz = ZoneInfo(settings.alert_timezone)
    reached = 0
    for subscription in subscriptions:
        officials = followed_officials(
            subscription, official_ids=event.official_ids, organisations=organisations
        )
        if not officials and not follows_person(subscription, event.person_id):
            continue
        already = session.scalar(
            select(AlertItem.id).where(
                AlertItem.subscription_id == subscription.id,
                AlertItem.person_id == event.person_id,
                AlertItem.signal == event.signal,
            )
        )
        if already is not None:  # told before (published again, or raised again after it dropped)
            continue
        if details is None:
            items = session.scalars(
                select(ReviewItem.id).where(ReviewItem.post_id.in_(event.post_ids)).order_by(ReviewItem.id)
            )
            details = {
                "detail": event.detail,
                "post_ids": sorted(event.post_ids),
                "review_item_ids": list(items),
            }
        alert = _alert_for(
            session,
            subscription=subscription,
            trigger=SIGNAL,
            official_id=officials[0] if officials else None,
            label=SIGNAL,
            urgent=event.signal in URGENT_SIGNALS,
            key=f"p{event.person_id}:{event.signal}",
            person_id=event.person_id,
            now=event.at,
            window=timedelta(seconds=settings.alert_coalesce_window_s),
            tz=tz,
        )
        session.add(
            AlertItem(
                alert=alert,
                subscription_id=subscription.id,
                trigger=SIGNAL,
                review_item_id=None,
                person_id=event.person_id,
                signal=event.signal,
                signal_details=details,
                label=SIGNAL,
                urgency=None,
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
    official_id: int | None,
    label: str,
    urgent: bool,
    key: str,
    person_id: int | None,
    now: datetime,
    window: timedelta,
    tz: ZoneInfo,
) -> Alert:
    """The waiting alert this event joins, or a new one (``key`` names the event in its idempotency
    key; ``person_id``: a signal, which joins a waiting alert on the same person's signals)."""
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
    elif trigger == SIGNAL and person_id is not None:
        waiting = session.scalars(
            select(Alert)
            .where(
                Alert.subscription_id == subscription.id,
                Alert.kind == SIGNAL,
                Alert.status == AlertStatus.PENDING,
                Alert.attempts == 0,
                exists().where(AlertItem.alert_id == Alert.id, AlertItem.person_id == person_id),
            )
            .order_by(Alert.id.desc())
            .limit(1)
        ).first()
        if waiting is not None and _join(session, waiting, label=label, release=release, now=now):
            return waiting
    alert = Alert(
        subscription_id=subscription.id,
        idempotency_key=f"s{subscription.id}:{kind}:{trigger}:{key}",
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
