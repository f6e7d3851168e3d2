"""HTTP(S) and file:// fetching with the limits an internet-facing poller needs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx


class FetchError(Exception):
    """The source could not be read; ``transient`` says whether retrying soon may help."""

    def __init__(self, reason: str, *, transient: bool = False, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class FetchResult:
    """A body, or ``not_modified`` when the server (or file mtime) says nothing changed."""

    url: str
    not_modified: bool
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _fetch_file(url: str, *, last_modified: str | None, max_bytes: int) -> FetchResult:
    path = Path(unquote(urlparse(url).path))
    try:
        stat = path.stat()
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror}") from exc
    stamp = formatdate(stat.st_mtime, usegmt=True)
    if last_modified == stamp:
        return FetchResult(url=url, not_modified=True, last_modified=stamp)
    if stat.st_size > max_bytes:
        raise FetchError(f"file is {stat.st_size} bytes, over the {max_bytes}-byte limit")
    return FetchResult(url=url, not_modified=False, body=path.read_bytes(), last_modified=stamp)


def fetch_url(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int,
    deadline_s: float,
    accept: str | None = None,
) -> FetchResult:
    """GET ``url`` conditionally; never read more than ``max_bytes`` or spend more than ``deadline_s``.

    The client's own time-outs bound each read; the deadline bounds a server that trickles bytes.
    """
    if url.startswith("file://"):
        return _fetch_file(url, last_modified=last_modified, max_bytes=max_bytes)
    headers = {"Accept": accept} if accept else {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    started = time.monotonic()
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return FetchResult(
                    url=str(response.url), not_modified=True, etag=etag, last_modified=last_modified
                )
            if response.status_code in (429, 503):
                raise FetchError(
                    f"HTTP {response.status_code} (server asks to slow down)",
                    transient=True,
                    retry_after_s=_retry_after(response),
                )
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code}", transient=response.status_code >= 500)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"body of {declared} bytes is over the {max_bytes}-byte limit")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"body exceeds the {max_bytes}-byte limit")
                if time.monotonic() - started > deadline_s:
                    raise FetchError(
                        f"server too slow: body not complete after {deadline_s:.0f} s", transient=True
                    )
                chunks.append(chunk)
            return FetchResult(
                url=str(response.url),
                not_modified=False,
                body=b"".join(chunks),
                content_type=response.headers.get("content-type"),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
    except httpx.TooManyRedirects as exc:
        raise FetchError(f"too many redirects ({exc})") from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})", transient=True) from exc
    except httpx.TransportError as exc:
        raise FetchError(f"network error: {type(exc).__name__}: {exc}", transient=True) from exc
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL: {exc}") from exc


def make_client(*, timeout_s: float, max_redirects: int, user_agent: str) -> httpx.Client:
    """The client every source shares: one connection pool, bounded time-outs, a clear User-Agent."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        follow_redirects=True,
        max_redirects=max_redirects,
        headers={
            "User-Agent": user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
        },
    )


_CLIENTS: dict[tuple[float, int, str], httpx.Client] = {}
_CLIENTS_LOCK = threading.Lock()
_MAX_CLIENTS = 8


def shared_client(*, timeout_s: float, max_redirects: int, user_agent: str) -> httpx.Client:
    """One pooled client per configuration for the whole process (httpx clients are thread-safe),
    so a run of many sources reuses connections instead of building a TLS context per source.

    Built under a lock: a round's first fetches start together on every worker thread, and each would
    otherwise build (and then drop) a client of its own.
    """
    key = (timeout_s, max_redirects, user_agent)
    client = _CLIENTS.get(key)
    if client is not None:
        return client
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            if len(_CLIENTS) >= _MAX_CLIENTS:  # forget the oldest configuration; its users keep it
                del _CLIENTS[next(iter(_CLIENTS))]
            client = _CLIENTS[key] = make_client(
                timeout_s=timeout_s, max_redirects=max_redirects, user_agent=user_agent
            )
        return client


class HostLimiter:
    """At most ``limit`` requests in flight to one host, however many sources are fetched at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}

    @contextmanager
    def slot(self, url: str, *, limit: int) -> Iterator[None]:
        host = (urlparse(url).hostname or "").lower()
        with self._lock:
            semaphore = self._slots.setdefault((host, limit), threading.BoundedSemaphore(max(1, limit)))
        with semaphore:
            yield


HOST_LIMITER = HostLimiter()
