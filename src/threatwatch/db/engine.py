"""Engine and session construction; the only place that knows about dialect quirks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite also create the parent folder and turn on foreign keys and WAL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # psycopg parses json/jsonb columns with this: a queue page reads ~150 JSON values (scores, spans,
    # officials), and orjson does that several times faster than the json module. (PostgreSQL refuses
    # NaN in JSON, so orjson's refusal of it cannot bite here; SQLite keeps the json module.)
    kwargs.setdefault("json_deserializer", orjson.loads)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


_engines: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """One engine (and pool) per URL per process, shared by flows, tasks and the web app."""
    if url not in _engines:
        _engines[url] = create_db_engine(url)
    return _engines[url]
