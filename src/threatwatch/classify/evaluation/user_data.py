"""Measuring the model on a user's own file, and classifying a file, in batches.

Both stream the file (``inputs.RowReader``) in batches: texts are dropped after their batch, and an
evaluation keeps only what the metrics and figures need (labels as int8 codes, scores as float32), so a
million rows stay well under a gigabyte. The user's labels are mapped onto ours (``parse_label_map``);
a label that is neither ours nor mapped is counted and its rows left out of scoring, never guessed.
The metrics are ``evaluate.evaluate``, the same function that scores the fixed test split.
"""

from __future__ import annotations

import csv
import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import numpy.typing as npt

from threatwatch.classify.base import ClassificationResult, Classifier
from threatwatch.classify.evaluation.evaluate import LABEL_INDEX, Evaluation, evaluate, format_evaluation
from threatwatch.classify.inputs import Row, RowReader, count_lines
from threatwatch.classify.prevalence import STREAM_FLAGGED_SHARE
from threatwatch.domain import FLAGGED_LABELS, LABELS, Label

BATCH_SIZE = 256
TOP_FLAGGED = 20
MISCLASSIFIED_FILE = "misclassified.csv"
DEFAULT_LABEL_COLUMN = "label"

# Called after each batch with (lines read, lines in the file).
Progress = Callable[[int, int], None]


def parse_label_map(spec: str | None) -> dict[str, Label]:
    """``'violent=threat,offensive=abuse'`` as {their label: our label}; our labels need no entry."""
    mapping: dict[str, Label] = {}
    ours = ", ".join(label.value for label in LABELS)
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        theirs, sep, target = (s.strip() for s in part.partition("="))
        if not sep or not theirs:
            raise ValueError(f"--map entry {part.strip()!r} is not their_label=our_label")
        if target not in LABEL_INDEX:
            raise ValueError(f"--map entry {part.strip()!r}: {target!r} is not one of our labels ({ours})")
        if theirs in mapping and mapping[theirs].value != target:
            raise ValueError(f"--map maps {theirs!r} twice: to {mapping[theirs].value} and to {target}")
        mapping[theirs] = Label(target)
    return mapping


