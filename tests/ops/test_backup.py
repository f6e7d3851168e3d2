"""Embedded-mode backup and restore with SQLite's online backup API, while a writer keeps writing."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from threatwatch.db.migrate import upgrade_database
from threatwatch.ops.backup import BackupError, backup_sqlite, restore_sqlite


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(path)) as conn:
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return {name: conn.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall() for name in names}


def _insert_audit(conn: sqlite3.Connection, n: int) -> None:
    conn.execute(
        "INSERT INTO audit_events (at, actor, action, details) VALUES (datetime('now'), ?, 'write', '{}')",
        (f"writer-{n}",),
    )
    conn.commit()


@pytest.fixture
def live_db(tmp_path: Path) -> Path:
    path = tmp_path / "live" / "threatwatch.db"
    upgrade_database(f"sqlite:///{path}")
    with closing(sqlite3.connect(path)) as conn:
        for n in range(200):
            _insert_audit(conn, n)
    return path


def test_backup_while_a_writer_is_active_then_restore(live_db: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{live_db}"
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        with closing(sqlite3.connect(live_db, timeout=30)) as conn:
            n = 1000
            while not stop.is_set():
                _insert_audit(conn, n)
                written.append(n)
                n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 50:  # the writer is really running before the backup starts
            time.sleep(0.01)
        report = backup_sqlite(url, tmp_path / "backups" / "tw.db")
        during = len(written)
        time.sleep(0.1)
    finally:
        stop.set()
        thread.join()

    backup_rows = _rows(report.path)
    count = len(backup_rows["audit_events"])
    # A consistent snapshot of one moment: the 200 first rows and a prefix of what the writer added.
    assert 200 + 50 <= count <= 200 + during + 1
    assert [r[2] for r in backup_rows["audit_events"][200:]] == [
        f"writer-{n}" for n in written[: count - 200]
    ]
    assert report.revision is not None and report.tables["audit_events"] == count
    assert not list(report.path.parent.glob(".*.partial"))

    # The live database moved on; restoring brings back exactly the backup.
    assert len(_rows(live_db)["audit_events"]) > count
    restored = restore_sqlite(report.path, url)
    assert _rows(live_db) == backup_rows
    assert restored.revision == report.revision

    # Restoring into a new place (a fresh machine) gives the same data too.
    elsewhere = tmp_path / "new-machine" / "threatwatch.db"
    restore_sqlite(report.path, f"sqlite:///{elsewhere}")
    assert _rows(elsewhere) == backup_rows


def test_restore_refuses_a_file_that_is_not_a_threatwatch_database(live_db: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    with closing(sqlite3.connect(bogus)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    before = _rows(live_db)
    with pytest.raises(BackupError, match="not a threatwatch database"):
        restore_sqlite(bogus, f"sqlite:///{live_db}")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BackupError, match="not a readable SQLite database"):
        restore_sqlite(garbage, f"sqlite:///{live_db}")
    assert _rows(live_db) == before  # nothing lost


def test_backup_refuses_other_databases_with_a_pointer_to_their_tools(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        backup_sqlite("postgresql+psycopg://postgres@127.0.0.1/x", tmp_path / "x.db")
    with pytest.raises(BackupError, match="no database"):
        backup_sqlite(f"sqlite:///{tmp_path / 'missing.db'}", tmp_path / "x.db")
    with pytest.raises(BackupError, match="no backup file"):
        restore_sqlite(tmp_path / "missing.db", f"sqlite:///{tmp_path / 'x.db'}")
