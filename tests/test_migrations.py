"""Alembic: up, down and up again on both backends, and the schema matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from threatwatch.db.engine import create_db_engine
from threatwatch.db.migrate import current_revision, downgrade_database, upgrade_database
from threatwatch.db.models import Base


def test_migrations_match_models(migrated_url: str) -> None:
    engine = create_db_engine(migrated_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_up_again(migrated_url: str) -> None:
    head = current_revision(migrated_url)
    assert head is not None
    downgrade_database(migrated_url, "base")
    engine = create_db_engine(migrated_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade_database(migrated_url)
    assert current_revision(migrated_url) == head
