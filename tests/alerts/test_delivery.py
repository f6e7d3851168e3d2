"""Delivering alerts to real loopback receivers: webhook, SMTP, Apprise; retries, time-outs, concurrency."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from threatwatch.alerts.dispatch import DispatchReport, dispatch
from threatwatch.alerts.status import failing_channels, list_alerts, retry_failed
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Alert, DeliveryAttempt, Official

from .conftest import NOON, flag, subscribe
from .receivers import Behaviour, SmtpServer, WebhookReceiver, self_signed_certificate


class Clock:
    """Injected time: moves past back-offs without sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _run(settings: Settings, clock: Clock, worker: str = "test") -> DispatchReport:
    return dispatch(
        session_factory(engine_for(settings.database_url)), settings=settings, worker=worker, now=clock
    )


def _attempts(session: Session, alert_id: int) -> list[DeliveryAttempt]:
    session.expire_all()
    return list(
        session.scalars(
            select(DeliveryAttempt).where(DeliveryAttempt.alert_id == alert_id).order_by(DeliveryAttempt.id)
        )
    )


def test_webhook_is_signed_per_standard_webhooks_and_minimal(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    mayor = officials["mayor"]
    subscription = subscribe(session, channel="webhook", target=webhook.url("/hook"), official_ids=[mayor.id])
    item = flag(session, official_ids=[mayor.id], label="threat", text="Ik weet waar je woont, Johanna.")
    session.commit()

    assert _run(alert_settings, Clock(NOON)).sent == 1
    [received] = webhook.accepted("/hook")
    # An independent verifier (the standardwebhooks package) accepts the signature ...
    assert subscription.webhook_secret is not None
    verifier = Webhook(subscription.webhook_secret)
    payload = verifier.verify(received.body, received.headers)
    assert received.headers["webhook-signature"].startswith("v1,")
    assert abs(int(received.headers["webhook-timestamp"]) - time.time()) < 60
    # ... and refuses a tampered body or another secret.
    with pytest.raises(Exception, match=r"(?i)signature"):
        verifier.verify(received.body.replace(b"threat", b"abuse"), received.headers)
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook("whsec_" + "QUJD" * 8).verify(received.body, received.headers)

    assert payload["type"] == "alert.flagged"
    data = payload["data"]
    assert (data["label"], data["item_count"], data["officials"][0]["name"]) == ("threat", 1, mayor.name)
    assert data["items"][0]["url"] == f"https://threatwatch.example.nl/items/{item.id}"
    assert "woont" not in received.body.decode()  # no post text by default
    assert received.headers["webhook-id"] == f"msg_{data['idempotency_key']}"


def test_email_is_multipart_dutch_minimal_and_links_back(
    session: Session, officials: dict[str, Official], alert_settings: Settings, smtp: SmtpServer
) -> None:
    mayor = officials["mayor"]
    subscribe(session, channel="email", target="steunpunt@noordwaarde.nl", official_ids=[mayor.id])
    items = [
        flag(session, official_ids=[mayor.id], label=label, text="Ik weet waar je woont.")
        for label in ("coercion", "threat", "abuse")
    ]
    session.commit()
    settings = alert_settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_username": "steunpunt",
            "smtp_password": "geheim-wachtwoord",
            "smtp_from": "alerts@threatwatch.example.nl",
        }
    )
    assert _run(settings, Clock(NOON)).sent == 1
    [(sender, recipients, email)] = smtp.inbox.messages
    assert (sender, recipients) == ("alerts@threatwatch.example.nl", ["steunpunt@noordwaarde.nl"])
    assert email.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in email.iter_parts()] == ["text/plain", "text/html"]
    assert (
        email["Subject"].strip() == "[threatwatch] Gemarkeerd: bedreiging - 3 berichten over Johanna de Vries"
    )
    text = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "threatwatch heeft 3 berichten gemarkeerd" in text
    assert "Johanna de Vries (burgemeester, Gemeente Noordwaarde)" in text
    assert "bedreiging: 1, dwang: 1, belediging: 1" in text
    assert "24-11-2026 14:00" in text  # 13:00 UTC in Amsterdam time
    for item in items:
        assert f"https://threatwatch.example.nl/items/{item.id}" in text
        assert f'<a href="https://threatwatch.example.nl/items/{item.id}">' in html
    assert "woont" not in text and "woont" not in html


