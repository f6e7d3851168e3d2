"""Decision rules: thresholds, their tuning on dev, and where the cascade lets the fast stage settle."""

from __future__ import annotations

import numpy as np

from threatwatch.classify.base import decide
from threatwatch.classify.cascade import (
    EXIT_GRID,
    cascade_labels,
    choose_exit_threshold,
    choose_settle_threshold,
)
from threatwatch.classify.training.thresholds import tune_thresholds
from threatwatch.domain import Label

# columns: threat, coercion, doxxing, abuse, none
ROWS = np.array(
    [
        [0.35, 0.05, 0.05, 0.05, 0.50],  # a weak threat signal
        [0.05, 0.05, 0.05, 0.60, 0.25],  # abuse
        [0.10, 0.60, 0.10, 0.10, 0.10],  # coercion
        [0.02, 0.02, 0.02, 0.04, 0.90],  # clearly benign
    ]
)


def test_decide_is_argmax_without_thresholds() -> None:
    assert decide(ROWS, {}) == [Label.NONE, Label.ABUSE, Label.COERCION, Label.NONE]


def test_decide_flags_a_label_that_clears_its_threshold() -> None:
    thresholds = {"threat": 0.3, "coercion": 0.5, "doxxing": 0.5}
    assert decide(ROWS, thresholds) == [Label.THREAT, Label.ABUSE, Label.COERCION, Label.NONE]
    strict = {"threat": 0.9, "coercion": 0.9, "doxxing": 0.9}
    assert decide(ROWS, strict) == [Label.NONE, Label.ABUSE, Label.NONE, Label.NONE]


def test_tuned_thresholds_reach_the_recall_target_on_dev() -> None:
    rng = np.random.default_rng(0)
    gold = ["threat"] * 50 + ["none"] * 150
    threat_score = np.concatenate([rng.uniform(0.2, 0.9, 50), rng.uniform(0.0, 0.45, 150)])
    probabilities = np.zeros((200, 5))
    probabilities[:, 0] = threat_score
    probabilities[:, 4] = 1 - threat_score
    thresholds = tune_thresholds(probabilities, gold, recall_target=0.95)
    flagged = [label is Label.THREAT for label in decide(probabilities, thresholds)]
    assert sum(flagged[:50]) / 50 >= 0.95
    # Without a recall target it trades recall for precision: a higher threat threshold.
    assert tune_thresholds(probabilities, gold, recall_target=0.0)["threat"] >= thresholds["threat"]


def test_settled_rows_are_never_flagged() -> None:
    escalated = np.array([False, True, True, False])
    thresholds = {"threat": 0.3, "coercion": 0.5, "doxxing": 0.5}
    assert cascade_labels(ROWS, escalated, thresholds) == [
        Label.NONE,
        Label.ABUSE,
        Label.COERCION,
        Label.NONE,
    ]


def test_settle_threshold_keeps_flagged_recall() -> None:
    """The fast stage is sure about benign texts but also 'sure' about one hidden threat (row 2)."""
    fast = np.array(
        [
            [0.01, 0.01, 0.01, 0.01, 0.96],
            [0.01, 0.01, 0.01, 0.01, 0.96],
            [0.05, 0.01, 0.01, 0.01, 0.92],  # a veiled threat the n-grams miss
            [0.60, 0.01, 0.01, 0.08, 0.30],
        ]
    )
    transformer = np.array(
        [
            [0.02, 0.02, 0.02, 0.02, 0.92],
            [0.02, 0.02, 0.02, 0.02, 0.92],
            [0.80, 0.05, 0.05, 0.05, 0.05],
            [0.85, 0.05, 0.02, 0.03, 0.05],
        ]
    )
    gold = ["none", "none", "threat", "threat"]
    settle = choose_settle_threshold(fast, transformer, gold, thresholds={"threat": 0.5}, max_recall_loss=0.0)
    assert 0.92 < settle <= 0.96  # settles the two benign rows, escalates the veiled threat


def test_exit_threshold_settles_benign_rows_but_not_a_threat_the_gate_underrates() -> None:
    """Everything is escalated by the fast stage; the gate is sure about two benign rows, less sure about
    a real threat (flagged share 0.30) and clear about another (0.85)."""
    fast = np.full((5, 5), 0.2)
    gate = np.array(
        [
            [0.01, 0.01, 0.01, 0.07, 0.90],  # benign, flagged share 0.03
            [0.02, 0.02, 0.02, 0.04, 0.90],  # benign, 0.06
            [0.20, 0.05, 0.05, 0.10, 0.60],  # a threat, 0.30
            [0.80, 0.03, 0.02, 0.05, 0.10],  # a threat, 0.85
            [0.05, 0.05, 0.05, 0.05, 0.80],  # benign, 0.15
        ]
    )
    transformer = np.array(
        [
            [0.02, 0.02, 0.02, 0.02, 0.92],
            [0.02, 0.02, 0.02, 0.02, 0.92],
            [0.80, 0.05, 0.05, 0.05, 0.05],
            [0.85, 0.05, 0.02, 0.03, 0.05],
            [0.02, 0.02, 0.02, 0.02, 0.92],
        ]
    )
    gold = ["none", "none", "threat", "threat", "none"]

    def exit_threshold(gate: np.ndarray, max_recall_loss: float) -> float | None:
        return choose_exit_threshold(
            fast,
            gate,
            transformer,
            gold,
            thresholds={"threat": 0.5},
            settle_none_threshold=0.9,
            max_recall_loss=max_recall_loss,
        )

    strict = exit_threshold(gate, 0.0)
    assert strict is not None and 0.15 < strict <= 0.30  # settles the three benign rows, not the threat
    assert exit_threshold(gate, 0.5) == EXIT_GRID[-1]  # losing one of two threats is allowed: top step
    # A gate that rates a threat lower than any step allows cannot settle anything.
    blind = gate.copy()
    blind[2] = [0.001, 0.001, 0.001, 0.097, 0.9]
    assert exit_threshold(blind, 0.0) is None
