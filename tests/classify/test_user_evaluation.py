"""`threatwatch evaluate --file` and `classify --file` on a user's own data, with the shipped model."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from threatwatch.classify.base import Classifier
from threatwatch.classify.evaluation.evaluate import evaluate
from threatwatch.classify.evaluation.user_data import evaluate_file, parse_label_map
from threatwatch.classify.inputs import InputError, RowReader
from threatwatch.cli import app
from threatwatch.config import get_settings
from threatwatch.domain import Label
from threatwatch.registry import load_classifier

from ..conftest import MODEL_CACHE, REPO_ROOT, SHIPPED_MODELS

runner = CliRunner()
THEIRS = {"threat": "violent", "abuse": "offensive", "none": "appropriate"}
LABEL_MAP = "violent=threat,offensive=abuse,appropriate=none"
PER_LABEL = {"threat": 6, "coercion": 3, "doxxing": 3, "abuse": 5, "none": 9}


def _examples() -> list[tuple[str, str]]:
    """26 labelled messages from the shipped data: (text, our label)."""
    files = {
        "threat": "threat.csv",
        "coercion": "coercion.csv",
        "doxxing": "doxxing.csv",
        "abuse": "abuse.csv",
        "none": "none_plain.csv",
    }
    rows: list[tuple[str, str]] = []
    for label, name in files.items():
        with (REPO_ROOT / "labelled_data" / name).open(encoding="utf-8", newline="") as handle:
            texts = [r["text"] for r in csv.DictReader(handle) if r["label"] == label]
        rows.extend((text, label) for text in texts[: PER_LABEL[label]])
    return rows


EXAMPLES = _examples()


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return load_classifier(SHIPPED_MODELS, cache_dir=MODEL_CACHE)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("THREATWATCH_MODEL_DIR", str(SHIPPED_MODELS))
    monkeypatch.setenv("THREATWATCH_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.delenv("THREATWATCH_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _their_csv(path: Path, *, spam: int = 0, encoding: str = "utf-8") -> Path:
    """The examples with their own column names and labels, and ``spam`` rows of an unmapped label."""
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "bericht", "oordeel"])
        for i, (text, label) in enumerate(EXAMPLES):
            writer.writerow([i, text, THEIRS.get(label, label)])
        for i in range(spam):
            writer.writerow([100 + i, f"Koop nu goedkope zonnepanelen, actie {i}!", "spam"])
    return path


def test_labels_are_mapped_and_an_unmapped_label_is_reported(env: Path, classifier: Classifier) -> None:
    path = _their_csv(env / "mine.csv", spam=2)
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--file",
            str(path),
            "--text-column",
            "bericht",
            "--label-column",
            "oordeel",
            "--map",
            LABEL_MAP,
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"{len(EXAMPLES) + 2} rows" in result.stdout
    assert "'spam': 2" in result.stdout and "left out of scoring" in result.stdout
    assert f"scored: {len(EXAMPLES)} rows" in result.stdout
    assert "confusion (rows gold, columns predicted)" in result.stdout
    assert "share flagged per gold label: threat" in result.stdout
    assert "flagged precision at a stream prevalence of 1 in 200" in result.stdout

    # The same numbers as the test split's evaluation function gives, batch by batch or not.
    report = evaluate_file(
        classifier,
        path,
        text_column="bericht",
        label_column="oordeel",
        mapping=parse_label_map(LABEL_MAP),
        prevalence=0.01,
        batch_size=7,
    )
    predicted = [r.label.value for r in classifier.predict([t for t, _ in EXAMPLES], explain=False)]
    assert report.unmapped == {"spam": 2}
    assert report.evaluation == evaluate([label for _, label in EXAMPLES], predicted, prevalence=0.01)


def test_an_unmapped_label_without_map_is_never_guessed(env: Path, classifier: Classifier) -> None:
    path = _their_csv(env / "mine.csv")
    report = evaluate_file(classifier, path, text_column="bericht", label_column="oordeel")
    assert report.unmapped == {"violent": 6, "offensive": 5, "appropriate": 9}  # ours map to themselves
    assert report.evaluation is not None
    assert report.evaluation.n == PER_LABEL["coercion"] + PER_LABEL["doxxing"]


def test_label_map_errors() -> None:
    assert parse_label_map(" violent = threat ,, ") == {"violent": Label.THREAT}
    for spec, message in [
        ("violent", "not their_label=our_label"),
        ("violent=threats", "'threats' is not one of our labels"),
        ("a=threat,a=none", "maps 'a' twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_label_map(spec)
    result = runner.invoke(app, ["evaluate", "--map", "x=threat"])
    assert result.exit_code == 2 and "--map needs --file" in result.output


def test_utf8_with_bom(env: Path, classifier: Classifier) -> None:
    path = env / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\n" + b"Wat een mooie dag in Zwolle,none\n")
    report = evaluate_file(classifier, path)
    assert report.labelled and report.rows == 1 and report.columns == ["text", "label"]


TWO_ROWS = b"text,label\nhallo,none\n"
FOUND = "columns are ['text', 'label']"
BAD_FILES = {
    "not-utf8": ("in.csv", TWO_ROWS + b"dag,none\ncaf\xe9,none\n", [], "line 4: not UTF-8"),
    "missing-text-column": (
        "in.csv",
        TWO_ROWS,
        ["--text-column", "bericht"],
        f"no column 'bericht'; {FOUND}",
    ),
    "missing-label-column": (
        "in.csv",
        TWO_ROWS,
        ["--label-column", "oordeel"],
        f"no column 'oordeel'; {FOUND}",
    ),
    "empty-text": ("in.csv", TWO_ROWS + b" ,none\n", [], "line 3: empty text"),
    "invalid-json": ("in.jsonl", b'{"text": "hallo"}\n{"text": "dag"\n', [], "line 2: invalid JSON"),
    "missing-field": (
        "in.jsonl",
        b'{"text": "a"}\n{"bericht": "b"}\n',
        [],
        "line 2: no field 'text'; fields are",
    ),
    "not-an-object": ("in.jsonl", b'{"text": "hallo"}\n[1, 2]\n', [], "line 2: not a JSON object"),
    "empty-file": ("in.csv", b"", [], "empty file"),
    "missing-file": ("missing.csv", None, [], "file not found"),
}


@pytest.mark.parametrize(
    ("name", "content", "args", "message"), list(BAD_FILES.values()), ids=list(BAD_FILES)
)
def test_a_bad_file_is_a_one_line_error(
    env: Path, name: str, content: bytes | None, args: list[str], message: str
) -> None:
    path = env / name
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, ["evaluate", "--file", str(path), *args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and str(path) in errors[0]
    assert "Traceback" not in result.output


def test_the_reader_streams_rows_before_it_reaches_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"text\n" + b"".join(b"bericht %d\n" % i for i in range(30)) + b"caf\xe9\n")
    with RowReader(path) as reader:
        rows = iter(reader)
        assert next(rows).text == "bericht 0" and reader.line == 2  # nothing read ahead
        with pytest.raises(InputError, match="line 32: not UTF-8"):
            list(rows)


def test_an_unlabelled_file_gets_predictions_and_the_most_confident_flagged_rows(env: Path) -> None:
    path = env / "unlabelled.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([text] for text, _ in EXAMPLES)
    result = runner.invoke(app, ["evaluate", "--file", str(path), "--out", str(env / "out")])
    assert result.exit_code == 0, result.output
    assert "no label column 'label'" in result.stdout and "predicted: threat" in result.stdout
    shown = [line for line in result.stdout.splitlines() if line.startswith("  line ")]
    assert 1 <= len(shown) <= 20 and "most confident flagged rows" in result.stdout
    scores = [float(line.split()[3]) for line in shown]
    assert scores == sorted(scores, reverse=True)
    assert all(line.split()[2] in {"threat", "coercion", "doxxing"} for line in shown)
    html = (env / "out" / "report.html").read_text(encoding="utf-8")
    assert "most confident flagged rows" in html and "data:image" not in html
    assert not (env / "out" / "misclassified.csv").exists()


def test_out_writes_a_self_contained_report_and_the_misclassified_rows(
    env: Path, classifier: Classifier
) -> None:
    path = env / "mine.jsonl"  # JSON lines input, labels ours
    path.write_text(
        "".join(json.dumps({"text": t, "label": label}, ensure_ascii=False) + "\n" for t, label in EXAMPLES),
        encoding="utf-8",
    )
    out = env / "report"
    result = runner.invoke(app, ["evaluate", "--file", str(path), "--out", str(out), "--prevalence", "0.01"])
    assert result.exit_code == 0, result.output
    assert "1 in 100" in result.stdout and f"scored: {len(EXAMPLES)} rows" in result.stdout
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 3
    assert "http://" not in html and "https://" not in html and "<script" not in html
    with (out / "misclassified.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    predicted = classifier.predict([t for t, _ in EXAMPLES], explain=False)
    pairs = zip(EXAMPLES, predicted, strict=True)
    wrong = [(text, gold, p.label.value) for (text, gold), p in pairs if gold != p.label.value]
    assert [(r["text"], r["gold"], r["predicted"]) for r in rows] == wrong
    assert all(0 <= float(r["score"]) <= 1 for r in rows)


def test_classify_no_explain_gives_the_same_labels_without_spans(env: Path) -> None:
    path = env / "in.jsonl"
    lines = [json.dumps({"text": text}, ensure_ascii=False) + "\n" for text, _ in EXAMPLES[:12]]
    path.write_text("".join(lines), encoding="utf-8")
    explained = runner.invoke(app, ["classify", "--file", str(path), "--jsonl"])
    quick = runner.invoke(app, ["classify", "--file", str(path), "--jsonl", "--no-explain"])
    assert explained.exit_code == 0 and quick.exit_code == 0, explained.output + quick.output
    with_spans = [json.loads(line) for line in explained.stdout.splitlines()]
    without = [json.loads(line) for line in quick.stdout.splitlines()]
    assert len(without) == 12
    assert [r["label"] for r in without] == [r["label"] for r in with_spans]
    assert any(r["explanation"] for r in with_spans)
    assert all(r["explanation"] == [] for r in without)
