"""Alembic environment: online migrations against the URL that ``migrate.alembic_config`` set."""

from __future__ import annotations

from alembic import context

from threatwatch.db.engine import create_db_engine
from threatwatch.db.models import Base

config = context.config
#: pg_advisory_lock key that serialises concurrent upgrades ("threatwatch" in ASCII, truncated to int64).
MIGRATION_LOCK_KEY = 0x7468726561747761
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Replicas that all run `db upgrade` on start take turns: the first migrates, the others
                # then find the schema at head. The session-level lock outlives the commit and is
                # released when the connection closes.
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
                connection.commit()
            if connection.dialect.name == "sqlite":
                # Batch mode rebuilds a table (copy, DROP, rename); with foreign keys on, the DROP
                # cascades and deletes every row that refers to it (all posts when `sources` is rebuilt).
                # The pragma only takes effect outside a transaction, hence the commit.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                if broken:
                    raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `threatwatch db upgrade`")
run_migrations_online()
