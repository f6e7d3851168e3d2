"""The retention flow: apply the retention policy on a schedule (aggregate counts are kept)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.types import utcnow
from threatwatch.flows.start import start_run
from threatwatch.ops.retention import PurgeReport, RetentionPolicy, purge


@task(cache_policy=NO_CACHE, task_run_name="purge-expired")
def purge_expired(settings: Settings, dry_run: bool) -> PurgeReport:
    """One transaction: either the whole policy is applied (with its counts) or nothing is."""
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        return purge(session, policy=RetentionPolicy.from_settings(settings), now=utcnow(), dry_run=dry_run)


@flow(name="purge", log_prints=False)
def purge_flow(settings_overrides: dict[str, Any] | None = None, dry_run: bool = False) -> PurgeReport:
    settings = start_run(settings_overrides)
    report = purge_expired(settings, dry_run)
    get_run_logger().info("purge: %s", report)
    return report
