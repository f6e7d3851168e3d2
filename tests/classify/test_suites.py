"""The functional suite and the stream set: loading, scoring, floors, and their separation from the
training data."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from threatwatch.classify.base import ClassificationResult, Span, decide
from threatwatch.classify.evaluation.suites import (
    format_functional,
    format_stream,
    load_functional_suite,
    run_functional_suite,
    run_stream_set,
)
from threatwatch.classify.explain import explained_results
from threatwatch.classify.training.data import LabelledDataError, load_labelled_data
from threatwatch.classify.training.dedupe import near_duplicate_pairs
from threatwatch.domain import Label

from ..conftest import REPO_ROOT

DATA = REPO_ROOT / "labelled_data"


class KeywordModel:
    """Flags any text with 'kom je halen'; calls 'sukkel' abuse. Reasons we know, for scoring checks."""

    version = "keywords"

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        out = np.zeros((len(texts), 5))
        for i, text in enumerate(texts):
            if "kom je halen" in text:
                out[i, 0] = 1.0
            elif "sukkel" in text:
                out[i, 3] = 1.0
            else:
                out[i, 4] = 1.0
        return out

    def predict(self, texts: Sequence[str], *, explain: bool = True) -> list[ClassificationResult]:
        probabilities = self.predict_proba(texts)
        return explained_results(texts, probabilities, decide(probabilities, {}), version=self.version,
                                 explain_with=None)  # fmt: skip

    def explain(self, texts: Sequence[str], labels: Sequence[Label]) -> list[tuple[Span, ...]]:
        return [() for _ in texts]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def small_suite(tmp_path: Path) -> Path:
    directory = tmp_path / "functional"
    write(directory / "functionalities.csv", "functionality,expected,floor,description\n"
          "direct_threat,flagged,0.5,x\nnegated_threat,not_flagged,0.9,y\n")  # fmt: skip
    cases = [
        "direct_threat,ik kom je halen,threat",
        "direct_threat,ik maak je af,threat",
        "negated_threat,ik zou nooit zeggen: ik kom je halen,none",
        "negated_threat,geweld is fout,none",
    ]
    write(directory / "cases.csv", "functionality,text,label\n" + "\n".join(cases) + "\n")
    return directory


def test_functional_suite_scores_pass_rates_against_floors(tmp_path: Path) -> None:
    report = run_functional_suite(KeywordModel(), small_suite(tmp_path))
    direct, negated = report.results
    assert (direct.pass_rate, direct.holds) == (0.5, True)
    assert (negated.pass_rate, negated.holds) == (0.5, False)
    assert negated.failures == ("ik zou nooit zeggen: ik kom je halen",)
    assert [r.name for r in report.below_floor] == ["negated_threat"]
    assert "BELOW FLOOR" in format_functional(report)
    assert report.to_json()["below_floor"] == ["negated_threat"]


def test_a_case_whose_label_contradicts_its_functionality_is_refused(tmp_path: Path) -> None:
    directory = small_suite(tmp_path)
    write(directory / "cases.csv", "functionality,text,label\nnegated_threat,ik kom je halen,threat\n")
    with pytest.raises(LabelledDataError, match="contradicts negated_threat"):
        load_functional_suite(directory)


def test_stream_set_counts_false_flags_per_thousand_ordinary_posts(tmp_path: Path) -> None:
    rows = ["text,label,category"]
    rows += [f"gewoon bericht nummer {i},none,chat" for i in range(998)]
    rows += ["ik kom je halen in de trein (songtekst),none,music", "ik kom je halen wethouder,threat,x",
             "wat een sukkel,abuse,x"]  # fmt: skip
    write(tmp_path / "stream" / "stream.csv", "\n".join(rows) + "\n")
    report = run_stream_set(KeywordModel(), tmp_path / "stream")
    assert (report.ordinary, report.ordinary_flagged) == (999, 1)
    assert report.false_flags_per_1000 == pytest.approx(1000 / 999)
    assert (report.flagged, report.flagged_caught, report.recall) == (1, 1, 1.0)
    assert report.flagged_share_by_category["music"] == (1, 1)
    assert "1.0 per 1,000" in format_stream(report)


def test_shipped_suite_is_large_enough_and_consistent() -> None:
    functionalities, cases = load_functional_suite(DATA / "functional")
    assert len(functionalities) >= 25
    per = {f.name: sum(c.functionality == f.name for c in cases) for f in functionalities}
    assert min(per.values()) >= 20, per
    assert all(0.0 < f.floor <= 1.0 for f in functionalities)


def test_evaluation_sets_are_no_near_duplicates_of_the_training_data() -> None:
    """Written apart from the training data; the near-duplicate check enforces it."""
    training = [e.text for e in load_labelled_data(DATA)]
    _, cases = load_functional_suite(DATA / "functional")
    assert near_duplicate_pairs([c.text for c in cases], against=training) == []
    with (DATA / "stream" / "stream.csv").open(encoding="utf-8", newline="") as handle:
        stream = [row["text"] for row in csv.DictReader(handle)]
    assert len(stream) >= 2000
    assert near_duplicate_pairs(stream, against=training) == []
