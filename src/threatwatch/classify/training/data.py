"""The labelled data: loading ``labelled_data/*.csv`` and its fixed, hash-based split."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from threatwatch.domain import LABELS, Label
from threatwatch.watchlist.names import tokens

Split = Literal["train", "dev", "test"]
# `none` messages a keyword model would flag; the data card describes each kind.
HARD_NEGATIVE_SUBTYPES = frozenset(
    {"news_about_threat", "counter_speech", "quoted_threat_report", "violent_idiom", "game_sport",
     "democratic_pressure", "benign_lookalike", "negated_threat", "conditional_safe", "news_violence"}
)  # fmt: skip
REQUIRED_COLUMNS = ("text", "label")


class LabelledDataError(ValueError):
    pass


@dataclass(frozen=True)
class Example:
    text: str
    label: Label
    subtype: str = ""
    platform: str = ""
    variant: str = ""
    source_file: str = ""

    @property
    def hard_negative(self) -> bool:
        return self.label is Label.NONE and self.subtype in HARD_NEGATIVE_SUBTYPES

    @property
    def ordinary(self) -> bool:
        """A `none` message that is not a hard negative: the bulk of a real stream."""
        return self.label is Label.NONE and not self.hard_negative

    @property
    def split(self) -> Split:
        return split_of(self.text)


def split_of(text: str) -> Split:
    """70/15/15 by a stable hash of the folded words: the same message always lands in the same split,
    whatever file it is in or whoever re-labels it."""
    bucket = int(hashlib.sha256(" ".join(tokens(text)).encode("utf-8")).hexdigest()[:8], 16) % 100
    if bucket < 70:
        return "train"
    return "dev" if bucket < 85 else "test"


def read_examples(path: Path) -> list[Example]:
    """One CSV file; refuses unknown labels and empty texts with the line number."""
    problems: list[str] = []
    examples: list[Example] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(REQUIRED_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise LabelledDataError(f"{path}: missing column(s) {sorted(missing)}")
        for row in reader:
            line = reader.line_num
            text = (row.get("text") or "").strip()
            label = (row.get("label") or "").strip()
            if not text:
                problems.append(f"{path}:{line}: empty text")
                continue
            if label not in {label.value for label in LABELS}:
                problems.append(f"{path}:{line}: unknown label {label!r}")
                continue
            examples.append(
                Example(
                    text=text,
                    label=Label(label),
                    subtype=(row.get("subtype") or "").strip(),
                    platform=(row.get("platform") or "").strip(),
                    variant=(row.get("variant") or "").strip(),
                    source_file=path.name,
                )
            )
    if problems:
        raise LabelledDataError("\n".join(problems[:50]))
    return examples


def load_labelled_data(directory: Path) -> list[Example]:
    """Every ``*.csv`` directly in ``directory`` (not its sub-folders), sorted by file name."""
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise LabelledDataError(f"no labelled CSV files in {directory}")
    return [example for path in files for example in read_examples(path)]


def split_counts(examples: Iterable[Example]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {"train": Counter(), "dev": Counter(), "test": Counter()}
    for example in examples:
        counts[example.split][example.label.value] += 1
    return counts
