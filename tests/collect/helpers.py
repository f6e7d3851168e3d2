"""Shared pieces of the collection tests: fixtures on disk, a round of collection, counting rows."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.collect.run import SourceRunReport, collect_round
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def run_round(settings: Settings, *, force: bool = True) -> dict[int, SourceRunReport]:
    sessions = session_factory(engine_for(settings.database_url))
    return {r.source_id: r for r in collect_round(sessions, settings=settings, force=force)}


def count(session: Session, model: type, *where: object) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]
