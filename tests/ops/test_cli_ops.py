"""The operations commands end to end on an embedded database: purge, export, erase, backup, restore."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from threatwatch.cli import app
from threatwatch.config import get_settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.migrate import upgrade_database
from threatwatch.db.models import Post

from . import rows

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("THREATWATCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("THREATWATCH_RETENTION_NONE_POST_DAYS", "10")
    get_settings.cache_clear()
    url = get_settings().database_url
    upgrade_database(url)
    now = datetime.now(UTC)
    with session_factory(engine_for(url))() as session, session.begin():
        feed = rows.source(session)
        rows.post(
            session, source_id=feed.id, external_id="old", collected_at=now - timedelta(days=11), author="a"
        )
        rows.post(
            session, source_id=feed.id, external_id="new", collected_at=now - timedelta(days=9), author="a"
        )
    yield url
    engine_for(url).dispose()
    get_settings.cache_clear()


def _texts(url: str) -> list[str]:
    with session_factory(engine_for(url))() as session:
        return list(session.scalars(select(Post.text).order_by(Post.id)))


def test_purge_dry_run_then_for_real_follows_the_configured_days(db_url: str) -> None:
    result = runner.invoke(app, ["purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would erase: 1 unflagged posts (>10 d)" in result.stdout
    assert _texts(db_url) == ["een bericht", "een bericht"]
    result = runner.invoke(app, ["purge"])
    assert result.exit_code == 0 and "erased: 1 unflagged posts" in result.stdout
    assert _texts(db_url) == ["", "een bericht"]


def test_export_then_erase_an_author(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "subject.json"
    result = runner.invoke(app, ["export-subject", "--author", "a", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text(encoding="utf-8"))["posts"]) == 2
    assert runner.invoke(app, ["erase-subject", "--author", "a"]).stdout.startswith("erased 2 posts")
    result = runner.invoke(app, ["export-subject", "--author", "a"])
    assert result.exit_code == 1 and "no posts by author 'a'" in result.output
    result = runner.invoke(app, ["export-subject"])
    assert result.exit_code == 1 and "exactly one of --author or --official" in result.output


def test_backup_and_restore_commands(db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "tw.db"
    result = runner.invoke(app, ["backup", str(target)])
    assert result.exit_code == 0 and "2 posts" in result.stdout, result.output
    runner.invoke(app, ["purge"])
    assert _texts(db_url)[0] == ""
    assert runner.invoke(app, ["restore", str(target)], input="n\n").exit_code == 1  # asked, refused
    assert _texts(db_url)[0] == ""
    result = runner.invoke(app, ["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert _texts(db_url) == ["een bericht", "een bericht"]
    result = runner.invoke(app, ["restore", str(tmp_path / "nope.db"), "--yes"])
    assert result.exit_code == 1 and "no backup file" in result.output


def test_deploy_says_where_the_prefect_server_must_be_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    result = runner.invoke(app, ["deploy", "--pool", "threatwatch"])
    assert result.exit_code == 1 and "set PREFECT_API_URL" in result.output
