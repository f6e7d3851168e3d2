"""The steps of a collection round as plain functions; ``threatwatch.flows.collect`` composes them.

Fetching is the only network step (bounded per host by ``HOST_LIMITER``); each result is stored in its
own transaction, so one bad source never costs the others their results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from threatwatch.collect.adapters import adapter_for
from threatwatch.collect.fetch import HOST_LIMITER, FetchError, FetchResult, fetch_url, shared_client
from threatwatch.collect.parse import FeedError
from threatwatch.collect.sources import (
    claim_sources,
    due_sources,
    record_failure,
    record_success,
)
from threatwatch.collect.store import store_entries
from threatwatch.config import Settings
from threatwatch.db.models import Official, Source
from threatwatch.db.types import utcnow
from threatwatch.watchlist.matching import OfficialMatcher, OfficialRef

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceSnapshot:
    """What a fetch needs to know about a source, detached from any session."""

    id: int
    url: str
    kind: str = "feed"
    etag: str | None = None
    last_modified: str | None = None
    cursor: str | None = None

    @classmethod
    def of(cls, source: Source) -> SourceSnapshot:
        return cls(
            id=source.id,
            url=source.url,
            kind=source.kind,
            etag=source.etag,
            last_modified=source.last_modified,
            cursor=source.cursor,
        )


@dataclass(frozen=True)
class FetchOutcome:
    """A fetch's result or its final error, ready to be recorded."""

    source_id: int
    result: FetchResult | None = None
    error: str | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True)
class SourceRunReport:
    source_id: int
    ok: bool
    new_posts: int = 0
    duplicates: int = 0
    linked: int = 0
    mentions: int = 0
    not_modified: bool = False
    error: str | None = None
    skipped_entries: int = 0  # unreadable entries left out; the source itself succeeded


def fetch_page(snapshot: SourceSnapshot, *, settings: Settings, url: str, conditional: bool) -> FetchResult:
    """GET one page of a source within the per-host limit; raises ``FetchError``."""
    adapter = adapter_for(snapshot.kind, snapshot.url)
    client = shared_client(
        timeout_s=settings.http_timeout_s,
        max_redirects=settings.max_redirects,
        user_agent=settings.user_agent,
    )
    with HOST_LIMITER.slot(url, limit=settings.per_host_concurrency):
        return fetch_url(
            client,
            url,
            etag=snapshot.etag if conditional else None,
            last_modified=snapshot.last_modified if conditional else None,
            max_bytes=settings.max_feed_bytes,
            deadline_s=settings.http_timeout_s * 2,
            accept=adapter.accept,
        )


def fetch_source(snapshot: SourceSnapshot, *, settings: Settings) -> FetchOutcome:
    """Fetch the newest page of one source. Transient failures raise ``FetchError`` (for
    ``fetch_with_retries`` to retry); permanent ones come back as an outcome with the reason."""
    url = adapter_for(snapshot.kind, snapshot.url).poll_url(snapshot.url, cursor=snapshot.cursor)
    try:
        result = fetch_page(snapshot, settings=settings, url=url, conditional=True)
    except FetchError as exc:
        if exc.transient:
            raise
        return FetchOutcome(source_id=snapshot.id, error=exc.reason, retry_after_s=exc.retry_after_s)
    return FetchOutcome(source_id=snapshot.id, result=result)


def fetch_with_retries(snapshot: SourceSnapshot, *, settings: Settings) -> FetchOutcome:
    """``fetch_source``, a transient failure (a time-out, a 5xx without ``Retry-After``) tried again up
    to ``THREATWATCH_FETCH_RETRIES`` times after ``THREATWATCH_FETCH_RETRY_DELAY_S``, for this source
    alone, so a slow host delays only its own sources; a server that sent ``Retry-After`` is asked again
    no sooner than it said (``next_poll_at``), not within the round. A crash is this source's error."""
    attempt = 0
    while True:
        try:
            return fetch_source(snapshot, settings=settings)
        except FetchError as exc:
            if exc.transient and exc.retry_after_s is None and attempt < settings.fetch_retries:
                attempt += 1
                logger.info("source %s: %s; retry %d", snapshot.id, exc.reason, attempt)
                time.sleep(settings.fetch_retry_delay_s)
                continue
            return FetchOutcome(source_id=snapshot.id, error=exc.reason, retry_after_s=exc.retry_after_s)
        except Exception as exc:  # a bug in one source's fetch must not stop the round
            logger.exception("fetching source %s crashed", snapshot.id)
            return FetchOutcome(source_id=snapshot.id, error=f"{type(exc).__name__}: {exc}")