def test_email_over_starttls_with_auth_and_a_verified_certificate(
    session: Session, officials: dict[str, Official], alert_settings: Settings, tmp_path: Path
) -> None:
    subscribe(session, channel="email", target="a@b.nl", official_ids=[officials["mp"].id])
    flag(session, official_ids=[officials["mp"].id])
    session.commit()
    cert, key = self_signed_certificate(tmp_path)
    with SmtpServer(credentials=("steunpunt", "geheim-wachtwoord"), tls=(cert, key)) as smtp:
        base = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_username": "steunpunt"}
        settings = alert_settings.model_copy(update={**base, "smtp_password": "geheim-wachtwoord"})
        # Without STARTTLS the server refuses; with it but an unknown CA the certificate check refuses.
        assert _run(settings, Clock(NOON)).failed_attempts == 1
        starttls = settings.model_copy(update={"smtp_security": "starttls"})
        clock = Clock(NOON + timedelta(minutes=1))
        assert _run(starttls, clock).failed_attempts == 1
        assert "CERTIFICATE_VERIFY_FAILED" in (list_alerts(session)[0].last_error or "")
        clock.now += timedelta(minutes=5)
        assert _run(starttls.model_copy(update={"smtp_ca_file": str(cert)}), clock).sent == 1
    [(_, recipients, email)] = smtp.inbox.messages
    assert recipients == ["a@b.nl"] and "Pieter Bakker" in email["Subject"]


def test_wrong_smtp_password_is_a_recorded_failure(
    session: Session, officials: dict[str, Official], alert_settings: Settings, smtp: SmtpServer
) -> None:
    subscribe(session, channel="email", target="a@b.nl", official_ids=[officials["mp"].id])
    flag(session, official_ids=[officials["mp"].id])
    session.commit()
    settings = alert_settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_username": "steunpunt",
            "smtp_password": "x",
        }
    )
    report = _run(settings, Clock(NOON))
    assert (report.sent, report.failed_attempts) == (0, 1)
    [alert] = list_alerts(session)
    # aiosmtpd answers 535 and then stalls smtplib's next mechanism: a time-out, recorded as a failure.
    assert alert.status == "pending" and (alert.last_error or "").startswith("SMTP")
    assert smtp.inbox.messages == []


