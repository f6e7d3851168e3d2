"""The alert dispatcher flow: deliver what the outbox holds, with retries and back-off per alert.

Thin on purpose: ``threatwatch.alerts.dispatch`` does the work. One run keeps polling the outbox every
``alert_dispatch_poll_s`` for ``alert_dispatch_run_s`` seconds, and the deployment starts a run each
minute, so an alert waits about a second, not a schedule interval. Overlapping runs are safe: alerts
are claimed with a conditional UPDATE, so no two runs send the same one.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from threatwatch.alerts.dispatch import DispatchReport, dispatch
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.flows.start import start_run


@task(cache_policy=NO_CACHE, task_run_name="deliver-due-alerts")
def deliver_due_alerts(settings: Settings, run_for_s: float) -> DispatchReport:
    """Every alert has its own retries and back-off in the outbox, so the task itself never retries."""
    return dispatch(
        session_factory(engine_for(settings.database_url)), settings=settings, run_for_s=run_for_s
    )


@flow(name="dispatch-alerts", log_prints=False)
def dispatch_flow(
    settings_overrides: dict[str, Any] | None = None, run_for_s: float | None = None
) -> DispatchReport:
    """Deliver due alerts; keep polling for ``run_for_s`` (default: ``alert_dispatch_run_s``)."""
    settings = start_run(settings_overrides)
    report = deliver_due_alerts(settings, settings.alert_dispatch_run_s if run_for_s is None else run_for_s)
    get_run_logger().info(
        "dispatch: %s sent, %s failed attempts, %s given up",
        report.sent,
        report.failed_attempts,
        report.gave_up,
    )
    return report
