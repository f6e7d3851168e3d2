"""An exit after the first layers of the transformer stage: a cheap "surely not flagged" gate.

Most messages the fast stage cannot settle are benign ones whose words also occur in threats
("wethouder", a street, "kogel" in a headline). Their n-grams are ambiguous, their meaning is not:
a linear probe on the mean-pooled hidden states after the first ``layer`` encoder layers of the
fine-tuned model already tells most of them apart. Messages it settles pay for ``layer`` of the
model's layers instead of all of them; every other message continues from the very hidden states the
gate saw, so nothing is computed twice and the final probabilities equal the full model's.

Status: opt-in (`train_cascade_model(exit_gate=True)`, `train.add_exit_gate`). With the 12-layer
model, int8 everywhere, it made the cascade cheaper per message than the batched transformer (README),
but the exit threshold tuned on dev (0.75-point budget) lost 4.5 points of flagged recall on test,
because the tuned flag thresholds were all 0.1. Tuning it
with a margin (or on more data) is the next step.

The probe is a multinomial logistic regression over the five labels, fitted on the training split's
hidden states of the transformer as served (int8) after it is trained, and stored beside the
transformer as a few kB.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import load_file, save_file
from sklearn.linear_model import LogisticRegression
from transformers.masking_utils import create_bidirectional_mask

from threatwatch.classify.transformer.model import E5ForMessageClassification, mean_pool
from threatwatch.classify.transformer.stage import TransformerStage
from threatwatch.classify.transformer.training import label_indices
from threatwatch.domain import FLAGGED_LABELS, LABELS

__all__ = [
    "ExitGate",
    "ExitGateArguments",
    "encode_lower",
    "finish_upper",
    "gate_and_full_proba",
    "gated_proba",
    "pooled_features",
]

GATE_FILE: Final = "exit_gate.safetensors"
GATE_CONFIG_FILE: Final = "exit_gate.json"
FLAGGED_COLUMNS: Final = [LABELS.index(label) for label in sorted(FLAGGED_LABELS)]


@dataclass(frozen=True)
class ExitGateArguments:
    # Encoder layers run before the gate decides. On dev with the 12-layer model (budget 0.75 points of
    # flagged recall), layers 1-2 settled 6-21% of what the fast stage escalated, 3: 27%, 4: 37%, 5: 38%;
    # 4 costs least per escalated message (a third of the layers, then two thirds for the rest).
    layer: int = 4
    c: float = 1.0  # inverse L2 strength of the probe
    max_iter: int = 2000
    seed: int = 13

    def __post_init__(self) -> None:
        if self.layer < 1:
            raise ValueError(f"the exit layer must be >= 1, got {self.layer}")
        if self.c <= 0:
            raise ValueError(f"c must be > 0, got {self.c}")


def _attention_mask(model: E5ForMessageClassification, hidden: torch.Tensor, mask: torch.Tensor) -> object:
    """The mask in the form the model's attention implementation wants (None when nothing is padded)."""
    return create_bidirectional_mask(config=model.bert.config, inputs_embeds=hidden, attention_mask=mask)


def encode_lower(
    model: E5ForMessageClassification, input_ids: torch.Tensor, mask: torch.Tensor, layers: int
) -> torch.Tensor:
    """Hidden states after the embeddings and the first ``layers`` encoder layers, as `BertModel` has them."""
    hidden: torch.Tensor = model.bert.embeddings(input_ids=input_ids)
    attention = _attention_mask(model, hidden, mask)
    for layer in model.bert.encoder.layer[:layers]:
        hidden = layer(hidden, attention)
    return hidden


def finish_upper(
    model: E5ForMessageClassification, hidden: torch.Tensor, mask: torch.Tensor, start: int
) -> torch.Tensor:
    """Logits of the full model from the hidden states after its first ``start`` layers."""
    attention = _attention_mask(model, hidden, mask)
    for layer in model.bert.encoder.layer[start:]:
        hidden = layer(hidden, attention)
    logits: torch.Tensor = model.classifier(model.dropout(mean_pool(hidden, mask)))
    return logits


