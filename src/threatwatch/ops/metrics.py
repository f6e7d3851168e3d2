"""Prometheus metrics: in-process instruments, plus counts read from the database at scrape time.

Reading counts at scrape time (rather than counting in each process) keeps them right with any number
of workers and web processes: the database is the one place every process writes to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import column, func, inspect, select, table
from sqlalchemy.orm import Session

from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Post, ReviewItem, Source
from threatwatch.db.types import utcnow

logger = logging.getLogger(__name__)

CLASSIFICATION_SECONDS = Histogram(
    "threatwatch_classification_batch_seconds",
    "Wall time to classify one batch of posts (intake), in seconds.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
CLASSIFIED_POSTS = Counter("threatwatch_classified_posts", "Posts classified by this process.")
WAITING_STATUSES = ("open", "claimed")


def observe_classification(seconds: float, posts: int) -> None:
    """Record one classified batch (called by review intake)."""
    CLASSIFICATION_SECONDS.observe(seconds)
    CLASSIFIED_POSTS.inc(posts)


class DatabaseCollector(Collector):
    """Posts per source, queue depth and age, alerts by status: read fresh at every scrape."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def collect(self) -> Iterator[Metric]:
        with session_factory(engine_for(self.database_url))() as session:
            yield from self._collect(session, now=utcnow())

    def _collect(self, session: Session, *, now: datetime) -> Iterator[Metric]:
        posts = GaugeMetricFamily(
            "threatwatch_posts_collected", "Posts stored per source.", labels=["source_id", "source"]
        )
        rows = session.execute(
            select(Source.id, Source.name, func.count(Post.id))
            .outerjoin(Post, Post.source_id == Source.id)
            .group_by(Source.id, Source.name)
            .order_by(Source.id)
        )
        for source_id, name, count in rows:
            posts.add_metric([str(source_id), name], count)
        yield posts

        depth = GaugeMetricFamily("threatwatch_queue_items", "Review items per status.", labels=["status"])
        for status, count in session.execute(
            select(ReviewItem.status, func.count()).group_by(ReviewItem.status).order_by(ReviewItem.status)
        ):
            depth.add_metric([status], count)
        yield depth

        oldest = session.scalar(
            select(func.min(ReviewItem.created_at)).where(ReviewItem.status.in_(WAITING_STATUSES))
        )
        yield GaugeMetricFamily(
            "threatwatch_queue_oldest_age_seconds",
            "Age of the oldest open or claimed review item (0 when the queue is empty).",
            value=0.0 if oldest is None else max(0.0, (now - _aware(oldest)).total_seconds()),
        )

        bind = session.get_bind()
        if inspect(bind).has_table("alerts"):
            alerts = table("alerts", column("status"))
            family = GaugeMetricFamily(
                "threatwatch_alerts",
                "Alerts per delivery status (sent, failed, pending...).",
                labels=["status"],
            )
            for status, count in session.execute(
                select(alerts.c.status, func.count()).group_by(alerts.c.status).order_by(alerts.c.status)
            ):
                family.add_metric([str(status)], count)
            yield family


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def render_metrics(database_url: str) -> bytes:
    """The text exposition of this process's instruments and the database counts."""
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(database_url))
    return generate_latest(REGISTRY) + generate_latest(database)
