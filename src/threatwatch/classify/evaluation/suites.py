"""The two evaluation sets that say how a model will do in the world, beside the fixed test split.

- The **functional suite** (`labelled_data/functional/`): functionalities such as negated threats,
  counter-speech, threats in leetspeak or adverts with addresses, each with cases written apart from the
  training data, and a floor: the pass rate (flagged or not, as expected) a model must keep.
- The **stream set** (`labelled_data/stream/`): messages in the proportions of a real stream (about 99%
  benign), written by someone who had not seen the training data. How many ordinary posts a model
  flags is read here. Thresholds are never tuned on it.

Neither folder is read for training (`data.load_labelled_data` reads only the top-level CSVs).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from threatwatch.classify.base import Classifier
from threatwatch.classify.prevalence import STREAM_FLAGGED_SHARE, precision_at_prevalence
from threatwatch.classify.training.data import LabelledDataError
from threatwatch.domain import FLAGGED_LABELS, LABELS

FUNCTIONAL_DIR = "functional"
STREAM_DIR = "stream"
FUNCTIONALITIES_FILE = "functionalities.csv"
CASES_FILE = "cases.csv"
STREAM_FILE = "stream.csv"
_EXPECTED = ("flagged", "not_flagged")
_FLAGGED = frozenset(label.value for label in FLAGGED_LABELS)
_LABEL_NAMES = frozenset(label.value for label in LABELS)


def _rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise LabelledDataError(f"{path} not found")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(required) - set(reader.fieldnames or [])
        if missing:
            raise LabelledDataError(f"{path}: missing column(s) {sorted(missing)}")
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


# ----------------------------------------------------------------------------- functional suite


@dataclass(frozen=True)
class Functionality:
    name: str
    description: str
    expected: str  # "flagged" or "not_flagged"
    floor: float  # the pass rate below which a model fails the suite


@dataclass(frozen=True)
class FunctionalCase:
    functionality: str
    text: str
    label: str


@dataclass(frozen=True)
class FunctionalResult:
    name: str
    expected: str
    floor: float
    cases: int
    passed: int
    failures: tuple[str, ...]  # texts the model got wrong, for reading

    @property
    def pass_rate(self) -> float:
        return self.passed / self.cases if self.cases else 0.0

    @property
    def holds(self) -> bool:
        return self.pass_rate >= self.floor


@dataclass(frozen=True)
class FunctionalReport:
    version: str
    results: tuple[FunctionalResult, ...]

    @property
    def below_floor(self) -> list[FunctionalResult]:
        return [r for r in self.results if not r.holds]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "functionalities": {
                r.name: {
                    "expected": r.expected,
                    "pass_rate": round(r.pass_rate, 4),
                    "floor": r.floor,
                    "cases": r.cases,
                }
                for r in self.results
            },
            "below_floor": [r.name for r in self.below_floor],
        }


def load_functional_suite(directory: Path) -> tuple[list[Functionality], list[FunctionalCase]]:
    """The suite under ``directory`` (``labelled_data/functional``), checked: every case belongs to a
    declared functionality and its gold label agrees with what the functionality expects."""
    declared = _rows(directory / FUNCTIONALITIES_FILE, ("functionality", "expected", "floor"))
    functionalities = []
    for row in declared:
        if row["expected"] not in _EXPECTED:
            raise LabelledDataError(f"{row['functionality']}: expected must be one of {_EXPECTED}")
        functionalities.append(
            Functionality(
                row["functionality"], row.get("description", ""), row["expected"], float(row["floor"])
            )
        )
    by_name = {f.name: f for f in functionalities}
    cases = []
    problems = []
    for line, row in enumerate(_rows(directory / CASES_FILE, ("functionality", "text", "label")), start=2):
        owner = by_name.get(row["functionality"])
        if owner is None or row["label"] not in _LABEL_NAMES or not row["text"]:
            problems.append(f"{CASES_FILE}:{line}: unknown functionality or label, or empty text")
        elif (row["label"] in _FLAGGED) != (owner.expected == "flagged"):
            problems.append(f"{CASES_FILE}:{line}: label {row['label']} contradicts {owner.name}")
        else:
            cases.append(FunctionalCase(row["functionality"], row["text"], row["label"]))
    if problems:
        raise LabelledDataError("\n".join(problems[:20]))
    return functionalities, cases


def run_functional_suite(model: Classifier, directory: Path) -> FunctionalReport:
    functionalities, cases = load_functional_suite(directory)
    results = model.predict([c.text for c in cases], explain=False)
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    failures: dict[str, list[str]] = defaultdict(list)
    expected = {f.name: f.expected for f in functionalities}
    for case, result in zip(cases, results, strict=True):
        total[case.functionality] += 1
        if result.flagged == (expected[case.functionality] == "flagged"):
            passed[case.functionality] += 1
        else:
            failures[case.functionality].append(case.text)
    return FunctionalReport(
        version=model.version,
        results=tuple(
            FunctionalResult(
                f.name, f.expected, f.floor, total[f.name], passed[f.name], tuple(failures[f.name])
            )
            for f in functionalities
        ),
    )


def format_functional(report: FunctionalReport) -> str:
    lines = [f"{'functionality':<40} {'expected':<12} {'pass':>6} {'floor':>6} {'n':>4}"]
    for r in report.results:
        mark = "" if r.holds else "  BELOW FLOOR"
        lines.append(f"{r.name:<40} {r.expected:<12} {r.pass_rate:6.2f} {r.floor:6.2f} {r.cases:4d}{mark}")
    held = len(report.results) - len(report.below_floor)
    lines.append(f"{held} of {len(report.results)} functionalities at or above their floor")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- stream set


@dataclass(frozen=True)
class StreamReport:
    version: str
    messages: int
    ordinary: int  # `none` messages
    ordinary_flagged: int
    abuse: int
    abuse_flagged: int
    flagged: int  # messages whose gold label is flagged
    flagged_caught: int
    flagged_caught_or_abuse: int
    flagged_share_by_category: dict[str, tuple[int, int]]  # category: (flagged, messages), `none` only

    @property
    def false_flags_per_1000(self) -> float:
        return 1000 * self.ordinary_flagged / self.ordinary if self.ordinary else 0.0

    @property
    def recall(self) -> float:
        return self.flagged_caught / self.flagged if self.flagged else 0.0

    @property
    def precision(self) -> float:
        predicted = self.flagged_caught + self.ordinary_flagged + self.abuse_flagged
        return self.flagged_caught / predicted if predicted else 0.0

    @property
    def precision_at_stream_prevalence(self) -> float:
        negatives = self.ordinary + self.abuse
        rate = (self.ordinary_flagged + self.abuse_flagged) / negatives if negatives else 0.0
        return precision_at_prevalence(self.recall, rate, STREAM_FLAGGED_SHARE)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "false_flags_per_1000_ordinary": round(self.false_flags_per_1000, 2),
            "flagged_recall": round(self.recall, 4),
            "flagged_precision": round(self.precision, 4),
            "precision_at_stream_prevalence": round(self.precision_at_stream_prevalence, 4),
        }


def run_stream_set(model: Classifier, directory: Path) -> StreamReport:
    rows = _rows(directory / STREAM_FILE, ("text", "label"))
    bad = [i + 2 for i, row in enumerate(rows) if row["label"] not in _LABEL_NAMES or not row["text"]]
    if bad:
        raise LabelledDataError(f"{directory / STREAM_FILE}: bad label or empty text on lines {bad[:10]}")
    results = model.predict([row["text"] for row in rows], explain=False)
    counts: Counter[str] = Counter()
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, result in zip(rows, results, strict=True):
        gold = row["label"]
        counts[gold] += 1
        if gold == "none":
            counts["none_flagged"] += result.flagged
            tally = by_category[row.get("category") or "uncategorised"]
            tally[0] += result.flagged
            tally[1] += 1
        elif gold == "abuse":
            counts["abuse_flagged"] += result.flagged
        else:
            counts["flagged_caught"] += result.flagged
            counts["flagged_caught_or_abuse"] += result.flagged or result.label.value == "abuse"
    return StreamReport(
        version=model.version,
        messages=len(rows),
        ordinary=counts["none"],
        ordinary_flagged=counts["none_flagged"],
        abuse=counts["abuse"],
        abuse_flagged=counts["abuse_flagged"],
        flagged=sum(counts[name] for name in _FLAGGED),
        flagged_caught=counts["flagged_caught"],
        flagged_caught_or_abuse=counts["flagged_caught_or_abuse"],
        flagged_share_by_category={k: (v[0], v[1]) for k, v in sorted(by_category.items())},
    )


def format_stream(report: StreamReport) -> str:
    lines = [
        f"{report.messages} messages: {report.ordinary} none, {report.abuse} abuse, {report.flagged} flagged",
        f"ordinary posts flagged: {report.ordinary_flagged} ({report.false_flags_per_1000:.1f} per 1,000)",
        f"abuse flagged: {report.abuse_flagged} of {report.abuse}",
        f"flagged caught: {report.flagged_caught} of {report.flagged} (recall {report.recall:.2f}; "
        f"flagged or abuse {report.flagged_caught_or_abuse})",
        f"flagged precision here {report.precision:.2f}; at 1 in {round(1 / STREAM_FLAGGED_SHARE)} "
        f"{report.precision_at_stream_prevalence:.2f}",
    ]
    noisy = [(k, f, n) for k, (f, n) in report.flagged_share_by_category.items() if f]
    if noisy:
        lines.append("false flags by category: " + ", ".join(f"{k} {f}/{n}" for k, f, n in noisy))
    return "\n".join(lines)


def run_world(model: Classifier, data_dir: Path) -> tuple[FunctionalReport | None, StreamReport | None]:
    """The functional suite and the stream set under ``data_dir`` (a ``labelled_data`` folder), each
    where it exists."""
    functional_dir, stream_dir = data_dir / FUNCTIONAL_DIR, data_dir / STREAM_DIR
    functional = (
        run_functional_suite(model, functional_dir)
        if (functional_dir / FUNCTIONALITIES_FILE).is_file()
        else None
    )
    stream = run_stream_set(model, stream_dir) if (stream_dir / STREAM_FILE).is_file() else None
    return functional, stream
