"""Alembic on both backends: the schema matches the models, every revision goes up, down and up again
from the first one, and an old database keeps its rows through ``db upgrade``.

Generic over the revision list (read from the scripts), so new revisions are covered as they land.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect, select
from sqlalchemy.engine import make_url

from threatwatch.db.engine import create_db_engine
from threatwatch.db.migrate import alembic_config, current_revision, downgrade_database, upgrade_database
from threatwatch.db.models import Base

from .postgres import throwaway_database

SchemaShape = dict[str, dict[str, Any]]


def _revisions() -> list[str]:
    """Every revision, oldest first; the chain must be linear (one head, one base)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each backend with nothing in it, for this test alone."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        with throwaway_database() as url:
            yield url


def _with_engine(url: str) -> Engine:
    return create_db_engine(url)


def _shape(url: str) -> SchemaShape:
    """Tables with their columns (type, nullability), indexes, unique constraints and foreign keys."""
    engine = _with_engine(url)
    try:
        insp = inspect(engine)
        shape: SchemaShape = {}
        for name in sorted(insp.get_table_names()):
            if name == "alembic_version":
                continue
            shape[name] = {
                "columns": {c["name"]: (str(c["type"]), c["nullable"]) for c in insp.get_columns(name)},
                "indexes": sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes(name)),
                "unique": sorted(
                    (u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(name)
                ),
                "foreign_keys": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                    for f in insp.get_foreign_keys(name)
                ),
            }
        return shape
    finally:
        engine.dispose()


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


@pytest.mark.slow
def test_each_revision_goes_up_down_and_up_again(empty_url: str) -> None:
    revisions = _revisions()
    assert revisions[0] == "0001"
    shapes: dict[str, SchemaShape] = {"base": {}}
    previous = "base"
    for revision in revisions:
        upgrade_database(empty_url, revision)
        assert current_revision(empty_url) == revision
        shapes[revision] = _shape(empty_url)
        downgrade_database(empty_url, previous)
        assert current_revision(empty_url) == (None if previous == "base" else previous)
        assert _shape(empty_url) == shapes[previous], f"downgrade of {revision} left the schema changed"
        upgrade_database(empty_url, revision)
        assert _shape(empty_url) == shapes[revision], f"{revision} up again differs from its first upgrade"
        previous = revision
    assert current_revision(empty_url) == revisions[-1]
    downgrade_database(empty_url, "base")
    assert _shape(empty_url) == {}


def _first_schema_rows(aware: bool) -> list[tuple[str, dict[str, Any]]]:
    """A small but complete data set in the first revision's schema (every table holds a row)."""
    at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    if not aware:
        at = at.replace(tzinfo=None)
    return [
        ("officials", {"id": 1, "name": "Anna de Vries", "role": "burgemeester", "organisation": "Noord",
                       "aliases": ["A. de Vries"], "handles": ["@annadv"], "created_at": at}),
        ("sources", {"id": 1, "kind": "feed", "url": "https://example.org/feed.xml", "name": "feed",
                     "poll_interval_s": 600, "etag": '"abc"', "last_modified": None, "status": "active",
                     "last_polled_at": at, "last_success_at": at, "last_error": None, "last_error_at": None,
                     "consecutive_failures": 0, "items_last_run": 2, "created_at": at}),
        ("users", {"id": 1, "username": "analist", "display_name": "Analist", "role": "analyst",
                   "password_hash": None, "active": True, "created_at": at}),
        ("posts", {"id": 1, "source_id": 1, "external_id": "p1", "url": "https://example.org/p1",
                   "author": "iemand", "published_at": at, "collected_at": at,
                   "text": "Burgemeester De Vries, we weten waar je woont.", "language": "nl",
                   "content_hash": "a" * 64}),
        ("posts", {"id": 2, "source_id": 1, "external_id": "p2", "url": None, "author": None,
                   "published_at": None, "collected_at": at, "text": "Mooie opening!", "language": "nl",
                   "content_hash": "b" * 64}),
        ("classifications", {"id": 1, "post_id": 1, "model_version": "m1", "label": "threat", "flagged": True,
                             "scores": {"threat": 0.9, "none": 0.1},
                             "explanation": [{"text": "waar je woont", "weight": 0.7}], "created_at": at}),
        ("classifications", {"id": 2, "post_id": 2, "model_version": "m1", "label": "none", "flagged": False,
                             "scores": {"threat": 0.01, "none": 0.99}, "explanation": [], "created_at": at}),
        ("mentions", {"id": 1, "post_id": 1, "official_id": 1, "matched_on": "burgemeester De Vries"}),
        ("review_items", {"id": 1, "post_id": 1, "classification_id": 1, "status": "decided", "priority": 0.9,
                          "assignee_id": 1, "lease_expires_at": None, "created_at": at, "updated_at": at}),
        ("decisions", {"id": 1, "review_item_id": 1, "user_id": 1, "label": "threat", "note": "echt",
                       "created_at": at}),
        ("audit_events", {"id": 1, "at": at, "actor": "analist", "action": "decide",
                          "object_type": "review_item", "object_id": "1", "details": {"label": "threat"}}),
    ]  # fmt: skip


