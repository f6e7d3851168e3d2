"""API tokens for scripts: shown once, stored as SHA-256 (a token is random, so no slow hash is needed)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.accounts.users import AccountError
from threatwatch.db.models import ApiToken, User
from threatwatch.db.types import utcnow

TOKEN_PREFIX = "tw_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(session: Session, *, user: User, name: str) -> str:
    """A new token for ``user``; the plaintext is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise AccountError("a token needs a name of 1-100 characters")
    if not user.active:
        raise AccountError(f"user {user.username!r} is inactive")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token), created_at=utcnow()))
    session.flush()
    return token


def user_for_api_token(session: Session, *, token: str) -> User | None:
    """The active owner of a live token, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None), User.active.is_(True))
    )


def list_api_tokens(session: Session, *, user: User | None = None) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if user is not None:
        stmt = stmt.where(ApiToken.user_id == user.id)
    return list(session.scalars(stmt))


def revoke_api_token(session: Session, *, token_id: int, now: datetime | None = None) -> None:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise AccountError(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
