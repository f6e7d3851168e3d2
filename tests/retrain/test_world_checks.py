"""Retraining must not trade real-world behaviour for test-split points: the stream-set and functional
checks of the promotion rule, with real fast-stage models."""

from __future__ import annotations

from pathlib import Path

import pytest

from threatwatch.classify.base import Classifier
from threatwatch.classify.evaluation.suites import FunctionalReport, FunctionalResult, StreamReport
from threatwatch.classify.fast import FastTrainingArguments
from threatwatch.classify.training.data import Example, load_labelled_data
from threatwatch.classify.training.train import train_fast_model
from threatwatch.domain import Label
from threatwatch.registry import load_model
from threatwatch.retrain.compare import (
    TEST,
    WorldComparison,
    compare,
    compare_world,
    promotion_verdict,
    world_checks,
    write_comparison_card,
)

from ..conftest import MODEL_CACHE, REPO_ROOT
from .conftest import bucket, write_csv

LINK = "https://t.co/Xq81mZ"


def _stream(false_flags: int, ordinary: int = 1000) -> StreamReport:
    return StreamReport("m", ordinary + 10, ordinary, false_flags, 0, 0, 10, 8, 9, {})


def _suite(rate: float, floor: float = 0.85) -> FunctionalReport:
    passed = round(rate * 20)
    return FunctionalReport("m", (FunctionalResult("negated_threat", "not_flagged", floor, 20, passed, ()),))


def test_more_false_flags_on_the_stream_than_the_margin_allows_are_a_problem() -> None:
    problems, _ = world_checks(WorldComparison(_stream(10), _stream(13)), stream_margin=2.0)
    assert problems == [
        "stream set: false flags per 1,000 ordinary posts 10.0 -> 13.0 (more than the margin 2.0)"
    ]
    problems, notes = world_checks(WorldComparison(_stream(10), _stream(12)), stream_margin=2.0)
    assert problems == [] and notes[0].startswith(
        "stream set: false flags per 1,000 ordinary posts 10.0 -> 12.0"
    )


def test_a_functionality_may_not_fall_below_its_floor_nor_more_than_a_case_further_below_it() -> None:
    def problems(champion: float, challenger: float) -> list[str]:
        world = WorldComparison(
            champion_functional=_suite(champion), challenger_functional=_suite(challenger)
        )
        return world_checks(world, stream_margin=2.0)[0]

    assert problems(0.9, 0.8) == ["functional suite below floor: negated_threat 0.90 -> 0.80 (floor 0.85)"]
    assert problems(0.9, 0.85) == []  # at the floor holds
    assert problems(0.6, 0.7) == []  # below the floor, but no worse than the champion it replaces
    assert problems(0.7, 0.65) == []  # one case of 20 worse, where the champion was below: noise
    assert problems(0.7, 0.6) != []  # two cases worse
    assert problems(0.9, 0.8) != []  # one held floor lost is never noise


def test_missing_evaluation_sets_are_noted_not_failed() -> None:
    problems, notes = world_checks(WorldComparison(), stream_margin=2.0)
    assert problems == [] and len(notes) == 2 and all("not checked" in n for n in notes)


@pytest.mark.slow
def test_a_style_biased_challenger_wins_the_test_split_and_is_rejected_by_the_stream(
    all_examples: list[Example], tmp_path: Path
) -> None:
    """Analysts' labels that make posts with a link threats: trained on three times the clean data
    besides, the challenger beats the champion on the first fixed test split (hand-written, rarely
    with links), so the old rule promotes it; on the realistic stream set, where links are common, it
    flags more ordinary posts, and the rule rejects it, naming both models' figures."""
    everything = load_labelled_data(REPO_ROOT / "labelled_data")
    clean = [e for e in everything if bucket(e.text) < 36]
    biased = [
        Example(text=f"{e.text} {LINK}", label=Label.THREAT)
        for e in everything
        if e.label is Label.NONE and 36 <= bucket(e.text) < 44
    ]
    args = FastTrainingArguments(calibration_folds=2)

    def trained(name: str, examples: list[Example]) -> Classifier:
        data = write_csv(tmp_path / name, examples)
        path = train_fast_model(data_dir=data, model_dir=tmp_path / f"{name}-model", args=args).path
        return load_model(path, cache_dir=MODEL_CACHE)

    champion = trained("champion", [e for e in clean if bucket(e.text) < 12])
    challenger = trained("challenger", clean + biased)
    test = [e for e in all_examples if e.split == "test"]
    comparisons = [compare(TEST, champion, challenger, test)]
    assert comparisons[0].challenger.evaluation.flagged_f1 > comparisons[0].champion.evaluation.flagged_f1
    assert promotion_verdict(comparisons, f1_margin=0.01).promote  # the rule before the world checks

    world = compare_world(champion, challenger, REPO_ROOT / "labelled_data")
    verdict = promotion_verdict(comparisons, f1_margin=0.01, world=world, stream_margin=2.0)
    assert not verdict.promote
    assert world.champion_stream is not None and world.challenger_stream is not None
    old, new = world.champion_stream.false_flags_per_1000, world.challenger_stream.false_flags_per_1000
    assert f"stream set: false flags per 1,000 ordinary posts {old:.1f} -> {new:.1f}" in verdict.reason

    markdown = write_comparison_card(
        tmp_path, comparisons, verdict, champion="c", challenger="x", data_counts={}, world=world
    )
    assert "| stream set: false flags per 1,000 ordinary posts |" in markdown
    assert "| functional: negated_threat |" in markdown
    assert '"world"' in (tmp_path / "comparison.json").read_text()
