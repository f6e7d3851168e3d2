"""The labelled data keeps the promises of its data card."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from threatwatch.classify.training.data import Example, load_labelled_data, split_counts, split_of
from threatwatch.classify.training.dedupe import near_duplicate_pairs
from threatwatch.domain import LABELS, Label

from .conftest import REPO_ROOT


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_labelled_data(REPO_ROOT / "labelled_data")


def test_size_and_every_label_in_every_split(examples: list[Example]) -> None:
    assert len(examples) >= 4000
    counts = split_counts(examples)
    for split in ("train", "dev", "test"):
        assert set(counts[split]) == {label.value for label in LABELS}
        assert min(counts[split].values()) >= 50


def test_no_exact_or_near_duplicates(examples: list[Example]) -> None:
    texts = [e.text for e in examples]
    assert len({t.casefold() for t in texts}) == len(texts)
    pairs = near_duplicate_pairs(texts)
    assert pairs == [], [(texts[i], texts[j]) for i, j, _ in pairs[:5]]


def test_near_duplicate_check_catches_a_name_swap() -> None:
    """The check above would see a template: the same threat with another name and number."""
    texts = [
        "Burgemeester Jansen, we weten dat je op nummer 12 woont. Pas maar op.",
        "Wethouder Pietersen, we weten dat je op nummer 48 woont. Pas maar op.",
        "Fijne kerstdagen gewenst aan de hele gemeenteraad!",
    ]
    assert [(i, j) for i, j, _ in near_duplicate_pairs(texts)] == [(0, 1)]


def test_messages_are_3_to_60_words(examples: list[Example]) -> None:
    lengths = [len(re.findall(r"\S+", e.text)) for e in examples]
    assert min(lengths) >= 3 and max(lengths) <= 60


def test_none_mirrors_a_real_stream_with_a_fifth_hard_negatives(examples: list[Example]) -> None:
    """At least 30,000 `none` messages, mostly the ordinary bulk of a stream, at least a fifth of them
    hard negatives (news about threats, counter-speech, negations, idioms, sport, ...)."""
    none = [e for e in examples if e.label is Label.NONE]
    assert len(none) >= 30_000
    assert sum(e.hard_negative for e in none) >= len(none) / 5


def test_split_is_deterministic_and_roughly_70_15_15(examples: list[Example]) -> None:
    assert split_of("Ik weet waar je woont.") == split_of("ik weet waar je woont")  # folded words
    shares = Counter(e.split for e in examples)
    assert 0.65 < shares["train"] / len(examples) < 0.75
    assert 0.12 < shares["test"] / len(examples) < 0.18
