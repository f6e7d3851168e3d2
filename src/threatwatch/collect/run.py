"""One poll of one source, as plain functions the flow composes and tests call directly."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.fetch import FetchError, FetchResult, fetch_url, make_client
from threatwatch.collect.parse import FeedError, parse_feed
from threatwatch.collect.sources import record_failure, record_success
from threatwatch.collect.store import store_entries
from threatwatch.config import Settings
from threatwatch.db.models import Official, Source
from threatwatch.watchlist.matching import OfficialMatcher, OfficialRef

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceSnapshot:
    """What a fetch needs to know about a source, detached from any session."""

    id: int
    url: str
    etag: str | None
    last_modified: str | None

    @classmethod
    def of(cls, source: Source) -> SourceSnapshot:
        return cls(id=source.id, url=source.url, etag=source.etag, last_modified=source.last_modified)


@dataclass(frozen=True)
class FetchOutcome:
    """A fetch's result or its final error, ready to be recorded."""

    source_id: int
    result: FetchResult | None = None
    error: str | None = None


@dataclass(frozen=True)
class SourceRunReport:
    source_id: int
    ok: bool
    new_posts: int = 0
    duplicates: int = 0
    mentions: int = 0
    not_modified: bool = False
    error: str | None = None


def fetch_source(snapshot: SourceSnapshot, *, settings: Settings) -> FetchOutcome:
    """Fetch one source. Transient failures raise ``FetchError`` (the caller may retry);
    permanent ones come back as an outcome with the reason."""
    with make_client(
        timeout_s=settings.http_timeout_s,
        max_redirects=settings.max_redirects,
        user_agent=settings.user_agent,
    ) as client:
        try:
            result = fetch_url(
                client,
                snapshot.url,
                etag=snapshot.etag,
                last_modified=snapshot.last_modified,
                max_bytes=settings.max_feed_bytes,
                deadline_s=settings.http_timeout_s * 2,
            )
        except FetchError as exc:
            if exc.transient:
                raise
            return FetchOutcome(source_id=snapshot.id, error=exc.reason)
    return FetchOutcome(source_id=snapshot.id, result=result)


def load_matcher(session: Session) -> OfficialMatcher:
    return OfficialMatcher(
        OfficialRef(
            id=o.id,
            name=o.name,
            role=o.role,
            aliases=tuple(o.aliases),
            handles=tuple(o.handles),
            organisation=o.organisation,
        )
        for o in session.scalars(select(Official))
    )


def ingest(
    session: Session, *, outcome: FetchOutcome, matcher: OfficialMatcher, now: datetime
) -> SourceRunReport:
    """Record a fetch: store new entries and the source's health, in the caller's transaction."""
    source = session.get(Source, outcome.source_id)
    if source is None:
        raise LookupError(f"source {outcome.source_id} vanished during the run")
    if outcome.error is not None or outcome.result is None:
        reason = outcome.error or "no result"
        record_failure(source=source, now=now, reason=reason)
        logger.warning("source %s (%s) failed: %s", source.id, source.url, reason)
        return SourceRunReport(source_id=source.id, ok=False, error=reason)
    result = outcome.result
    if result.not_modified:
        record_success(source=source, now=now, items=0, etag=result.etag, last_modified=result.last_modified)
        return SourceRunReport(source_id=source.id, ok=True, not_modified=True)
    try:
        entries, _language = parse_feed(result.body, content_type=result.content_type)
    except FeedError as exc:
        record_failure(source=source, now=now, reason=str(exc))
        logger.warning("source %s (%s) is not a usable feed: %s", source.id, source.url, exc)
        return SourceRunReport(source_id=source.id, ok=False, error=str(exc))
    stored = store_entries(session, source_id=source.id, entries=entries, matcher=matcher, now=now)
    record_success(
        source=source,
        now=now,
        items=len(stored.new_post_ids),
        etag=result.etag,
        last_modified=result.last_modified,
    )
    return SourceRunReport(
        source_id=source.id,
        ok=True,
        new_posts=len(stored.new_post_ids),
        duplicates=stored.duplicates,
        mentions=stored.mentions,
    )
