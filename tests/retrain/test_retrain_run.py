"""Real retraining runs through the retraining flow (fast stage, small real data) on SQLite and
PostgreSQL: promotion, rejection, a crash mid-training, the artifact and the trigger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.classify.training import train as training
from threatwatch.config import Settings
from threatwatch.db.models import ModelVersion
from threatwatch.flows.retrain import RetrainSummary, retrain_flow, retrain_when_due_flow
from threatwatch.registry import CURRENT_FILE
from threatwatch.registry.versions import rollback
from threatwatch.retrain.compare import COMPARISON_FILE, COMPARISON_METRICS_FILE, TEST, WINDOW
from threatwatch.retrain.run import STAGING_PREFIX

from ..replay import replay_decisions

START = datetime(2026, 11, 1, tzinfo=UTC)
WRONG = {"threat": "none", "coercion": "none", "doxxing": "none", "abuse": "threat", "none": "threat"}


pytestmark = pytest.mark.usefixtures("prefect_harness")


def _model_dirs(model_dir: Path) -> set[str]:
    return {p.name for p in model_dir.iterdir() if p.is_dir()}


def _overrides(settings: Settings, **extra: Any) -> dict[str, Any]:
    overrides: dict[str, Any] = json.loads(settings.model_dump_json())
    return {**overrides, **extra}


def test_added_labels_promote_and_rollback_restores(
    session: Session, retrain_settings: Settings, pool: list[tuple[str, str]]
) -> None:
    champion = (retrain_settings.model_dir / CURRENT_FILE).read_text().strip()
    replay_decisions(session, pool, analyst_name="anna", start=START)
    session.commit()

    result = retrain_flow(_overrides(retrain_settings))
    path = Path(result.path)

    assert result.promoted, result.reason
    assert result.counts["evaluation_window"] == len(pool) // 5
    assert result.counts["analyst_labels_added"] == len(pool) - len(pool) // 5
    assert (retrain_settings.model_dir / CURRENT_FILE).read_text().strip() == result.challenger
    card = (path / COMPARISON_FILE).read_text()
    assert "PROMOTED" in card and TEST in card and WINDOW in card and "confusion" in card
    metrics = json.loads((path / COMPARISON_METRICS_FILE).read_text())
    window = metrics["evaluations"][WINDOW]
    assert window["n"] == len(pool) // 5
    assert window["challenger"]["flagged_recall"] >= window["champion"]["flagged_recall"]
    assert (path / "comparison" / "1-challenger" / "reliability.png").is_file()
    rows = {v.name: v.status for v in session.scalars(select(ModelVersion))}
    assert rows == {champion: "retired", result.challenger: "live"}

    restored = rollback(
        session, actor="anna", model_dir=retrain_settings.model_dir, reason="test", now=datetime.now(UTC)
    )
    session.commit()
    assert restored.name == champion
    assert (retrain_settings.model_dir / CURRENT_FILE).read_text().strip() == champion
    rows = {v.name: v.status for v in session.scalars(select(ModelVersion))}
    assert rows == {champion: "live", result.challenger: "rejected"}


def test_corrupted_labels_are_rejected_and_champion_stays(
    session: Session, retrain_settings: Settings, pool: list[tuple[str, str]]
) -> None:
    champion = (retrain_settings.model_dir / CURRENT_FILE).read_text().strip()
    corrupted = [(text, WRONG[label]) for text, label in pool]
    replay_decisions(session, corrupted, analyst_name="mallory", start=START)
    session.commit()

    result = retrain_flow(_overrides(retrain_settings))
    path = Path(result.path)

    assert not result.promoted
    # Analysts' wrong labels fill the window too, so it is the fixed test split that catches them.
    assert f"{TEST}: flagged" in result.reason
    assert (retrain_settings.model_dir / CURRENT_FILE).read_text().strip() == champion
    assert path.is_dir()  # kept, for inspection, as rejected
    row = session.scalar(select(ModelVersion).where(ModelVersion.name == result.challenger))
    assert row is not None and row.status == "rejected" and row.reason == result.reason
    assert "REJECTED" in (path / COMPARISON_FILE).read_text()


class InjectedCrashError(RuntimeError):
    pass


def test_crash_during_training_leaves_champion_untouched(
    session: Session,
    retrain_settings: Settings,
    pool: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    champion = (retrain_settings.model_dir / CURRENT_FILE).read_text().strip()
    before = _model_dirs(retrain_settings.model_dir)
    replay_decisions(session, pool[:200], analyst_name="anna", start=START)
    session.commit()

    def crash_when_fitted(stage: str, done: int, total: int) -> None:
        if done == total:  # the fast stage is fitted and about to be tuned and saved
            raise InjectedCrashError(stage)

    real = training.train_fast_model

    def train_then_crash(**kwargs: Any) -> Any:
        return real(**{**kwargs, "progress": crash_when_fitted})

    monkeypatch.setattr(training, "train_fast_model", train_then_crash)
    with pytest.raises(InjectedCrashError):
        retrain_flow(_overrides(retrain_settings))

    assert (retrain_settings.model_dir / CURRENT_FILE).read_text().strip() == champion
    assert _model_dirs(retrain_settings.model_dir) == before
    assert not any(p.name.startswith(STAGING_PREFIX) for p in retrain_settings.model_dir.iterdir())
    # The registry knows the champion (the run registered it before training) and nothing else.
    rows = {v.name: v.status for v in session.scalars(select(ModelVersion))}
    assert rows == {champion: "live"}


def test_flow_writes_artifact_and_registry(
    session: Session, retrain_settings: Settings, pool: list[tuple[str, str]]
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    overrides = _overrides(retrain_settings, retrain_after_new_labels=len(pool) + 1)
    replay_decisions(session, pool, analyst_name="anna", start=START, step=timedelta(seconds=30))
    session.commit()

    assert retrain_when_due_flow(overrides) is None  # one label short of the threshold

    summary = retrain_flow(overrides, trigger="manual")
    row = session.scalar(select(ModelVersion).where(ModelVersion.name == summary.challenger))
    assert row is not None and row.status == ("live" if summary.promoted else "rejected")
    assert row.trigger == "manual" and TEST in row.metrics and WINDOW in row.metrics
    current = (retrain_settings.model_dir / CURRENT_FILE).read_text().strip()
    assert current == (summary.challenger if summary.promoted else summary.champion)

    async def artifacts() -> list[str]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["retrain-comparison"]))
            )
            return [str(a.data) for a in found]

    import asyncio

    bodies = asyncio.run(artifacts())
    assert any(summary.challenger in body and "Champion vs challenger" in body for body in bodies)


def test_cascade_challenger_smoke(
    model_dir: Path, base_dir: Path, pool: list[tuple[str, str]], tmp_path: Path
) -> None:
    """Both cascade stages through the same run (the transformer for two steps only): the challenger is a
    real cascade directory, evaluated against the fast champion, and the rule decides. The cascade path
    does not touch the database differently, so one SQLite file of its own covers it."""
    from threatwatch.db.engine import engine_for, session_factory
    from threatwatch.db.migrate import upgrade_database

    from ..conftest import MODEL_CACHE

    url = f"sqlite:///{tmp_path / 'cascade.db'}"
    upgrade_database(url)
    settings = Settings(
        data_dir=tmp_path,
        database_url=url,
        model_dir=model_dir,
        cache_dir=MODEL_CACHE,
        labelled_data_dir=base_dir,
    )
    with session_factory(engine_for(url))() as session:
        replay_decisions(session, pool[:100], analyst_name="anna", start=START)
        session.commit()
        result: RetrainSummary = retrain_flow(
            _overrides(settings), stage="cascade", transformer_args={"max_steps": 2, "batch_size": 8}
        )
        row = session.scalar(select(ModelVersion).where(ModelVersion.name == result.challenger))
    engine_for(url).dispose()
    path = Path(result.path)
    assert result.challenger.startswith("cascade-")
    assert row is not None and row.kind == "cascade" and row.status in ("live", "rejected")
    assert (path / "transformer").is_dir() and (path / COMPARISON_FILE).is_file()
    current = (model_dir / CURRENT_FILE).read_text().strip()
    assert current == (result.challenger if result.promoted else result.champion)
