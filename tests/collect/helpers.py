"""Shared pieces of the collection tests: fixtures on disk, a round of collection, counting rows."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.collect.run import SourceRunReport
from threatwatch.config import Settings
from threatwatch.flows.collect import collect_flow

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def run_round(settings: Settings, *, force: bool = True) -> dict[int, SourceRunReport]:
    """One round of the collection flow (as scheduled, without its classification step), by source."""
    summary = collect_flow(settings_overrides=settings.model_dump(), force=force, classify=False)
    return {r.source_id: r for r in summary.reports}


def count(session: Session, model: type, *where: object) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]
