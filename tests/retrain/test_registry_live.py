"""Model registry (SQLite and PostgreSQL), the live-model loader, and active learning."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from threatwatch.classify.fast import CONFIG_FILE
from threatwatch.db.models import AuditEvent, Classification, ModelVersion, Post, ReviewItem
from threatwatch.registry import CURRENT_FILE
from threatwatch.registry.live import LiveModel
from threatwatch.registry.pointer import set_current_model
from threatwatch.registry.versions import RegistryError, history, promote, rollback, sync_with_current
from threatwatch.retrain.active import UNCERTAIN_PRIORITY, fill_uncertain

from ..replay import replay_decisions

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _clone(model_dir: Path, name: str) -> str:
    """The champion's weights under another name: a real, loadable model with its own version."""
    source = model_dir / (model_dir / CURRENT_FILE).read_text().strip()
    shutil.copytree(source, model_dir / name)
    config = json.loads((model_dir / name / CONFIG_FILE).read_text())
    (model_dir / name / CONFIG_FILE).write_text(json.dumps({**config, "version": name}))
    return name


def test_promote_rollback_history(session: Session, model_dir: Path) -> None:
    shipped = (model_dir / CURRENT_FILE).read_text().strip()
    second, third = _clone(model_dir, "fast-b"), _clone(model_dir, "fast-c")
    promote(session, actor="anna", model_dir=model_dir, name=second, reason="better", now=NOW)
    promote(
        session,
        actor="anna",
        model_dir=model_dir,
        name=third,
        reason="better still",
        now=NOW + timedelta(hours=1),
    )
    session.commit()
    assert (model_dir / CURRENT_FILE).read_text().strip() == third
    statuses = {v.name: v.status for v in history(session)}
    assert statuses == {shipped: "retired", second: "retired", third: "live"}

    assert (
        rollback(
            session, actor="anna", model_dir=model_dir, reason="false flags", now=NOW + timedelta(hours=2)
        ).name
        == second
    )
    assert (
        rollback(
            session, actor="anna", model_dir=model_dir, reason="still bad", now=NOW + timedelta(hours=3)
        ).name
        == shipped
    )
    session.commit()
    assert (model_dir / CURRENT_FILE).read_text().strip() == shipped
    rows = {v.name: (v.status, v.reason) for v in history(session)}
    assert rows[third] == ("rejected", "rolled back: false flags")
    assert rows[second] == ("rejected", "rolled back: still bad")
    assert rows[shipped][0] == "live"
    audited = session.execute(
        select(AuditEvent.action, AuditEvent.object_id)
        .where(AuditEvent.object_type == "model")
        .order_by(AuditEvent.id)
    ).all()
    assert [tuple(a) for a in audited] == [
        ("model.promote", second),
        ("model.promote", third),
        ("model.promote", second),
        ("model.rollback", second),
        ("model.promote", shipped),
        ("model.rollback", shipped),
    ]
    with pytest.raises(RegistryError, match="no earlier live model"):
        rollback(session, actor="anna", model_dir=model_dir, reason="again", now=NOW + timedelta(hours=4))
    with pytest.raises(RegistryError, match="not found"):
        promote(session, actor="anna", model_dir=model_dir, name="fast-missing", reason="x", now=NOW)
    assert (model_dir / CURRENT_FILE).read_text().strip() == shipped


def test_registry_follows_current_set_elsewhere(session: Session, model_dir: Path) -> None:
    other = _clone(model_dir, "fast-trained-by-hand")
    sync_with_current(session, model_dir=model_dir, now=NOW)
    set_current_model(model_dir, other)  # e.g. `threatwatch train --promote`
    live = sync_with_current(session, model_dir=model_dir, now=NOW)
    assert live is not None and live.name == other
    assert [v.status for v in session.scalars(select(ModelVersion).order_by(ModelVersion.id))] == [
        "retired",
        "live",
    ]


def test_live_model_picks_up_promotion_without_restart(model_dir: Path) -> None:
    live = LiveModel(model_dir, cache_dir=model_dir)
    first = live.get()
    assert live.get() is first  # unchanged pointer: no reload
    second = _clone(model_dir, "fast-promoted")
    set_current_model(model_dir, second)
    assert live.get().version == second
    assert live.get().predict(["Ik weet waar je woont"])[0].model_version == second
    pinned = LiveModel(model_dir, cache_dir=model_dir, pinned=first.version)
    assert pinned.get().version == first.version


def test_cli_models_list_promote_rollback(
    model_dir: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from threatwatch.cli import app
    from threatwatch.config import get_settings

    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("THREATWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("THREATWATCH_MODEL_DIR", str(model_dir))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        shipped = (model_dir / CURRENT_FILE).read_text().strip()
        other = _clone(model_dir, "fast-other")
        assert runner.invoke(app, ["models", "rollback"]).exit_code == 1  # nothing earlier yet
        result = runner.invoke(app, ["models", "promote", other, "--reason", "trial"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["models", "list", "--json"])
        rows = {r["name"]: r["status"] for r in json.loads(result.stdout)}
        assert rows == {shipped: "retired", other: "live"}
        result = runner.invoke(app, ["models", "rollback", "--reason", "too many false flags"])
        assert result.exit_code == 0, result.output
        assert (model_dir / CURRENT_FILE).read_text().strip() == shipped
        result = runner.invoke(app, ["models", "promote", "nope"])
        assert result.exit_code == 1 and "not found" in result.output
    finally:
        get_settings.cache_clear()


def _classified(session: Session, count: int, *, version: str) -> None:
    replay_decisions(session, [("x", "none")], analyst_name="anna", start=NOW)  # creates the source
    source_id = session.scalar(select(Post.source_id))
    for i in range(count):
        post = Post(source_id=source_id, external_id=f"p{i}", text=f"bericht {i}", content_hash=f"h{i}")
        session.add(post)
        session.flush()
        doubt = i / count  # post 0 is the surest, the last the least sure
        scores = {
            "threat": 0.0,
            "coercion": 0.0,
            "doxxing": 0.0,
            "abuse": 0.5 * doubt,
            "none": 1 - 0.5 * doubt,
        }
        session.add(
            Classification(post_id=post.id, model_version=version, label="none", flagged=False, scores=scores)
        )
    session.flush()


def test_active_learning_fills_its_share_with_the_least_sure(session: Session) -> None:
    _classified(session, 40, version="m1")
    for i in range(19):  # 19 open flagged items
        post = session.scalars(select(Post).where(Post.external_id == f"p{i}")).one()
        classification = session.scalars(
            select(Classification).where(Classification.post_id == post.id)
        ).one()
        session.add(
            ReviewItem(post_id=post.id, classification_id=classification.id, status="open", priority=0.9)
        )
    session.flush()

    added = fill_uncertain(session, share=0.05, model_version="m1", now=NOW)
    assert added == 1  # 1 of 20 open items = 5%
    chosen = session.scalars(select(ReviewItem).where(ReviewItem.reason == "uncertain")).one()
    assert chosen.post.external_id == "p39" and chosen.priority == UNCERTAIN_PRIORITY
    assert fill_uncertain(session, share=0.05, model_version="m1", now=NOW) == 0  # already at its share
    assert fill_uncertain(session, share=0.2, model_version="m1", now=NOW) == 4  # 5 of 24 -> 20%
    assert fill_uncertain(session, share=0.5, model_version="other", now=NOW) == 0  # nothing by that model
