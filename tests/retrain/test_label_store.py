"""The label store on SQLite and PostgreSQL: undone decisions, agreement, conflicts, the held-out window."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.classify.training.data import Example, load_labelled_data
from threatwatch.db.models import Decision, ExternalLabel
from threatwatch.ops.retention import redact_posts
from threatwatch.retrain.dataset import ADDED_FILE, assemble
from threatwatch.retrain.labels import all_records, group_items
from threatwatch.retrain.quality import agreement
from threatwatch.retrain.trigger import new_labels_since_last_run, retrain_due

from ..replay import replay_decisions

START = datetime(2026, 11, 1, tzinfo=UTC)


def _external(key: str, text: str, label: str, labeller: str) -> ExternalLabel:
    return ExternalLabel(
        external_id=key,
        text=text,
        label=label,
        labeller=labeller,
        labelled_at=START + timedelta(days=1),
        import_name="t.csv",
    )


def test_undone_decisions_are_not_labels(session: Session) -> None:
    replay_decisions(session, [("eerste", "threat"), ("tweede", "none")], analyst_name="anna", start=START)
    first = session.scalars(select(Decision).order_by(Decision.id)).first()
    assert first is not None
    first.undone_at = START + timedelta(hours=1)
    session.commit()
    records = all_records(session)
    assert [(r.text, r.label, r.labeller) for r in records] == [("tweede", "none", "anna")]
    assert new_labels_since_last_run(session) == 1
    assert retrain_due(session, threshold=1) == (True, 1)
    assert retrain_due(session, threshold=0) == (False, 1)  # 0 turns the trigger off


def test_posts_erased_by_retention_are_not_labels(session: Session) -> None:
    """An erased post has no text left: its decision must not become an empty training text (nor join
    every other erased post into one item by their equal empty texts)."""
    post_ids = replay_decisions(
        session,
        [("eerste bericht", "threat"), ("tweede bericht", "none"), ("derde bericht", "abuse")],
        analyst_name="anna",
        start=START,
    )
    redact_posts(session, post_ids=post_ids[:2], reason="closed", now=START + timedelta(days=400))
    session.commit()
    records = all_records(session)
    assert [(r.key, r.text, r.label) for r in records] == [(f"post-{post_ids[2]}", "derde bericht", "abuse")]
    assert [item.text for item in group_items(records)] == ["derde bericht"]


def test_kappa_over_items_labelled_twice(session: Session) -> None:
    rows = [(f"bericht nummer {i}", label) for i, label in enumerate(["threat", "none", "abuse", "none"] * 5)]
    post_ids = replay_decisions(session, rows, analyst_name="anna", start=START)
    # A second team labels the same posts (by post id) and disagrees on two of them; one more item by text.
    for i, (post_id, (_, label)) in enumerate(zip(post_ids, rows, strict=True)):
        second = "none" if i in (0, 4) else label
        session.add(_external(f"post-{post_id}", rows[i][0], second, "kim"))
    session.add(_external("other-1", "BERICHT  nummer 1", "none", "lou"))  # same text, folded
    session.commit()

    items = group_items(all_records(session))
    assert len(items) == 20
    quality = agreement(items)
    assert quality.items == 20 and quality.observed == 18 / 20
    # Cohen's kappa by hand: p_o = 0.9; anna 5 threat/10 none/5 abuse, kim 3/12/5 -> p_e = 0.4.
    assert quality.kappa is not None and abs(quality.kappa - (0.9 - 0.4) / (1 - 0.4)) < 1e-9
    assert sorted(item.key for item in items if item.label is None) == sorted(
        f"post-{post_ids[i]}" for i in (0, 4)
    )
    assert len(next(i for i in items if i.text == "bericht nummer 1").records) == 3


def test_assemble_dedupes_holds_out_window_and_lists_conflicts(
    session: Session, base_dir: Path, pool: list[tuple[str, str]], tmp_path: Path
) -> None:
    base = load_labelled_data(base_dir)
    known = next(e for e in base if e.label.value == "threat")
    contradicted = next(e for e in base if e.label.value == "none")
    fresh = pool[:50]
    replay_decisions(session, fresh, analyst_name="anna", start=START)
    replay_decisions(
        session,
        [(known.text, "threat"), (contradicted.text.upper(), "threat")],
        analyst_name="bob",
        start=START + timedelta(days=1),
    )
    # Active learning items are the most recent, yet never part of the window.
    replay_decisions(
        session, pool[50:60], analyst_name="anna", start=START + timedelta(days=2), reason="uncertain"
    )
    session.commit()

    data = assemble(
        group_items(all_records(session)), labelled_data_dir=base_dir, work_dir=tmp_path, window_share=0.2
    )

    assert data.duplicates_dropped == 1
    assert [c.kind for c in data.conflicts if c.key.startswith("post-")][:1] == ["contradicts labelled_data"]
    assert any(c.text == contradicted.text.upper() and "none" in c.other for c in data.conflicts)
    assert len(data.window) == 10  # 20% of the 50 fresh, non-uncertain labels
    assert [w.text for w in data.window] == [text for text, _ in fresh[-10:]]
    assert not any(item.uncertain for item in data.window)
    added = {item.text for item in data.added}
    assert added == {text for text, _ in fresh[:40]} | {text for text, _ in pool[50:60]}
    assert data.test == [e for e in base if e.split == "test"]
    with (tmp_path / ADDED_FILE).open(encoding="utf-8", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert {row["text"] for row in written} == added
    assert load_labelled_data(tmp_path)[: len(base)] == base  # the labelled data, unchanged, first
    window_examples: list[Example] = data.window_examples
    assert [e.label.value for e in window_examples] == [label for _, label in fresh[-10:]]


def test_cli_conflicts_lists_contradictions_and_model_disagreements(
    session: Session,
    database_url: str,
    base_dir: Path,
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from typer.testing import CliRunner

    from threatwatch.cli import app
    from threatwatch.config import get_settings

    base = load_labelled_data(base_dir)
    threat = next(e for e in base if e.label.value == "threat")
    replay_decisions(
        session,
        [(threat.text, "none"), ("Ik ga je vanavond opwachten bij je huis en dan ben je er geweest", "none")],
        analyst_name="anna",
        start=START,
    )
    session.commit()
    for name, value in {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
        "MODEL_DIR": str(model_dir),
        "LABELLED_DATA_DIR": str(base_dir),
    }.items():
        monkeypatch.setenv(f"THREATWATCH_{name}", value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["labels", "conflicts", "--json", "--no-model"])
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(r["kind"], r["text"], r["labels"]) for r in rows] == [
            ("contradicts labelled_data", threat.text, "anna:none")
        ]
        result = CliRunner().invoke(app, ["labels", "conflicts", "--json"])
        kinds = [json.loads(line)["kind"] for line in result.stdout.splitlines()]
        assert kinds[0] == "contradicts labelled_data" and set(kinds) <= {
            "contradicts labelled_data",
            "model disagrees",
        }
    finally:
        get_settings.cache_clear()
