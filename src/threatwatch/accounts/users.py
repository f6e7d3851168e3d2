"""Local accounts: argon2id password hashes, roles, and the audit of every login attempt.

Passwords must pass ``passwords.password_problem`` (length, no common or trivially patterned password,
no username or name inside). Changing a password or deactivating an account ends all of the account's
browser sessions (``sessions``): whoever learnt the old password, or used the account before it was
switched off, is out at once.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch import audit
from threatwatch.accounts.passwords import MAX_PASSWORD_LENGTH, password_problem
from threatwatch.accounts.sessions import end_user_sessions
from threatwatch.accounts.throttle import login_name
from threatwatch.db.models import User
from threatwatch.db.types import utcnow
from threatwatch.domain import Role

logger = logging.getLogger(__name__)

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,99}$")

# argon2-cffi's defaults are argon2id with the RFC 9106 low-memory profile.
_hasher = PasswordHasher()
# Verified against when the username is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("threatwatch-dummy-password")


class AccountError(ValueError):
    """A request about accounts that cannot be honoured (bad name, weak password, unknown user...)."""


def check_password(password: str, *, username: str = "", display_name: str = "") -> None:
    """Raise ``AccountError`` naming the reason when the policy refuses ``password``."""
    problem = password_problem(password, username=username, display_name=display_name)
    if problem is not None:
        raise AccountError(problem)


def hash_password(password: str, *, username: str = "", display_name: str = "") -> str:
    check_password(password, username=username, display_name=display_name)
    return _hasher.hash(password)


def create_user(
    session: Session, *, username: str, password: str, role: Role | str, display_name: str | None = None
) -> User:
    """Add an active account; the caller commits. Usernames are lower case and unique."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise AccountError(
            "username must be 2-100 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
        )
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}") from None
    if get_user(session, username=username) is not None:
        raise AccountError(f"user {username!r} already exists")
    display_name = (display_name or username).strip()[:200]
    user = User(
        username=username,
        display_name=display_name,
        role=role.value,
        password_hash=hash_password(password, username=username, display_name=display_name),
        active=True,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    logger.info("created user %s (%s)", username, role.value)
    return user


def get_user(session: Session, *, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def set_password(
    session: Session, *, user: User, password: str, actor: str | None = None, now: datetime | None = None
) -> int:
    """A new password (policy-checked); every browser session of ``user`` ends. Audited as
    ``change_password`` when ``actor`` names who did it. Returns how many sessions ended."""
    user.password_hash = hash_password(password, username=user.username, display_name=user.display_name)
    ended = end_user_sessions(session, user=user, reason="password_changed", now=now)
    if actor is not None:
        audit.record(
            session,
            actor=actor,
            action="change_password",
            object_type="user",
            object_id=user.id,
            details={"username": user.username, "sessions_ended": ended},
        )
    return ended


def set_active(
    session: Session, *, user: User, active: bool, actor: str | None = None, now: datetime | None = None
) -> int:
    """Deactivate rather than delete: decisions and audit rows keep pointing at the person.

    Deactivating ends every browser session of the account (reactivating does not revive them: the
    person logs in again). Audited as ``activate_user``/``deactivate_user`` when ``actor`` names who did
    it. Returns how many sessions ended.
    """
    user.active = active
    ended = 0 if active else end_user_sessions(session, user=user, reason="deactivated", now=now)
    if actor is not None:
        audit.record(
            session,
            actor=actor,
            action="activate_user" if active else "deactivate_user",
            object_type="user",
            object_id=user.id,
            details={"username": user.username, "sessions_ended": ended},
        )
    return ended


def password_matches(user: User, password: str) -> bool:
    """Whether ``password`` is ``user``'s (for re-confirming it, as a password change does)."""
    if not user.password_hash or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The active user with this password, or None; a miss costs the same time as a wrong password.

    When argon2-cffi's recommended parameters have changed since the hash was made, it is rehashed.
    """
    user = get_user(session, username=username) if len(password) <= MAX_PASSWORD_LENGTH else None
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password[:MAX_PASSWORD_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or stored is _DUMMY_HASH or not user.active:
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user


def record_login(
    session: Session,
    *,
    user: User | None,
    success: bool,
    remote: str | None,
    username: str | None = None,
    now: datetime | None = None,
) -> None:
    """Audit a login attempt; ``username`` names the attempted account when no user matched (normalised
    as usernames are, so ``throttle`` counts "Alice" and "alice " as one account)."""
    name = user.username if user is not None else login_name(username or "")
    if success and user is not None:
        user.last_login_at = now or utcnow()
    audit.record(
        session,
        actor=name or "anonymous",
        action="login" if success else "login_failed",
        object_type="user",
        object_id=user.id if user is not None else None,
        details={"remote": remote, "success": success},
    )
