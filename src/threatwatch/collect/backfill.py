"""Backfill: page back through each source as far as it allows, down to a date.

Mastodon pages back with ``max_id``, Bluesky with its ``cursor``, RSS/Atom through RFC 5005 links or
not at all (whatever is in the feed). Pages are stored as they arrive, each in its own transaction;
conditional-GET validators and the poll cursor are left alone, so the next regular poll is unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from threatwatch.collect.adapters import adapter_for
from threatwatch.collect.fetch import FetchError
from threatwatch.collect.parse import FeedError
from threatwatch.collect.run import SourceSnapshot, fetch_page, load_matcher
from threatwatch.collect.sources import due_sources, record_failure
from threatwatch.collect.store import store_entries
from threatwatch.config import Settings
from threatwatch.db.models import Source
from threatwatch.db.types import utcnow

logger = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    source_id: int
    pages: int = 0
    new_posts: int = 0
    error: str | None = None


def backfill_source(
    sessions: sessionmaker[Session],
    *,
    snapshot: SourceSnapshot,
    since: datetime,
    settings: Settings,
    on_page: Callable[[BackfillReport], None] | None = None,
) -> BackfillReport:
    """Read pages newest to oldest until one reaches back past ``since``, the source has no older
    page, or ``backfill_max_pages`` is reached. A failure is recorded on the source's health."""
    report = BackfillReport(source_id=snapshot.id)
    adapter = adapter_for(snapshot.kind, snapshot.url)
    url: str | None = adapter.poll_url(snapshot.url, cursor=None)
    while url is not None and report.pages < settings.backfill_max_pages:
        try:
            result = fetch_page(snapshot, settings=settings, url=url, conditional=False)
            page = adapter.parse(result.body, content_type=result.content_type, url=result.url)
        except (FetchError, FeedError) as exc:
            report.error = exc.reason if isinstance(exc, FetchError) else str(exc)
            with sessions() as session, session.begin():
                source = session.get(Source, snapshot.id)
                if source is not None:
                    record_failure(
                        source=source, now=utcnow(), reason=report.error, max_backoff_s=settings.max_backoff_s
                    )
            break
        with sessions() as session, session.begin():
            stored = store_entries(
                session,
                source_id=snapshot.id,
                entries=page.entries,
                matcher=load_matcher(session),
                now=utcnow(),
            )
            source = session.get(Source, snapshot.id)
            if source is not None:
                source.posts_total = (source.posts_total or 0) + len(stored.new_post_ids)
        report.pages += 1
        report.new_posts += len(stored.new_post_ids)
        if on_page is not None:
            on_page(report)
        dates = [e.published_at for e in page.entries if e.published_at is not None]
        if not page.entries or (dates and min(dates) < since):
            break
        url = page.older_url
    return report


def backfill_snapshots(sessions: sessionmaker[Session]) -> list[SourceSnapshot]:
    """Every source that is not paused."""
    with sessions() as session:
        return [SourceSnapshot.of(s) for s in due_sources(session, now=utcnow(), include_not_due=True)]