def batched(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def classify_file(
    classifier: Classifier,
    reader: RowReader,
    *,
    explain: bool = True,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> Iterator[list[tuple[Row, ClassificationResult]]]:
    """The file's rows with their results, one batch at a time, in input order."""
    total = count_lines(reader.path) if progress is not None else 0
    if progress is not None:
        progress(reader.line, total)
    for batch in batched(reader, batch_size):
        results = classifier.predict([row.text for row in batch], explain=explain)
        if progress is not None:
            progress(reader.line, total)
        yield list(zip(batch, results, strict=True))


@dataclass(frozen=True)
class FlaggedRow:
    line: int
    text: str
    label: str
    score: float


@dataclass(frozen=True)
class ScoredRows:
    """What the metrics and figures need of the scored rows: codes in ``LABELS`` order, scores."""

    gold: npt.NDArray[np.int8]
    predicted: npt.NDArray[np.int8]
    probabilities: npt.NDArray[np.float32]


@dataclass(frozen=True)
class FileEvaluation:
    path: Path
    model_version: str
    rows: int  # rows read
    labelled: bool
    label_column: str
    columns: list[str]
    unmapped: dict[str, int]  # their label -> rows left out of scoring
    mapping: dict[str, str]
    predicted_counts: dict[str, int]  # over the classified rows
    evaluation: Evaluation | None  # None: no label column, or no row with a usable label
    most_confident_flagged: list[FlaggedRow] = field(default_factory=list)  # unlabelled files only
    misclassified: int = 0
    seconds: float = 0.0


class _Collector:
    """Accumulates a file's predictions batch by batch, holding no texts beyond the top flagged rows."""

    def __init__(self, *, top: int, misclassified: csv.DictWriter[str] | None) -> None:
        self.gold: list[npt.NDArray[np.int8]] = []
        self.predicted: list[npt.NDArray[np.int8]] = []
        self.probabilities: list[npt.NDArray[np.float32]] = []
        self.counts = np.zeros(len(LABELS), dtype=np.int64)
        self.top = top
        self.heap: list[tuple[float, int, str, str]] = []  # (score, -line, text, label): least first
        self.misclassified = misclassified
        self.misclassified_rows = 0

    def add(self, rows: list[Row], gold: list[int] | None, results: list[ClassificationResult]) -> None:
        predicted = np.fromiter(
            (LABEL_INDEX[r.label.value] for r in results), dtype=np.int8, count=len(results)
        )
        self.counts += np.bincount(predicted, minlength=len(LABELS))
        if gold is None:
            for row, result in zip(rows, results, strict=True):
                if result.label in FLAGGED_LABELS:
                    item = (result.scores[result.label.value], -row.line, row.text, result.label.value)
                    if len(self.heap) < self.top:
                        heapq.heappush(self.heap, item)
                    elif item > self.heap[0]:
                        heapq.heapreplace(self.heap, item)
            return
        self.predicted.append(predicted)
        self.gold.append(np.asarray(gold, dtype=np.int8))
        self.probabilities.append(
            np.asarray([[r.scores[label.value] for label in LABELS] for r in results], dtype=np.float32)
        )
        for row, code, result in zip(rows, gold, results, strict=True):
            if LABELS[code] is not result.label:
                self.misclassified_rows += 1
                if self.misclassified is not None:
                    self.misclassified.writerow(
                        {
                            "line": row.line,
                            "text": row.text,
                            "gold": LABELS[code].value,
                            "predicted": result.label.value,
                            "score": f"{result.scores[result.label.value]:.4f}",
                        }
                    )

    def scored(self) -> ScoredRows:
        return ScoredRows(
            gold=np.concatenate(self.gold) if self.gold else np.zeros(0, dtype=np.int8),
            predicted=np.concatenate(self.predicted) if self.predicted else np.zeros(0, dtype=np.int8),
            probabilities=(
                np.concatenate(self.probabilities)
                if self.probabilities
                else np.zeros((0, len(LABELS)), dtype=np.float32)
            ),
        )

    def most_confident(self) -> list[FlaggedRow]:
        ordered = sorted(self.heap, reverse=True)
        return [FlaggedRow(line=-neg, text=text, label=label, score=s) for s, neg, text, label in ordered]


def evaluate_file(
    classifier: Classifier,
    path: Path,
    *,
    text_column: str = "text",
    label_column: str | None = None,
    mapping: Mapping[str, Label] | None = None,
    prevalence: float = STREAM_FLAGGED_SHARE,
    out_dir: Path | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    top: int = TOP_FLAGGED,
) -> FileEvaluation:
    """Classify the file's rows and score them against its labels (or, without a label column, count
    the predicted labels and keep the ``top`` most confident flagged rows).

    ``label_column`` None looks for a column ``label`` and goes on without labels when there is none;
    a named column must exist. With ``out_dir``, writes ``misclassified.csv`` (as the rows stream by)
    and ``report.html`` with the figures embedded.
    """
    if not 0 < prevalence < 1:
        raise ValueError(f"the prevalence must lie between 0 and 1, got {prevalence}")
    started = time.perf_counter()
    mapping = dict(mapping or {})
    codes = {**LABEL_INDEX, **{theirs: LABEL_INDEX[ours.value] for theirs, ours in mapping.items()}}
    unmapped: Counter[str] = Counter()
    rows_read = 0
    with RowReader(
        path,
        text_column=text_column,
        label_column=label_column or DEFAULT_LABEL_COLUMN,
        label_required=label_column is not None,
    ) as reader:
        writer_file = None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            if reader.labelled:
                writer_file = (out_dir / MISCLASSIFIED_FILE).open("w", encoding="utf-8", newline="")
        try:
            writer = None
            if writer_file is not None:
                writer = csv.DictWriter(writer_file, ["line", "text", "gold", "predicted", "score"])
                writer.writeheader()
            collector = _Collector(top=top, misclassified=writer)
            total = count_lines(path) if progress is not None else 0
            if progress is not None:
                progress(reader.line, total)
            for batch in batched(reader, batch_size):
                rows_read += len(batch)
                gold: list[int] | None = None
                if reader.labelled:
                    kept, gold = [], []
                    for row in batch:
                        code = codes.get(row.label or "")
                        if code is None:
                            unmapped[row.label or ""] += 1
                        else:
                            kept.append(row)
                            gold.append(code)
                    batch = kept
                if batch:
                    results = classifier.predict([row.text for row in batch], explain=False)
                    collector.add(batch, gold, results)
                if progress is not None:
                    progress(reader.line, total)
        finally:
            if writer_file is not None:
                writer_file.close()
    scored = collector.scored()
    evaluation = None
    if reader.labelled and len(scored.gold):
        evaluation = evaluate(scored.gold, scored.predicted, prevalence=prevalence)
    report = FileEvaluation(
        path=path,
        model_version=classifier.version,
        rows=rows_read,
        labelled=reader.labelled,
        label_column=label_column or DEFAULT_LABEL_COLUMN,
        columns=reader.columns,
        unmapped=dict(unmapped.most_common()),
        mapping={theirs: ours.value for theirs, ours in mapping.items()},
        predicted_counts={label.value: int(n) for label, n in zip(LABELS, collector.counts, strict=True)},
        evaluation=evaluation,
        most_confident_flagged=collector.most_confident(),
        misclassified=collector.misclassified_rows,
        seconds=time.perf_counter() - started,
    )
    if out_dir is not None:
        from threatwatch.classify.evaluation.user_report import write_report

        write_report(out_dir, report, scored)
    return report


def _shown(label: str) -> str:
    return repr(label) if label else "(empty)"


def format_distribution(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    return ", ".join(f"{name} {n} ({n / total:.1%})" if total else f"{name} 0" for name, n in counts.items())


def format_file_evaluation(report: FileEvaluation, *, text_width: int = 160) -> str:
    """The terminal report: what was read, labels left out, then the metrics or the predictions."""
    lines = [f"{report.path.name}: {report.rows:,} rows, model {report.model_version}"]
    if report.mapping:
        lines.append("labels mapped: " + ", ".join(f"{k} -> {v}" for k, v in report.mapping.items()))
    if report.unmapped:
        left_out = sum(report.unmapped.values())
        lines.append(
            f"left out of scoring, label neither ours nor mapped (map with --map their_label=our_label): "
            f"{left_out:,} row(s)"
        )
        lines.extend(f"  {_shown(label)}: {n:,}" for label, n in list(report.unmapped.items())[:30])
        if len(report.unmapped) > 30:
            lines.append(f"  ... and {len(report.unmapped) - 30:,} more labels")
    if not report.labelled:
        lines.append(
            f"no label column {report.label_column!r} (columns: {report.columns or 'none, plain text'}): "
            "predictions only"
        )
    lines.append("predicted: " + format_distribution(report.predicted_counts))
    if report.evaluation is not None:
        lines.append(f"scored: {report.evaluation.n:,} rows")
        lines.append(format_evaluation(report.evaluation))
        if report.evaluation.precision_at_stream_prevalence is None:
            lines.append(
                "no row is labelled abuse or none: no false-flag rate, so no precision at prevalence"
            )
    elif report.labelled:
        lines.append("no row has a usable label: nothing scored")
    if not report.labelled:
        flagged = report.most_confident_flagged
        lines.append(f"{len(flagged)} most confident flagged rows:" if flagged else "no row flagged")
        for row in flagged:
            text = row.text if len(row.text) <= text_width else row.text[: text_width - 1] + "…"
            lines.append(f"  line {row.line:>6}  {row.label:<8} {row.score:.3f}  {text}")
    return "\n".join(lines)
