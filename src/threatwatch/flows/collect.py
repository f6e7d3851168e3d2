"""The collection flow: fetch every due source, store what is new, classify it, queue what is flagged.

The one orchestrator of a collection round: schedules, the CLI, the demo, tests and
``benchmarks/collect.py`` all run this flow. The decisive words of flagged posts are filled in
afterwards by ``threatwatch.flows.explain``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from threatwatch.collect.fetch import FetchError
from threatwatch.collect.run import (
    FetchOutcome,
    SourceRunReport,
    SourceSnapshot,
    carries_content,
    claim_due_sources,
    fetch_source,
    load_matcher,
    store_health_outcomes,
    store_outcome,
)
from threatwatch.collect.sources import new_lease_owner
from threatwatch.config import Settings, flow_settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.types import utcnow
from threatwatch.registry.live import live_model
from threatwatch.retrain.active import fill_uncertain
from threatwatch.review.intake import IntakeReport, classify_backlog
from threatwatch.review.queue import queue_counts
from threatwatch.watchlist import OfficialMatcher


@dataclass
class CollectSummary:
    sources_polled: int = 0
    sources_failed: int = 0
    sources_not_modified: int = 0
    new_posts: int = 0
    duplicates: int = 0
    linked: int = 0
    mentions: int = 0
    entries_skipped: int = 0  # unreadable entries left out of otherwise healthy sources
    classified: int = 0
    flagged: int = 0
    queued: int = 0
    queue: dict[str, int] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    reports: list[SourceRunReport] = field(default_factory=list)  # one per source polled


@task(cache_policy=NO_CACHE, task_run_name="claim-due-sources")
def list_due_sources(
    settings: Settings, force: bool, kinds: list[str] | None, owner: str
) -> list[SourceSnapshot]:
    """Due sources, each leased to this run so an overlapping run of the same schedule skips them."""
    sessions = session_factory(engine_for(settings.database_url))
    return claim_due_sources(sessions, settings=settings, owner=owner, force=force, kinds=kinds)


@task(cache_policy=NO_CACHE, task_run_name="fetch-{snapshot.url}")
def fetch(snapshot: SourceSnapshot, settings: Settings) -> FetchOutcome:
    """The only network step, so the only one with retries (transient errors only)."""
    return fetch_source(snapshot, settings=settings)


@task(cache_policy=NO_CACHE, task_run_name="read-watchlist")
def read_watchlist(settings: Settings) -> OfficialMatcher:
    """The officials to match, read once per round (and only when some source has entries)."""
    with session_factory(engine_for(settings.database_url))() as session:
        return load_matcher(session)


@task(cache_policy=NO_CACHE, task_run_name="store-source-{outcome.source_id}")
def store(outcome: FetchOutcome, settings: Settings, owner: str, matcher: OfficialMatcher) -> SourceRunReport:
    sessions = session_factory(engine_for(settings.database_url))
    return store_outcome(sessions, outcome=outcome, settings=settings, owner=owner, matcher=matcher)


@task(cache_policy=NO_CACHE, task_run_name="store-source-health")
def store_health(outcomes: list[FetchOutcome], settings: Settings, owner: str) -> list[SourceRunReport]:
    """Unchanged (304) and failed sources, recorded together: one commit for a quiet round."""
    sessions = session_factory(engine_for(settings.database_url))
    return store_health_outcomes(sessions, outcomes=outcomes, settings=settings, owner=owner)


@task(cache_policy=NO_CACHE, task_run_name="classify-and-queue")
def classify_and_queue(settings: Settings) -> IntakeReport:
    # The live model follows models/CURRENT, so a promotion or rollback applies from the next batch.
    classifier = live_model(
        settings.model_dir, cache_dir=settings.cache_dir, pinned=settings.model_name
    ).get()
    sessions = session_factory(engine_for(settings.database_url))
    report = classify_backlog(
        sessions,
        classifier=classifier,
        settings=settings,
        batch_size=settings.classify_batch_size,
        languages=settings.classify_language_set,
        explain=False,  # src/threatwatch/flows/explain.py follows: the queue and alerts do not wait for it
    )
    with sessions() as session, session.begin():
        fill_uncertain(
            session, share=settings.active_learning_share, model_version=classifier.version, now=utcnow()
        )
    return report


@flow(name="collect", log_prints=False)
def collect_flow(
    settings_overrides: dict[str, Any] | None = None,
    force: bool = False,
    kinds: list[str] | None = None,
    classify: bool = True,
) -> CollectSummary:
    """One collection round. ``force`` polls every active source, due or not; ``kinds`` limits the
    round to those source kinds (each kind has its own schedule in ``pipelines/deployments.py``).
    ``classify=False`` stores what is new and leaves it for the next round's intake (the collection
    tests and benchmark; the classifier has its own).

    Sources are fetched concurrently (``THREATWATCH_FETCH_WORKERS`` at a time) and those with new
    entries stored one by one, each in its own transaction, so one bad source never costs the others
    their results; unchanged and failed sources only update their health, together in one transaction
    (one by one should that fail).
    """
    logger = get_run_logger()
    settings = flow_settings(settings_overrides)
    summary = CollectSummary()
    owner = new_lease_owner()
    snapshots = list_due_sources(settings, force, kinds, owner)
    fetch_task = fetch.with_options(
        retries=settings.fetch_retries,
        retry_delay_seconds=settings.fetch_retry_delay_s,
        retry_condition_fn=lambda _task, _run, state: _is_transient(state),
    )
    health_only: list[FetchOutcome] = []  # 304s and errors: one transaction after the fetches
    matcher: OfficialMatcher | None = None
    runner: ThreadPoolTaskRunner[FetchOutcome]
    with ThreadPoolTaskRunner(max_workers=max(1, settings.fetch_workers)) as runner:
        # (mypy resolves Prefect's overloads of submit to the coroutine one for a sync task)
        futures: list[tuple[SourceSnapshot, PrefectFuture[FetchOutcome]]] = [
            (s, runner.submit(fetch_task, {"snapshot": s, "settings": settings}))  # type: ignore[arg-type]
            for s in snapshots
        ]
        for snapshot, future in futures:
            outcome = future.result(raise_on_failure=False)
            if isinstance(outcome, BaseException):
                reason = (
                    outcome.reason
                    if isinstance(outcome, FetchError)
                    else f"{type(outcome).__name__}: {outcome}"
                )
                retry_after = outcome.retry_after_s if isinstance(outcome, FetchError) else None
                outcome = FetchOutcome(source_id=snapshot.id, error=reason, retry_after_s=retry_after)
            if carries_content(outcome):
                if matcher is None:
                    matcher = read_watchlist(settings)
                _add(summary, store(outcome, settings, owner, matcher))
            else:
                health_only.append(outcome)
    for report in store_health(health_only, settings, owner) if health_only else []:
        _add(summary, report)
    if not classify:
        logger.info("collect: %s", summary)
        return summary
    intake = classify_and_queue(settings)
    summary.classified, summary.flagged, summary.queued = intake.classified, intake.flagged, intake.queued
    with session_factory(engine_for(settings.database_url))() as session:
        summary.queue = queue_counts(session)
    logger.info("collect: %s", summary)
    return summary


def _add(summary: CollectSummary, report: SourceRunReport) -> None:
    summary.reports.append(report)
    summary.sources_polled += 1
    summary.new_posts += report.new_posts
    summary.duplicates += report.duplicates
    summary.linked += report.linked
    summary.mentions += report.mentions
    summary.entries_skipped += report.skipped_entries
    summary.sources_not_modified += int(report.not_modified)
    if not report.ok:
        summary.sources_failed += 1
        summary.errors[report.source_id] = report.error or "unknown error"


def _is_transient(state: Any) -> bool:
    """Retry time-outs and 5xx soon; a server that sent ``Retry-After`` is asked again no sooner than
    it said, which the source's ``next_poll_at`` takes care of, not an in-run retry."""
    try:
        state.result()
    except FetchError as exc:
        return exc.transient and exc.retry_after_s is None
    except Exception:
        return False
    return False
