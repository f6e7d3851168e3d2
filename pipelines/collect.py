"""The collection flow: fetch every due source, store what is new, classify it, queue what is flagged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from threatwatch.classify.registry import load_classifier
from threatwatch.collect.fetch import FetchError
from threatwatch.collect.run import (
    FetchOutcome,
    SourceRunReport,
    SourceSnapshot,
    fetch_source,
    ingest,
    load_matcher,
)
from threatwatch.collect.sources import due_sources
from threatwatch.config import Settings, get_settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.types import utcnow
from threatwatch.review.intake import IntakeReport, classify_pending
from threatwatch.review.queue import queue_counts


@dataclass
class CollectSummary:
    sources_polled: int = 0
    sources_failed: int = 0
    sources_not_modified: int = 0
    new_posts: int = 0
    duplicates: int = 0
    mentions: int = 0
    classified: int = 0
    flagged: int = 0
    queued: int = 0
    queue: dict[str, int] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)


def _settings(overrides: dict[str, Any] | None) -> Settings:
    return Settings(**overrides) if overrides else get_settings()


@task(cache_policy=NO_CACHE, task_run_name="list-due-sources")
def list_due_sources(settings: Settings, force: bool) -> list[SourceSnapshot]:
    with session_factory(engine_for(settings.database_url))() as session:
        return [SourceSnapshot.of(s) for s in due_sources(session, now=utcnow(), include_not_due=force)]


@task(cache_policy=NO_CACHE, task_run_name="fetch-{snapshot.url}")
def fetch(snapshot: SourceSnapshot, settings: Settings) -> FetchOutcome:
    """The only network step, so the only one with retries (transient errors only)."""
    return fetch_source(snapshot, settings=settings)


@task(cache_policy=NO_CACHE, task_run_name="store-source-{outcome.source_id}")
def store(outcome: FetchOutcome, settings: Settings) -> SourceRunReport:
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        return ingest(session, outcome=outcome, matcher=load_matcher(session), now=utcnow())


@task(cache_policy=NO_CACHE, task_run_name="classify-and-queue")
def classify_and_queue(settings: Settings) -> IntakeReport:
    classifier = load_classifier(settings.model_dir, settings.model_name, cache_dir=settings.cache_dir)
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        return classify_pending(
            session, classifier=classifier, now=utcnow(), batch_size=settings.classify_batch_size
        )


@flow(name="collect", log_prints=False)
def collect_flow(settings_overrides: dict[str, Any] | None = None, force: bool = False) -> CollectSummary:
    """One collection round. ``force`` polls every active source, due or not.

    Sources are fetched concurrently and stored one by one, each in its own transaction, so one bad
    source never costs the others their results.
    """
    logger = get_run_logger()
    settings = _settings(settings_overrides)
    summary = CollectSummary()
    snapshots = list_due_sources(settings, force)
    fetch_task = fetch.with_options(
        retries=settings.fetch_retries,
        retry_delay_seconds=settings.fetch_retry_delay_s,
        retry_condition_fn=lambda _task, _run, state: _is_transient(state),
    )
    futures: list[tuple[SourceSnapshot, PrefectFuture[FetchOutcome]]] = [
        (s, fetch_task.submit(s, settings)) for s in snapshots
    ]
    for snapshot, future in futures:
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            reason = (
                outcome.reason if isinstance(outcome, FetchError) else f"{type(outcome).__name__}: {outcome}"
            )
            outcome = FetchOutcome(source_id=snapshot.id, error=reason)
        report = store(outcome, settings)
        summary.sources_polled += 1
        summary.new_posts += report.new_posts
        summary.duplicates += report.duplicates
        summary.mentions += report.mentions
        summary.sources_not_modified += int(report.not_modified)
        if not report.ok:
            summary.sources_failed += 1
            summary.errors[report.source_id] = report.error or "unknown error"
    intake = classify_and_queue(settings)
    summary.classified, summary.flagged, summary.queued = intake.classified, intake.flagged, intake.queued
    with session_factory(engine_for(settings.database_url))() as session:
        summary.queue = queue_counts(session)
    logger.info("collect: %s", summary)
    return summary


def _is_transient(state: Any) -> bool:
    try:
        state.result()
    except FetchError as exc:
        return exc.transient
    except Exception:
        return False
    return False
