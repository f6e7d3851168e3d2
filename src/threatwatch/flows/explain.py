"""The explain flow: fill in the decisive words of flagged posts after intake has queued them.

Intake stores labels without explanations so that the queue and alerts never wait for occlusion (one
transformer pass per word and phrase of each flagged message). This flow, on its own schedule and on
any worker, explains what is pending with the live model, one committed batch at a time: a crash or a
time-out loses at most one batch of work, never a label.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.flows.start import start_run
from threatwatch.registry import live_classifier
from threatwatch.review.intake import explain_pending


@task(cache_policy=NO_CACHE, task_run_name="explain-flagged")
def explain_flagged(settings: Settings, max_seconds: float | None) -> int:
    """Batches of ``explain_batch_size``, each in its own transaction, until none is left or the time
    is up; returns how many classifications were explained."""
    classifier = live_classifier(settings)
    sessions = session_factory(engine_for(settings.database_url))
    started, total = time.monotonic(), 0
    while max_seconds is None or time.monotonic() - started < max_seconds:
        with sessions() as session, session.begin():
            done = explain_pending(
                session,
                classifier=classifier,
                batch_size=settings.explain_batch_size,
                limit=settings.explain_batch_size,
            )
        total += done
        if done == 0:
            break
    return total


@flow(name="explain", log_prints=False)
def explain_flow(settings_overrides: dict[str, Any] | None = None, max_seconds: float | None = None) -> int:
    """Explain every pending flagged classification of the live model (for at most ``max_seconds``)."""
    settings = start_run(settings_overrides)
    explained = explain_flagged(settings, max_seconds)
    get_run_logger().info("explain: %d flagged posts explained", explained)
    return explained
