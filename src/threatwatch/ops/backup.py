"""Backup and restore of the embedded (SQLite) database with SQLite's online backup API.

The backup copies the whole database in one step under a read transaction: in WAL mode writers go
on meanwhile and the copy is a consistent snapshot of one moment. It is written beside the target
and renamed into place, so a crash never leaves half a backup under the final name.
PostgreSQL has its own tools (``pg_dump``/``pg_restore``); these functions refuse its URLs.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)


class BackupError(RuntimeError):
    """The backup or restore could not be made; nothing was changed."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    revision: str | None
    tables: dict[str, int]


def sqlite_path(database_url: str) -> Path:
    """The file behind a SQLite URL; a clear error for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"backup/restore here is for the embedded SQLite database; {url.get_backend_name()} has its own "
            "tools (for PostgreSQL: pg_dump -Fc and pg_restore)"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(url.database)


def _check(conn: sqlite3.Connection, what: str) -> tuple[str | None, dict[str, int]]:
    """Integrity check, and the schema revision and row counts (what a report shows)."""
    try:
        status = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} is not a readable SQLite database: {exc}") from exc
    if status is None or status[0] != "ok":
        raise BackupError(f"{what} failed SQLite's integrity check: {status}")
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    if "alembic_version" not in names:
        raise BackupError(f"{what} is not a threatwatch database (no alembic_version table)")
    revision_row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    tables = {
        name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
        for name in names
        if not name.startswith("sqlite_") and name != "alembic_version"
    }
    return (revision_row[0] if revision_row else None), tables


def backup_sqlite(database_url: str, target: Path) -> BackupReport:
    """Copy the live database to ``target`` (overwritten); safe while the app and flows write."""
    source = sqlite_path(database_url)
    if not source.exists():
        raise BackupError(f"no database at {source}")
    target = target.resolve()
    if target == source.resolve():
        raise BackupError("the backup target is the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(partial)) as dst:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)  # pages=-1: one step, one consistent snapshot
        revision, tables = _check(dst, "the backup")
    partial.replace(target)
    logger.info("backup of %s to %s at revision %s", source, target, revision)
    return BackupReport(path=target, bytes=target.stat().st_size, revision=revision, tables=tables)


def restore_sqlite(backup: Path, database_url: str) -> BackupReport:
    """Replace the database's contents with ``backup``'s, after checking the backup is sound.

    Stop the app and workers first: connections that stay open see the restored data, but work they
    had in flight is lost. Run ``threatwatch db upgrade`` afterwards when the backup is older.
    """
    target = sqlite_path(database_url)
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    with closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as src:
        _check(src, "the backup")
        target.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(target, timeout=30)) as dst:
            dst.execute("PRAGMA busy_timeout=30000")
            src.backup(dst)
            revision, tables = _check(dst, "the restored database")
    logger.info("restored %s from %s at revision %s", target, backup, revision)
    return BackupReport(path=target, bytes=target.stat().st_size, revision=revision, tables=tables)
