"""The collection flow: fetch every due source, store what is new, classify it, queue what is flagged.

The one orchestrator of a collection round: schedules, the CLI, the demo, tests and
``benchmarks/collect.py`` all run this flow. The decisive words of flagged posts are filled in
afterwards by ``threatwatch.flows.explain``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from threatwatch.collect.run import (
    SourceRunReport,
    SourceSnapshot,
    claim_due_sources,
    fetch_and_store,
)
from threatwatch.collect.sources import new_lease_owner
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.types import utcnow
from threatwatch.flows.start import start_run
from threatwatch.registry import live_classifier
from threatwatch.retrain.active import fill_uncertain
from threatwatch.review.intake import IntakeReport, classify_backlog
from threatwatch.review.queue import queue_counts


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
    reports: list[SourceRunReport] = field(default_factory=list, repr=False)  # one per source polled


@task(cache_policy=NO_CACHE, task_run_name="claim-due-sources")
def list_due_sources(
    settings: Settings, force: bool, kinds: list[str] | None, owner: str
) -> list[SourceSnapshot]:
    """Due sources, each leased to this run so an overlapping run of the same schedule skips them."""
    sessions = session_factory(engine_for(settings.database_url))
    return claim_due_sources(sessions, settings=settings, owner=owner, force=force, kinds=kinds)


@task(cache_policy=NO_CACHE, task_run_name="fetch-and-store")
def fetch_and_store_sources(
    snapshots: list[SourceSnapshot], settings: Settings, owner: str
) -> list[SourceRunReport]:
    """The network step and what it brings: every due source fetched concurrently, each transient
    failure retried for that source alone, each source's new entries in their own transaction
    (``collect.run.fetch_and_store``). One task for the round: a task run per source cost more than the
    source's own work (benchmarks/collect.py)."""
    sessions = session_factory(engine_for(settings.database_url))
    return fetch_and_store(sessions, snapshots=snapshots, settings=settings, owner=owner)


@task(cache_policy=NO_CACHE, task_run_name="classify-and-queue")
def classify_and_queue(settings: Settings) -> IntakeReport:
    # The live model follows models/CURRENT, so a promotion or rollback applies from the next batch.
    classifier = live_classifier(settings)
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
    (one by one should that fail). Then intake classifies and queues whatever is new.
    """
    logger = get_run_logger()
    settings = start_run(settings_overrides)
    summary = CollectSummary()
    owner = new_lease_owner()
    snapshots = list_due_sources(settings, force, kinds, owner)
    for report in fetch_and_store_sources(snapshots, settings, owner) if snapshots else []:
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
