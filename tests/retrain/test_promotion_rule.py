"""The promotion rule on its own: the comparison of both models, and the check on analyst agreement."""

from __future__ import annotations

import numpy as np

from threatwatch.classify.evaluation.evaluate import evaluate
from threatwatch.classify.training.data import Example
from threatwatch.domain import Label
from threatwatch.retrain.compare import TEST, Comparison, Side, promotion_verdict
from threatwatch.retrain.quality import Agreement

GOLD = ["threat", "coercion", "none", "none", "abuse", "doxxing"]


def _side(predicted: list[str]) -> Side:
    return Side(evaluate(GOLD, predicted), np.zeros((len(GOLD), 5)), predicted)


def _comparison(champion: list[str], challenger: list[str]) -> Comparison:
    examples = [Example(text=f"bericht {i}", label=Label(g)) for i, g in enumerate(GOLD)]
    return Comparison(TEST, examples, _side(champion), _side(challenger))


WEAK = ["none", "coercion", "none", "none", "abuse", "none"]  # misses the threat and the doxxing
STRONG = list(GOLD)


def test_a_better_challenger_is_promoted_when_analysts_agree() -> None:
    verdict = promotion_verdict(
        [_comparison(WEAK, STRONG)],
        f1_margin=0.01,
        agreement=Agreement(items=100, observed=0.9, kappa=0.85),
        min_kappa=0.6,
        min_agreement_items=30,
    )
    assert verdict.promote, verdict.reason
    assert "kappa 0.85" in verdict.reason


def test_a_better_challenger_is_rejected_when_analysts_contradict_each_other() -> None:
    verdict = promotion_verdict(
        [_comparison(WEAK, STRONG)],
        f1_margin=0.01,
        agreement=Agreement(items=1395, observed=0.5, kappa=0.35),
        min_kappa=0.6,
        min_agreement_items=30,
    )
    assert not verdict.promote
    assert "analysts agree too little: kappa 0.35 over 1395" in verdict.reason


def test_too_few_double_labels_skip_the_agreement_check_and_say_so() -> None:
    verdict = promotion_verdict(
        [_comparison(WEAK, STRONG)],
        f1_margin=0.01,
        agreement=Agreement(items=5, observed=0.2, kappa=0.1),
        min_kappa=0.6,
        min_agreement_items=30,
    )
    assert verdict.promote
    assert "agreement not checked: 5 messages" in verdict.reason


def test_a_worse_challenger_is_rejected_whatever_the_agreement() -> None:
    verdict = promotion_verdict(
        [_comparison(STRONG, WEAK)],
        f1_margin=0.01,
        agreement=Agreement(items=100, observed=0.95, kappa=0.9),
        min_kappa=0.6,
        min_agreement_items=30,
    )
    assert not verdict.promote
    assert f"{TEST}: flagged recall dropped" in verdict.reason