def _read(engine: Engine, columns: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(
                select(*[metadata.tables[name].c[c] for c in cols]).order_by(metadata.tables[name].c.id)
            )]
            for name, cols in columns.items()
        }  # fmt: skip


@pytest.mark.slow
def test_upgrading_an_old_database_keeps_its_rows(empty_url: str) -> None:
    first = _revisions()[0]
    upgrade_database(empty_url, first)
    engine = _with_engine(empty_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        rows = _first_schema_rows(aware=make_url(empty_url).get_backend_name() != "sqlite")
        with engine.begin() as conn:
            for name, values in rows:
                conn.execute(metadata.tables[name].insert().values(**values))
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            with engine.begin() as conn:
                for name in {n for n, _ in rows}:
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                    )
        columns = {
            name: list(metadata.tables[name].c.keys())
            for name in metadata.tables
            if name != "alembic_version"
        }
        assert set(columns) == {name for name, _ in rows}, "every table of the first revision holds data"
        before = _read(engine, columns)
    finally:
        engine.dispose()

    upgrade_database(empty_url)  # what `threatwatch db upgrade` does

    engine = _with_engine(empty_url)
    try:
        assert _read(engine, columns) == before
        assert before["posts"][0][columns["posts"].index("text")].startswith("Burgemeester")
    finally:
        engine.dispose()
    assert current_revision(empty_url) == _revisions()[-1]


def test_downgrading_0003_drops_undone_decisions_not_live_ones(empty_url: str) -> None:
    """Before 0003 every decision row is a live verdict (and a training label): an undone one must not
    survive the loss of ``undone_at`` as if it still stood."""
    upgrade_database(empty_url, _revisions()[0])
    aware = make_url(empty_url).get_backend_name() != "sqlite"
    at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC if aware else None)
    engine = _with_engine(empty_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.begin() as conn:  # item 1 on post 1, decided "threat" (decision 1)
            for name, values in _first_schema_rows(aware):
                conn.execute(metadata.tables[name].insert().values(**values))
    finally:
        engine.dispose()
    upgrade_database(empty_url, "0003")
    engine = _with_engine(empty_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        rows = [
            ("review_items", {"id": 2, "post_id": 2, "classification_id": 2, "status": "claimed",
                              "priority": 0.5, "assignee_id": 1, "lease_expires_at": None, "created_at": at,
                              "updated_at": at}),
            # item 1: an earlier verdict, taken back; item 2: decided and undone, so back in review
            ("decisions", {"id": 2, "review_item_id": 1, "user_id": 1, "label": "none", "note": "mis",
                           "created_at": at, "undone_at": at}),
            ("decisions", {"id": 3, "review_item_id": 2, "user_id": 1, "label": "abuse", "note": None,
                           "created_at": at, "undone_at": at}),
        ]  # fmt: skip
        with engine.begin() as conn:
            for name, values in rows:
                conn.execute(metadata.tables[name].insert().values(**values))
    finally:
        engine.dispose()

    downgrade_database(empty_url, "0002")

    engine = _with_engine(empty_url)
    try:
        read = _read(engine, {"decisions": ["id", "review_item_id", "label"], "review_items": ["id"]})
        assert read == {"decisions": [(1, 1, "threat")], "review_items": [(1,), (2,)]}
    finally:
        engine.dispose()
