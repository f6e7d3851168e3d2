"""Database administration a container start needs before migrations: wait for the server, create a
database that does not exist yet. Compose and orchestrators start services in parallel, so each
service waits for what it needs itself instead of relying on the orchestrator's health ordering."""

from __future__ import annotations

import logging
import time

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from threatwatch.db.engine import create_db_engine

logger = logging.getLogger(__name__)

#: SQLAlchemy URLs of async drivers (Prefect's ``postgresql+asyncpg``) are reached with psycopg here.
SYNC_DRIVER = "postgresql+psycopg"
DUPLICATE_DATABASE = "42P04"


class DatabaseUnavailableError(RuntimeError):
    """The server did not accept connections within the time allowed; the message has the last error."""


def _sync(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername=SYNC_DRIVER)
    return parsed


def wait_for_database(url: str | URL, *, timeout_s: float, interval_s: float = 1.0) -> None:
    """Return once ``SELECT 1`` succeeds on ``url``; raise `DatabaseUnavailableError` after ``timeout_s``."""
    engine = create_db_engine(_sync(url).render_as_string(hide_password=False), pool_pre_ping=False)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return
            except OperationalError as exc:
                if time.monotonic() >= deadline:
                    reason = str(exc.orig or exc).strip().splitlines()[0]
                    raise DatabaseUnavailableError(
                        f"{_sync(url).render_as_string()} not reachable after {timeout_s:.0f} s: {reason}"
                    ) from exc
                logger.info("waiting for the database: %s", exc.orig or exc)
                time.sleep(interval_s)
    finally:
        engine.dispose()


def create_database(url: str | URL, *, timeout_s: float = 0.0) -> bool:
    """Create the PostgreSQL database that ``url`` names if it does not exist (True if created), owned by
    the connecting user; waits up to ``timeout_s`` for the server first. SQLite files need nothing."""
    target = _sync(url)
    if target.get_backend_name() != "postgresql":
        return False
    if not target.database:
        raise ValueError("the URL names no database")
    maintenance = target.set(database="postgres")
    wait_for_database(maintenance, timeout_s=timeout_s)
    engine = create_db_engine(maintenance.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).first()
            if exists:
                return False
            quoted = engine.dialect.identifier_preparer.quote(target.database)
            try:
                conn.execute(text(f"CREATE DATABASE {quoted}"))
            except ProgrammingError as exc:
                if getattr(exc.orig, "sqlstate", None) == DUPLICATE_DATABASE:  # another starter won
                    return False
                raise
            logger.info("created database %s", target.database)
            return True
    finally:
        engine.dispose()
