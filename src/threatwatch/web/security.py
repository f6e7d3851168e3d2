"""Cookie secrets, CSRF tokens and the security headers every response carries.

Sessions are Starlette's signed cookies (itsdangerous) that carry a random session id (set in ``deps``
at login); the session itself lives in the database (``accounts.sessions``), so logout and an admin's
"sign out everywhere" end it on every replica, whatever copy of the cookie is still around.
CSRF: each browser session gets a random token; every unsafe request that a cookie authenticates must
echo it (form field ``csrf_token`` or header ``X-CSRF-Token``). Requests with an ``Authorization:
Bearer`` header are authenticated by that header alone, never by cookies, so they need no CSRF token.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request, status
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threatwatch.config import Settings

logger = logging.getLogger(__name__)

SECRET_FILE = "secret_key"
SESSION_COOKIE = "tw_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CACHEABLE_PREFIXES = ("/static/", "/api/docs/assets/")  # everything else: Cache-Control: no-store

STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)


def secret_key(settings: Settings) -> str:
    """The configured key, or one generated on first use and kept (mode 0600) in the data dir."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / SECRET_FILE
    if path.is_file():
        key = path.read_text().strip()
        if key:
            return key
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    _write_private(path, key)
    logger.info("generated a session secret in %s", path)
    return key


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def csrf_token(request: Request) -> str:
    """This browser session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def verify_csrf(request: Request) -> None:
    """App-wide dependency: every unsafe request authenticated by cookie must carry the session's token."""
    if request.method in SAFE_METHODS or bearer_token(request) is not None:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(str(expected), sent):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong; reload the page")


class SecurityHeadersMiddleware:
    """Adds CSP, nosniff, no-referrer and no-framing to every response (pure ASGI: streams untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = STRICT_CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                if not path.startswith(CACHEABLE_PREFIXES) and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