def test_receiver_that_fails_then_recovers_gets_the_alert_once(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    webhook.behaviour["/flaky"] = Behaviour(fail_first=2)
    subscribe(session, channel="webhook", target=webhook.url("/flaky"), official_ids=[officials["mp"].id])
    flag(session, official_ids=[officials["mp"].id])
    session.commit()
    clock = Clock(NOON)

    assert _run(alert_settings, clock).failed_attempts == 1
    [alert] = session.scalars(select(Alert)).all()
    assert alert.next_attempt_at == NOON + timedelta(seconds=10)  # back-off: base ...
    assert _run(alert_settings, clock).attempts == 0  # not due yet: nothing is sent
    clock.now += timedelta(seconds=10)
    assert _run(alert_settings, clock).failed_attempts == 1
    session.refresh(alert)
    assert alert.next_attempt_at == clock.now + timedelta(seconds=20)  # ... then doubled
    clock.now += timedelta(seconds=20)
    assert _run(alert_settings, clock).sent == 1
    clock.now += timedelta(hours=1)
    assert _run(alert_settings, clock).attempts == 0  # sent alerts are never sent again

    assert len(webhook.accepted("/flaky")) == 1
    assert [r.status for r in webhook.received] == [503, 503, 200]
    assert len({r.headers["webhook-id"] for r in webhook.received}) == 1
    attempts = _attempts(session, alert.id)
    assert [(a.attempt, a.ok, a.status_code) for a in attempts] == [
        (1, False, 503),
        (2, False, 503),
        (3, True, 200),
    ]


def test_hanging_receiver_times_out_and_the_retry_delivers(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    webhook.behaviour["/slow"] = Behaviour(hang_first=1, hang_s=4.0)
    subscribe(session, channel="webhook", target=webhook.url("/slow"), official_ids=[officials["mp"].id])
    flag(session, official_ids=[officials["mp"].id])
    session.commit()
    clock = Clock(NOON)

    started = time.monotonic()
    assert _run(alert_settings, clock).failed_attempts == 1
    assert time.monotonic() - started < 3.5  # the 1 s channel time-out, not the receiver's 4 s
    clock.now += timedelta(seconds=10)
    assert _run(alert_settings, clock).sent == 1
    [alert] = session.scalars(select(Alert)).all()
    attempts = _attempts(session, alert.id)
    assert [a.ok for a in attempts] == [False, True]
    assert "timed out" in (attempts[0].error or "")
    with webhook.arrived:  # the hung request finishes later; receivers drop it by its webhook id
        webhook.arrived.wait_for(lambda: len(webhook.received) == 2, timeout=8)
    assert len({r.headers["webhook-id"] for r in webhook.received}) == 1


def test_apprise_json_target_receives_the_alert(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    target = webhook.url("/apprise").replace("http://", "json://")
    subscribe(session, channel="apprise", target=target, official_ids=[officials["mp"].id])
    flag(session, official_ids=[officials["mp"].id], label="doxxing")
    session.commit()
    assert _run(alert_settings, Clock(NOON)).sent == 1
    [received] = webhook.accepted("/apprise")
    body = json.loads(received.body)
    assert (
        body["title"]
        == "[threatwatch] Gemarkeerd: doxing (persoonsgegevens gedeeld) - 1 bericht over Pieter Bakker"
    )
    assert "Pieter Bakker (Tweede Kamerlid, Tweede Kamer)" in body["message"]


def test_failing_channel_is_visible_and_never_holds_up_the_others(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    mp = officials["mp"].id
    webhook.behaviour["/hang"] = Behaviour(hang_first=99, hang_s=3.0)
    webhook.behaviour["/broken"] = Behaviour(always_status=500)
    subscribe(session, name="hangs", channel="webhook", target=webhook.url("/hang"), official_ids=[mp])
    subscribe(session, name="broken", channel="webhook", target=webhook.url("/broken"), official_ids=[mp])
    subscribe(session, name="good", channel="webhook", target=webhook.url("/good"), official_ids=[mp])
    flag(session, official_ids=[mp])
    session.commit()
    clock = Clock(NOON)

    report = _run(alert_settings, clock)
    assert (report.sent, report.failed_attempts) == (1, 2)
    [good] = webhook.accepted("/good")
    # The good channel's alert arrived while the hanging one was still waiting out its 1 s time-out.
    [hung] = [a for a in session.scalars(select(DeliveryAttempt)) if a.error and "timed out" in a.error]
    assert hung.duration_ms >= 1000
    assert good.at < hung.started_at.timestamp() + hung.duration_ms / 1000
    for _ in range(2):  # give the broken channels their remaining attempts
        clock.now += timedelta(minutes=5)
        _run(alert_settings, clock)
    health = {h.subscription: h for h in failing_channels(session)}
    assert set(health) == {"hangs", "broken"}
    assert (health["broken"].gave_up, health["broken"].last_error) == (1, "HTTP 500")
    assert "timed out" in (health["hangs"].last_error or "")
    assert health["broken"].target.endswith("/…")  # tokens in URLs are not shown
    statuses = [(a.subscription, a.status, a.attempts, a.last_error) for a in list_alerts(session)]
    assert {s[1] for s in statuses} == {"sent", "failed"}, statuses

    # Once the channel is fixed, an operator queues what was given up on again (`alerts retry`).
    webhook.behaviour["/broken"] = Behaviour()
    broken_id = next(h.subscription_id for h in health.values() if h.subscription == "broken")
    assert retry_failed(session, now=clock.now, subscription_id=broken_id) == 1
    session.commit()
    assert _run(alert_settings, clock).sent == 1
    assert {h.subscription for h in failing_channels(session)} == {"hangs"}


def test_concurrent_dispatchers_never_send_an_alert_twice(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    subscriptions = [
        subscribe(session, name=f"s{i}", channel="webhook", target=webhook.url(f"/c{i}"), official_ids=[o.id])
        for i, o in enumerate(officials.values())
    ]
    for _ in range(40):
        for official in officials.values():
            flag(session, official_ids=[official.id])
        session.execute(Alert.__table__.update().values(status="sent"))  # no coalescing: one alert per post
    session.execute(Alert.__table__.update().values(status="pending"))
    session.commit()
    total = 40 * len(officials)
    settings = alert_settings.model_copy(
        update={"alert_dispatch_workers": 4, "alert_coalesce_window_s": 0, "alert_channel_timeout_s": 5.0}
    )
    reports: list[DispatchReport] = []
    clock = Clock(NOON + timedelta(hours=1))
    threads = [
        threading.Thread(target=lambda w=w: reports.append(_run(settings, clock, worker=f"w{w}")))
        for w in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A delivery that timed out on a loaded machine is retried later; that retry must not duplicate either.
    reports.append(_run(settings, Clock(NOON + timedelta(hours=3)), worker="sweep"))
    ids = Counter(r.headers["webhook-id"] for r in webhook.accepted())
    assert len(ids) == total  # every alert arrived
    # No alert was claimed by two dispatchers: each has exactly one successful attempt. A receiver may
    # still see one twice when a send timed out after it arrived (webhooks are at-least-once; the
    # retry carries the same webhook-id, which receivers deduplicate on): only as often as an attempt
    # failed.
    session.expire_all()
    attempts = session.execute(select(DeliveryAttempt.alert_id, DeliveryAttempt.ok)).all()
    successes = Counter(alert_id for alert_id, ok in attempts if ok)
    assert len(successes) == total and set(successes.values()) == {1}
    failed = sum(1 for _, ok in attempts if not ok)
    assert sum(count - 1 for count in ids.values()) <= failed
    assert sum(r.sent for r in reports) == total
    assert sum(1 for r in reports if r.sent) >= 2  # the work was really shared
    assert len(subscriptions) == 3


def test_concurrent_failures_are_each_recorded_on_the_alert_that_caused_them(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    """One dispatch run sends many alerts at once; each failed alert keeps its own channel's error (not
    a line another send logged meanwhile), and a host that does not resolve says so, not "timed out"."""
    mp = officials["mp"].id
    base = webhook.url("").replace("http://", "json://")
    statuses = [500, 502, 503, 404, 418, 410]
    for status in statuses:  # answered slowly, so these failures overlap with the other sends
        webhook.behaviour[f"/broken-{status}"] = Behaviour(hang_first=1, hang_s=0.2, always_status=status)
        subscribe(
            session,
            name=f"status {status}",
            channel="apprise",
            target=f"{base}/broken-{status}",
            official_ids=[mp],
        )
    for i in range(6):
        target = f"json://nowhere-{i}.invalid/"
        subscribe(session, name=f"nowhere {i}", channel="apprise", target=target, official_ids=[mp])
        subscribe(session, name=f"good {i}", channel="apprise", target=f"{base}/good-{i}", official_ids=[mp])
    target = "http://nowhere-hook.invalid/h"
    subscribe(session, name="nowhere hook", channel="webhook", target=target, official_ids=[mp])
    flag(session, official_ids=[mp])
    session.commit()
    settings = alert_settings.model_copy(update={"alert_dispatch_workers": 16})

    report = _run(settings, Clock(NOON))
    assert (report.sent, report.failed_attempts) == (6, 13)
    errors = {row.subscription: row.last_error or "" for row in list_alerts(session)}
    assert all(errors[f"good {i}"] == "" for i in range(6)), errors
    assert len(webhook.accepted()) == 6
    for status in statuses:
        error = errors[f"status {status}"]
        assert f"error={status}" in error and "invalid" not in error, errors
        assert not any(f"error={other}" in error for other in statuses if other != status), errors
    for i in range(6):
        assert errors[f"nowhere {i}"].startswith(f"could not resolve host nowhere-{i}.invalid: "), errors
    assert errors["nowhere hook"].startswith("could not resolve host nowhere-hook.invalid: "), errors
