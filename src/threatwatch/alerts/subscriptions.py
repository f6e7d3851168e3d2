"""Managing subscriptions: one validated spec, used by the CLI, the API and the web page alike.

A bad spec raises ``SubscriptionError`` with a message for humans and stores nothing; that includes a
webhook or Apprise target on a non-public address, unless private targets are allowed (``targets``).

A subscription follows officials (by id or organisation), persons of concern (``person_ids``:
their new flagged posts and newly raised signals, ``threatwatch.persons``), or both.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch import audit
from threatwatch.alerts.schedule import parse_hhmm
from threatwatch.alerts.status import redact_target
from threatwatch.alerts.targets import BlockedTargetError, TargetURLError, check_target, normalise_webhook_url
from threatwatch.db.models import Official, Person, Subscription, User
from threatwatch.domain import SEVERITY, Label

TRIGGERS = ("flagged", "escalated", "both")
CHANNELS = ("email", "webhook", "apprise")
MODES = ("immediate", "digest")
ALERT_LABELS = tuple(label.value for label in Label if label is not Label.NONE)
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]+={0,2}$")


class SubscriptionError(ValueError):
    """A subscription that cannot be stored as given; the message says what to fix."""


@dataclass
class SubscriptionSpec:
    """Everything a subscription says; ``subscriber_user`` is a username, ``subscriber_team`` a name."""

    name: str
    channel: str
    target: str
    subscriber_user: str | None = None
    subscriber_team: str | None = None
    official_ids: list[int] = field(default_factory=list)
    organisation: str | None = None
    person_ids: list[int] = field(default_factory=list)
    trigger: str = "both"
    min_severity: float = 0.0
    labels: list[str] = field(default_factory=list)
    webhook_secret: str | None = None
    mode: str = "immediate"
    digest_times: list[str] = field(default_factory=list)
    quiet_start: str | None = None
    quiet_end: str | None = None


def generate_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _check_target(spec: SubscriptionSpec, *, allow_private_targets: bool) -> str:
    """Refuse an unusable target; return the target to store. Messages show a URL only redacted: they
    end up in the flash cookie, which is signed, not encrypted, and a webhook or Apprise URL may carry a
    token or password.

    A webhook URL is stored as ``targets.normalise_webhook_url`` rebuilds it from the sender's own
    parse, and that form is what the SSRF check judges and the listings show, so what is checked,
    shown and contacted is one URL. Ambiguous URLs are refused whether or not private targets are
    allowed: the switch is about where alerts may go, not about guessing which host a URL means.
    """
    target = spec.target.strip()
    if spec.channel == "email":
        if not _EMAIL.match(target):
            raise SubscriptionError(f"{target!r} is not an e-mail address")
    elif spec.channel == "webhook":
        try:
            target = normalise_webhook_url(target)
        except TargetURLError as exc:
            raise SubscriptionError(str(exc)) from None
        if spec.webhook_secret is not None and not _SECRET.match(spec.webhook_secret):
            raise SubscriptionError("webhook secret must look like whsec_<base64>")
    else:
        import apprise

        if not apprise.Apprise().add(target):
            raise SubscriptionError(
                f"Apprise does not understand the URL {redact_target(spec.channel, target)!r}"
            )
    if not allow_private_targets:
        try:
            check_target(spec.channel, target)
        except BlockedTargetError as exc:
            raise SubscriptionError(str(exc)) from None
    return target


def _validate(
    session: Session, spec: SubscriptionSpec, *, allow_private_targets: bool
) -> tuple[int | None, str | None, str | None, str]:
    """Check every field; returns (user id, team, organisation, target) normalised."""
    if not spec.name.strip():
        raise SubscriptionError("a subscription needs a name")
    user_name, team = _blank_to_none(spec.subscriber_user), _blank_to_none(spec.subscriber_team)
    if (user_name is None) == (team is None):
        raise SubscriptionError("give exactly one subscriber: a user or a team")
    user_id = None
    if user_name is not None:
        user_id = session.scalar(select(User.id).where(User.username == user_name.lower()))
        if user_id is None:
            raise SubscriptionError(f"no user named {user_name!r}")
    organisation = _blank_to_none(spec.organisation)
    if not spec.official_ids and organisation is None and not spec.person_ids:
        raise SubscriptionError("choose officials or an organisation to follow, or persons")
    if spec.person_ids:
        found = set(session.scalars(select(Person.id).where(Person.id.in_(spec.person_ids))))
        absent = sorted(set(spec.person_ids) - found)
        if absent:
            raise SubscriptionError(f"no person with id {', '.join(map(str, absent))}")
    if spec.official_ids:
        known = set(session.scalars(select(Official.id).where(Official.id.in_(spec.official_ids))))
        missing = sorted(set(spec.official_ids) - known)
        if missing:
            raise SubscriptionError(f"no official with id {', '.join(map(str, missing))}")
    if organisation is not None and not session.scalar(
        select(func.count()).select_from(Official).where(Official.organisation == organisation)
    ):
        raise SubscriptionError(f"no official belongs to the organisation {organisation!r}")
    if spec.trigger not in TRIGGERS:
        raise SubscriptionError(f"trigger must be one of {', '.join(TRIGGERS)}; got {spec.trigger!r}")
    if not 0.0 <= spec.min_severity <= 1.0:
        raise SubscriptionError("min_severity must be between 0 and 1")
    unknown = sorted(set(spec.labels) - set(ALERT_LABELS))
    if unknown:
        raise SubscriptionError(f"unknown label {', '.join(unknown)}; choose from {', '.join(ALERT_LABELS)}")
    if spec.channel not in CHANNELS:
        raise SubscriptionError(f"channel must be one of {', '.join(CHANNELS)}; got {spec.channel!r}")
    target = _check_target(spec, allow_private_targets=allow_private_targets)
    if spec.mode not in MODES:
        raise SubscriptionError(f"mode must be immediate or digest; got {spec.mode!r}")
    try:
        for moment in [*spec.digest_times, spec.quiet_start or "00:00", spec.quiet_end or "00:00"]:
            parse_hhmm(moment)
    except ValueError as exc:
        raise SubscriptionError(str(exc)) from None
    if spec.mode == "digest" and not spec.digest_times:
        raise SubscriptionError("a digest needs at least one time of day (HH:MM)")
    if bool(spec.quiet_start) != bool(spec.quiet_end):
        raise SubscriptionError("quiet hours need both a start and an end")
    return user_id, team, organisation, target


def create_subscription(
    session: Session, *, spec: SubscriptionSpec, actor: str, allow_private_targets: bool
) -> Subscription:
    """Validate and add; a webhook without a secret gets a fresh one. The caller commits.

    ``allow_private_targets`` is ``Settings.alert_allow_private_targets``; every caller passes it, so
    none can forget the SSRF check by accident.
    """
    user_id, team, organisation, target = _validate(
        session, spec, allow_private_targets=allow_private_targets
    )
    secret = spec.webhook_secret
    if spec.channel == "webhook" and secret is None:
        secret = generate_webhook_secret()
    subscription = Subscription(
        name=spec.name.strip(),
        subscriber_user_id=user_id,
        subscriber_team=team,
        official_ids=sorted(set(spec.official_ids)),
        organisation=organisation,
        person_ids=sorted(set(spec.person_ids)),
        trigger=spec.trigger,
        min_severity=spec.min_severity,
        labels=sorted(set(spec.labels)),
        channel=spec.channel,
        target=target,
        webhook_secret=secret if spec.channel == "webhook" else None,
        mode=spec.mode,
        digest_times=sorted(set(spec.digest_times)),
        quiet_start=spec.quiet_start or None,
        quiet_end=spec.quiet_end or None,
        active=True,
        created_by=actor,
    )
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create_subscription",
        object_type="subscription",
        object_id=subscription.id,
        details={
            "channel": spec.channel,
            "trigger": spec.trigger,
            "person_ids": sorted(set(spec.person_ids)),
        },
    )
    return subscription


def list_subscriptions(session: Session, *, include_inactive: bool = True) -> list[Subscription]:
    stmt = select(Subscription).order_by(Subscription.id)
    if not include_inactive:
        stmt = stmt.where(Subscription.active.is_(True))
    return list(session.scalars(stmt))


def remove_subscription(session: Session, *, subscription_id: int, actor: str) -> None:
    """Delete a subscription and its alerts; raises ``SubscriptionError`` when it does not exist."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise SubscriptionError(f"no subscription with id {subscription_id}")
    session.delete(subscription)
    audit.record(
        session,
        actor=actor,
        action="remove_subscription",
        object_type="subscription",
        object_id=subscription_id,
    )


