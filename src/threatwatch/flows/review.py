"""The queue-priority refresh: surges fade, so the surge bonus of queued items is recomputed on a
schedule (intake raises it as posts arrive; this lets it sink again when the posts stop)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.types import utcnow
from threatwatch.flows.start import start_run
from threatwatch.review.priority import refresh_priorities


@task(cache_policy=NO_CACHE, task_run_name="refresh-priorities")
def refresh_queue_priorities(settings: Settings) -> int:
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        return refresh_priorities(session, now=utcnow())


@flow(name="refresh-queue-priorities", log_prints=False)
def refresh_priorities_flow(settings_overrides: dict[str, Any] | None = None) -> int:
    settings = start_run(settings_overrides)
    changed = refresh_queue_priorities(settings)
    get_run_logger().info("queue priorities changed: %d", changed)
    return changed
