"""Persistence: engine and sessions, ORM models, Alembic migrations."""

from threatwatch.db.engine import create_db_engine, engine_for, session_factory
from threatwatch.db.migrate import downgrade_database, upgrade_database

__all__ = ["create_db_engine", "downgrade_database", "engine_for", "session_factory", "upgrade_database"]
