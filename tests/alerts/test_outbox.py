"""The outbox: which events become which alerts, coalescing, idempotency, schedules (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch import events
from threatwatch.accounts import create_user
from threatwatch.alerts import SubscriptionError, SubscriptionSpec, create_subscription, enqueue_alerts
from threatwatch.alerts.schedule import in_quiet_hours, next_digest_time, quiet_hours_end
from threatwatch.config import Settings
from threatwatch.db.models import Alert, AlertItem, Official, Subscription

from .conftest import NOON, flag, make_item, subscribe

AMS = ZoneInfo("Europe/Amsterdam")


def _alerts(session: Session, subscription: Subscription) -> list[Alert]:
    session.expire_all()
    return list(
        session.scalars(select(Alert).where(Alert.subscription_id == subscription.id).order_by(Alert.id))
    )


def test_event_reaches_exactly_the_subscriptions_that_want_it(
    session: Session, officials: dict[str, Official]
) -> None:
    mayor, alderman, mp = officials["mayor"].id, officials["alderman"].id, officials["mp"].id
    by_official = subscribe(session, name="mayor", official_ids=[mayor])
    by_organisation = subscribe(session, name="town", organisation="Gemeente Noordwaarde")
    other_official = subscribe(session, name="mp", official_ids=[mp])
    only_doxxing = subscribe(session, name="dox", official_ids=[mayor], labels=["doxxing"])
    too_mild = subscribe(session, name="severe", official_ids=[mayor], min_severity=0.95)
    escalations_only = subscribe(session, name="esc", official_ids=[mayor], trigger="escalated")

    flag(session, official_ids=[mayor], label="threat", score=0.9)
    session.commit()
    assert [len(_alerts(session, s)) for s in (by_official, by_organisation)] == [1, 1]
    for silent in (other_official, only_doxxing, too_mild, escalations_only):
        assert _alerts(session, silent) == []

    # The organisation is resolved at event time: an official added later is covered too.
    newcomer = Official(name="Sanne Visser", role="raadslid", organisation="Gemeente Noordwaarde")
    session.add(newcomer)
    session.flush()
    flag(session, official_ids=[newcomer.id, alderman], label="coercion", score=0.8)
    session.commit()
    assert len(_alerts(session, by_organisation)) == 2
    assert len(_alerts(session, by_official)) == 1

    item = make_item(session, official_ids=[mayor], label="doxxing")
    events.publish(
        session,
        events.ItemEscalated(
            review_item_id=item.id,
            post_id=item.post_id,
            official_ids=(mayor,),
            label="doxxing",
            urgency="high",
            escalated_by="analist",
            at=NOON,
        ),
        settings=Settings(),
    )
    session.commit()
    escalated = _alerts(session, escalations_only)
    assert [(a.kind, a.label, a.not_before) for a in escalated] == [("escalated", "doxxing", NOON)]
    assert [a.kind for a in _alerts(session, by_official)] == ["flagged", "escalated"]


def test_outbox_rows_commit_and_roll_back_with_the_event(
    session: Session, officials: dict[str, Official]
) -> None:
    subscription = subscribe(session, official_ids=[officials["mayor"].id])
    flag(session, official_ids=[officials["mayor"].id])
    session.rollback()
    assert _alerts(session, subscription) == []
    assert session.scalar(select(func.count()).select_from(AlertItem)) == 0


def test_same_event_published_twice_is_told_once(session: Session, officials: dict[str, Official]) -> None:
    subscription = subscribe(session, official_ids=[officials["mayor"].id])
    item = flag(session, official_ids=[officials["mayor"].id])
    again = events.PostFlagged(
        review_item_id=item.id, post_id=item.post_id, official_ids=(officials["mayor"].id,),
        label="threat", score=0.9, at=NOON + timedelta(minutes=1),
    )  # fmt: skip
    events.publish(session, again, settings=Settings())
    session.commit()
    [alert] = _alerts(session, subscription)
    assert alert.item_count == 1
    assert alert.idempotency_key == f"s{subscription.id}:flagged:flagged:i{item.id}"


def test_burst_about_one_official_becomes_one_alert_that_counts(
    session: Session, officials: dict[str, Official], settings: Settings
) -> None:
    mayor, mp = officials["mayor"].id, officials["mp"].id
    subscription = subscribe(session, organisation="Gemeente Noordwaarde", official_ids=[mp])
    for i in range(50):
        flag(
            session,
            official_ids=[mayor],
            label="abuse" if i % 2 else "coercion",
            at=NOON + timedelta(seconds=i),
        )
    flag(session, official_ids=[mp], label="abuse", at=NOON)
    session.commit()
    alerts = _alerts(session, subscription)
    assert [(a.official_id, a.item_count, a.label) for a in alerts] == [
        (mayor, 50, "coercion"),
        (mp, 1, "abuse"),
    ]
    assert alerts[0].first_event_at == NOON and alerts[0].last_event_at == NOON + timedelta(seconds=49)

    # Once it went out, the next posts within the window gather in ONE follow-up, held to the window's end.
    alerts[0].status = "sent"
    session.commit()
    window = timedelta(seconds=settings.alert_coalesce_window_s)
    for i in range(5):
        flag(session, official_ids=[mayor], label="abuse", at=NOON + timedelta(minutes=1, seconds=i))
    session.commit()
    follow_up = _alerts(session, subscription)[-1]
    assert (follow_up.item_count, follow_up.not_before) == (5, NOON + window)
    # A threat is never held back: it joins the follow-up and pulls it forward to now.
    flag(session, official_ids=[mayor], label="threat", at=NOON + timedelta(minutes=2))
    session.commit()
    follow_up = _alerts(session, subscription)[-1]
    assert (follow_up.item_count, follow_up.label) == (6, "threat")
    assert follow_up.next_attempt_at == NOON + timedelta(minutes=2)
    assert len(_alerts(session, subscription)) == 3


def test_coalescing_window_is_configurable(
    session: Session, officials: dict[str, Official], settings: Settings
) -> None:
    subscription = subscribe(session, official_ids=[officials["mayor"].id])
    no_window = settings.model_copy(update={"alert_coalesce_window_s": 0})
    for i in range(3):
        item = make_item(session, official_ids=[officials["mayor"].id], label="abuse")
        event = events.PostFlagged(
            review_item_id=item.id, post_id=item.post_id, official_ids=(officials["mayor"].id,),
            label="abuse", score=0.9, at=NOON + timedelta(seconds=i),
        )  # fmt: skip
        enqueue_alerts(session=session, event=event, settings=no_window)
        session.flush()
        session.execute(Alert.__table__.update().values(status="sent"))  # each went out before the next
    session.commit()
    assert [a.item_count for a in _alerts(session, subscription)] == [1, 1, 1]
    assert all(a.not_before == a.first_event_at for a in _alerts(session, subscription))


def test_quiet_hours_hold_everything_but_threats(session: Session, officials: dict[str, Official]) -> None:
    mayor, mp = officials["mayor"].id, officials["mp"].id
    subscription = subscribe(session, official_ids=[mayor, mp], quiet_start="22:00", quiet_end="07:00")
    night = datetime(2026, 11, 24, 23, 30, tzinfo=AMS).astimezone(UTC)
    flag(session, official_ids=[mayor], label="abuse", at=night)
    flag(session, official_ids=[mp], label="threat", at=night)
    session.commit()
    held, threat = _alerts(session, subscription)
    assert held.next_attempt_at == datetime(2026, 11, 25, 7, 0, tzinfo=AMS)
    assert threat.next_attempt_at == night
    # A threat about the held official joins the held alert and releases it at once.
    flag(session, official_ids=[mayor], label="threat", at=night + timedelta(minutes=5))
    session.commit()
    held, threat = _alerts(session, subscription)
    assert (held.item_count, held.label, held.next_attempt_at) == (2, "threat", night + timedelta(minutes=5))


def test_digest_collects_until_the_next_local_digest_time(
    session: Session, officials: dict[str, Official]
) -> None:
    mayor = officials["mayor"].id
    subscription = subscribe(session, official_ids=[mayor], mode="digest", digest_times=["08:00", "17:00"])
    for minutes in (0, 30, 90):
        flag(session, official_ids=[mayor], label="coercion", at=NOON + timedelta(minutes=minutes))
    flag(session, official_ids=[mayor], label="threat", at=NOON)
    session.commit()
    digest, threat = _alerts(session, subscription)
    assert (digest.kind, digest.item_count, digest.official_id) == ("digest", 3, None)
    assert digest.not_before == datetime(2026, 11, 24, 17, 0, tzinfo=AMS)
    assert (threat.kind, threat.not_before) == ("flagged", NOON)


def test_schedule_in_local_time_across_midnight_and_daylight_saving() -> None:
    assert in_quiet_hours(
        datetime(2026, 7, 1, 21, 30, tzinfo=UTC), start="22:00", end="07:00", tz=AMS
    )  # 23:30
    assert not in_quiet_hours(datetime(2026, 7, 1, 19, 30, tzinfo=UTC), start="22:00", end="07:00", tz=AMS)
    assert not in_quiet_hours(NOON, start="08:00", end="08:00", tz=AMS)
    # The night the clocks go back (25 October 2026): 07:00 local is 06:00 UTC, not 05:00.
    assert quiet_hours_end(datetime(2026, 10, 24, 22, 0, tzinfo=UTC), end="07:00", tz=AMS) == datetime(
        2026, 10, 25, 6, 0, tzinfo=UTC
    )
    assert next_digest_time(datetime(2026, 3, 28, 18, 0, tzinfo=UTC), times=["08:00"], tz=AMS) == datetime(
        2026, 3, 29, 6, 0, tzinfo=UTC
    )  # summer time started that night


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"target": "not-an-address"}, "not an e-mail address"),
        ({"channel": "webhook", "target": "ftp://x.nl/hook"}, "webhook URL must be http"),
        ({"channel": "webhook", "target": "https://x.nl/h", "webhook_secret": "geheim"}, "whsec_"),
        ({"channel": "apprise", "target": "nonsense://x"}, "Apprise does not understand"),
        # Credentials in a refused URL are not repeated (the reason travels in the flash cookie).
        ({"channel": "apprise", "target": "nonsense://bot:s3cr3t@x/t0k3n"}, "'nonsense://x/…'"),
        ({"channel": "webhook", "target": "ftp://u:s3cr3t@x.nl/t0k3n"}, "got ftp://$"),
        ({"channel": "webhook", "target": "https://u:s3cr3t@x.nl/t0k3n"}, "user name or password"),
        ({"channel": "sms"}, "channel must be one of"),
        ({"subscriber_user": "nobody", "subscriber_team": None}, "no user named 'nobody'"),
        ({"subscriber_user": "someone"}, "exactly one subscriber"),
        ({"official_ids": [], "organisation": None}, "choose officials or an organisation"),
        ({"official_ids": [], "organisation": "Gemeente Nergens"}, "no official belongs"),
        ({"official_ids": [999999]}, "no official with id 999999"),
        ({"trigger": "always"}, "trigger must be one of"),
        ({"labels": ["threat", "spam"]}, "unknown label spam"),
        ({"min_severity": 1.5}, "between 0 and 1"),
        ({"mode": "digest"}, "at least one time of day"),
        ({"mode": "digest", "digest_times": ["8 uur"]}, "not a time of day"),
        ({"quiet_start": "22:00"}, "both a start and an end"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "not a time of day"),
    ],
)
def test_bad_subscriptions_are_refused_with_a_reason_and_store_nothing(
    session: Session, officials: dict[str, Official], fields: dict[str, object], message: str
) -> None:
    spec = {
        "name": "x",
        "subscriber_team": "Steunpunt",
        "channel": "email",
        "target": "steunpunt@noordwaarde.nl",
        "official_ids": [officials["mayor"].id],
        **fields,
    }
    with pytest.raises(SubscriptionError, match=message) as refused:
        create_subscription(
            session,
            spec=SubscriptionSpec(**spec),  # type: ignore[arg-type]
            actor="test",
            allow_private_targets=True,
        )
    assert "s3cr3t" not in str(refused.value) and "t0k3n" not in str(refused.value)
    assert session.scalar(select(func.count()).select_from(Subscription)) == 0


def test_a_deactivated_users_subscriptions_fall_silent(
    session: Session, officials: dict[str, Official]
) -> None:
    user = create_user(session, username="support9", password="een-lang-wachtwoord", role="support")
    subscription = subscribe(
        session, subscriber_team=None, subscriber_user="support9", official_ids=[officials["mp"].id]
    )
    flag(session, official_ids=[officials["mp"].id])
    user.active = False
    session.commit()
    flag(session, official_ids=[officials["mp"].id], label="doxxing")
    session.commit()
    assert [a.label for a in _alerts(session, subscription)] == ["threat"]


def test_webhook_subscription_gets_a_standard_webhooks_secret(
    session: Session, officials: dict[str, Official]
) -> None:
    subscription = subscribe(
        session, channel="webhook", target="https://hooks.example.nl/tw", official_ids=[officials["mp"].id]
    )
    assert subscription.webhook_secret is not None and subscription.webhook_secret.startswith("whsec_")
