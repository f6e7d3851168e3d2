"""The CLI contract other tools rely on, run through Typer's runner against the shipped model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from threatwatch.cli import app
from threatwatch.config import get_settings
from threatwatch.domain import LABELS

from .conftest import DEMO_DIR, MODEL_CACHE, SHIPPED_MODELS

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("THREATWATCH_MODEL_DIR", str(SHIPPED_MODELS))
    monkeypatch.setenv("THREATWATCH_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.delenv("THREATWATCH_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_classify_jsonl_keeps_input_order_and_contract(env: Path) -> None:
    path = env / "in.csv"
    path.write_text(
        'id,bericht\n1,"Bedankt burgemeester voor de mooie opening!"\n'
        '2,"We weten waar je woont, pas maar op als het donker is."\n3,"Wanneer gaat de bibliotheek open?"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["classify", "--file", str(path), "--text-column", "bericht", "--jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert set(row) == {"label", "flagged", "scores", "explanation", "model_version"}
        assert set(row["scores"]) == {label.value for label in LABELS}
        assert abs(sum(row["scores"].values()) - 1) < 1e-4
    assert [r["flagged"] for r in rows] == [False, True, False]
    assert rows[1]["explanation"] and all(
        "We weten waar je woont, pas maar op als het donker is."[s["start"] : s["end"]] == s["text"]
        for s in rows[1]["explanation"]
    )


def test_classify_text_file_one_message_per_line(env: Path) -> None:
    path = env / "in.txt"
    path.write_text("eerste bericht over de raad\ntweede bericht over de dijk\n", encoding="utf-8")
    result = runner.invoke(app, ["classify", "--file", str(path), "--jsonl"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2


def test_classify_table_for_people(env: Path) -> None:
    result = runner.invoke(app, ["classify", "Ik maak je af, wethouder", "Fijne dag allemaal"])
    assert result.exit_code == 0, result.output
    assert "threat" in result.stdout and "model cascade-" in result.stdout


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "file not found"),
        (b"id,text\n1,hallo\n", ["--text-column", "bericht"], "no column 'bericht'"),
        (b"id,text\n1,hallo\n2,\n", [], "line 3: empty text"),
        ("text\ncafé\n".encode("latin-1"), [], "not UTF-8"),
        (b"een\n\ndrie\n", [], "line 2: empty text"),
    ],
    ids=["missing-file", "missing-column", "empty-csv-text", "latin-1", "empty-line"],
)
def test_classify_bad_input_is_a_clear_error(
    env: Path, content: bytes | None, args: list[str], message: str
) -> None:
    path = env / ("in.txt" if content == b"een\n\ndrie\n" else "in.csv")
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, ["classify", "--file", str(path), "--jsonl", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_classify_needs_input(env: Path) -> None:
    result = runner.invoke(app, ["classify"])
    assert result.exit_code == 2 and "nothing to classify" in result.output


def test_watchlist_and_sources_commands(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    imported = runner.invoke(app, ["officials", "import", str(DEMO_DIR / "watchlist.yaml")])
    assert imported.exit_code == 0 and "8 official(s) added" in imported.output
    listed = runner.invoke(app, ["officials", "list"], env={"COLUMNS": "200"})
    assert "Marieke van der Linden" in listed.output
    feed = DEMO_DIR / "feeds" / "regionieuws.xml"
    added = runner.invoke(app, ["sources", "add", str(feed), "--interval", "60"])
    assert added.exit_code == 0 and feed.as_uri() in added.output
    again = runner.invoke(app, ["sources", "add", feed.as_uri()])
    assert again.output == added.output  # adding twice is harmless
    bad = runner.invoke(app, ["sources", "add", "ftp://example.org/feed"])
    assert bad.exit_code == 1 and "unsupported source URL" in bad.output


def test_bad_watchlist_exits_with_row_numbers(env: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    path = env / "w.csv"
    path.write_text("name,role,organisation\nJan Jansen,Raadslid,X\nP,Raadslid,X\n", encoding="utf-8")
    result = runner.invoke(app, ["officials", "import", str(path)])
    assert result.exit_code == 1
    assert "row 2" in result.output and "nothing imported" in result.output


def test_train_promote_goes_through_the_registry(
    env: Path, small_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`train --promote` is the registry's promotion: a live row with the card's figures, an audit
    record, and CURRENT pointing at the new model."""
    from sqlalchemy import select

    from threatwatch.db.engine import engine_for, session_factory
    from threatwatch.db.models import AuditEvent, ModelVersion

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("THREATWATCH_MODEL_DIR", str(models))
    monkeypatch.setenv("THREATWATCH_LABELLED_DATA_DIR", str(small_data))
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["train", "--stage", "fast", "--promote"])
    assert result.exit_code == 0, result.output
    name = (models / "CURRENT").read_text().strip()
    assert name.startswith("fast-") and name in result.output
    with session_factory(engine_for(get_settings().database_url))() as session:
        row = session.scalars(select(ModelVersion).where(ModelVersion.name == name)).one()
        assert row.status == "live" and row.metrics["test"]["flagged_f1"] is not None
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "model.promote")).all()
        assert [a.object_id for a in audit] == [name]
