"""The exit gate: the split forward equals the whole model, settled rows keep the gate's scores, the rest
the whole model's, in input order; the gate round-trips through its files and the cascade uses it."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import numpy as np
import pytest
import torch

from threatwatch.classify.cascade import CascadeConfig, CascadeModel
from threatwatch.classify.fast import FastStageModel, FastTrainingArguments
from threatwatch.classify.transformer.early_exit import (
    GATE_CONFIG_FILE,
    ExitGate,
    ExitGateArguments,
    encode_lower,
    finish_upper,
    gate_and_full_proba,
    gated_proba,
    pooled_features,
)
from threatwatch.classify.transformer.stage import TransformerStage, TransformerTrainingArguments
from threatwatch.domain import FLAGGED_LABELS, LABELS

from ..conftest import MODEL_CACHE
from .test_transformer import LABEL_VALUES, MIXED, TEXTS

pytestmark = pytest.mark.slow

ARGS = TransformerTrainingArguments(
    epochs=1, batch_size=8, num_layers=3, trainable_layers=2, max_length=32, weights_dtype="float32"
)
GATE_ARGS = ExitGateArguments(layer=1)


@pytest.fixture(scope="module")
def stage() -> TransformerStage:
    return TransformerStage.train(
        TEXTS, LABEL_VALUES, args=ARGS, base_cache_dir=MODEL_CACHE, version="exit-test"
    )


@pytest.fixture(scope="module")
def gate(stage: TransformerStage) -> ExitGate:
    return ExitGate.fit(pooled_features(stage, TEXTS, GATE_ARGS.layer), LABEL_VALUES, GATE_ARGS)


def test_lower_then_upper_layers_equal_the_whole_model(stage: TransformerStage) -> None:
    _, input_ids, mask = next(iter(stage.batches(MIXED, batch_size=len(MIXED))))
    assert int(mask.sum(dim=1).min()) < mask.shape[1], "the batch must hold padding"
    with torch.inference_mode():
        whole = stage.model(input_ids=input_ids, attention_mask=mask).logits
        for split in (0, 1, 2, 3):
            hidden = encode_lower(stage.model, input_ids, mask, split)
            torch.testing.assert_close(finish_upper(stage.model, hidden, mask, split), whole)


def test_gate_probabilities_are_rows_over_labels(stage: TransformerStage, gate: ExitGate) -> None:
    at_gate, full = gate_and_full_proba(stage, gate, MIXED)
    assert at_gate.shape == full.shape == (len(MIXED), len(LABELS))
    np.testing.assert_allclose(at_gate.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(full, stage.predict_proba(MIXED), atol=1e-6)
    # Fitted on the training texts, the probe should mostly get them right (3 layers of e5 + a few steps).
    fitted = gate.probabilities(torch.from_numpy(pooled_features(stage, TEXTS, gate.layer))).numpy()
    assert (fitted.argmax(axis=1) == [LABELS.index(label) for label in LABEL_VALUES]).mean() > 0.6


def test_gated_rows_keep_gate_scores_and_the_rest_the_whole_model(
    stage: TransformerStage, gate: ExitGate
) -> None:
    at_gate, full = gate_and_full_proba(stage, gate, MIXED)
    share = ExitGate.flagged_share(at_gate)
    flagged = [LABELS.index(label) for label in FLAGGED_LABELS]
    np.testing.assert_allclose(share, at_gate[:, flagged].sum(axis=1))

    none_settled, settled = gated_proba(stage, gate, MIXED, settle_below=0.0)
    assert not settled.any()
    np.testing.assert_allclose(none_settled, full, atol=1e-6)

    all_settled, settled = gated_proba(stage, gate, MIXED, settle_below=1.01)
    assert settled.all()
    np.testing.assert_allclose(all_settled, at_gate, atol=1e-6)

    # Halfway between two neighbouring scores, not at one (the median of 7 is one of them): another
    # batch size pads differently, and noise of 1e-7 must not move a row across the line.
    ranked = np.sort(share)
    middle = float((ranked[2] + ranked[3]) / 2)
    mixed, settled = gated_proba(stage, gate, MIXED, settle_below=middle, batch_size=3)
    np.testing.assert_array_equal(settled, share < middle)
    assert 0 < settled.sum() < len(MIXED)
    np.testing.assert_allclose(mixed[settled], at_gate[settled], atol=1e-6)
    np.testing.assert_allclose(mixed[~settled], full[~settled], atol=1e-6)


def test_gate_files_round_trip(gate: ExitGate, tmp_path: Path) -> None:
    assert ExitGate.load(tmp_path) is None  # a transformer directory from before gates existed
    gate.save(tmp_path, args=GATE_ARGS)
    loaded = ExitGate.load(tmp_path)
    assert loaded is not None and loaded.layer == gate.layer == 1
    torch.testing.assert_close(loaded.weight, gate.weight)
    torch.testing.assert_close(loaded.bias, gate.bias)
    assert '"layer": 1' in (tmp_path / GATE_CONFIG_FILE).read_text()


def test_bad_gate_arguments_and_data_are_refused() -> None:
    with pytest.raises(ValueError, match="exit layer"):
        ExitGateArguments(layer=0)
    with pytest.raises(ValueError, match="at least three labels"):
        ExitGate.fit(np.zeros((4, 384), dtype=np.float32), ["none", "abuse", "none", "abuse"], GATE_ARGS)


def test_cascade_settles_at_the_gate_and_never_flags_there(
    stage: TransformerStage, gate: ExitGate, tmp_path: Path
) -> None:
    fast = FastStageModel.train(
        TEXTS, LABEL_VALUES, version="fast-test", args=FastTrainingArguments(calibration="none", min_df=1)
    )
    thresholds = {"threat": 0.1, "coercion": 0.1, "doxxing": 0.1}  # flag eagerly
    config = CascadeConfig(version="c", settle_none_threshold=1.01, thresholds=thresholds)
    everything = CascadeModel(fast, stage, config, gate)
    gated = CascadeModel(fast, stage, CascadeConfig(**{**config.__dict__, "exit_settle_below": 1.01}), gate)
    assert everything.decided_by_transformer(MIXED).all()
    assert not gated.decided_by_transformer(MIXED).any()
    assert not any(result.flagged for result in gated.predict(MIXED, explain=False))
    assert any(result.flagged for result in everything.predict(MIXED, explain=False))

    with pytest.raises(ValueError, match="no exit gate"):
        CascadeModel(fast, stage, gated.config)
    gated.save_pretrained(tmp_path / "cascade", gate_args=GATE_ARGS)
    loaded = CascadeModel.from_pretrained(tmp_path / "cascade", base_cache_dir=MODEL_CACHE)
    assert loaded.gate is not None and loaded.config.exit_settle_below == 1.01