def fetch_and_store(
    sessions: sessionmaker[Session],
    *,
    snapshots: Sequence[SourceSnapshot],
    settings: Settings,
    owner: str | None,
) -> list[SourceRunReport]:
    """One round's sources: fetched ``THREATWATCH_FETCH_WORKERS`` at a time, and each with new entries
    stored in its own transaction as its fetch completes (in order), against the watchlist read once;
    unchanged (304) and failed sources are recorded together at the end."""
    reports: list[SourceRunReport] = []
    health_only: list[FetchOutcome] = []
    matcher: OfficialMatcher | None = None
    workers = max(1, min(settings.fetch_workers, len(snapshots)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fetch_with_retries, s, settings=settings) for s in snapshots]
        for future in futures:
            outcome = future.result()
            if not carries_content(outcome):
                health_only.append(outcome)
                continue
            if matcher is None:
                with sessions() as session:
                    matcher = load_matcher(session)
            reports.append(
                store_outcome(sessions, outcome=outcome, settings=settings, owner=owner, matcher=matcher)
            )
    reports.extend(store_health_outcomes(sessions, outcomes=health_only, settings=settings, owner=owner))
    return reports


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
    session: Session,
    *,
    outcome: FetchOutcome,
    matcher: OfficialMatcher | None = None,
    now: datetime,
    max_backoff_s: int = 6 * 3600,
    lease_owner: str | None = None,
) -> SourceRunReport:
    """Record a fetch: parse it with the source's adapter, store new entries and the source's health,
    and give back the run lease, all in the caller's transaction."""
    source = session.get(Source, outcome.source_id)
    if source is None:
        raise LookupError(f"source {outcome.source_id} vanished during the run")
    if lease_owner is not None and source.lock_owner == lease_owner:
        # Written with the health fields in one UPDATE. Only an expired lease (older than
        # ``source_lease_s``, far longer than one ingest) could have passed to another run since it was read.
        source.locked_until = None
        source.lock_owner = None
    if outcome.error is not None or outcome.result is None:
        reason = outcome.error or "no result"
        record_failure(
            source=source,
            now=now,
            reason=reason,
            retry_after_s=outcome.retry_after_s,
            max_backoff_s=max_backoff_s,
        )
        logger.warning("source %s (%s) failed: %s", source.id, source.url, reason)
        return SourceRunReport(source_id=source.id, ok=False, error=reason)
    result = outcome.result
    if result.not_modified:
        record_success(source=source, now=now, items=0, etag=result.etag, last_modified=result.last_modified)
        return SourceRunReport(source_id=source.id, ok=True, not_modified=True)
    try:
        page = adapter_for(source.kind, source.url).parse(
            result.body, content_type=result.content_type, url=result.url
        )
    except FeedError as exc:
        record_failure(source=source, now=now, reason=str(exc), max_backoff_s=max_backoff_s)
        logger.warning("source %s (%s) is not usable: %s", source.id, source.url, exc)
        return SourceRunReport(source_id=source.id, ok=False, error=str(exc))
    stored = store_entries(
        session,
        source_id=source.id,
        entries=page.entries,
        matcher=matcher if matcher is not None else load_matcher(session),
        now=now,
    )
    record_success(
        source=source,
        now=now,
        items=len(stored.new_post_ids),
        etag=result.etag,
        last_modified=result.last_modified,
        cursor=page.cursor,
    )
    if page.skipped:  # a healthy source with unreadable entries: the reason stays on the source
        source.last_error = f"{len(page.skipped)} entries left out, first: {page.skipped[0]}"[:2000]
        source.last_error_at = now
    return SourceRunReport(
        source_id=source.id,
        ok=True,
        new_posts=len(stored.new_post_ids),
        duplicates=stored.duplicates,
        linked=stored.linked,
        mentions=stored.mentions,
        skipped_entries=len(page.skipped),
    )