class ExitGate:
    """Linear probe on layer ``layer``'s mean-pooled states; probabilities in LABELS order."""

    def __init__(self, layer: int, weight: torch.Tensor, bias: torch.Tensor) -> None:
        if weight.ndim != 2 or weight.shape[0] != len(LABELS) or bias.shape != (len(LABELS),):
            raise ValueError(f"exit gate weights of shape {tuple(weight.shape)} / {tuple(bias.shape)}")
        self.layer = layer
        self.weight = weight.to(torch.float32)
        self.bias = bias.to(torch.float32)

    def probabilities(self, pooled: torch.Tensor) -> torch.Tensor:
        return torch.softmax((pooled.double() @ self.weight.double().T) + self.bias.double(), dim=-1)

    @staticmethod
    def flagged_share(probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(probabilities[:, FLAGGED_COLUMNS].sum(axis=1), dtype=np.float64)

    @classmethod
    def fit(
        cls,
        pooled: npt.NDArray[np.float32],
        labels: Sequence[str],
        args: ExitGateArguments,
    ) -> ExitGate:
        targets = np.asarray(label_indices(labels))
        if len(set(targets.tolist())) < 3:
            raise ValueError("the exit gate needs training examples of at least three labels")
        probe = LogisticRegression(C=args.c, max_iter=args.max_iter, random_state=args.seed)
        probe.fit(pooled, targets)
        weight = np.zeros((len(LABELS), pooled.shape[1]), dtype=np.float32)
        bias = np.full(len(LABELS), -1e4, dtype=np.float32)  # a label absent from training never wins
        for row, index in enumerate(probe.classes_.tolist()):
            weight[index], bias[index] = probe.coef_[row], probe.intercept_[row]
        return cls(args.layer, torch.from_numpy(weight), torch.from_numpy(bias))

    def save(self, directory: Path, *, args: ExitGateArguments | None = None) -> None:
        tensors = {"weight": self.weight.contiguous(), "bias": self.bias.contiguous()}
        save_file(tensors, str(directory / GATE_FILE))
        (directory / GATE_FILE).chmod(0o644)
        meta = {"layer": self.layer, "args": asdict(args) if args is not None else None}
        (directory / GATE_CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> ExitGate | None:
        """The gate saved in ``directory``, or None when the directory has none (older models)."""
        if not (directory / GATE_CONFIG_FILE).is_file():
            return None
        meta = json.loads((directory / GATE_CONFIG_FILE).read_text())
        tensors = load_file(str(directory / GATE_FILE))
        return cls(int(meta["layer"]), tensors["weight"], tensors["bias"])


# ----------------------------------------------------------------------------- over a stage


def pooled_features(
    stage: TransformerStage, texts: Sequence[str], layer: int, *, batch_size: int = 64
) -> npt.NDArray[np.float32]:
    """Mean-pooled hidden states after ``layer`` layers, one row per text: what the gate is fitted on."""
    out = np.zeros((len(texts), stage.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for rows, input_ids, mask in stage.batches(texts, batch_size=batch_size):
            hidden = encode_lower(stage.model, input_ids, mask, layer)
            out[rows] = mean_pool(hidden, mask).float().numpy()
    return out


def gate_and_full_proba(
    stage: TransformerStage, gate: ExitGate, texts: Sequence[str], *, batch_size: int = 64
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The gate's and the full model's probabilities for every text, in one pass (for tuning on dev)."""
    at_gate = np.zeros((len(texts), len(LABELS)), dtype=np.float64)
    full = np.zeros_like(at_gate)
    with torch.inference_mode():
        for rows, input_ids, mask in stage.batches(texts, batch_size=batch_size):
            hidden = encode_lower(stage.model, input_ids, mask, gate.layer)
            at_gate[rows] = gate.probabilities(mean_pool(hidden, mask)).numpy()
            logits = finish_upper(stage.model, hidden, mask, gate.layer)
            full[rows] = torch.softmax(logits.double(), dim=-1).numpy()
    return at_gate, full


def gated_proba(
    stage: TransformerStage,
    gate: ExitGate,
    texts: Sequence[str],
    *,
    settle_below: float,
    batch_size: int = 64,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Probabilities and which rows the gate settled: a row whose flagged share at the gate is below
    ``settle_below`` keeps the gate's probabilities; the others finish the model from there."""
    out = np.zeros((len(texts), len(LABELS)), dtype=np.float64)
    settled = np.zeros(len(texts), dtype=bool)
    with torch.inference_mode():
        for rows, input_ids, mask in stage.batches(texts, batch_size=batch_size):
            hidden = encode_lower(stage.model, input_ids, mask, gate.layer)
            probabilities = gate.probabilities(mean_pool(hidden, mask)).numpy()
            stop = ExitGate.flagged_share(probabilities) < settle_below
            index = np.asarray(rows)
            out[index[stop]] = probabilities[stop]
            settled[index[stop]] = True
            go_on = torch.from_numpy(np.flatnonzero(~stop))
            if go_on.numel():
                width = int(mask[go_on].sum(dim=1).max())  # the rows left may need less padding
                logits = finish_upper(stage.model, hidden[go_on, :width], mask[go_on, :width], gate.layer)
                out[index[~stop]] = torch.softmax(logits.double(), dim=-1).numpy()
    return out, settled
