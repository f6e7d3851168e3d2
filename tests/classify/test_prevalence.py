"""Scores moved to a real stream's label mix, and precision at a stream's prevalence."""

from __future__ import annotations

import numpy as np
import pytest

from threatwatch.classify.evaluation.evaluate import evaluate, format_evaluation
from threatwatch.classify.prevalence import (
    label_counts,
    precision_at_prevalence,
    prior_weights,
    shift,
    stream_shares,
)
from threatwatch.classify.training.thresholds import tune_for_stream

TRAINED = {"threat": 100, "coercion": 50, "doxxing": 50, "abuse": 100, "none": 700}


def test_stream_shares_keep_the_stated_flagged_share() -> None:
    shares = stream_shares(TRAINED, flagged_share=0.005, abuse_share=0.02)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["threat"] + shares["coercion"] + shares["doxxing"] == pytest.approx(0.005)
    assert shares["threat"] == pytest.approx(2 * shares["coercion"])


def test_shifting_by_the_training_mix_gives_the_stream_mix_back() -> None:
    """A model that knows nothing says the training prior; shifted, it says the stream's."""
    total = sum(TRAINED.values())
    prior = np.asarray([[TRAINED[k] / total for k in ("threat", "coercion", "doxxing", "abuse", "none")]])
    shifted = shift(prior, prior_weights(TRAINED))
    expected = stream_shares(TRAINED)
    assert shifted[0] == pytest.approx(
        [expected[k] for k in ("threat", "coercion", "doxxing", "abuse", "none")]
    )


def test_a_sure_threat_stays_a_threat_and_a_doubtful_one_sinks() -> None:
    rows = np.asarray([[0.98, 0.0, 0.0, 0.01, 0.01], [0.5, 0.0, 0.0, 0.0, 0.5]])
    shifted = shift(rows, prior_weights(TRAINED))
    assert shifted[0, 0] > 0.5
    assert shifted[1, 0] < 0.05


def test_empty_weights_change_nothing_and_missing_labels_are_refused() -> None:
    rows = np.asarray([[0.2, 0.2, 0.2, 0.2, 0.2]])
    assert shift(rows, {}) is rows
    with pytest.raises(ValueError, match="every label"):
        prior_weights({**TRAINED, "doxxing": 0})


def test_label_counts_and_precision_at_prevalence() -> None:
    assert label_counts(["none", "none", "threat"]) == {
        "threat": 1, "coercion": 0, "doxxing": 0, "abuse": 0, "none": 2
    }  # fmt: skip
    # 90% recall, 1% false flags, 1 in 200: 0.0045 true against 0.00995 false flags
    assert precision_at_prevalence(0.9, 0.01, 0.005) == pytest.approx(0.0045 / (0.0045 + 0.00995))


def test_stream_tuning_keeps_false_flags_within_the_budgets() -> None:
    """Ordinary messages with flagged scores up to 0.3, threats from 0.2: the budget of 1% false flags
    on ordinary messages forces the threshold above their scores, at a cost in recall."""
    rng = np.random.default_rng(0)
    ordinary = rng.uniform(0.0, 0.3, 1000)
    threats = rng.uniform(0.2, 1.0, 200)
    scores = np.concatenate([ordinary, threats])
    probabilities = np.zeros((1200, 5))
    probabilities[:, 0], probabilities[:, 4] = scores, 1 - scores
    gold = ["none"] * 1000 + ["threat"] * 200
    thresholds = tune_for_stream(
        probabilities, gold, hard_negative=[False] * 1200, ordinary=[True] * 1000 + [False] * 200,
        ordinary_budget=0.01,
    )  # fmt: skip
    assert 0.28 <= thresholds["threat"] <= 0.35
    flagged = scores >= thresholds["threat"]
    assert flagged[:1000].mean() <= 0.01
    assert flagged[1000:].mean() > 0.8


def test_precision_per_flagged_label_at_the_stated_prevalence() -> None:
    # 100 none (2 predicted threat, 1 doxxing), 10 threat (8 right, 1 as doxxing, 1 missed), 10 doxxing
    # (all right), 10 abuse (1 predicted threat): abuse is not flagged, so it sits with `none`.
    gold = ["none"] * 100 + ["threat"] * 10 + ["doxxing"] * 10 + ["abuse"] * 10
    predicted = (
        ["threat"] * 2
        + ["doxxing"]
        + ["none"] * 97
        + ["threat"] * 8
        + ["doxxing", "none"]
        + ["doxxing"] * 10
        + ["threat"]
        + ["abuse"] * 9
    )
    result = evaluate(gold, predicted, prevalence=0.01).precision_at_stream_prevalence_by_label
    # Stream: 1% flagged (half threat, half doxxing, as in the data), 99% not (100:10 none to abuse).
    none, abuse, threat, doxxing = 0.99 * 100 / 110, 0.99 * 10 / 110, 0.005, 0.005
    threat_true, threat_false = threat * 0.8, none * 0.02 + abuse * 0.1
    doxxing_true, doxxing_false = doxxing * 1.0, none * 0.01 + threat * 0.1
    assert result["threat"] == pytest.approx(threat_true / (threat_true + threat_false))
    assert result["doxxing"] == pytest.approx(doxxing_true / (doxxing_true + doxxing_false))
    assert result["coercion"] is None  # never predicted
    # Without any unflagged row there is no false-flag rate to weigh: nothing is claimed.
    assert set(evaluate(["threat"], ["threat"]).precision_at_stream_prevalence_by_label.values()) == {None}
    assert "per flagged label" in format_evaluation(evaluate(gold, predicted, prevalence=0.01))
