"""Classifying a large backlog on several processes: Prefect's Dask task runner spreads the chunks.

A new model version, a bulk import or a long outage leaves many posts unclassified; one process
classifies them one core at a time. Here the parent lists the pending posts (reading only the model's
version from its config, not the model), splits them into disjoint chunks and submits one task per
chunk to a ``DaskTaskRunner`` (a local Dask cluster of worker *processes*, or an existing cluster's
address). Each worker process loads the classifier once and stores its chunk's results through the
same intake function the collection flow uses, in its own transaction, so chunks never overlap and a
failed chunk is simply picked up by the next run.
"""

from __future__ import annotations

import json
import os
from typing import Any, cast

from prefect import Flow, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner
from prefect_dask.task_runners import DaskTaskRunner
from sqlalchemy import select

from threatwatch.classify.fast import CONFIG_FILE
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Post
from threatwatch.db.types import utcnow
from threatwatch.flows.start import start_run
from threatwatch.registry import current_model_path, live_classifier
from threatwatch.review.intake import IntakeReport, classify_pending, unclassified_by
from threatwatch.wiring import connect_subscribers


def live_model_version(settings: Settings) -> str:
    """The live model's version, from its config alone (loading the model takes seconds and memory)."""
    path = current_model_path(settings.model_dir, settings.model_name)
    version: str = json.loads((path / CONFIG_FILE).read_text())["version"]
    return version


@task(cache_policy=NO_CACHE, task_run_name="list-pending-posts")
def pending_post_ids(settings: Settings, version: str) -> list[int]:
    with session_factory(engine_for(settings.database_url))() as session:
        query = select(Post.id).where(*unclassified_by(version, settings.classify_language_set))
        return list(session.scalars(query.order_by(Post.id)))


@task(cache_policy=NO_CACHE, task_run_name="classify-posts-{post_ids[0]}-")
def classify_chunk(settings: Settings, post_ids: list[int], torch_threads: int) -> IntakeReport:
    """Runs in a Dask worker process: the model is loaded once per process and reused by its tasks.
    Intake publishes events here, so the worker process is wired like any entry point."""
    import torch

    connect_subscribers()
    torch.set_num_threads(torch_threads)
    classifier = live_classifier(settings)
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        return classify_pending(
            session,
            classifier=classifier,
            settings=settings,
            now=utcnow(),
            batch_size=settings.classify_batch_size,
            languages=settings.classify_language_set,
            post_ids=post_ids,
            explain=False,  # src/threatwatch/flows/explain.py follows, as after collection
        )


def dask_runner(workers: int | None = None, address: str | None = None) -> TaskRunner[Any]:
    """A runner on ``address`` (an existing Dask scheduler), else on a local cluster of processes."""
    if address:
        return cast("TaskRunner[Any]", DaskTaskRunner(address=address))
    n = workers or os.cpu_count() or 1
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": n, "threads_per_worker": 1, "processes": True})
    return cast("TaskRunner[Any]", runner)


@flow(name="classify-batch", task_runner=dask_runner(), log_prints=False)
def classify_batch_flow(
    settings_overrides: dict[str, Any] | None = None, chunk_size: int = 1000, torch_threads: int = 1
) -> IntakeReport:
    """Classify and queue every pending post, ``chunk_size`` posts per task, tasks spread over processes."""
    logger = get_run_logger()
    settings = start_run(settings_overrides)
    ids = pending_post_ids(settings, live_model_version(settings))
    chunks = [ids[start : start + chunk_size] for start in range(0, len(ids), chunk_size)]
    futures = [classify_chunk.submit(settings, chunk, torch_threads) for chunk in chunks]
    total = IntakeReport()
    failed = 0
    for future in futures:
        report = future.result(raise_on_failure=False)
        if isinstance(report, IntakeReport):
            total.classified += report.classified
            total.flagged += report.flagged
            total.queued += report.queued
        else:
            failed += 1
            logger.warning("a chunk failed (the next run picks it up): %s", report)
    logger.info("classify-batch: %s over %d chunks (%d failed)", total, len(chunks), failed)
    if failed:
        raise RuntimeError(f"{failed} of {len(chunks)} chunks failed; their posts stay pending")
    return total


def classify_batch_on(workers: int | None = None, address: str | None = None) -> Flow[..., IntakeReport]:
    """The flow on ``workers`` local processes or on the Dask cluster at ``address``."""
    return classify_batch_flow.with_options(task_runner=dask_runner(workers, address))
