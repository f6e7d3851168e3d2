"""The scheduled retention flow under a real (throw-away) Prefect API, and its deployment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipelines.deployments import build_deployments
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.models import DailyCount, Post
from threatwatch.flows.purge import purge_flow

from ..ops import rows


def test_purge_flow_erases_expired_posts_and_keeps_counts(
    prefect_harness: None, session: Session, settings: Settings
) -> None:
    now = datetime.now(UTC)
    feed = rows.source(session)
    rows.post(session, source_id=feed.id, external_id="old", collected_at=now - timedelta(days=40))
    rows.post(session, source_id=feed.id, external_id="new", collected_at=now - timedelta(days=1))
    session.commit()

    report = purge_flow(
        settings_overrides={"database_url": settings.database_url, "retention_none_post_days": 30}
    )
    assert report.not_flagged_posts == 1
    session.expire_all()
    assert sorted(session.scalars(select(Post.text))) == ["", "een bericht"]
    assert session.scalar(select(func.sum(DailyCount.posts))) == 1


def test_purge_is_scheduled_with_the_configured_interval(settings: Settings) -> None:
    deployments = {
        d.name: d for d in build_deployments(settings.model_copy(update={"purge_interval_s": 3600}))
    }
    schedule = deployments["purge"].schedules[0].schedule
    assert schedule.interval == timedelta(hours=1)  # type: ignore[union-attr]
