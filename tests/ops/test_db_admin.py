"""What a container start relies on before it migrates: waiting for the database server, creating
Prefect's database once, and replicas that run `db upgrade` at the same moment (compose's app and
deploy job both do)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from threatwatch.cli import app
from threatwatch.db.admin import DatabaseUnavailableError, create_database, wait_for_database
from threatwatch.db.migrate import current_revision
from threatwatch.ops.cluster import free_port

from ..postgres import POSTGRES_ADMIN_URL, throwaway_database


def _exists(name: str) -> bool:
    engine = create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
                is not None
            )
    finally:
        engine.dispose()


def _drop(name: str) -> None:
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def test_create_database_makes_a_missing_database_once_whatever_the_driver() -> None:
    name = f"threatwatch_prefect_{uuid.uuid4().hex[:8]}"
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    try:
        assert create_database(url.render_as_string(hide_password=False)) is True
        assert _exists(name)
        assert create_database(url.render_as_string(hide_password=False)) is False  # a restart
        result = CliRunner().invoke(app, ["db", "create-database", url.render_as_string(hide_password=False)])
        assert result.exit_code == 0 and f"database {name} already there" in result.output
    finally:
        _drop(name)


def test_sqlite_needs_no_database_created(tmp_path: object) -> None:
    assert create_database(f"sqlite:///{tmp_path}/x.db") is False


def test_waiting_for_a_server_that_never_answers_ends_with_a_clear_error() -> None:
    url = f"postgresql+psycopg://threatwatch:secret@127.0.0.1:{free_port()}/threatwatch"
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError) as caught:
        wait_for_database(url, timeout_s=1.5, interval_s=0.2)
    assert 1.5 <= time.monotonic() - started < 15
    assert "not reachable after 2 s" in str(caught.value) and "secret" not in str(caught.value)
    result = CliRunner().invoke(
        app, ["db", "create-database", url.replace("/threatwatch", "/prefect"), "--wait", "1"]
    )
    assert result.exit_code == 1 and "not reachable" in result.output


def test_replicas_upgrading_at_once_take_turns() -> None:
    """Without the advisory lock, concurrent first migrations collide on CREATE TABLE."""
    with throwaway_database("threatwatch_concurrent") as url:
        script = (
            "import sys; from threatwatch.db.migrate import upgrade_database; upgrade_database(sys.argv[1])"
        )
        processes = [
            subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        errors = [p.communicate(timeout=300)[1] for p in processes]
        assert [p.returncode for p in processes] == [0, 0, 0], errors
        assert current_revision(url) is not None
