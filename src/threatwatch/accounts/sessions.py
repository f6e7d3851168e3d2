"""Browser sessions kept server-side, so that a login can be ended before its cookie expires.

The signed session cookie carries a random session id (32 bytes, like an API token: nothing to guess,
so SHA-256 suffices); the ``user_sessions`` row holds its hash, the user, and when it started, was last
seen, expires and was ended. Every cookie-authenticated request looks the row up (one indexed query,
joined with the user, in place of the user lookup a bare cookie needed), so ending a session holds at
once on every replica: they share the database. A copied cookie is worth nothing after:

- logout (that session),
- a password change (all of the user's sessions: whoever learnt the old password may hold one),
- deactivation (all; reactivating the account does not bring them back),
- an admin's "sign out everywhere" (all, audited with who signed out whom).

Expiry stays absolute: ``settings.session_max_age_s`` after the login, however active the session is,
as the signed cookie's own age limit was before. ``last_seen_at`` is written at most once a minute per
session, so a busy analyst's queue requests do not each turn into a write.

Rows are kept ``KEEP_ENDED`` past their expiry (who was signed in when, from where, for an
investigation), then removed by the next login of anyone, so the table stays at a few rows per person.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from threatwatch import audit
from threatwatch.db.models import User, UserSession
from threatwatch.db.types import utcnow

KEEP_ENDED = timedelta(days=30)
LAST_SEEN_EVERY = timedelta(seconds=60)
MAX_SESSION_ID_LENGTH = 200


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _live(now: datetime) -> list[ColumnElement[bool]]:
    return [UserSession.revoked_at.is_(None), UserSession.expires_at > now]


def start_session(
    session: Session,
    *,
    user: User,
    max_age_s: int,
    remote: str | None = None,
    replaces: str | None = None,
    now: datetime | None = None,
) -> str:
    """A new session for ``user``; returns its id (for the cookie; only the hash is stored).

    ``replaces``: the session id this browser held before (a login on top of a login ends the old one,
    so no second live session lingers behind the cookie that replaced it).
    """
    now = now or utcnow()
    if replaces:
        _end(session, token=replaces, reason="replaced", now=now)
    session.execute(delete(UserSession).where(UserSession.expires_at < now - KEEP_ENDED))
    session_id = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=_digest(session_id),
            remote=remote[:100] if remote else None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=max_age_s),
        )
    )
    session.flush()
    return session_id


def user_for_session(session: Session, *, session_id: str, now: datetime | None = None) -> User | None:
    """The active user of a live (not ended, not expired) session, or None."""
    if not session_id or len(session_id) > MAX_SESSION_ID_LENGTH:
        return None
    now = now or utcnow()
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == _digest(session_id), *_live(now), User.active.is_(True))
    ).first()
    if row is None:
        return None
    record, user = row
    if now - record.last_seen_at >= LAST_SEEN_EVERY:
        record.last_seen_at = now
    return user


def _end(session: Session, *, token: str, reason: str, now: datetime) -> UserSession | None:
    if not token or len(token) > MAX_SESSION_ID_LENGTH:
        return None
    record = session.scalar(
        select(UserSession).where(UserSession.token_hash == _digest(token), UserSession.revoked_at.is_(None))
    )
    if record is not None:
        record.revoked_at, record.revoked_reason = now, reason
    return record


def end_session(session: Session, *, session_id: str, now: datetime | None = None) -> User | None:
    """Log out: end this one session and audit it (``logout``); returns its user, None when it was not
    live (already ended, or unknown)."""
    record = _end(session, token=session_id, reason="logout", now=now or utcnow())
    if record is None:
        return None
    user = session.get(User, record.user_id)
    if user is not None:
        audit.record(
            session,
            actor=user.username,
            action="logout",
            object_type="user",
            object_id=user.id,
            details={"session": record.id},
        )
    return user


def end_user_sessions(session: Session, *, user: User, reason: str, now: datetime | None = None) -> int:
    """End every live session of ``user`` (no audit: the caller audits what caused it); returns how many."""
    now = now or utcnow()
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]  # an UPDATE's result
        update(UserSession)
        .where(UserSession.user_id == user.id, *_live(now))
        .values(revoked_at=now, revoked_reason=reason[:30])
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)


def sign_out_everywhere(session: Session, *, user: User, actor: str, now: datetime | None = None) -> int:
    """An admin ends all of ``user``'s sessions (a lost laptop, a shared screen); audited as
    ``sign_out_user`` by ``actor``. API tokens are not touched: they are revoked one by one."""
    ended = end_user_sessions(session, user=user, reason="signed_out", now=now)
    audit.record(
        session,
        actor=actor,
        action="sign_out_user",
        object_type="user",
        object_id=user.id,
        details={"username": user.username, "sessions_ended": ended},
    )
    return ended


def live_session_counts(session: Session, *, now: datetime | None = None) -> dict[int, int]:
    """Live sessions per user id (users without one are left out)."""
    now = now or utcnow()
    rows = session.execute(
        select(UserSession.user_id, func.count()).where(*_live(now)).group_by(UserSession.user_id)
    )
    return {user_id: count for user_id, count in rows}
