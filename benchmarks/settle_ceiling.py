"""How much of the stream can the fast stage settle? The ceiling behind the cascade's speed targets.

The cascade's speed is set by the share of messages it escalates to the transformer:
`benchmarks/classify.py` prints the largest share each speed target allows at the measured stage costs.
This script retrains fast-stage variants on the training split (optionally with extra labelled CSVs),
chooses each one's settle threshold on dev as training does (the same flagged-recall budget against
the shipped transformer, `cascade.choose_settle_threshold`), and prints the share of a 95%-`none`
stream that each would escalate, measured on the unchanged test split, with the flagged recall it
costs there. The shipped fast stage is the first row.

``--extra-data DIR`` adds the training-split rows of DIR's CSVs (same columns as `labelled_data/`;
exact and near-duplicates of the labelled data are dropped); dev and test stay those of
`labelled_data/`, so every row is compared on the same messages.

    python benchmarks/settle_ceiling.py [--extra-data DIR] [--variants shipped,c32,...]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from threatwatch.classify.cascade import (
    NONE_COLUMN,
    SETTLE_RECALL_BUDGET,
    CascadeModel,
    cascade_labels,
    choose_settle_threshold,
)
from threatwatch.classify.fast import TRAINING_ARGS_FILE, FastStageModel, FastTrainingArguments
from threatwatch.classify.training.data import Example, load_labelled_data, read_examples
from threatwatch.classify.training.dedupe import near_duplicate_pairs
from threatwatch.config import get_settings
from threatwatch.domain import FLAGGED_LABELS, Label
from threatwatch.registry import current_model_path

STREAM_NONE_SHARE = 0.95  # as in benchmarks/classify.py


def variants(shipped: FastTrainingArguments) -> dict[str, FastTrainingArguments]:
    return {
        "retrained": shipped,
        "c2": replace(shipped, c=2.0),
        "c32": replace(shipped, c=32.0),
        "isotonic": replace(shipped, calibration="isotonic"),
        "uncalibrated": replace(shipped, calibration="none"),
        "words1-3": replace(shipped, word_ngram_max=3),
        "chars1-6": replace(shipped, char_ngram_min=1, char_ngram_max=6),
        # multilingual USE sentence embeddings joined to the n-grams, at two loudnesses
        "use0.5": replace(shipped, sentence_embedding_weight=0.5),
        "use1": replace(shipped, sentence_embedding_weight=1.0),
    }


def flagged_recall(
    probabilities: npt.NDArray[np.float64],
    escalated: npt.NDArray[np.bool_],
    gold: Sequence[Example],
    thresholds: dict[str, float],
) -> float:
    labels = cascade_labels(probabilities, escalated, thresholds)
    actual = np.asarray([e.label in FLAGGED_LABELS for e in gold])
    predicted = np.asarray([label in FLAGGED_LABELS for label in labels])
    return float((actual & predicted).sum() / max(1, actual.sum()))


def extra_training_rows(directory: Path, labelled: list[Example]) -> tuple[list[Example], int]:
    """Training-split rows of ``directory``'s CSVs that are new to the labelled data, and how many rows
    the files held in all."""
    rows = [e for path in sorted(directory.glob("*.csv")) for e in read_examples(path)]
    known = {e.text for e in labelled}
    fresh = list({e.text: e for e in rows if e.text not in known}.values())
    pairs = near_duplicate_pairs([e.text for e in labelled] + [e.text for e in fresh])
    clash = {k - len(labelled) for i, j, _ in pairs for k in (i, j) if k >= len(labelled)}
    kept = [e for k, e in enumerate(fresh) if k not in clash and e.split == "train"]
    return kept, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--extra-data", type=Path, help="a folder of extra labelled CSVs for training")
    parser.add_argument("--variants", help="comma-separated subset of the variants (default: all)")
    args = parser.parse_args()

    settings = get_settings()
    path = current_model_path(settings.model_dir, settings.model_name)
    model = CascadeModel.from_pretrained(path, base_cache_dir=settings.cache_dir)
    examples = load_labelled_data(settings.labelled_data_dir)
    train = [e for e in examples if e.split == "train"]
    dev = [e for e in examples if e.split == "dev"]
    test = [e for e in examples if e.split == "test"]
    if args.extra_data is not None:
        extra, total = extra_training_rows(args.extra_data, examples)
        print(f"extra data: {total} rows in {args.extra_data}, {len(extra)} new training rows used")
        train = train + extra
    thresholds = model.config.thresholds
    transformer = {
        "dev": model.transformer.predict_proba([e.text for e in dev]),
        "test": model.transformer.predict_proba([e.text for e in test]),
    }
    reference = flagged_recall(transformer["test"], np.ones(len(test), dtype=bool), test, thresholds)
    shipped_args = FastTrainingArguments.from_stored(
        json.loads((path / "fast" / TRAINING_ARGS_FILE).read_text())
    )
    chosen = variants(shipped_args)
    names = ["shipped", *chosen] if not args.variants else args.variants.split(",")
    print(
        f"model {model.version}; settle budget on dev {SETTLE_RECALL_BUDGET * 100:.1f} points of flagged "
        f"recall; stream {STREAM_NONE_SHARE:.0%} none; {len(train)} training rows\n"
    )
    print(
        f"{'variant':<14} {'settle':>6} {'none settled':>12} {'stream escalated':>16} "
        f"{'recall loss':>11} {'fast ms/msg':>11}  fit"
    )
    for name in names:
        started = time.monotonic()
        if name == "shipped":
            fast = model.fast
        else:
            fast = FastStageModel.train(
                [e.text for e in train], [e.label.value for e in train], version=name, args=chosen[name]
            )
        fit = time.monotonic() - started
        dev_fast = fast.predict_proba([e.text for e in dev])
        settle = choose_settle_threshold(
            dev_fast, transformer["dev"], [e.label.value for e in dev], thresholds=thresholds
        )
        started = time.monotonic()
        test_fast = fast.predict_proba([e.text for e in test])
        per_message = (time.monotonic() - started) / len(test) * 1000
        escalated = test_fast[:, NONE_COLUMN] < settle
        none = np.asarray([e.label is Label.NONE for e in test])
        stream = (
            STREAM_NONE_SHARE * escalated[none].mean() + (1 - STREAM_NONE_SHARE) * escalated[~none].mean()
        )
        mixed = np.where(escalated[:, None], transformer["test"], test_fast)
        loss = (reference - flagged_recall(mixed, escalated, test, thresholds)) * 100
        print(
            f"{name:<14} {settle:6.2f} {1 - escalated[none].mean():12.2f} {stream:16.3f} "
            f"{loss:8.2f} pt {per_message:11.2f}  {fit:.0f} s"
        )


if __name__ == "__main__":
    main()