def claim_due_sources(
    sessions: sessionmaker[Session],
    *,
    settings: Settings,
    owner: str,
    force: bool = False,
    kinds: Collection[str] | None = None,
) -> list[SourceSnapshot]:
    """Due sources this run now holds; those another run holds are left to it."""
    now = utcnow()
    with sessions() as session, session.begin():
        candidates = due_sources(session, now=now, include_not_due=force, kinds=kinds)
        claimed = claim_sources(
            session,
            source_ids=[s.id for s in candidates],
            owner=owner,
            now=now,
            lease_s=settings.source_lease_s,
        )
        return [SourceSnapshot.of(source) for source in candidates if source.id in claimed]


def store_outcome(
    sessions: sessionmaker[Session],
    *,
    outcome: FetchOutcome,
    settings: Settings,
    owner: str | None,
    matcher: OfficialMatcher | None = None,
) -> SourceRunReport:
    """Ingest one outcome in its own transaction; the watchlist is read only when there is something
    to store (a 304 or an error needs no matcher).

    Should storing fail for a reason nobody foresaw (a database refusing a value, a parser bug), that
    transaction is rolled back and the failure recorded on the source in a new one: the source is backed
    off and its lease given back, and the round goes on with the next source.
    """
    try:
        with sessions() as session, session.begin():
            return ingest(
                session,
                outcome=outcome,
                matcher=matcher,
                now=utcnow(),
                max_backoff_s=settings.max_backoff_s,
                lease_owner=owner,
            )
    except Exception as exc:
        if outcome.error is not None:  # recording a failure failed: nothing else to fall back on
            raise
        logger.exception("storing source %s failed", outcome.source_id)
        reason = f"could not store this source's entries: {type(exc).__name__}: {exc}"[:2000]
        failed = FetchOutcome(source_id=outcome.source_id, error=reason)
        return store_outcome(sessions, outcome=failed, settings=settings, owner=owner)


def carries_content(outcome: FetchOutcome) -> bool:
    """Whether storing ``outcome`` means parsing and storing entries (else it only updates health)."""
    return outcome.result is not None and not outcome.result.not_modified and outcome.error is None


def store_health_outcomes(
    sessions: sessionmaker[Session],
    *,
    outcomes: Sequence[FetchOutcome],
    settings: Settings,
    owner: str | None,
) -> list[SourceRunReport]:
    """Record outcomes that carry no entries (304s, errors) in one transaction: a round of unchanged
    feeds is then one commit, not one per source. Should that transaction fail (a source deleted
    meanwhile, say), each is recorded on its own, so one bad source still costs no other its record."""
    if not outcomes:
        return []
    try:
        with sessions() as session, session.begin():
            now = utcnow()
            # One SELECT for all of them; ``ingest``'s lookups then hit the identity map, and the
            # updates go out together at commit. The identity map holds objects weakly: ``loaded``
            # keeps them alive, or each lookup would SELECT again and autoflush the previous UPDATE.
            ids = [o.source_id for o in outcomes]
            loaded = session.scalars(select(Source).where(Source.id.in_(ids))).all()
            recorded = [
                ingest(
                    session,
                    outcome=outcome,
                    now=now,
                    max_backoff_s=settings.max_backoff_s,
                    lease_owner=owner,
                )
                for outcome in outcomes
            ]
            del loaded  # the dirty ones stay in the session (it holds them strongly) until the commit
            return recorded
    except Exception:
        logger.warning("recording %d source outcomes together failed; one by one", len(outcomes))
    reports: list[SourceRunReport] = []
    for outcome in outcomes:
        try:
            reports.append(store_outcome(sessions, outcome=outcome, settings=settings, owner=owner))
        except Exception as exc:
            logger.exception("recording source %s failed", outcome.source_id)
            reports.append(
                SourceRunReport(source_id=outcome.source_id, ok=False, error=f"{type(exc).__name__}: {exc}")
            )
    return reports
