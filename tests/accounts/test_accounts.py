"""Local accounts: argon2id hashes, authentication, API tokens and the login audit."""

from __future__ import annotations

import hashlib

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch import accounts
from threatwatch.accounts import AccountError
from threatwatch.db.models import ApiToken, AuditEvent
from threatwatch.domain import Role

PASSWORD = "correct horse battery"


def test_create_user_hashes_with_argon2id(session: Session) -> None:
    user = accounts.create_user(session, username="  Ann.Analist ", password=PASSWORD, role="analyst")
    assert (user.username, user.display_name, user.role, user.active) == (
        "ann.analist",
        "ann.analist",
        "analyst",
        True,
    )
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert accounts.get_user(session, username="ANN.ANALIST") is user


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("a", PASSWORD, Role.ANALYST, "username must be"),
        ("ann smith", PASSWORD, Role.ANALYST, "username must be"),
        ("ann", "kort", Role.ANALYST, "at least 10"),
        ("ann", "x" * 2000, Role.ANALYST, "at most"),
        ("ann", PASSWORD, "superuser", "unknown role"),
    ],
)
def test_create_user_refuses_bad_input(
    session: Session, username: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        accounts.create_user(session, username=username, password=password, role=role)
    assert accounts.list_users(session) == []


def test_duplicate_username_is_refused(session: Session) -> None:
    accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ADMIN)
    with pytest.raises(AccountError, match="already exists"):
        accounts.create_user(session, username="ANN", password=PASSWORD, role=Role.ANALYST)


def test_authenticate(session: Session) -> None:
    user = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.SUPPORT)
    assert accounts.authenticate(session, username="Ann", password=PASSWORD) is user
    assert accounts.authenticate(session, username="ann", password=PASSWORD + "!") is None
    assert accounts.authenticate(session, username="nobody", password=PASSWORD) is None
    assert accounts.authenticate(session, username="ann", password="x" * 5000) is None
    accounts.set_active(session, user=user, active=False)
    assert accounts.authenticate(session, username="ann", password=PASSWORD) is None
    accounts.set_active(session, user=user, active=True)
    accounts.set_password(session, user=user, password="een nieuw wachtwoord")
    assert accounts.authenticate(session, username="ann", password=PASSWORD) is None
    assert accounts.authenticate(session, username="ann", password="een nieuw wachtwoord") is user


def test_outdated_hash_is_upgraded_on_login(session: Session) -> None:
    user = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    assert accounts.authenticate(session, username="ann", password=PASSWORD) is user
    assert user.password_hash != weak and user.password_hash.startswith("$argon2id$")
    assert accounts.authenticate(session, username="ann", password=PASSWORD) is user


def test_api_tokens_are_stored_as_sha256_and_can_be_revoked(session: Session) -> None:
    ann = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    bob = accounts.create_user(session, username="bob", password=PASSWORD, role=Role.ANALYST)
    token = accounts.create_api_token(session, user=ann, name="nachtscript")
    other = accounts.create_api_token(session, user=bob, name="export")
    assert token.startswith("tw_") and token != other
    stored = session.scalars(select(ApiToken).where(ApiToken.user_id == ann.id)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash
    assert accounts.user_for_api_token(session, token=token) is ann
    assert accounts.user_for_api_token(session, token=other) is bob
    assert accounts.user_for_api_token(session, token=token + "x") is None
    assert accounts.user_for_api_token(session, token="not-a-token") is None
    assert [t.name for t in accounts.list_api_tokens(session, user=ann)] == ["nachtscript"]
    accounts.revoke_api_token(session, token_id=stored.id)
    assert accounts.user_for_api_token(session, token=token) is None
    assert accounts.user_for_api_token(session, token=other) is bob
    accounts.set_active(session, user=bob, active=False)
    assert accounts.user_for_api_token(session, token=other) is None
    with pytest.raises(AccountError, match="inactive"):
        accounts.create_api_token(session, user=bob, name="x")
    with pytest.raises(AccountError, match="no API token"):
        accounts.revoke_api_token(session, token_id=stored.id + 100)
    with pytest.raises(AccountError, match="name"):
        accounts.create_api_token(session, user=ann, name=" ")


def test_logins_are_audited(session: Session) -> None:
    ann = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    accounts.record_login(session, user=ann, success=True, remote="127.0.0.1")
    accounts.record_login(session, user=None, success=False, remote="10.0.0.9", username="mallory")
    session.flush()
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.actor, e.action, e.details["remote"]) for e in events] == [
        ("ann", "login", "127.0.0.1"),
        ("mallory", "login_failed", "10.0.0.9"),
    ]
    assert ann.last_login_at is not None
