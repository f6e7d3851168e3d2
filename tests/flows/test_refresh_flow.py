"""The scheduled priority refresh under a real (throw-away) Prefect API, and its deployment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipelines.deployments import build_deployments
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.flows.review import refresh_priorities_flow

from ..review.conftest import add_item, make_official, make_source


def test_refresh_flow_lifts_a_current_surge(
    prefect_harness: None, session: Session, settings: Settings
) -> None:
    now = datetime.now(UTC)
    source, mayor = make_source(session), make_official(session, "Anna de Vries")
    items = [
        add_item(session, source=source, officials=(mayor,), score=0.8, created_at=now - timedelta(minutes=n))
        for n in range(3)
    ]
    lone = add_item(session, source=source, score=0.8, created_at=now)
    session.commit()
    assert refresh_priorities_flow(settings_overrides={"database_url": settings.database_url}) == 3
    for item in [*items, lone]:
        session.refresh(item)
    assert [i.priority for i in items] == [0.9, 0.9, 0.9] and lone.priority == 0.8
    assert refresh_priorities_flow(settings_overrides={"database_url": settings.database_url}) == 0


def test_refresh_is_scheduled_with_the_configured_interval(settings: Settings) -> None:
    deployments = {
        d.name: d for d in build_deployments(settings.model_copy(update={"queue_refresh_interval_s": 120}))
    }
    schedule = deployments["refresh-queue-priorities"].schedules[0].schedule
    assert schedule.interval == timedelta(minutes=2)  # type: ignore[union-attr]
