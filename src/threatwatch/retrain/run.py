"""The steps of a retraining run as plain functions; ``threatwatch.flows.retrain`` composes them (the
one orchestrator: schedules, the CLI, tests and ``benchmarks/retrain.py`` all run that flow).

Crash safety: the challenger is trained into ``models/.staging-<id>/`` and renamed into ``models/`` only
when it is complete; ``CURRENT`` is swapped (atomic replace) only after the promotion rule said yes. A
crash anywhere before leaves the champion and ``CURRENT`` untouched and removes the staging folder.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from threatwatch.classify.training.train import Progress
from threatwatch.config import Settings
from threatwatch.registry import load_model, versions
from threatwatch.retrain.compare import (
    TEST,
    WINDOW,
    Comparison,
    Verdict,
    compare,
    compare_world,
    promotion_verdict,
    write_comparison_card,
)
from threatwatch.retrain.dataset import AssembledData, assemble
from threatwatch.retrain.labels import all_records, group_items
from threatwatch.retrain.quality import model_disagreements

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"


class RetrainError(RuntimeError):
    pass


@dataclass(frozen=True)
class Staged:
    """A trained challenger not yet visible in ``models/``."""

    staging: Path
    path: Path
    name: str
    kind: str
    train_seconds: float


@dataclass(frozen=True)
class Evaluated:
    comparisons: list[Comparison]
    verdict: Verdict
    markdown: str


def prepare(session: Session, *, settings: Settings, work_dir: Path, now: datetime) -> AssembledData:
    """Register the live model if the registry has not seen it, then assemble the data."""
    versions.sync_with_current(session, model_dir=settings.model_dir, now=now)
    items = group_items(all_records(session))
    return assemble(
        items,
        labelled_data_dir=settings.labelled_data_dir,
        work_dir=work_dir,
        window_share=settings.retrain_window_share,
    )


def train_challenger(
    *,
    data_dir: Path,
    model_dir: Path,
    cache_dir: Path,
    stage: str,
    seed: int = 13,
    transformer_args: Any = None,
    progress: Progress | None = None,
) -> Staged:
    """Train both stages (or the fast stage alone) into a fresh staging folder under ``model_dir``."""
    from threatwatch.classify.training.train import STAGES, train_model

    if stage not in STAGES:
        raise RetrainError(f"unknown stage {stage!r}: use one of {', '.join(STAGES)}")
    staging = model_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    staging.mkdir(parents=True)
    try:
        report = train_model(
            stage=stage,
            data_dir=data_dir,
            model_dir=staging,
            cache_dir=cache_dir,
            seed=seed,
            transformer_args=transformer_args,
            progress=progress,
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Staged(staging, report.path, report.version, stage, report.seconds)


def evaluate_challenger(
    staged: Staged, *, data: AssembledData, settings: Settings, champion_path: Path
) -> Evaluated:
    """Both models on the fixed test split and on the window; the verdict and the comparison card."""
    champion = load_model(champion_path, cache_dir=settings.cache_dir)
    challenger = load_model(staged.path, cache_dir=settings.cache_dir)
    comparisons = [
        compare(TEST, champion, challenger, data.test),
        compare(WINDOW, champion, challenger, data.window_examples),
    ]
    world = compare_world(champion, challenger, settings.labelled_data_dir)
    verdict = promotion_verdict(
        comparisons,
        f1_margin=settings.retrain_f1_margin,
        agreement=data.agreement,
        min_kappa=settings.retrain_min_kappa,
        min_agreement_items=settings.retrain_min_agreement_items,
        world=world,
        stream_margin=settings.retrain_stream_false_flag_margin,
        functional_case_margin=settings.retrain_functional_case_margin,
    )
    doubtful = model_disagreements(data.added, challenger)
    markdown = write_comparison_card(
        staged.path,
        comparisons,
        verdict,
        champion=champion_path.name,
        challenger=staged.name,
        data_counts=data.counts(),
        world=world,
        extra={
            "adjudication": [c.__dict__ for c in data.conflicts + doubtful],
            "train_seconds": round(staged.train_seconds, 1),
        },
    )
    return Evaluated(comparisons, verdict, markdown)


def conclude(
    session: Session,
    staged: Staged,
    evaluated: Evaluated,
    *,
    settings: Settings,
    trigger: str,
    now: datetime,
) -> tuple[bool, str, Path]:
    """Move the challenger into ``models/``, record it, and promote it if the rule allows."""
    final = settings.model_dir / staged.name
    verdict = evaluated.verdict
    if final.exists():
        # Same data and arguments as a model we already have (the name hashes both): keep that one and
        # its registry row as they are.
        shutil.rmtree(staged.staging, ignore_errors=True)
        return False, f"identical to the existing model {staged.name} (same data and arguments)", final
    staged.path.rename(final)
    shutil.rmtree(staged.staging, ignore_errors=True)
    metrics = {c.name: c.summary() for c in evaluated.comparisons}
    row = versions.record(
        session,
        name=staged.name,
        kind=staged.kind,
        status=versions.CANDIDATE,
        reason=verdict.reason,
        trigger=trigger,
        metrics=metrics,
        now=now,
    )
    if verdict.promote:
        versions.promote(
            session,
            model_dir=settings.model_dir,
            name=staged.name,
            reason=verdict.reason,
            actor=f"retraining ({trigger})",
            now=now,
        )
    else:
        row.status = versions.REJECTED
    session.flush()
    return verdict.promote, verdict.reason, final
