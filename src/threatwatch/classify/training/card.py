"""Model cards: evaluate a model directory on the fixed splits and write metrics, figures and a README."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from threatwatch.classify.base import Classifier
from threatwatch.classify.evaluation.evaluate import Evaluation, evaluate, format_evaluation
from threatwatch.classify.evaluation.suites import (
    FunctionalReport,
    StreamReport,
    format_functional,
    format_stream,
    run_world,
)
from threatwatch.classify.training.data import Example, split_counts
from threatwatch.classify.training.plots import expected_calibration_error, write_card_plots
from threatwatch.domain import LABELS

METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"


@dataclass(frozen=True)
class CardReport:
    dev: Evaluation
    test: Evaluation
    extra: dict[str, Any]
    functional: FunctionalReport | None = None
    stream: StreamReport | None = None


def predictions(model: Classifier, examples: Sequence[Example]) -> tuple[npt.NDArray[np.float64], list[str]]:
    results = model.predict([e.text for e in examples], explain=False)
    probabilities = np.asarray(
        [[r.scores[label.value] for label in LABELS] for r in results], dtype=np.float64
    )
    return probabilities, [r.label.value for r in results]


def evaluate_on(
    model: Classifier, examples: Sequence[Example]
) -> tuple[Evaluation, npt.NDArray[np.float64], list[str]]:
    probabilities, predicted = predictions(model, examples)
    evaluation = evaluate(
        [e.label.value for e in examples],
        predicted,
        hard_negative=[e.hard_negative for e in examples],
        ordinary=[e.ordinary for e in examples],
    )
    return evaluation, probabilities, predicted


def read_description(directory: Path) -> str:
    """The free-text description of an existing card, so ``evaluate`` can rewrite the card around it."""
    card = directory / CARD_FILE
    if not card.is_file():
        return ""
    body = card.read_text().split("\n", 1)[-1]
    return body.split("- **Intended use**", 1)[0].strip()


def _recorded_extras(directory: Path) -> dict[str, Any]:
    """What an earlier card recorded beside the evaluations (thresholds, settle points, timings)."""
    try:
        recorded = json.loads((directory / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    evaluations = ("version", "split_counts", "dev", "test", "functional", "stream")
    return {k: v for k, v in recorded.items() if k not in evaluations}


def _world_sections(
    model: Classifier, data_dir: Path | None
) -> tuple[dict[str, Any], str, FunctionalReport | None, StreamReport | None]:
    """The functional suite and the stream set under ``data_dir``, where they exist: their metrics,
    their card sections, and the reports."""
    if data_dir is None:
        return {}, "", None, None
    metrics: dict[str, Any] = {}
    sections = []
    functional, stream = run_world(model, data_dir)
    if functional is not None:
        metrics["functional"] = functional.to_json()
        sections.append(
            "## Functional suite (`labelled_data/functional/`, written apart from the training data)\n"
            f"```\n{format_functional(functional)}\n```\n"
        )
    if stream is not None:
        metrics["stream"] = stream.to_json()
        sections.append(
            "## Realistic stream set (`labelled_data/stream/`, ~99% benign, never tuned on)\n"
            f"```\n{format_stream(stream)}\n```\n"
        )
    return metrics, "\n".join(sections), functional, stream


def write_model_card(
    directory: Path,
    model: Classifier,
    examples: Sequence[Example],
    *,
    description: str,
    extra: dict[str, Any] | None = None,
    data_dir: Path | None = None,
) -> CardReport:
    """Evaluate on dev and test, and on the functional suite and stream set under ``data_dir`` where
    they exist; write ``metrics.json``, the figures (test split) and ``README.md``."""
    dev_examples = [e for e in examples if e.split == "dev"]
    test_examples = [e for e in examples if e.split == "test"]
    dev, _, _ = evaluate_on(model, dev_examples)
    test, test_probabilities, test_predicted = evaluate_on(model, test_examples)
    gold = [e.label.value for e in test_examples]
    figures = write_card_plots(directory, test_probabilities, gold, test_predicted, title=model.version)
    if extra is None:  # re-evaluation (`threatwatch evaluate`): keep what training recorded
        extra = _recorded_extras(directory)
    extra = {
        **extra,
        "test_expected_calibration_error": expected_calibration_error(test_probabilities, gold),
    }
    counts = {split: dict(c) for split, c in split_counts(examples).items()}
    world_metrics, world_sections, functional, stream = _world_sections(model, data_dir)
    metrics = {
        "version": model.version,
        "split_counts": counts,
        "dev": dev.to_json(),
        "test": test.to_json(),
        **world_metrics,
        **extra,
    }
    (directory / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    config_files = sorted(
        p.relative_to(directory) for p in directory.rglob("*.json") if p.name != METRICS_FILE
    )
    extras = "\n".join(f"- {key}: `{json.dumps(value, default=float)}`" for key, value in extra.items())
    (directory / CARD_FILE).write_text(
        f"""# Model card: {model.version}

{description}

- **Intended use**: triage of public online messages that mention Dutch public officials, for review
  by trained analysts. Never an automated decision about a person. A message is *flagged* when its label
  is threat, coercion or doxxing.
- **Data**: `labelled_data/` (see its data card), fixed hash split. Messages per split and label:
  `{json.dumps(counts)}`
- **Configuration and training arguments (with seed)**: {", ".join(f"`{p}`" for p in config_files)}
{extras}

## Test split
```
{format_evaluation(test)}
```

![precision-recall]({figures[0]})
![confusion matrix]({figures[1]})
![reliability]({figures[2]})

## Dev split (thresholds were chosen here)
```
{format_evaluation(dev)}
```

{world_sections}
## Limitations
- Trained and tested on messages the team wrote, not on collected posts. The test split is written in
  the same style as the training data, so its scores flatter the model; the functional suite and the
  stream set above, written apart from it, are the better guide, and real posts will still differ.
- Dutch and some Flemish; English and mixed posts are covered thinly. Context (thread, images) is not
  seen.
- Where the config has `prior_weights`, scores are moved to a stream with 1 flagged message in 200 and
  2% abuse (a stated assumption, `classify/prevalence.py`); otherwise they follow the labelled data's
  label mix.
"""
    )
    return CardReport(dev=dev, test=test, extra=extra, functional=functional, stream=stream)