def subscriber_name(session: Session, subscription: Subscription) -> str:
    if subscription.subscriber_user_id is not None:
        user = session.get(User, subscription.subscriber_user_id)
        return f"user:{user.username}" if user else "user:?"
    return f"team:{subscription.subscriber_team}"


def matched_officials(
    subscription: Subscription,
    *,
    trigger: str,
    label: str,
    severity: float,
    official_ids: Iterable[int],
    organisations: Mapping[int, str],
) -> list[int]:
    """The event's officials this subscription follows, or [] when it does not want this event.

    ``severity`` (label weight × model score, the queue's base priority) only filters ``flagged``
    events: an analyst's escalation always passes.
    """
    if not wants_post(subscription, trigger=trigger, label=label, severity=severity):
        return []
    return followed_officials(subscription, official_ids=official_ids, organisations=organisations)


def followed_officials(
    subscription: Subscription, *, official_ids: Iterable[int], organisations: Mapping[int, str]
) -> list[int]:
    """Those of ``official_ids`` the subscription follows, by id or by organisation."""
    followed = set(subscription.official_ids)
    return sorted(
        oid
        for oid in official_ids
        if oid in followed
        or (subscription.organisation is not None and organisations.get(oid) == subscription.organisation)
    )


def wants_post(subscription: Subscription, *, trigger: str, label: str, severity: float) -> bool:
    """Whether the subscription's trigger, labels and minimum severity let a post's event through,
    whoever it is about (what ``matched_officials`` checks before it looks at the officials)."""
    if subscription.trigger not in (trigger, "both"):
        return False
    if subscription.labels and label not in subscription.labels:
        return False
    return not (trigger == "flagged" and severity < subscription.min_severity)


def follows_person(subscription: Subscription, person_id: int | None) -> bool:
    return person_id is not None and person_id in (subscription.person_ids or [])


def forget_persons(session: Session, *, person_ids: Iterable[int]) -> int:
    """Stop following persons that no longer exist (erased by retention); returns how many
    subscriptions changed. One left following nothing is kept (it matches nothing until edited)."""
    gone = set(person_ids)
    changed = 0
    if not gone:
        return 0
    for subscription in session.scalars(select(Subscription)):
        followed = list(subscription.person_ids or [])
        if gone & set(followed):
            subscription.person_ids = [p for p in followed if p not in gone]
            changed += 1
    return changed


def severity_of(label: str, score: float) -> float:
    """Label weight × model score: the same number the queue orders by (before surges)."""
    try:
        return SEVERITY[Label(label)] * score
    except ValueError:
        return 0.0


def describe_officials(subscription: Subscription, names: Mapping[int, str]) -> Sequence[str]:
    parts = [names.get(oid, f"#{oid}") for oid in subscription.official_ids]
    if subscription.organisation:
        parts.append(f"alle van {subscription.organisation}")
    parts.extend(f"persoon {pid}" for pid in subscription.person_ids or [])
    return parts
