"""Label import/export on SQLite and PostgreSQL: a bad file is refused whole, with line numbers."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.db.models import ExternalLabel
from threatwatch.retrain.io import LabelImportError, export_labels, import_labels, read_label_file
from threatwatch.retrain.labels import all_records

from ..replay import replay_decisions

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count(ExternalLabel.id))) or 0)


def test_csv_import_then_export_round_trip(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "team.csv"
    path.write_text(
        "id,text,label,labeller,labelled_at\n"
        'a1,"Ik weet waar je woont, wethouder",doxxing,kim,2026-11-02T10:00:00+01:00\n'
        "a2,Fijne dag allemaal,none,kim,\n",
        encoding="utf-8",
    )
    report = import_labels(session, path=path, now=NOW)
    session.commit()
    assert (report.added, report.updated) == (2, 0)
    replay_decisions(session, [("Jij bent een idioot", "abuse")], analyst_name="anna", start=NOW)
    session.commit()

    out = io.StringIO()
    assert export_labels(all_records(session), out, fmt="jsonl") == 3
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    by_id = {r["id"]: r for r in rows}
    assert by_id["a1"]["labelled_at"] == "2026-11-02T09:00:00+00:00" and by_id["a1"]["labeller"] == "kim"
    assert by_id["a2"]["labelled_at"] == NOW.isoformat()  # no date given: the import time
    analyst = next(r for r in rows if r["origin"] == "analyst")
    assert analyst["id"].startswith("post-") and analyst["labeller"] == "anna" and analyst["label"] == "abuse"

    exported = tmp_path / "export.jsonl"
    exported.write_text(out.getvalue(), encoding="utf-8")
    again = import_labels(session, path=exported, now=NOW)  # same ids and labellers: updated, not doubled
    session.commit()
    assert (again.added, again.updated) == (1, 2)
    assert _count(session) == 3


def test_bad_csv_is_refused_whole_with_line_numbers(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,text,label\n"
        "1,goed bericht,none\n"
        "2,dreiging,bedreiging\n"
        '3,"twee\nregels",threat\n'
        "1,nog eens,abuse\n"
        "5,,none\n"
        "6,datum,none\n",
        encoding="utf-8",
    )
    with pytest.raises(LabelImportError) as caught:
        import_labels(session, path=path, now=NOW)
    problems = caught.value.problems
    assert problems == [
        "bad.csv:3: unknown label 'bedreiging' (known: abuse, coercion, doxxing, none, threat)",
        "bad.csv:6: duplicate id '1' (first on line 2)",
        "bad.csv:7: empty text",
    ]
    session.rollback()
    assert _count(session) == 0


def test_broken_encoding_and_missing_columns(session: Session, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("id,text,label\n1,goed,none\n2,café,none\n".encode("latin-1"))
    with pytest.raises(LabelImportError, match=r"latin1.csv:3: not valid UTF-8"):
        read_label_file(latin1)
    columns = tmp_path / "columns.csv"
    columns.write_text("id,bericht,label\n1,goed,none\n", encoding="utf-8")
    with pytest.raises(LabelImportError, match=r"columns.csv:1: missing column\(s\) text"):
        read_label_file(columns)
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(
        '{"id": "1", "text": "a", "label": "none"}\n{"id": "2", "text": \n[1]\n', encoding="utf-8"
    )
    with pytest.raises(LabelImportError) as caught:
        read_label_file(jsonl)
    assert [p.split(":")[1] for p in caught.value.problems] == ["2", "3"]
    with pytest.raises(LabelImportError, match="unknown format"):
        read_label_file(tmp_path / "labels.xlsx")
    assert _count(session) == 0


def test_cli_import_refuses_and_reports(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from threatwatch.cli import app
    from threatwatch.config import get_settings

    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("THREATWATCH_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"id": "1", "text": "a", "label": "spam"}\n', encoding="utf-8")
        result = CliRunner().invoke(app, ["labels", "import", str(bad)])
        assert result.exit_code == 1
        assert "nothing imported" in result.output and "bad.jsonl:1: unknown label 'spam'" in result.output
        good = tmp_path / "good.jsonl"
        good.write_text('{"id": "1", "text": "a", "label": "none", "labeller": "kim"}\n', encoding="utf-8")
        result = CliRunner().invoke(app, ["labels", "import", str(good)])
        assert result.exit_code == 0, result.output
        out = tmp_path / "out.csv"
        result = CliRunner().invoke(app, ["labels", "export", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_text(encoding="utf-8").splitlines()[1].startswith("1,a,none,kim,")
    finally:
        get_settings.cache_clear()
