"""Training runs: fit on the train split, report on dev and test, write a self-describing model dir."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from threatwatch.classify.data import Example, load_labelled_data, split_counts
from threatwatch.classify.evaluate import Evaluation, evaluate, format_evaluation
from threatwatch.classify.fast import FastStageModel, FastTrainingArguments
from threatwatch.classify.thresholds import tune_thresholds

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainReport:
    path: Path
    version: str
    dev: Evaluation
    test: Evaluation


def data_fingerprint(examples: list[Example]) -> str:
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.label.value}\t{example.text}\n".encode())
    return digest.hexdigest()


def _evaluate_split(model: FastStageModel, examples: list[Example]) -> Evaluation:
    predicted = [r.label.value for r in model.predict([e.text for e in examples], explain=False)]
    return evaluate(
        [e.label.value for e in examples], predicted, hard_negative=[e.hard_negative for e in examples]
    )


def train_fast_model(
    *, data_dir: Path, model_dir: Path, args: FastTrainingArguments | None = None, prefix: str = "fast"
) -> TrainReport:
    """Train the fast stage from ``data_dir`` and save it as ``model_dir/<version>``.

    The version joins the date with a hash of data and arguments, so the same inputs give the same name.
    """
    args = args or FastTrainingArguments()
    examples = load_labelled_data(data_dir)
    by_split = {name: [e for e in examples if e.split == name] for name in ("train", "dev", "test")}
    fingerprint = data_fingerprint(examples)
    args_hash = hashlib.sha256(json.dumps(asdict(args), sort_keys=True).encode()).hexdigest()
    run_hash = hashlib.sha256((fingerprint + args_hash).encode()).hexdigest()[:8]
    version = f"{prefix}-{datetime.now(UTC):%Y%m%d}-{run_hash}"
    logger.info("training %s on %d examples", version, len(by_split["train"]))
    model = FastStageModel.train(
        [e.text for e in by_split["train"]],
        [e.label.value for e in by_split["train"]],
        version=version,
        args=args,
    )
    dev_probabilities = model.predict_proba([e.text for e in by_split["dev"]])
    # Alone, the fast stage is tuned for flagged F1; in the cascade the transformer carries recall.
    model = model.with_thresholds(
        tune_thresholds(dev_probabilities, [e.label.value for e in by_split["dev"]], recall_target=0.0)
    )
    dev = _evaluate_split(model, by_split["dev"])
    test = _evaluate_split(model, by_split["test"])
    path = model_dir / version
    model.save_pretrained(path, args=args)
    counts = split_counts(examples)
    metrics = {
        "data_fingerprint": fingerprint,
        "split_counts": {split: dict(c) for split, c in counts.items()},
        "dev": dev.to_json(),
        "test": test.to_json(),
    }
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (path / "README.md").write_text(_model_card(version, args, counts, dev, test))
    return TrainReport(path=path, version=version, dev=dev, test=test)


def _model_card(
    version: str,
    args: FastTrainingArguments,
    counts: Mapping[str, Mapping[str, int]],
    dev: Evaluation,
    test: Evaluation,
) -> str:
    return f"""# Model card: {version}

Fast stage of the threatwatch classifier: word (1-{args.word_ngram_max}) and character
({args.char_ngram_min}-{args.char_ngram_max}, within word boundaries) n-gram TF-IDF, joined, then a
class-balanced multinomial logistic regression. Labels: threat, coercion, doxxing, abuse, none; a message is
*flagged* when its label is threat, coercion or doxxing.

- Intended use: triage of public online messages that mention Dutch public officials, for human review.
  Never an automated decision about a person.
- Training data: `labelled_data/` (see its data card), fixed hash split; counts per split and label:
  `{json.dumps(counts)}`
- Training arguments (seed included): `{json.dumps(asdict(args))}`
- Decision thresholds per flagged label, tuned on dev for the best flagged F1: see `config.json`.

## Dev split
```
{format_evaluation(dev)}
```

## Test split
```
{format_evaluation(test)}
```

## Limitations
Bag-of-n-grams: it sees words, not meaning. Veiled threats without tell-tale words and violent idioms in
benign contexts are its known weak spots; the transformer stage exists for them.
"""
