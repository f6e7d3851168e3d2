"""Failed-login throttling through the real app and database: per account and address, per client
address, a gentle per-account brake, 429 with Retry-After and a clear message, audited, lifted once the
failures leave the window or an admin unlocks the account; and never a lock-out of the real user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.models import AuditEvent, User
from threatwatch.domain import Role
from threatwatch.web import create_app

from .seed import CSRF_INPUT, PASSWORD, login

WINDOW_S = 600


def _app(settings: Settings, *, per_user: int = 3, per_address: int = 50, slowdown: int = 100) -> FastAPI:
    return create_app(
        settings.model_copy(
            update={
                "login_max_failures_per_user": per_user,
                "login_max_failures_per_address": per_address,
                "login_account_slowdown_after": slowdown,
                "login_failure_window_s": WINDOW_S,
            }
        )
    )


def _try(client: TestClient, username: str, password: str) -> Any:  # the test client's httpx response
    match = CSRF_INPUT.search(client.get("/login").text)
    assert match
    data = {"username": username, "password": password, "csrf_token": match.group(1)}
    return client.post("/login", data=data, follow_redirects=False)


def _actions(session: Session) -> list[tuple[str, str, object]]:
    session.expire_all()
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("login%")).order_by(AuditEvent.id)
    )
    return [(e.action, e.actor, e.details.get("remote")) for e in events]


def _age_failures(session: Session, seconds: float) -> None:
    """Let time pass for the throttle: move the recorded attempts into the past."""
    session.expire_all()
    for event in session.scalars(select(AuditEvent)):
        event.at -= timedelta(seconds=seconds)
    session.commit()


def test_failures_for_one_account_from_one_address_are_throttled_then_lifted(
    settings: Settings, session: Session, users: dict[Role, User]
) -> None:
    app = _app(settings, per_user=3)
    attacker = TestClient(app, client=("203.0.113.5", 5000))
    for password in ("wrong-1", "wrong-2"):
        assert _try(attacker, "analyst1", password).status_code == 401
    # Case and spaces do not make another account to guess at.
    assert _try(attacker, " Analyst1", "wrong-3").status_code == 401

    blocked = _try(attacker, "analyst1", PASSWORD)  # even the right password is not checked now
    assert blocked.status_code == 429
    retry_after = int(blocked.headers["Retry-After"])
    assert WINDOW_S - 60 < retry_after <= WINDOW_S
    assert "Te veel mislukte inlogpogingen" in blocked.text
    assert f"over {-(-retry_after // 60)} minuten" in blocked.text
    assert attacker.get("/queue", follow_redirects=False).status_code == 303  # not logged in

    english = attacker.get("/login?lang=en")
    assert english.status_code == 200
    held = _try(attacker, "admin1", "wrong-4")  # other accounts from this address are not held
    assert held.status_code == 401
    again = _try(attacker, "analyst1", "wrong-5")
    assert again.status_code == 429 and "Too many failed login attempts" in again.text

    # The account's owner, from elsewhere, is not held up: no one can lock an analyst out.
    owner = TestClient(app, client=("198.51.100.20", 6000))
    assert _try(owner, "analyst1", "typo!").status_code == 401  # checked, not refused
    assert _try(owner, "analyst1", PASSWORD).status_code == 303
    assert owner.get("/queue").status_code == 200

    assert _actions(session) == [
        ("login_failed", "analyst1", "203.0.113.5"),
        ("login_failed", "analyst1", "203.0.113.5"),
        ("login_failed", "analyst1", "203.0.113.5"),
        ("login_throttled", "analyst1", "203.0.113.5"),
        ("login_failed", "admin1", "203.0.113.5"),
        ("login_throttled", "analyst1", "203.0.113.5"),
        ("login_failed", "analyst1", "198.51.100.20"),
        ("login", "analyst1", "198.51.100.20"),
    ]
    throttled = session.scalars(select(AuditEvent).where(AuditEvent.action == "login_throttled")).first()
    assert throttled is not None and throttled.details["by"] == "account_address"

    # Throttled attempts are not failures: once the three failures are older than the window, it lifts.
    _age_failures(session, WINDOW_S + 1)
    assert _try(attacker, "analyst1", PASSWORD).status_code == 303


def test_failures_from_one_address_are_throttled_across_usernames(
    settings: Settings, session: Session, users: dict[Role, User]
) -> None:
    app = _app(settings, per_user=100, per_address=4)
    sprayer = TestClient(app, client=("203.0.113.66", 5000))
    for name in ("analyst1", "support1", "admin1", "nobody"):
        assert _try(sprayer, name, "Welkom01!").status_code == 401
    blocked = _try(sprayer, "someone-else", "Welkom01!")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert _try(sprayer, "analyst1", PASSWORD).status_code == 429
    session.expire_all()
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert last is not None and (last.action, last.details["by"]) == ("login_throttled", "address")

    # Another address is not affected; the limit does not count successes or other addresses' failures.
    colleague = TestClient(app, client=("198.51.100.21", 6000))
    assert _try(colleague, "analyst1", PASSWORD).status_code == 303

    # Half the window later the block still holds; past it, the address may try again.
    _age_failures(session, WINDOW_S / 2)
    assert _try(sprayer, "analyst1", PASSWORD).status_code == 429
    _age_failures(session, WINDOW_S / 2 + 1)
    assert _try(sprayer, "analyst1", PASSWORD).status_code == 303


def test_guessing_spread_over_many_addresses_is_slowed_without_locking_the_owner_out(
    settings: Settings, session: Session, users: dict[Role, User]
) -> None:
    """Once an account has many failures from everywhere, an address that already failed on it gets no
    second guess; a clean address, and one the owner logged in from before, are still let through."""
    app = _app(settings, per_user=5, slowdown=4)
    office = TestClient(app, client=("198.51.100.7", 6000))
    login(office, "analyst1")  # the owner's usual address: a known one
    bots = [TestClient(app, client=(f"203.0.113.{n}", 5000)) for n in range(1, 5)]
    for bot in bots:
        assert _try(bot, "analyst1", "Welkom01!").status_code == 401
    blocked = _try(bots[0], "analyst1", "Zomer2024!")  # a second guess from a dirty address: refused
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= WINDOW_S
    assert _try(bots[0], "admin1", PASSWORD).status_code == 303  # other accounts: untouched

    # A clean address with the right password gets in at once.
    laptop = TestClient(app, client=("192.0.2.44", 7000))
    assert _try(laptop, "analyst1", PASSWORD).status_code == 303
    # A clean address with a typo is told it is wrong and, now dirty, waits like the bots ...
    phone = TestClient(app, client=("192.0.2.45", 7000))
    assert _try(phone, "analyst1", "typo").status_code == 401
    assert _try(phone, "analyst1", PASSWORD).status_code == 429
    # ... but the owner's known address keeps its own, per-address allowance.
    fresh_office = TestClient(app, client=("198.51.100.7", 6001))
    assert _try(fresh_office, "analyst1", "typo").status_code == 401
    assert _try(fresh_office, "analyst1", PASSWORD).status_code == 303
    session.expire_all()
    by = session.scalars(select(AuditEvent.details).where(AuditEvent.action == "login_throttled")).all()
    assert [d["by"] for d in by] == ["account", "account"]


def test_an_admin_unlocks_an_account_on_the_users_page(
    settings: Settings, session: Session, users: dict[Role, User]
) -> None:
    app = _app(settings, per_user=3)
    owner = TestClient(app, client=("198.51.100.30", 6000))  # the owner, typing the old password
    for _ in range(3):
        assert _try(owner, "analyst1", "vorig wachtwoord").status_code == 401
    assert _try(owner, "analyst1", PASSWORD).status_code == 429

    admin = TestClient(app, client=("198.51.100.31", 6000))
    csrf = login(admin, "admin1")
    analyst_id = users[Role.ANALYST].id
    assert f'action="/users/{analyst_id}/unlock"' in admin.get("/users").text
    done = admin.post(f"/users/{analyst_id}/unlock", data={"csrf_token": csrf}, follow_redirects=True)
    assert done.status_code == 200 and "Inlogblokkade van analyst1 opgeheven." in done.text

    assert _try(owner, "analyst1", PASSWORD).status_code == 303
    session.expire_all()
    unlock = session.scalars(select(AuditEvent).where(AuditEvent.action == "unlock_login")).one()
    assert (unlock.actor, unlock.object_id, unlock.details) == (
        "admin1",
        str(analyst_id),
        {"username": "analyst1"},
    )
    # Unlocking forgets past failures only: new ones count again.
    for _ in range(3):
        assert _try(owner, "analyst1", "weer fout!").status_code == 401
    assert _try(owner, "analyst1", PASSWORD).status_code == 429


def test_a_few_failures_stay_under_the_default_limits(
    settings: Settings, session: Session, users: dict[Role, User]
) -> None:
    assert (
        settings.login_max_failures_per_user,
        settings.login_max_failures_per_address,
        settings.login_account_slowdown_after,
    ) == (5, 20, 10)
    client = TestClient(create_app(settings), client=("192.0.2.10", 7000))
    for _ in range(4):
        assert _try(client, "analyst1", "typo in it").status_code == 401
    assert _try(client, "analyst1", PASSWORD).status_code == 303
