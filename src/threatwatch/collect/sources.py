"""Source records: adding them, choosing which are due, and keeping their health honest."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.db.models import Source
from threatwatch.domain import SourceKind, SourceStatus

# After this many failures in a row a source is paused with its last reason, not retried forever.
PAUSE_AFTER_FAILURES = 10


class SourceError(ValueError):
    pass


def normalise_source_url(url: str) -> str:
    """Accept http(s) URLs, file:// URLs and plain local paths (turned into file:// URLs)."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return url
    if parsed.scheme == "file":
        return url
    if parsed.scheme == "" and url:
        return Path(url).resolve().as_uri()
    raise SourceError(f"unsupported source URL {url!r}: use http(s)://, file:// or a local path")


def add_source(
    session: Session,
    *,
    url: str,
    name: str | None = None,
    kind: SourceKind = SourceKind.FEED,
    poll_interval_s: int,
) -> Source:
    """Add a source, or return the existing one with that URL (adding twice is harmless)."""
    url = normalise_source_url(url)
    existing = session.scalar(select(Source).where(Source.url == url))
    if existing is not None:
        return existing
    source = Source(
        kind=kind.value,
        url=url,
        name=name or urlparse(url).netloc or Path(urlparse(url).path).name,
        poll_interval_s=poll_interval_s,
        status=SourceStatus.ACTIVE.value,
        consecutive_failures=0,
        items_last_run=0,
    )
    session.add(source)
    session.flush()
    return source


def due_sources(session: Session, *, now: datetime, include_not_due: bool = False) -> list[Source]:
    """Sources whose interval has passed since their last poll; paused ones never are."""
    sources = session.scalars(
        select(Source).where(Source.status != SourceStatus.PAUSED.value).order_by(Source.id)
    ).all()
    if include_not_due:
        return list(sources)
    return [
        s
        for s in sources
        if s.last_polled_at is None or s.last_polled_at + timedelta(seconds=s.poll_interval_s) <= now
    ]


def record_success(
    *,
    source: Source,
    now: datetime,
    items: int,
    etag: str | None,
    last_modified: str | None,
) -> None:
    source.last_polled_at = now
    source.last_success_at = now
    source.consecutive_failures = 0
    source.status = SourceStatus.ACTIVE.value
    source.items_last_run = items
    source.etag = etag
    source.last_modified = last_modified


def record_failure(*, source: Source, now: datetime, reason: str) -> None:
    """Keep the reason; pause the source once it has failed ``PAUSE_AFTER_FAILURES`` times in a row."""
    source.last_polled_at = now
    source.last_error = reason[:2000]
    source.last_error_at = now
    source.consecutive_failures += 1
    source.items_last_run = 0
    if source.consecutive_failures >= PAUSE_AFTER_FAILURES:
        source.status = SourceStatus.PAUSED.value
        source.last_error = f"paused after {source.consecutive_failures} failures in a row; last: {reason}"[
            :2000
        ]
    else:
        source.status = SourceStatus.FAILING.value
