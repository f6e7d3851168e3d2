"""Alerts on persons of concern, delivered to real loopback receivers: a followed person's flagged post,
a newly raised signal (to followers of the person and of the officials it concerns), once per
subscription, person and signal; coalescing, quiet hours and digests as for any alert."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from threatwatch import events
from threatwatch.alerts import SubscriptionError
from threatwatch.alerts.dispatch import DispatchReport, dispatch
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Alert, AlertItem, Author, AuthorName, Official, Person, Post, ReviewItem

from .conftest import NOON, make_item, subscribe
from .receivers import WebhookReceiver


def _run(settings: Settings, at: datetime) -> DispatchReport:
    return dispatch(
        session_factory(engine_for(settings.database_url)), settings=settings, worker="t", now=lambda: at
    )


def _person(session: Session, *items: ReviewItem, handle: str = "@dreiger@social.example") -> Person:
    person = Person(concern=0.5, signals={}, post_count=len(items), flagged_count=len(items))
    session.add(person)
    session.flush()
    author = Author(person_id=person.id, platform="mastodon", handle=handle)
    session.add(author)
    session.flush()
    session.add(AuthorName(author_id=author.id, name="Dirk Dreiger"))
    for item in items:
        session.get(Post, item.post_id).author_id = author.id  # type: ignore[union-attr]
    session.flush()
    return person


def _flagged(session: Session, item: ReviewItem, person: Person, officials: list[int], label: str) -> None:
    events.publish(
        session,
        events.PostFlagged(
            review_item_id=item.id,
            post_id=item.post_id,
            official_ids=tuple(officials),
            label=label,
            score=0.9,
            at=NOON,
            person_id=person.id,
        ),
        settings=Settings(),
    )


def _signal(
    session: Session,
    person: Person,
    name: str,
    items: list[ReviewItem],
    officials: list[int],
    at: datetime = NOON,
) -> None:
    events.publish(
        session,
        events.PersonSignalRaised(
            person_id=person.id,
            signal=name,
            detail=f"{name} detail",
            post_ids=tuple(i.post_id for i in items),
            official_ids=tuple(officials),
            at=at,
        ),
        settings=Settings(),
    )


def test_a_followed_persons_flagged_post_alerts_even_about_an_unfollowed_official(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    mayor, mp = officials["mayor"], officials["mp"]
    item = make_item(session, official_ids=[mp.id], label="threat", text="Ik weet waar je woont.")
    abuse = make_item(session, official_ids=[mp.id], label="abuse")
    person = _person(session, item, abuse)
    follower = subscribe(
        session,
        name="volg",
        channel="webhook",
        target=webhook.url("/p"),
        official_ids=[mayor.id],
        person_ids=[person.id],
    )
    only_threats = subscribe(
        session,
        name="drempel",
        channel="webhook",
        target=webhook.url("/t"),
        person_ids=[person.id],
        labels=["threat"],
    )
    subscribe(
        session, name="burgemeester", channel="webhook", target=webhook.url("/m"), official_ids=[mayor.id]
    )
    _flagged(session, item, person, [mp.id], "threat")
    _flagged(session, item, person, [mp.id], "threat")  # published again: nothing new
    _flagged(session, abuse, person, [mp.id], "abuse")
    session.commit()

    items = session.scalars(select(AlertItem).order_by(AlertItem.id)).all()
    assert [(i.subscription_id, i.review_item_id, i.person_id) for i in items] == [
        (follower.id, item.id, person.id),
        (only_threats.id, item.id, person.id),
        (follower.id, abuse.id, person.id),
    ]
    assert _run(alert_settings, NOON).sent == 2  # the follower's two posts coalesce into one alert
    [received] = webhook.accepted("/p")
    assert follower.webhook_secret is not None
    data = Webhook(follower.webhook_secret).verify(received.body, received.headers)["data"]
    assert data["item_count"] == 2 and data["officials"][0]["name"] == mp.name
    assert {i["person_id"] for i in data["items"]} == {person.id}
    body = received.body.decode()
    assert "woont" not in body and "Dirk Dreiger" not in body  # no text, no display name
    assert len(webhook.accepted("/t")) == 1 and not webhook.accepted("/m")


def test_a_raised_signal_alerts_followers_of_the_person_and_of_the_official_once(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    mayor, mp = officials["mayor"], officials["mp"]
    items = [make_item(session, official_ids=[mayor.id], label="threat") for _ in range(3)]
    person = _person(session, *items)
    other = _person(session, handle="@ander@social.example")
    by_person = subscribe(
        session, name="p", channel="webhook", target=webhook.url("/p"), person_ids=[person.id]
    )
    by_official = subscribe(
        session, name="o", channel="webhook", target=webhook.url("/o"), organisation=mayor.organisation
    )
    subscribe(
        session,
        name="e",
        channel="webhook",
        target=webhook.url("/e"),
        official_ids=[mayor.id],
        trigger="escalated",
    )
    subscribe(session, name="mp", channel="webhook", target=webhook.url("/mp"), official_ids=[mp.id])
    subscribe(session, name="x", channel="webhook", target=webhook.url("/x"), person_ids=[other.id])
    _signal(session, person, "escalation", items, [mayor.id])
    _signal(session, person, "fixation", items, [mayor.id])  # raised together: joins the same alert
    _signal(session, person, "escalation", items, [mayor.id], at=NOON + timedelta(days=3))  # told already
    session.commit()

    signal_items = session.scalars(select(AlertItem).where(AlertItem.trigger == "signal")).all()
    assert sorted((i.subscription_id, i.signal) for i in signal_items) == sorted(
        [(s, n) for s in (by_person.id, by_official.id) for n in ("escalation", "fixation")]
    )
    for signal_item in signal_items:
        assert signal_item.signal_details is not None
        assert signal_item.signal_details["review_item_ids"] == [x.id for x in items]
    assert session.scalar(select(Alert.kind).where(Alert.subscription_id == by_person.id)) == "signal"

    assert _run(alert_settings, NOON).sent == 2
    for path, subscription in (("/p", by_person), ("/o", by_official)):
        [received] = webhook.accepted(path)
        assert subscription.webhook_secret is not None
        payload = Webhook(subscription.webhook_secret).verify(received.body, received.headers)
        assert payload["type"] == "alert.signal"
        [about] = payload["data"]["persons"]
        assert about["person_id"] == person.id and about["accounts"] == ["@dreiger@social.example (mastodon)"]
        assert about["url"] == f"https://threatwatch.example.nl/persons/{person.id}"
        assert [s["signal"] for s in about["signals"]] == ["escalation", "fixation"]
        assert about["signals"][0]["item_urls"] == [
            f"https://threatwatch.example.nl/items/{i.id}" for i in items
        ]
        assert "Dirk Dreiger" not in received.body.decode()
    assert not any(webhook.accepted(p) for p in ("/e", "/mp", "/x"))

    _signal(session, person, "fixation", items, [mayor.id], at=NOON + timedelta(days=5))
    session.commit()
    assert _run(alert_settings, NOON + timedelta(days=5)).sent == 0  # never the same signal twice


def test_signal_messages_say_what_happened_and_respect_quiet_hours_except_leakage(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    from threatwatch.alerts.messages import build_message, load_alerts

    mayor = officials["mayor"]
    items = [make_item(session, official_ids=[mayor.id], label="threat") for _ in range(2)]
    person = _person(session, *items)
    night = NOON.replace(hour=23)  # midnight in Amsterdam
    quiet = subscribe(
        session,
        name="stil",
        channel="webhook",
        target=webhook.url("/q"),
        person_ids=[person.id],
        quiet_start="22:00",
        quiet_end="07:00",
    )
    _signal(session, person, "persistence", items, [mayor.id], at=night)
    _signal(session, person, "leakage", items[1:], [mayor.id], at=night)
    session.commit()

    alerts = session.scalars(select(Alert).where(Alert.subscription_id == quiet.id)).all()
    # The leakage joins the waiting alert and pulls it forward: a weapon, time or place is urgent.
    assert len(alerts) == 1 and alerts[0].next_attempt_at == night
    [alert] = load_alerts(session, [alerts[0].id])
    message = build_message(alert, settings=alert_settings)
    assert message.subject == f"[threatwatch] Signaal: leakage, persistence bij persoon {person.id}"
    assert (
        f"Persoon {person.id} (accounts: @dreiger@social.example (mastodon)) heeft een nieuw signaal"
        in message.text
    )
    assert "leakage: leakage detail (1 berichten" in message.text
    assert "geen vaststelling" in message.text
    assert f'<a href="https://threatwatch.example.nl/persons/{person.id}">' in message.html
    assert _run(alert_settings, night).sent == 1


def test_a_signal_joins_a_digest_with_the_flagged_posts(
    session: Session, officials: dict[str, Official], alert_settings: Settings
) -> None:
    from threatwatch.alerts.messages import build_message, load_alerts

    mayor = officials["mayor"]
    item = make_item(session, official_ids=[mayor.id], label="abuse")
    person = _person(session, item)
    digest = subscribe(
        session,
        name="dag",
        person_ids=[person.id],
        official_ids=[mayor.id],
        mode="digest",
        digest_times=["08:00"],
    )
    _flagged(session, item, person, [mayor.id], "abuse")
    _signal(session, person, "persistence", [item], [mayor.id])
    session.commit()
    [alert] = session.scalars(select(Alert).where(Alert.subscription_id == digest.id)).all()
    assert alert.kind == "digest" and alert.item_count == 2
    [loaded] = load_alerts(session, [alert.id])
    text = build_message(loaded, settings=alert_settings).text
    assert "Overzicht: 1 bericht" in text and "Geschreven door een persoon die u volgt" in text
    assert f"Persoon {person.id} (accounts:" in text and "persistence: persistence detail" in text


def test_following_persons_is_validated(session: Session, officials: dict[str, Official]) -> None:
    with pytest.raises(SubscriptionError, match="no person with id 424242"):
        subscribe(session, person_ids=[424242])
    session.rollback()
    item = make_item(session, official_ids=[officials["mayor"].id])
    person = _person(session, item)
    session.commit()
    created = subscribe(session, person_ids=[person.id, person.id])
    assert created.person_ids == [person.id] and created.official_ids == []
