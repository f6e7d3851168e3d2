"""The model registry: ``ModelVersion`` rows are the history, ``models/CURRENT`` is what is served.

``promote`` is the one way a model becomes live (the retraining flow, ``models promote``, ``train
--promote``): the rows, an audit record naming who, then the atomic ``CURRENT`` swap; a running
service notices the new pointer on its next batch (``registry.live``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch import audit
from threatwatch.classify.fast import CONFIG_FILE
from threatwatch.db.models import ModelVersion
from threatwatch.domain import ModelStatus
from threatwatch.registry.pointer import (
    CURRENT_FILE,
    ModelNotFoundError,
    current_model_path,
    current_name,
    model_kind,
    set_current_model,
)

logger = logging.getLogger(__name__)

LIVE, REJECTED, RETIRED, CANDIDATE = (
    ModelStatus.LIVE,
    ModelStatus.REJECTED,
    ModelStatus.RETIRED,
    ModelStatus.CANDIDATE,
)


class RegistryError(ValueError):
    pass


def get_version(session: Session, name: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.name == name))


def _retire_other_live(session: Session, *, keep: ModelVersion, now: datetime) -> None:
    """One model is live: every other ``live`` row is ``retired``."""
    for other in session.scalars(select(ModelVersion).where(ModelVersion.status == LIVE)):
        if other is not keep:
            other.status, other.retired_at = RETIRED, now


def sync_with_current(session: Session, *, model_dir: Path, now: datetime) -> ModelVersion | None:
    """Make the rows agree with ``CURRENT`` (the shipped model, or one set by ``train --promote``):
    the model it names is ``live``, any other ``live`` row is ``retired``."""
    name = current_name(model_dir)
    if name is None:
        return None
    path = current_model_path(model_dir, name)
    row = get_version(session, name)
    if row is None:
        row = ModelVersion(
            name=name,
            kind=model_kind(path),
            status=LIVE,
            reason="live when the registry first saw it",
            trigger="adopted",
            metrics=_card_metrics(path),
            created_at=now,
            promoted_at=now,
        )
        session.add(row)
    elif row.status != LIVE:
        row.status, row.promoted_at, row.retired_at = LIVE, now, None
        row.reason = f"{row.reason or ''} [made live outside the registry]".strip()
    _retire_other_live(session, keep=row, now=now)
    session.flush()
    return row


def _card_metrics(path: Path) -> dict[str, Any]:
    metrics = path / "metrics.json"
    if not metrics.is_file():
        return {}
    test = json.loads(metrics.read_text()).get("test", {})
    return {"test": {k: test.get(k) for k in ("flagged_recall", "flagged_f1", "macro_f1")}}


def record(
    session: Session,
    *,
    name: str,
    kind: str,
    status: ModelStatus,
    reason: str,
    trigger: str,
    metrics: dict[str, Any],
    now: datetime,
) -> ModelVersion:
    row = get_version(session, name)
    if row is None:
        row = ModelVersion(name=name, kind=kind, trigger=trigger, created_at=now)
        session.add(row)
    row.status, row.reason, row.metrics = status, reason, metrics
    session.flush()
    return row


def promote(
    session: Session, *, model_dir: Path, name: str, reason: str, actor: str, now: datetime
) -> ModelVersion:
    """Make ``name`` live: the rows and the audit record of ``actor`` first (flushed), then the atomic
    ``CURRENT`` swap; the caller commits."""
    try:
        path = current_model_path(model_dir, name)
    except ModelNotFoundError as exc:
        raise RegistryError(str(exc)) from None
    sync_with_current(session, model_dir=model_dir, now=now)
    row = get_version(session, name)
    if row is None:
        row = ModelVersion(
            name=name,
            kind=model_kind(path),
            status=CANDIDATE,
            trigger="manual",
            metrics=_card_metrics(path),
            created_at=now,
        )
        session.add(row)
    _retire_other_live(session, keep=row, now=now)
    row.status, row.reason, row.promoted_at, row.retired_at = LIVE, reason, now, None
    audit.record(
        session,
        actor=actor,
        action="model.promote",
        object_type="model",
        object_id=name,
        details={"reason": reason},
    )
    session.flush()
    set_current_model(model_dir, name)
    logger.info("model %s is live: %s", name, reason)
    return row


def rollback(session: Session, *, model_dir: Path, reason: str, actor: str, now: datetime) -> ModelVersion:
    """Put back the model that was live before the current one; the current one becomes ``rejected``
    (so a second rollback goes further back instead of flipping between two)."""
    live = sync_with_current(session, model_dir=model_dir, now=now)
    if live is None:
        raise RegistryError(f"no {CURRENT_FILE} in {model_dir}: nothing to roll back")
    previous = session.scalars(
        select(ModelVersion)
        .where(
            ModelVersion.status == RETIRED,
            ModelVersion.promoted_at.is_not(None),
            ModelVersion.id != live.id,
        )
        .order_by(ModelVersion.retired_at.desc(), ModelVersion.id.desc())
    ).first()
    if previous is None or not (model_dir / previous.name / CONFIG_FILE).is_file():
        raise RegistryError(f"no earlier live model to roll back to from {live.name}")
    promote(
        session, model_dir=model_dir, name=previous.name, reason=f"rollback: {reason}", actor=actor, now=now
    )
    audit.record(
        session,
        actor=actor,
        action="model.rollback",
        object_type="model",
        object_id=previous.name,
        details={"reason": reason, "from": live.name},
    )
    live.status, live.retired_at = REJECTED, now
    live.reason = f"rolled back: {reason}"
    session.flush()
    return previous


def history(session: Session) -> list[ModelVersion]:
    return list(
        session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc()))
    )
