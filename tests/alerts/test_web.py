"""The subscriptions page and its API: roles, validation, secrets shown once, failing channels."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.alerts.dispatch import dispatch
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import AuditEvent, Official, Subscription
from threatwatch.domain import Role

from ..web.conftest import app, client_as, users  # noqa: F401 (fixtures)
from .conftest import flag
from .receivers import Behaviour, WebhookReceiver

ClientAs = Callable[[Role], tuple[TestClient, str]]


def _count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Subscription)) or 0


def test_support_manages_subscriptions_on_the_page(
    session: Session,
    officials: dict[str, Official],
    client_as: ClientAs,  # noqa: F811
) -> None:
    client, csrf = client_as(Role.SUPPORT)
    page = client.get("/subscriptions")
    assert page.status_code == 200 and 'id="add-subscription"' in page.text
    assert "Johanna de Vries" in page.text  # officials to choose from

    form = {
        "csrf_token": csrf,
        "name": "Steunpunt Noordwaarde",
        "subscriber_team": "Steunpunt",
        "organisation": "Gemeente Noordwaarde",
        "trigger": "both",
        "labels": ["threat", "doxxing"],
        "channel": "webhook",
        "target": "https://hooks.noordwaarde.example/tw?token=geheim123",
        "quiet_start": "22:00",
        "quiet_end": "07:00",
    }
    created = client.post("/subscriptions", data=form, follow_redirects=True)
    assert created.status_code == 200 and "Webhook-geheim" in created.text
    [subscription] = session.scalars(select(Subscription)).all()
    assert subscription.webhook_secret and subscription.webhook_secret in created.text
    assert (subscription.organisation, subscription.labels, subscription.quiet_start) == (
        "Gemeente Noordwaarde",
        ["doxxing", "threat"],
        "22:00",
    )
    again = client.get("/subscriptions")
    assert "Steunpunt Noordwaarde" in again.text
    assert subscription.webhook_secret not in again.text and "geheim123" not in again.text  # never listed
    assert session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "create_subscription")
    )

    refused = client.post("/subscriptions", data={**form, "target": "ftp://nope"}, follow_redirects=True)
    assert "webhook URL must be http" in refused.text
    assert _count(session) == 1  # nothing stored

    removed = client.post(
        f"/subscriptions/{subscription.id}/delete", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert removed.status_code == 200 and _count(session) == 0
    assert client.post("/subscriptions/1/delete", data={}).status_code == 403  # no CSRF token


def _cookie_texts(set_cookies: list[str]) -> list[str]:
    """Each Set-Cookie header, plus every base64 part of its value decoded (the session cookie is signed
    base64 JSON: readable by anyone who holds it)."""
    texts: list[str] = []
    for header in set_cookies:
        texts.append(header)
        value = header.split(";", 1)[0].partition("=")[2].strip('"')
        for part in value.split("."):
            try:
                texts.append(
                    base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8", "replace")
                )
            except (ValueError, binascii.Error):
                continue
    return texts


def test_webhook_secret_is_shown_in_the_answer_never_in_a_cookie(
    session: Session,
    officials: dict[str, Official],
    client_as: ClientAs,  # noqa: F811
) -> None:
    client, csrf = client_as(Role.SUPPORT)
    client.get("/subscriptions")
    form = {
        "csrf_token": csrf,
        "name": "Steunpunt",
        "subscriber_team": "Steunpunt",
        "organisation": "Gemeente Noordwaarde",
        "channel": "webhook",
        "target": "https://hooks.noordwaarde.example/tw",
    }
    created = client.post("/subscriptions", data=form, follow_redirects=False)
    [subscription] = session.scalars(select(Subscription)).all()
    secret = subscription.webhook_secret
    assert secret is not None and secret.startswith("whsec_")
    # Shown once, in this very answer (no redirect, so nothing has to carry it to the next page) ...
    assert created.status_code == 200 and secret in created.text
    # ... and never written to a cookie, however encoded.
    assert created.headers.get("cache-control") == "no-store"
    assert all(
        secret not in text and secret[len("whsec_") :] not in text
        for text in _cookie_texts(created.headers.get_list("set-cookie"))
    )
    assert secret not in client.get("/subscriptions").text

    # A secret the user typed in is theirs already: a plain confirmation, no secret in the page.
    chosen = {**form, "name": "Eigen geheim", "webhook_secret": "whsec_" + "A" * 32}
    typed = client.post("/subscriptions", data=chosen, follow_redirects=True)
    assert typed.status_code == 200 and "Eigen geheim" in typed.text and "A" * 32 not in typed.text


def test_api_creates_lists_and_deletes_with_roles_enforced(
    session: Session,
    officials: dict[str, Official],
    client_as: ClientAs,  # noqa: F811
) -> None:
    admin, csrf = client_as(Role.ADMIN)
    body = {
        "name": "Kamer",
        "subscriber_user": "support1",
        "official_ids": [officials["mp"].id],
        "channel": "email",
        "target": "beveiliging@tweedekamer.example",
        "digest_times": ["08:00", "17:00"],
    }
    created = admin.post("/api/v1/subscriptions", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    out = created.json()
    assert (out["subscriber"], out["mode"], out["digest_times"]) == (
        "user:support1",
        "digest",
        ["08:00", "17:00"],
    )
    bad = admin.post(
        "/api/v1/subscriptions", json={**body, "trigger": "soms"}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status_code == 422 and "trigger must be one of" in bad.json()["detail"]
    assert [s["name"] for s in admin.get("/api/v1/subscriptions").json()] == ["Kamer"]

    analyst, _ = client_as(Role.ANALYST)
    assert analyst.get("/api/v1/subscriptions").status_code == 403
    assert analyst.get("/subscriptions").status_code == 403
    assert TestClient(analyst.app).get("/api/v1/subscriptions").status_code == 401

    assert (
        admin.delete(f"/api/v1/subscriptions/{out['id']}", headers={"X-CSRF-Token": csrf}).status_code == 204
    )
    assert (
        admin.delete(f"/api/v1/subscriptions/{out['id']}", headers={"X-CSRF-Token": csrf}).status_code == 404
    )


def test_failing_channel_is_shown_on_the_page_and_in_the_api(
    session: Session,
    officials: dict[str, Official],
    client_as: ClientAs,  # noqa: F811
    settings: Settings,
    webhook: WebhookReceiver,
) -> None:
    webhook.behaviour["/down"] = Behaviour(always_status=500)
    client, csrf = client_as(Role.SUPPORT)
    for name, path in (("Werkt", "/up"), ("Kapot", "/down")):
        body = {
            "name": name,
            "subscriber_team": "Steunpunt",
            "official_ids": [officials["mayor"].id],
            "channel": "webhook",
            "target": webhook.url(path),
        }
        assert (
            client.post("/api/v1/subscriptions", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
        )
    flag(session, official_ids=[officials["mayor"].id])
    session.commit()
    dispatch(session_factory(engine_for(settings.database_url)), settings=settings)

    page = client.get("/subscriptions")
    assert 'id="failing"' in page.text and "HTTP 500" in page.text and "Kapot" in page.text
    failures = client.get("/api/v1/alerts/failures").json()
    assert [(f["subscription"], f["last_error"]) for f in failures] == [("Kapot", "HTTP 500")]
    statuses = {a["subscription"]: a["status"] for a in client.get("/api/v1/alerts").json()}
    assert statuses == {"Werkt": "sent", "Kapot": "pending"}


def test_only_roles_that_see_persons_may_follow_them(
    session: Session,
    officials: dict[str, Official],
    client_as: ClientAs,  # noqa: F811
) -> None:
    from threatwatch.db.models import Person

    person = Person(concern=0.5, signals={}, post_count=1, flagged_count=1)
    session.add(person)
    session.commit()
    body = {
        "name": "Volg persoon",
        "subscriber_team": "Steunpunt",
        "person_ids": [person.id],
        "channel": "email",
        "target": "team@steunpunt.example",
    }
    support, support_csrf = client_as(Role.SUPPORT)
    refused = support.post("/api/v1/subscriptions", json=body, headers={"X-CSRF-Token": support_csrf})
    assert refused.status_code == 403 and "following persons" in refused.json()["detail"]
    page = support.get("/subscriptions")
    assert 'name="person_ids"' not in page.text
    form = {
        "csrf_token": support_csrf,
        "name": "x",
        "subscriber_team": "t",
        "channel": "email",
        "target": "team@steunpunt.example",
        "person_ids": str(person.id),
    }
    assert "following persons" in support.post("/subscriptions", data=form, follow_redirects=True).text
    assert _count(session) == 0

    admin, csrf = client_as(Role.ADMIN)
    assert 'name="person_ids"' in admin.get("/subscriptions").text
    created = admin.post("/api/v1/subscriptions", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201 and created.json()["person_ids"] == [person.id]
    unknown = admin.post(
        "/api/v1/subscriptions", json={**body, "person_ids": [person.id + 99]}, headers={"X-CSRF-Token": csrf}
    )
    assert unknown.status_code == 422 and "no person" in unknown.json()["detail"]
    listed = admin.get("/subscriptions").text
    assert f'href="/persons/{person.id}"' in listed
