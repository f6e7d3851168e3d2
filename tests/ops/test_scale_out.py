"""Scale-out mode for real: a `prefect server` process on PostgreSQL, a process work pool, a `prefect
worker` process, the collection flow deployed from this checkout, a run triggered through the API, and
its results checked in the application's PostgreSQL database (feeds served on loopback)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from threatwatch.collect.sources import add_source
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.migrate import upgrade_database
from threatwatch.db.models import Classification, Mention, Post, Source
from threatwatch.domain import SourceKind
from threatwatch.ops.cluster import PrefectCluster, run_deployment_and_wait
from threatwatch.watchlist import import_officials

from ..conftest import DEMO_DIR, MODEL_CACHE, SHIPPED_MODELS
from ..loopback import LoopbackServer, Route
from ..postgres import throwaway_database

pytestmark = pytest.mark.slow
FEEDS = sorted((DEMO_DIR / "feeds").glob("*.xml"))


@pytest.fixture
def app_database() -> Iterator[str]:
    with throwaway_database() as url:
        upgrade_database(url)
        yield url


@pytest.fixture
def prefect_database() -> Iterator[str]:
    """Prefect's own database on the same PostgreSQL server (asyncpg driver, as Prefect requires)."""
    with throwaway_database("threatwatch_prefect", driver="postgresql+asyncpg") as url:
        yield url


def test_collection_deployed_to_a_work_pool_runs_on_a_worker(
    app_database: str, prefect_database: str, loopback: LoopbackServer, tmp_path: Path
) -> None:
    with session_factory(engine_for(app_database))() as session, session.begin():
        import_officials(session, path=DEMO_DIR / "watchlist.yaml")
        for feed in FEEDS:
            loopback.routes[f"/{feed.name}"] = Route(body=feed.read_bytes())
            add_source(session, url=loopback.url(f"/{feed.name}"), kind=SourceKind.FEED, poll_interval_s=60)

    app_env = {
        "THREATWATCH_DATABASE_URL": app_database,
        "THREATWATCH_DATA_DIR": str(tmp_path / "data"),
        "THREATWATCH_MODEL_DIR": str(SHIPPED_MODELS),
        "THREATWATCH_CACHE_DIR": str(MODEL_CACHE),
        "THREATWATCH_FETCH_RETRIES": "0",
    }
    with PrefectCluster(home=tmp_path / "prefect", database_url=prefect_database, app_env=app_env) as cluster:
        cluster.create_pool()
        cluster.start_worker("worker-1")
        # What an operator runs: `threatwatch deploy` registers every scheduled flow on the pool from
        # this checkout (paused here, so only the run triggered below happens).
        deployed = subprocess.run(
            [
                str(Path(sys.executable).with_name("threatwatch")),
                "deploy",
                "--pool",
                cluster.pool,
                "--paused",
            ],
            env=cluster.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert deployed.returncode == 0, deployed.stderr
        for name in ("collect/collect-feed", "collect/collect-mastodon", "purge/purge"):
            assert f"deployed {name} to pool {cluster.pool}" in deployed.stdout
        state = run_deployment_and_wait(cluster.api_url, name="collect/collect-feed", timeout_s=900)
        assert state == "Completed", cluster.log_tail("worker-1")
        # The run happened in the worker's process, not here: its log names the flow run.
        assert "collect" in cluster.log_tail("worker-1", chars=100_000)

    with session_factory(engine_for(app_database))() as session:
        posts = session.scalar(select(func.count()).select_from(Post)) or 0
        assert posts > 0
        assert session.scalar(select(func.count()).select_from(Classification)) == posts
        assert (session.scalar(select(func.count()).select_from(Mention)) or 0) > 0
        polled = session.scalars(select(Source.last_success_at)).all()
        assert len(polled) == len(FEEDS) and all(at is not None for at in polled)
    assert all(loopback.hits[f"/{feed.name}"] == 1 for feed in FEEDS)
