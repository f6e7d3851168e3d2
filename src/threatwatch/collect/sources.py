"""Source records: adding them, choosing which are due, leasing them to one run, and keeping health.

Due-ness lives in ``next_poll_at``: the interval after a success, an exponential back-off after a
failure (never sooner than a server's ``Retry-After``). A run claims each source with a conditional
UPDATE on ``locked_until`` (the same statement on SQLite and PostgreSQL), so overlapping runs of the
same schedule never poll one source twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from threatwatch.db.models import Source
from threatwatch.domain import SourceKind, SourceStatus

# After this many failures in a row a source is paused with its last reason, not retried forever.
PAUSE_AFTER_FAILURES = 10


class SourceError(ValueError):
    pass


MAX_URL_LENGTH = 2000  # sources.url is a String(2000)


def normalise_source_url(url: str) -> str:
    """Accept http(s) URLs, file:// URLs and plain local paths (turned into file:// URLs).

    An http(s) URL needs a host without spaces and, if it names one, a port from 1 to 65535; a URL
    longer than the column (2000 characters) is refused rather than failing the INSERT.
    """
    if len(url) > MAX_URL_LENGTH:
        raise SourceError(f"source URL is longer than {MAX_URL_LENGTH} characters")
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        try:
            port = parsed.port
        except ValueError:
            port = 0
        if not parsed.hostname or any(c.isspace() for c in parsed.netloc) or port == 0:
            raise SourceError(f"bad source URL {url!r}: no valid host (and port)")
        return url
    if parsed.scheme == "file":
        return url
    if parsed.scheme == "" and url:
        return Path(url).resolve().as_uri()
    raise SourceError(f"unsupported source URL {url!r}: use http(s)://, file:// or a local path")


def parse_kind(value: str) -> SourceKind:
    try:
        return SourceKind(value)
    except ValueError:
        raise SourceError(
            f"unknown source kind {value!r}; one of: {', '.join(k.value for k in SourceKind)}"
        ) from None


def add_source(
    session: Session,
    *,
    url: str,
    name: str | None = None,
    kind: SourceKind | None = None,
    poll_interval_s: int,
    official_id: int | None = None,
) -> Source:
    """Add a source, or return the existing one with that URL (adding twice is harmless).

    Without ``kind`` the URL decides (news.google.com → google_news, /api/v1/timelines/tag/ → mastodon...).
    """
    from threatwatch.collect.adapters import infer_kind

    url = normalise_source_url(url)
    existing = session.scalar(select(Source).where(Source.url == url))
    if existing is not None:
        return existing
    source = Source(
        kind=(kind or infer_kind(url)).value,
        url=url,
        name=(name or urlparse(url).netloc or Path(urlparse(url).path).name)[:200],
        poll_interval_s=poll_interval_s,
        status=SourceStatus.ACTIVE.value,
        consecutive_failures=0,
        items_last_run=0,
        posts_total=0,
        official_id=official_id,
    )
    session.add(source)
    session.flush()
    return source


def due_sources(
    session: Session,
    *,
    now: datetime,
    include_not_due: bool = False,
    kinds: Collection[str] | None = None,
) -> list[Source]:
    """Active or failing sources whose next poll time has come; paused ones never are."""
    query = select(Source).where(Source.status != SourceStatus.PAUSED.value).order_by(Source.id)
    if kinds is not None:
        query = query.where(Source.kind.in_(sorted(kinds)))
    if not include_not_due:
        query = query.where(or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now))
    return list(session.scalars(query))


def new_lease_owner() -> str:
    return uuid.uuid4().hex


def claim_source(session: Session, *, source_id: int, owner: str, now: datetime, lease_s: float) -> bool:
    """Take the run lease of one source unless another run holds an unexpired one (atomic)."""
    result = session.execute(
        update(Source)
        .where(
            Source.id == source_id,
            or_(Source.locked_until.is_(None), Source.locked_until <= now, Source.lock_owner == owner),
        )
        .values(locked_until=now + timedelta(seconds=lease_s), lock_owner=owner)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def claim_sources(
    session: Session, *, source_ids: list[int], owner: str, now: datetime, lease_s: float
) -> set[int]:
    """``claim_source`` for many sources in one statement (UPDATE ... RETURNING, SQLite ≥ 3.35 and
    PostgreSQL): the ids this run now holds."""
    claimed: set[int] = set()
    for start in range(0, len(source_ids), 500):
        claimed.update(
            session.scalars(
                update(Source)
                .where(
                    Source.id.in_(source_ids[start : start + 500]),
                    or_(
                        Source.locked_until.is_(None), Source.locked_until <= now, Source.lock_owner == owner
                    ),
                )
                .values(locked_until=now + timedelta(seconds=lease_s), lock_owner=owner)
                .returning(Source.id)
                .execution_options(synchronize_session=False)
            )
        )
    return claimed


def release_source(session: Session, *, source_id: int, owner: str) -> None:
    session.execute(
        update(Source)
        .where(Source.id == source_id, Source.lock_owner == owner)
        .values(locked_until=None, lock_owner=None)
        .execution_options(synchronize_session=False)
    )


def record_success(
    *,
    source: Source,
    now: datetime,
    items: int,
    etag: str | None,
    last_modified: str | None,
    cursor: str | None = None,
) -> None:
    source.last_polled_at = now
    source.last_success_at = now
    source.consecutive_failures = 0
    source.status = SourceStatus.ACTIVE
    source.paused_reason = None
    source.items_last_run = items
    source.posts_total = (source.posts_total or 0) + items
    source.etag = etag
    source.last_modified = last_modified
    if cursor is not None:
        source.cursor = cursor
    source.next_poll_at = now + timedelta(seconds=source.poll_interval_s)


def backoff_s(*, interval_s: int, failures: int, max_backoff_s: int) -> float:
    """Interval × 2^(failures-1), capped: 1 failure waits one interval, 4 failures eight."""
    return float(min(max_backoff_s, interval_s * 2 ** min(max(failures - 1, 0), 20)))


def record_failure(
    *,
    source: Source,
    now: datetime,
    reason: str,
    retry_after_s: float | None = None,
    max_backoff_s: int = 6 * 3600,
) -> None:
    """Keep the reason, back off, and pause the source once it failed ``PAUSE_AFTER_FAILURES`` times."""
    source.last_polled_at = now
    source.last_error = reason[:2000]
    source.last_error_at = now
    source.consecutive_failures += 1
    source.items_last_run = 0
    wait = backoff_s(
        interval_s=source.poll_interval_s, failures=source.consecutive_failures, max_backoff_s=max_backoff_s
    )
    source.next_poll_at = now + timedelta(seconds=max(wait, retry_after_s or 0.0))
    if source.consecutive_failures >= PAUSE_AFTER_FAILURES:
        source.status = SourceStatus.PAUSED
        source.paused_reason = f"paused after {source.consecutive_failures} failures in a row; last: {reason}"
        source.last_error = source.paused_reason[:2000]
    else:
        source.status = SourceStatus.FAILING


def pause_source(*, source: Source, reason: str) -> None:
    source.status = SourceStatus.PAUSED
    source.paused_reason = reason[:2000]


def resume_source(*, source: Source, now: datetime) -> None:
    """Back to work at once, with a clean failure count (the last error stays visible)."""
    source.status = SourceStatus.ACTIVE
    source.paused_reason = None
    source.consecutive_failures = 0
    source.next_poll_at = now
