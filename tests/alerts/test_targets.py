"""The SSRF guard: with the default settings, webhook and Apprise targets on loopback, private, link-local
(the cloud metadata address) and other non-public addresses are refused when a subscription is made
(service, web form, API) and again at send time, where the refusal is a failed attempt that is not
retried. The other tests allow private targets (``settings`` fixture) because their receivers are on
loopback; these turn that back off.
"""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
import urllib3
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.alerts import SubscriptionError, SubscriptionSpec, create_subscription, targets
from threatwatch.alerts.channels import webhook_pool
from threatwatch.alerts.dispatch import dispatch
from threatwatch.alerts.status import redact_target
from threatwatch.alerts.targets import (
    BlockedTargetError,
    PublicOnlyPoolManager,
    non_public_reason,
    normalise_webhook_url,
)
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Alert, DeliveryAttempt, Official, Subscription
from threatwatch.domain import Role
from threatwatch.web import create_app

from ..web.conftest import client_as, users  # noqa: F401 (fixtures)
from .conftest import NOON, flag, subscribe
from .receivers import WebhookReceiver, self_signed_certificate

ClientAs = Callable[[Role], tuple[TestClient, str]]


@pytest.fixture
def guarded(alert_settings: Settings) -> Settings:
    """The production default: private targets refused."""
    return alert_settings.model_copy(update={"alert_allow_private_targets": False})


@pytest.fixture
def app(guarded: Settings) -> FastAPI:
    return create_app(guarded)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-global"),  # carrier-grade NAT
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_named(address: str, kind: str) -> None:
    reason = non_public_reason(ip_address(address))
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert non_public_reason(ip_address(address)) is None


def _spec(official: Official, channel: str, target: str) -> SubscriptionSpec:
    return SubscriptionSpec(
        name="x", subscriber_team="Steunpunt", channel=channel, target=target, official_ids=[official.id]
    )


