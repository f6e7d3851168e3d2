"""What a request may carry, checked before anything parses it: a body size cap (anonymous callers
included, so a 100 MB body is refused before the login check reads it) and JSON text every database can
store (no lone surrogates). Numbers are bounded where they are declared (``schemas.DbId``)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The largest integer the database stores (BIGINT); ids and offsets above it are refused as 422.
MAX_DB_INT = 2**63 - 1


class BodyTooLargeError(Exception):
    pass


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string in a parsed JSON value holds a lone surrogate (``"\\ud800"``)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


class RequestLimitsMiddleware:
    """413 for a body over ``max_bytes`` (by Content-Length, or counted while it streams in); 400 for a
    JSON body with text that is not valid Unicode. The body is read once and replayed to the app."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        try:
            body = await self._read(receive)
        except BodyTooLargeError:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        if "json" in headers.get("content-type", "") and body:
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):
                parsed = None  # FastAPI answers malformed JSON itself (422)
            if has_lone_surrogate(parsed):
                await self._refuse(
                    scope,
                    receive,
                    send,
                    400,
                    "the body holds text that is not valid Unicode (a lone surrogate)",
                )
                return
        await self.app(scope, self._replay(body, receive), send)

    def _too_large(self) -> str:
        return f"request body over the {self.max_bytes}-byte limit"

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise BodyTooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        """The buffered body first; then the real channel, which reports a disconnect when it happens."""
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        await JSONResponse({"detail": detail}, status_code=status, headers={"Connection": "close"})(
            scope, receive, send
        )
