"""Throw-away PostgreSQL databases on the server the tests use, for tests and benchmarks alike.

Test support, not product code: it lives beside ``loopback.py`` so that benchmarks (run as
``python benchmarks/x.py`` with the repository root on ``sys.path``) share it without the application
package carrying it. Importing it does not import pytest or the test fixtures.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from threatwatch.db.engine import engine_for

# The local server DEVELOPERS.md describes; CI starts it. Override to point elsewhere.
POSTGRES_ADMIN_URL = os.environ.get(
    "THREATWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def throwaway_database(
    prefix: str = "threatwatch_test",
    *,
    driver: str | None = None,
    keep: bool = False,
    admin_url: str = POSTGRES_ADMIN_URL,
) -> Iterator[str]:
    """Create ``<prefix>_<random>`` and yield its URL; afterwards drop it, connections and all.

    ``driver`` swaps the URL's driver (Prefect wants ``postgresql+asyncpg``); ``keep`` leaves the
    database for inspection. The server must be up: a test that needs it fails rather than skips.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name)
        try:
            yield (url.set(drivername=driver) if driver else url).render_as_string(hide_password=False)
        finally:
            # The pool this process keeps for the database (engine_for caches one per URL).
            engine_for(url.render_as_string(hide_password=False)).dispose()
            if not keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
