"""Fine-tuning the transformer stage on CPU: arguments, batching, optimiser, schedule and the loop."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerFast

from threatwatch.classify.transformer.model import INT8_SCOPES, E5ForMessageClassification
from threatwatch.domain import LABELS

logger = logging.getLogger(__name__)

__all__ = ["Progress", "TransformerTrainingArguments", "fine_tune", "pad", "sample_none", "stored_keys"]

_LENGTH_GROUP_BATCHES: Final = 32  # batches per length-sorted pool when grouping by length

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TransformerTrainingArguments:
    """Everything that decides the fine-tuned weights; saved beside them so a run can be reproduced."""

    seed: int = 13
    # Two passes over the sampled messages and their noisy copies (see the README for the training time).
    epochs: int = 2
    batch_size: int = 16
    max_length: int = 64  # tokens incl. <s></s>; 98% of our messages are shorter
    learning_rate: float = 8e-5  # encoder layers
    head_learning_rate: float = 1e-3  # the freshly initialised classifier needs a larger step
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    # Encoder layers kept from the base (the first ones; None keeps all 12). Fewer layers cost less per
    # message and per step; not yet measured for quality, so the shipped model keeps all 12.
    num_layers: int | None = None
    # Top kept layers fine-tuned; embeddings (and lower layers, if fewer) stay frozen. All 12 beat the
    # top 6 on dev and test (training times: README).
    trainable_layers: int = 12
    threads: int = 2
    classifier_dropout: float = 0.1
    max_grad_norm: float = 1.0
    # "balanced" weighs the loss by inverse class frequency; on dev it only raised hard-negative false
    # flags (5.8% -> 7.8%) for no F1 gain, so "none", which also keeps probabilities honest.
    class_weighting: Literal["none", "balanced"] = "none"
    # Batches from length-sorted pools: on our train split random batches compute 1.75x the real
    # tokens (padding), grouped ones 1.03x.
    group_by_length: bool = True
    # float16 halves the artifact; the trained weights are rounded in memory too, so save/load is exact.
    weights_dtype: Literal["float32", "float16"] = "float16"
    prefix: str = ""  # prepended to every text; "" keeps a plain `transformers.pipeline` equivalent
    max_steps: int | None = None  # stop early (smoke tests); None trains all epochs
    # Read `surface.normalise(text)` instead of the raw post (handles, links, retweet prefixes made generic).
    normalise_surface: bool = True
    # Train on the originals plus a noisy copy (`surface.noisy`) of this share of them, alike for every
    # label, so no label owns a register.
    noisy_copy_share: float = 0.4
    # At most this many `none` messages per message of another label (a random sample; None keeps all):
    # the benign bulk is what the fast stage settles, the transformer needs its boundary more than its mass.
    none_per_other: float | None = 1.5
    # Which Linear layers the served model quantises to int8 (`transformer.model.INT8_SCOPES`). "all" was
    # faster but, served, cost 3 points of flagged F1 on test (0.931 -> 0.902) after retuning.
    int8_scope: str = "all_but_ffn_output"

    @classmethod
    def from_stored(cls, raw: dict[str, Any]) -> TransformerTrainingArguments:
        """Arguments saved beside a model; fields added since it was saved take the value that
        reproduces it, not today's default."""
        legacy = {
            "num_layers": None,
            "int8_scope": "all_but_ffn_output",
            "normalise_surface": False,
            "noisy_copy_share": 0.0,
            "none_per_other": None,
        }
        return cls(**{**legacy, **raw})

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.threads < 1:
            raise ValueError("epochs, batch_size and threads must be >= 1")
        if self.num_layers is not None and self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1 or None, got {self.num_layers}")
        if self.int8_scope not in INT8_SCOPES:
            raise ValueError(f"int8_scope must be one of {INT8_SCOPES}, got {self.int8_scope!r}")
        if self.trainable_layers < 0:
            raise ValueError(f"trainable_layers must be >= 0, got {self.trainable_layers}")
        if not 2 < self.max_length <= 512:
            raise ValueError(f"max_length must be in 3..512, got {self.max_length}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.class_weighting not in ("none", "balanced"):
            raise ValueError(f"class_weighting must be 'none' or 'balanced', got {self.class_weighting!r}")
        if self.weights_dtype not in ("float32", "float16"):
            raise ValueError(f"weights_dtype must be 'float32' or 'float16', got {self.weights_dtype!r}")
        if not 0.0 <= self.noisy_copy_share <= 1.0:
            raise ValueError(f"noisy_copy_share must be in [0, 1], got {self.noisy_copy_share}")
        if self.none_per_other is not None and self.none_per_other <= 0:
            raise ValueError(f"none_per_other must be > 0 or None, got {self.none_per_other}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")


def _trainable_prefixes(num_hidden_layers: int, trainable_layers: int) -> tuple[str, ...]:
    """State-dict prefixes of what training changes, hence what a model directory stores."""
    first = max(num_hidden_layers - trainable_layers, 0)
    return (*(f"bert.encoder.layer.{i}." for i in range(first, num_hidden_layers)), "classifier.")


def stored_keys(model: E5ForMessageClassification, trainable_layers: int) -> list[str]:
    prefixes = _trainable_prefixes(int(model.config.num_hidden_layers), trainable_layers)
    return [key for key in model.state_dict() if key.startswith(prefixes)]


def _freeze_for_training(model: E5ForMessageClassification, trainable_layers: int) -> list[nn.Module]:
    """Freeze embeddings and lower layers; returns the frozen modules, which train in eval mode.

    Without dropout the frozen part is a fixed feature extractor, so its noise cannot blur what the
    top layers learn from a few thousand examples.
    """
    layers = model.bert.encoder.layer
    first = max(len(layers) - trainable_layers, 0)
    frozen: list[nn.Module] = [model.bert.embeddings, *layers[:first]]
    for module in frozen:
        module.requires_grad_(False)
    for module in (*layers[first:], model.classifier):
        module.requires_grad_(True)
    return frozen


def pad(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence in this batch (not to max_length): padding is pure waste."""
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = 1
    return input_ids, mask


def _epoch_batches(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator, *, group_by_length: bool
) -> list[list[int]]:
    """Shuffled batches; with grouping, each pool of shuffled examples is sorted by length first."""
    order = cast(list[int], torch.randperm(len(lengths), generator=generator).tolist())
    if not group_by_length:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    pool = batch_size * _LENGTH_GROUP_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        block = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(block[i : i + batch_size] for i in range(0, len(block), batch_size))
    shuffled = cast(list[int], torch.randperm(len(batches), generator=generator).tolist())
    return [batches[i] for i in shuffled]


def _optimizer(model: E5ForMessageClassification, args: TransformerTrainingArguments) -> torch.optim.AdamW:
    """AdamW with its own learning rate for the head; no weight decay on biases and LayerNorms."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = name.startswith("classifier.")
        decays = param.ndim >= 2
        groups.setdefault((is_head, decays), []).append(param)
    param_groups: list[dict[str, Any]] = [
        {
            "params": params,
            "lr": args.head_learning_rate if is_head else args.learning_rate,
            "weight_decay": args.weight_decay if decays else 0.0,
        }
        for (is_head, decays), params in sorted(groups.items())
    ]
    return torch.optim.AdamW(param_groups)


def _linear_schedule(
    optimizer: torch.optim.Optimizer, *, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to each group's learning rate, then linear decay to zero at the last step."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def label_indices(labels: Sequence[str]) -> list[int]:
    names = [label.value for label in LABELS]
    unknown = sorted({str(label) for label in labels} - set(names))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected some of {names}")
    return [names.index(str(label)) for label in labels]


def sample_none(
    texts: Sequence[str], labels: Sequence[str], *, none_per_other: float | None, seed: int
) -> tuple[list[str], list[str]]:
    """All messages of the other labels and at most ``none_per_other`` times as many ``none`` ones, drawn
    at random with ``seed``; input order kept. None keeps everything."""
    if none_per_other is None:
        return list(texts), list(labels)
    none = [i for i, label in enumerate(labels) if label == "none"]
    others = len(labels) - len(none)
    keep_none = min(len(none), round(none_per_other * others))
    kept = set(random.Random(seed).sample(none, keep_none))
    rows = [i for i, label in enumerate(labels) if label != "none" or i in kept]
    return [texts[i] for i in rows], [labels[i] for i in rows]


def _class_weights(targets: Sequence[int], num_labels: int) -> torch.Tensor:
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=num_labels).astype(np.float64)
    weights = np.where(counts > 0, len(targets) / (num_labels * np.maximum(counts, 1.0)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def fine_tune(
    model: E5ForMessageClassification,
    tokenizer: PreTrainedTokenizerFast,
    texts: Sequence[str],
    targets: Sequence[int],
    args: TransformerTrainingArguments,
    generator: torch.Generator,
    progress: Progress | None,
) -> None:
    encoded: list[list[int]] = tokenizer(
        [args.prefix + t for t in texts], truncation=True, max_length=args.max_length, padding=False
    )["input_ids"]
    lengths = [len(ids) for ids in encoded]
    pad_id = int(tokenizer.pad_token_id)
    steps_per_epoch = math.ceil(len(texts) / args.batch_size)
    total = steps_per_epoch * args.epochs
    if args.max_steps is not None:
        total = min(total, args.max_steps)

    frozen = _freeze_for_training(model, args.trainable_layers)
    optimizer = _optimizer(model, args)
    scheduler = _linear_schedule(optimizer, warmup=round(args.warmup_ratio * total), total=total)
    weight = _class_weights(targets, len(LABELS)) if args.class_weighting == "balanced" else None
    target_tensor = torch.tensor(targets, dtype=torch.long)
    trainable = [p for p in model.parameters() if p.requires_grad]
    logger.info(
        "fine-tuning top %d of %d layers (%.1fM trainable parameters) on %d texts: %d steps",
        args.trainable_layers,
        len(model.bert.encoder.layer),
        sum(p.numel() for p in trainable) / 1e6,
        len(texts),
        total,
    )

    torch.nn.Module.train(model)
    for module in frozen:
        torch.nn.Module.eval(module)
    step = 0
    started = time.perf_counter()
    for epoch in range(args.epochs):
        running, seen = 0.0, 0
        for batch in _epoch_batches(
            lengths, args.batch_size, generator, group_by_length=args.group_by_length
        ):
            if step >= total:
                break
            input_ids, mask = pad([encoded[i] for i in batch], pad_id)
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss = nn.functional.cross_entropy(logits, target_tensor[batch], weight=weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if args.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(trainable, args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            running += float(loss.detach()) * len(batch)
            seen += len(batch)
            if progress is not None:
                progress(step, total)
        if seen:
            logger.info(
                "epoch %d/%d: mean loss %.4f, %.0f s elapsed",
                epoch + 1,
                args.epochs,
                running / seen,
                time.perf_counter() - started,
            )
        if step >= total:
            break
