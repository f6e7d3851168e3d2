"""The retraining flow: assemble labels, train a challenger, compare it with the champion, promote or reject.

Triggered by schedule (``retrain`` deployment), after N new labels (``retrain-on-labels`` checks the count
and starts this flow), or by hand (``threatwatch retrain``). Each task is a thin call into
``threatwatch.retrain.run``; a crash in any of them leaves the champion and ``models/CURRENT`` untouched.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.types import utcnow
from threatwatch.flows.start import start_run
from threatwatch.registry import current_model_path
from threatwatch.retrain.dataset import AssembledData
from threatwatch.retrain.run import (
    Evaluated,
    Staged,
    conclude,
    evaluate_challenger,
    prepare,
    train_challenger,
)
from threatwatch.retrain.trigger import retrain_due


@dataclass
class RetrainSummary:
    challenger: str
    champion: str
    promoted: bool
    reason: str
    path: str
    counts: dict[str, int]
    kappa: float | None
    double_labelled: int


@task(cache_policy=NO_CACHE, task_run_name="assemble-labels")
def assemble_task(settings: Settings, work_dir: Path) -> AssembledData:
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        return prepare(session, settings=settings, work_dir=work_dir, now=utcnow())


@task(cache_policy=NO_CACHE, task_run_name="train-challenger")
def train_task(
    settings: Settings, data_dir: Path, stage: str, transformer_args: dict[str, Any] | None
) -> Staged:
    arguments = None
    if transformer_args:
        from threatwatch.classify.transformer.stage import TransformerTrainingArguments

        arguments = TransformerTrainingArguments(**transformer_args)
    return train_challenger(
        data_dir=data_dir,
        model_dir=settings.model_dir,
        cache_dir=settings.cache_dir,
        stage=stage,
        transformer_args=arguments,
    )


@task(cache_policy=NO_CACHE, task_run_name="compare-with-champion")
def evaluate_task(staged: Staged, data: AssembledData, settings: Settings, champion_path: Path) -> Evaluated:
    return evaluate_challenger(staged, data=data, settings=settings, champion_path=champion_path)


@task(cache_policy=NO_CACHE, task_run_name="promote-or-reject")
def conclude_task(
    staged: Staged, evaluated: Evaluated, settings: Settings, trigger: str
) -> tuple[bool, str, Path]:
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        return conclude(session, staged, evaluated, settings=settings, trigger=trigger, now=utcnow())


@flow(name="retrain", log_prints=False)
def retrain_flow(
    settings_overrides: dict[str, Any] | None = None,
    trigger: str = "manual",
    stage: str | None = None,
    transformer_args: dict[str, Any] | None = None,
) -> RetrainSummary:
    """One retraining run; the comparison is published as a Prefect markdown artifact.
    ``transformer_args`` override ``TransformerTrainingArguments`` of the cascade stage (tests use a
    few steps)."""
    logger = get_run_logger()
    settings = start_run(settings_overrides)
    champion_path = current_model_path(settings.model_dir)
    work_dir = Path(tempfile.mkdtemp(prefix="threatwatch-retrain-"))
    staged: Staged | None = None
    try:
        data = assemble_task(settings, work_dir)
        staged = train_task(settings, data.directory, stage or settings.retrain_stage, transformer_args)
        evaluated = evaluate_task(staged, data, settings, champion_path)
        promoted, reason, path = conclude_task(staged, evaluated, settings, trigger)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        if staged is not None:
            shutil.rmtree(staged.staging, ignore_errors=True)
    create_markdown_artifact(
        key="retrain-comparison",
        markdown=evaluated.markdown,
        description=f"{staged.name} vs {champion_path.name}: {'promoted' if promoted else 'rejected'}",
    )
    quality = data.agreement
    summary = RetrainSummary(
        challenger=staged.name,
        champion=champion_path.name,
        promoted=promoted,
        reason=reason,
        path=str(path),
        counts=data.counts(),
        kappa=quality.kappa,
        double_labelled=quality.items,
    )
    logger.info("retrain: %s", summary)
    return summary


@flow(name="retrain-on-labels", log_prints=False)
def retrain_when_due_flow(settings_overrides: dict[str, Any] | None = None) -> RetrainSummary | None:
    """Start a retraining run once ``retrain_after_new_labels`` labels arrived since the last one."""
    logger = get_run_logger()
    settings = start_run(settings_overrides)
    with session_factory(engine_for(settings.database_url))() as session:
        due, count = retrain_due(session, threshold=settings.retrain_after_new_labels)
    logger.info(
        "%d new labels since the last retraining (threshold %d)", count, settings.retrain_after_new_labels
    )
    if not due:
        return None
    return retrain_flow(settings_overrides, trigger="labels")
