"""Server-side sessions through the real app and database: a copied cookie is worthless once its session
has ended (logout, password change, deactivation, an admin's "sign out everywhere"), on every replica."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch import accounts
from threatwatch.config import Settings
from threatwatch.db.models import AuditEvent, User, UserSession
from threatwatch.domain import Role
from threatwatch.web import create_app
from threatwatch.web.security import SESSION_COOKIE

from .seed import PASSWORD, csrf_of, login, make_item, make_source


def _copy(client: TestClient, app: FastAPI) -> TestClient:
    """Another browser (or an attacker) holding a copy of ``client``'s session cookie."""
    thief = TestClient(app)
    thief.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    return thief


def _signed_in(client: TestClient) -> bool:
    response = client.get("/api/v1/me")
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def _audit(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def test_logout_ends_the_session_for_every_copy_of_the_cookie_on_every_replica(
    settings: Settings, session: Session, users: dict[Role, User]
) -> None:
    item = make_item(session, source=make_source(session), text="We weten waar je woont.")
    session.commit()
    replica_a, replica_b = create_app(settings), create_app(settings)  # one database, one secret
    browser = TestClient(replica_a)
    csrf = login(browser, "analyst1")
    copied = _copy(browser, replica_b)
    assert _signed_in(copied)  # the copy works while the session lives, on the other replica too

    assert browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303

    assert not _signed_in(browser)
    assert not _signed_in(copied)
    assert copied.get("/queue", follow_redirects=False).status_code == 303  # to the login page
    claim = copied.post(f"/api/v1/items/{item.item_id}/claim", headers={"X-CSRF-Token": csrf})
    assert claim.status_code in (401, 403)
    logout = _audit(session, "logout")
    assert [(e.actor, e.object_id) for e in logout] == [("analyst1", str(users[Role.ANALYST].id))]
    record = session.scalars(select(UserSession)).one()
    assert record.revoked_reason == "logout" and record.revoked_at is not None


def test_the_cookie_names_a_random_session_stored_only_as_a_hash(
    app: FastAPI, session: Session, users: dict[Role, User]
) -> None:
    client = TestClient(app)
    login(client, "analyst1")
    payload = client.cookies[SESSION_COOKIE].split(".")[0]
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    session_id = data["sid"]
    assert "uid" not in data and len(session_id) >= 40
    record = session.scalars(select(UserSession)).one()
    assert record.token_hash == hashlib.sha256(session_id.encode()).hexdigest()
    assert record.user_id == users[Role.ANALYST].id and record.remote == "testclient"
    # A second login in the same browser ends the session it replaces.
    login(client, "analyst1")
    session.expire_all()
    rows = session.scalars(select(UserSession).order_by(UserSession.id)).all()
    assert [r.revoked_reason for r in rows] == ["replaced", None]


def test_sessions_expire_after_the_configured_age(
    app: FastAPI, session: Session, users: dict[Role, User], settings: Settings
) -> None:
    client = TestClient(app)
    login(client, "analyst1")
    record = session.scalars(select(UserSession)).one()
    assert record.expires_at - record.created_at == timedelta(seconds=settings.session_max_age_s)
    record.expires_at = record.created_at - timedelta(seconds=1)
    session.commit()
    assert not _signed_in(client)
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_admin_signs_a_user_out_everywhere(app: FastAPI, session: Session, users: dict[Role, User]) -> None:
    laptop, phone = TestClient(app), TestClient(app)
    login(laptop, "analyst1")
    login(phone, "analyst1")
    token = accounts.create_api_token(session, user=users[Role.ANALYST], name="script")
    session.commit()
    admin = TestClient(app)
    admin_csrf = login(admin, "admin1")
    analyst_id = users[Role.ANALYST].id
    page = admin.get("/users")
    assert f'action="/users/{analyst_id}/sign-out"' in page.text and "Overal uitloggen" in page.text

    done = admin.post(f"/users/{analyst_id}/sign-out", data={"csrf_token": admin_csrf}, follow_redirects=True)
    assert "analyst1 is overal uitgelogd (2 sessies beëindigd)." in done.text

    assert not _signed_in(laptop) and not _signed_in(phone)
    assert _signed_in(admin)  # only the one user
    # API tokens are not sessions: they stay until revoked one by one.
    assert TestClient(app).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    [event] = _audit(session, "sign_out_user")
    assert (event.actor, event.object_id, event.details) == (
        "admin1",
        str(analyst_id),
        {"username": "analyst1", "sessions_ended": 2},
    )
    # The person simply logs in again.
    login(laptop, "analyst1")
    assert _signed_in(laptop)


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(
    app: FastAPI, session: Session, users: dict[Role, User]
) -> None:
    analyst = TestClient(app)
    login(analyst, "analyst1")
    admin = TestClient(app)
    csrf = login(admin, "admin1")
    analyst_id = users[Role.ANALYST].id
    for active in ("false", "true"):
        response = admin.post(
            f"/users/{analyst_id}/active", data={"csrf_token": csrf, "active": active}, follow_redirects=False
        )
        assert response.status_code == 303
    assert not _signed_in(analyst)
    [event] = _audit(session, "deactivate_user")
    assert (event.actor, event.details["sessions_ended"]) == ("admin1", 1)
    assert len(_audit(session, "activate_user")) == 1


def test_a_password_change_ends_the_other_sessions(
    app: FastAPI, session: Session, users: dict[Role, User]
) -> None:
    here, elsewhere = TestClient(app), TestClient(app)
    csrf = login(here, "analyst1")
    login(elsewhere, "analyst1")
    new = "een heel ander wachtwoord"

    wrong = here.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": "niet mijn wachtwoord", "new_password": new},
        follow_redirects=True,
    )
    assert "Je huidige wachtwoord klopt niet." in wrong.text
    assert [e.actor for e in _audit(session, "login_failed")] == ["analyst1"]  # counted like a login

    weak = here.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": "Wachtwoord2024!"},
        follow_redirects=True,
    )
    assert "password is too common" in weak.text and "wachtwoord" in weak.text
    assert _signed_in(elsewhere)  # a refused change ends nothing

    changed = here.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": new},
        follow_redirects=True,
    )
    assert "Wachtwoord gewijzigd; 1 andere sessies beëindigd." in changed.text
    assert _signed_in(here)  # this browser got a fresh session
    assert not _signed_in(elsewhere)
    session.expire_all()
    assert accounts.authenticate(session, username="analyst1", password=PASSWORD) is None
    assert accounts.authenticate(session, username="analyst1", password=new) is not None
    [event] = _audit(session, "change_password")
    assert (event.actor, event.details["sessions_ended"]) == ("analyst1", 2)
    # The fresh session works for forms too (its CSRF token is new).
    fresh = csrf_of(here)
    assert fresh != csrf
    assert re.search(r"API-tokens", here.get("/account").text)