BLOCKED_TARGETS = [
    ("webhook", "http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
    ("webhook", "http://localhost/hook", "localhost resolves to"),  # 127.0.0.1 or ::1
    ("webhook", "http://169.254.169.254/latest/meta-data/", "link-local"),
    ("webhook", "https://10.0.0.5/hook", "10.0.0.5 is a private address"),
    ("webhook", "http://[::1]:8080/hook", "::1 is a loopback address"),
    ("webhook", "http://0.0.0.0:8000/", "unspecified"),
    ("webhook", "http://[2002:7f00:1::]:8080/", "loopback"),  # 6to4 of 127.0.0.1
    ("apprise", "json://127.0.0.1:8080/x", "loopback"),
    ("apprise", "ntfy://192.168.1.10/alerts", "private"),
    ("apprise", "mailto://user:pass@example.com?smtp=10.0.0.25", "10.0.0.25 is a private address"),
]


@pytest.mark.parametrize(("channel", "target", "message"), BLOCKED_TARGETS)
def test_private_targets_are_refused_when_a_subscription_is_made(
    session: Session, officials: dict[str, Official], channel: str, target: str, message: str
) -> None:
    with pytest.raises(SubscriptionError, match="alerts may only go to public hosts") as refused:
        create_subscription(
            session,
            spec=_spec(officials["mp"], channel, target),
            actor="test",
            allow_private_targets=False,
        )
    assert message in str(refused.value)
    assert session.scalar(select(func.count()).select_from(Subscription)) == 0
    # The operator's switch lets the same target through (loopback deployments, the other tests).
    create_subscription(
        session, spec=_spec(officials["mp"], channel, target), actor="test", allow_private_targets=True
    )


AMBIGUOUS_WEBHOOK_URLS = [
    # urllib.parse (and the old listing) read example.com; urllib3, the sender, connects to 127.0.0.1.
    ("http://127.0.0.1:18999\\@example.com/", "backslash"),
    ("http://example.com\\@127.0.0.1/", "backslash"),
    ("http://%31%32%37.0.0.1:18999/", "percent-encoded"),  # urllib3 decodes it to 127.0.0.1
    ("http://ex%61mple.com/hook", "percent-encoded"),
    ("http://example.com@127.0.0.1:18999/", "user name or password"),
    ("https://user:secret@hooks.example.com/", "user name or password"),  # never sent by urllib3
    ("http://0x7f.1/", "four decimal numbers"),
    ("http://2130706433/hook", "four decimal numbers"),  # 127.0.0.1 as one number
    ("http://127.1:18999/", "four decimal numbers"),
    ("http://0177.0.0.1/", "four decimal numbers"),  # octal
    ("http://127.0.0.1./", "four decimal numbers"),
    ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped IPv6 address; write the IPv4 address 127.0.0.1"),
    ("http://exa mple.com/", "space or control character"),
    ("http://example.com:99999/", "cannot be parsed"),
]


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(("target", "reason"), AMBIGUOUS_WEBHOOK_URLS)
def test_ambiguous_webhook_urls_are_refused_with_the_reason(
    session: Session, officials: dict[str, Official], target: str, reason: str, allow_private: bool
) -> None:
    """A URL that parsers read differently is refused, not checked as one host and sent to another;
    the switch for private targets does not change that (it is about where, not about guessing)."""
    with pytest.raises(SubscriptionError, match=re.escape(reason)) as refused:
        create_subscription(
            session,
            spec=_spec(officials["mp"], "webhook", target),
            actor="test",
            allow_private_targets=allow_private,
        )
    assert "secret" not in str(refused.value)  # the URL (it may hold a token) is not repeated
    assert session.scalar(select(func.count()).select_from(Subscription)) == 0


@pytest.mark.parametrize(
    ("target", "stored", "listed"),
    [
        ("HTTPS://Hooks.Example.NL:8443/a/./b/../c?x=1#frag", "https://hooks.example.nl:8443/a/c?x=1",
         "https://hooks.example.nl:8443/…"),
        ("http://[2001:4860:4860:0:0:0:0:8888]/hook", "http://[2001:4860:4860::8888]/hook",
         "http://[2001:4860:4860::8888]/…"),
        ("https://bürgerbüro.example/hook", "https://xn--brgerbro-65af.example/hook",
         "https://xn--brgerbro-65af.example/…"),
    ],
)  # fmt: skip
def test_webhook_url_is_stored_and_listed_as_the_sender_reads_it(
    session: Session, officials: dict[str, Official], target: str, stored: str, listed: str
) -> None:
    subscription = create_subscription(
        session, spec=_spec(officials["mp"], "webhook", target), actor="test", allow_private_targets=False
    )
    assert subscription.target == stored == normalise_webhook_url(stored)
    assert redact_target("webhook", subscription.target) == listed


def test_ambiguous_webhook_url_stored_earlier_is_refused_at_send_time_and_listed_truthfully(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    """A subscription stored before the check existed goes through the same function when it is sent:
    refused for good, even with private targets allowed, and listed with the host urllib3 would contact."""
    assert alert_settings.alert_allow_private_targets
    subscription = subscribe(
        session, channel="webhook", target=webhook.url("/hook"), official_ids=[officials["mp"].id]
    )
    subscription.target = webhook.url("\\@example.com/")  # as the old check let it through
    flag(session, official_ids=[officials["mp"].id])
    session.commit()
    port = webhook.url("").rsplit(":", 1)[1]
    listed = redact_target("webhook", subscription.target)
    assert listed == f"http://127.0.0.1:{port}/… (refused: ambiguous URL)"

    sessions = session_factory(engine_for(alert_settings.database_url))
    report = dispatch(sessions, settings=alert_settings, now=lambda: NOON)
    assert (report.sent, report.gave_up) == (0, 1)
    [attempt] = _attempts(session)
    assert attempt.error is not None and attempt.error.startswith("refused: webhook URL contains a backslash")
    assert webhook.received == []


@pytest.mark.parametrize(
    ("channel", "target"),
    [
        ("webhook", "https://93.184.216.34/hook"),  # a public address
        ("webhook", "https://hooks.noordwaarde.example/tw"),  # does not resolve: reaches nothing (yet)
        ("apprise", "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"),  # a token, not a host
        ("email", "steunpunt@127.0.0.1"),  # a mailbox; the SMTP server is the operator's
    ],
)
def test_public_unresolvable_and_tokened_targets_pass(
    session: Session, officials: dict[str, Official], channel: str, target: str
) -> None:
    create_subscription(
        session, spec=_spec(officials["mp"], channel, target), actor="test", allow_private_targets=False
    )
    assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_web_form_and_api_refuse_private_targets(
    session: Session,
    officials: dict[str, Official],
    client_as: ClientAs,  # noqa: F811
) -> None:
    client, csrf = client_as(Role.SUPPORT)
    form = {
        "csrf_token": csrf,
        "name": "intern",
        "subscriber_team": "Steunpunt",
        "official_ids": [str(officials["mp"].id)],
        "channel": "webhook",
        "target": "http://169.254.169.254/latest/meta-data/iam/",
    }
    page = client.post("/subscriptions", data=form, follow_redirects=True)
    assert page.status_code == 200
    assert "169.254.169.254 is a link-local address" in page.text and "Niet opgeslagen" in page.text

    body = {
        "name": "intern",
        "subscriber_team": "Steunpunt",
        "official_ids": [officials["mp"].id],
        "channel": "apprise",
        "target": "json://localhost:9200/_bulk",
    }
    api = client.post("/api/v1/subscriptions", json=body, headers={"X-CSRF-Token": csrf})
    assert api.status_code == 422
    assert "localhost resolves to" in api.json()["detail"] and "loopback" in api.json()["detail"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Subscription)) == 0


def _attempts(session: Session) -> list[DeliveryAttempt]:
    session.expire_all()
    return list(session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


@pytest.mark.parametrize("where", ["loopback", "localhost", "metadata", "apprise"])
def test_private_targets_are_refused_at_send_time_once_and_for_all(
    session: Session,
    officials: dict[str, Official],
    guarded: Settings,
    webhook: WebhookReceiver,
    where: str,
) -> None:
    """A target that turned private after the subscription was made (DNS changed; here: it was made while
    private targets were allowed) fails at send time with the reason, and is not tried again."""
    url = webhook.url("/hook")
    channel, target = {
        "loopback": ("webhook", url),
        "localhost": ("webhook", url.replace("127.0.0.1", "localhost")),
        "metadata": ("webhook", "http://169.254.169.254/latest/meta-data/"),
        "apprise": ("apprise", url.replace("http://", "json://")),
    }[where]
    subscribe(session, channel=channel, target=target, official_ids=[officials["mp"].id])
    flag(session, official_ids=[officials["mp"].id])
    session.commit()

    sessions = session_factory(engine_for(guarded.database_url))
    report = dispatch(sessions, settings=guarded, now=lambda: NOON)
    assert (report.sent, report.failed_attempts, report.gave_up) == (0, 1, 1)
    [attempt] = _attempts(session)
    assert not attempt.ok and attempt.error is not None
    assert attempt.error.startswith("blocked: ") and "alerts may only go to public hosts" in attempt.error
    assert ("link-local" if where == "metadata" else "loopback") in attempt.error
    alert = session.scalars(select(Alert)).one()
    assert (alert.status, alert.attempts) == ("failed", 1)  # no back-off and retry
    later = dispatch(sessions, settings=guarded, now=lambda: NOON + timedelta(days=1))
    assert later.attempts == 0
    assert webhook.received == []  # nothing ever reached the receiver


def test_allowing_private_targets_delivers_to_loopback(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    """The counterpart of the test above: the switch, not something else, is what blocks."""
    assert alert_settings.alert_allow_private_targets
    subscribe(session, channel="webhook", target=webhook.url("/hook"), official_ids=[officials["mp"].id])
    flag(session, official_ids=[officials["mp"].id])
    session.commit()
    sessions = session_factory(engine_for(alert_settings.database_url))
    assert dispatch(sessions, settings=alert_settings, now=lambda: NOON).sent == 1
    assert len(webhook.accepted("/hook")) == 1


def test_the_public_only_pool_checks_every_new_connection(webhook: WebhookReceiver) -> None:
    pool = webhook_pool(2, allow_private=False)
    assert isinstance(pool, PublicOnlyPoolManager)
    for url in (webhook.url("/a"), webhook.url("/a").replace("127.0.0.1", "localhost")):
        with pytest.raises(BlockedTargetError, match="loopback"):
            pool.request("POST", url, body=b"{}", retries=False, redirect=False)
    assert webhook.received == []
    assert not isinstance(webhook_pool(2, allow_private=True), PublicOnlyPoolManager)


# --- the connection path after a passed check: it must reach the checked address and still verify TLS
# for the host's name. Loopback stands in for the internet here (the classifier is told it is public),
# since tests never leave the machine.


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """An HTTPS server on 127.0.0.1 with a certificate for ``localhost``; yields (port, CA, SNI names)."""
    cert, key = self_signed_certificate(tmp_path, dns_name="localhost")
    seen_sni: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def remember_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        seen_sni.append(str(name))

    context.sni_callback = remember_sni
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1]), cert, seen_sni
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_checked_connection_reaches_the_checked_address_and_verifies_the_name(
    tls_server: tuple[int, Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, ca, seen_sni = tls_server
    pool = PublicOnlyPoolManager(ca_certs=str(ca), cert_reqs="CERT_REQUIRED", retries=False)
    with pytest.raises(BlockedTargetError):
        pool.request("POST", f"https://localhost:{port}/", body=b"{}")

    real = targets.non_public_reason
    monkeypatch.setattr(targets, "non_public_reason", lambda a: None if a.is_loopback else real(a))
    response = pool.request("POST", f"https://localhost:{port}/", body=b"{}")
    assert response.status == 204
    assert seen_sni == ["localhost"]  # TLS went to the name, not the address it connected to
    # An address without a matching certificate name is still refused by TLS, not let through.
    with pytest.raises(urllib3.exceptions.SSLError):
        pool.request("POST", f"https://127.0.0.1:{port}/", body=b"{}")
