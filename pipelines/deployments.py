"""The Prefect deployments of threatwatch: which flow (``threatwatch.flows``) runs when.

This is the one place schedules are declared; the flows themselves live in the package. Nothing in
``threatwatch`` imports this module: ``threatwatch serve`` runs it as a child process (``python -m
pipelines.deployments``, serving every deployment until interrupted) and ``threatwatch deploy`` runs
``python -m pipelines.deployments register`` (every deployment on a work pool, for workers).

Collection has one deployment per source kind, each with its own interval
(``THREATWATCH_SCHEDULE_INTERVALS_S``), so chatty social sources are polled often and slow news feeds
rarely. A source that is still being polled when its next run starts is skipped by that run (the
lease on ``Source.locked_until``), so runs of one schedule never overlap on a source.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from threatwatch.config import Settings, get_settings
from threatwatch.domain import SourceKind

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment


SYNC: dict[str, Any] = {"_sync": True}


def _every(
    flow: Flow[..., Any],
    *,
    name: str,
    seconds: float,
    description: str,
    tags: list[str],
    parameters: dict[str, Any] | None = None,
) -> RunnerDeployment:
    """A deployment of ``flow`` on a fixed interval, built now even when an event loop runs here."""
    return cast(
        "RunnerDeployment",
        flow.to_deployment(
            name=name,
            interval=timedelta(seconds=seconds),
            parameters=parameters,
            description=description,
            tags=tags,
            **SYNC,
        ),
    )


def collect_deployments(settings: Settings) -> list[RunnerDeployment]:
    from threatwatch.flows.collect import collect_flow

    deployments: list[RunnerDeployment] = []
    for kind in SourceKind:
        interval = settings.schedule_intervals_s.get(kind.value, settings.default_poll_interval_s)
        deployments.append(
            _every(
                collect_flow,
                name=f"collect-{kind.value}",
                seconds=interval,
                parameters={"kinds": [kind.value]},
                description=f"Poll due {kind.value} sources every {interval} s, then classify and queue.",
                tags=["collect", kind.value],
            )
        )
    return deployments


def explain_deployments(settings: Settings) -> list[RunnerDeployment]:
    """Explanations of flagged posts, after intake has queued them (``src/threatwatch/flows/explain.py``)."""
    from threatwatch.flows.explain import explain_flow

    # A run stops taking new batches before the next is due, so runs of the schedule do not pile up.
    return [
        _every(
            explain_flow,
            name="explain-flagged",
            seconds=settings.explain_interval_s,
            parameters={"max_seconds": settings.explain_interval_s},
            description="Compute the decisive words of flagged posts that intake has queued.",
            tags=["classify"],
        )
    ]


def retrain_deployments(settings: Settings) -> list[RunnerDeployment]:
    """Retraining on a schedule, and a frequent check that starts it after N new labels (issue 7)."""
    from threatwatch.flows.retrain import retrain_flow, retrain_when_due_flow

    return [
        _every(
            retrain_flow,
            name="retrain",
            seconds=settings.retrain_interval_s,
            parameters={"trigger": "schedule"},
            description="Train a challenger on analysts' labels; promote it only if it is not worse.",
            tags=["retrain"],
        ),
        _every(
            retrain_when_due_flow,
            name="retrain-on-labels",
            seconds=settings.retrain_check_interval_s,
            description=f"Retrain once {settings.retrain_after_new_labels} new labels have arrived.",
            tags=["retrain"],
        ),
    ]


def dispatch_deployments(settings: Settings) -> list[RunnerDeployment]:
    """The alert dispatcher (issue 6): each run polls the outbox for ``alert_dispatch_run_s``."""
    from threatwatch.flows.dispatch import dispatch_flow

    return [
        _every(
            dispatch_flow,
            name="dispatch-alerts",
            seconds=max(5, int(settings.alert_dispatch_run_s) + 5),
            description="Deliver due alerts (e-mail, webhooks, Apprise) with retries and back-off.",
            tags=["alerts"],
        )
    ]


def purge_deployments(settings: Settings) -> list[RunnerDeployment]:
    """Retention (issue 8): erase what the policy says has expired, keeping daily counts."""
    from threatwatch.flows.purge import purge_flow

    return [
        _every(
            purge_flow,
            name="purge",
            seconds=settings.purge_interval_s,
            description="Apply the retention policy (docs/data-protection.md); aggregate counts are kept.",
            tags=["retention"],
        )
    ]


def review_deployments(settings: Settings) -> list[RunnerDeployment]:
    """Queue priorities (issue 5): let faded surges sink in the review queue."""
    from threatwatch.flows.review import refresh_priorities_flow

    return [
        _every(
            refresh_priorities_flow,
            name="refresh-queue-priorities",
            seconds=settings.queue_refresh_interval_s,
            description="Recompute the surge bonus of queued items; surges fade after a few hours.",
            tags=["review"],
        )
    ]


def build_deployments(settings: Settings) -> list[RunnerDeployment]:
    """Every scheduled deployment of threatwatch."""
    return [
        *collect_deployments(settings),
        *explain_deployments(settings),
        *retrain_deployments(settings),
        *dispatch_deployments(settings),
        *purge_deployments(settings),
        *review_deployments(settings),
    ]


def serve_deployments(settings: Settings | None = None) -> None:
    """Serve every deployment in this process until interrupted (blocks)."""
    from prefect import serve

    serve(*build_deployments(settings or get_settings()), print_starting_message=True)


def register_deployments(argv: Sequence[str] | None = None) -> None:
    """``register --pool P [--source-dir D] [--paused]``: every deployment on a work pool of the
    Prefect server at PREFECT_API_URL, loaded by workers from the installed package."""
    import argparse

    from threatwatch.ops.cluster import ClusterError, deploy_all, flows_source_dir

    parser = argparse.ArgumentParser(prog="python -m pipelines.deployments register")
    parser.add_argument("--pool", default="threatwatch")
    parser.add_argument("--source-dir", type=Path, default=None)
    parser.add_argument("--paused", action="store_true")
    args = parser.parse_args(argv)
    try:
        names = deploy_all(
            build_deployments(get_settings()),
            api_url=None,
            pool=args.pool,
            source_dir=args.source_dir or flows_source_dir(),
            paused=args.paused,
        )
    except ClusterError as exc:
        sys.exit(f"error: {exc}")
    for name in names:
        print(f"deployed {name} to pool {args.pool}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["register"]:
        register_deployments(sys.argv[2:])
    else:
        serve_deployments()
