"""Training runs reproduce: same data and arguments give the same version name and the same model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threatwatch.classify.fast import FastStageModel, FastTrainingArguments
from threatwatch.classify.training.card import write_model_card
from threatwatch.classify.training.data import load_labelled_data
from threatwatch.classify.training.train import train_fast_model
from threatwatch.registry import ModelNotFoundError, current_model_path
from threatwatch.registry.pointer import set_current_model

ARGS = FastTrainingArguments(calibration_folds=2, min_df=1)


def test_fast_training_is_reproducible_and_self_describing(small_data: Path, tmp_path: Path) -> None:
    first = train_fast_model(data_dir=small_data, model_dir=tmp_path / "a", args=ARGS)
    second = train_fast_model(data_dir=small_data, model_dir=tmp_path / "b", args=ARGS)
    assert first.version == second.version and first.version.startswith("fast-")
    for name in ("config.json", "training_args.json", "metrics.json", "README.md", "pipeline.joblib"):
        assert (first.path / name).is_file(), name
    for figure in ("pr_curves.png", "confusion_matrix.png", "reliability.png"):
        assert (first.path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((first.path / "training_args.json").read_text())["seed"] == ARGS.seed
    texts = ["We weten waar je woont.", "Mooi weer vandaag in het dorp", "stem tegen of je auto brandt"]
    a = FastStageModel.from_pretrained(first.path).predict_proba(texts)
    b = FastStageModel.from_pretrained(second.path).predict_proba(texts)
    assert (a == b).all()
    metrics = json.loads((first.path / "metrics.json").read_text())
    assert metrics["test"]["n"] == 300 and 0.0 <= metrics["test"]["flagged_f1"] <= 1.0
    assert "Test split" in (first.path / "README.md").read_text()


def test_other_seed_other_version(small_data: Path, tmp_path: Path) -> None:
    one = train_fast_model(data_dir=small_data, model_dir=tmp_path, args=ARGS)
    other = train_fast_model(
        data_dir=small_data,
        model_dir=tmp_path,
        args=FastTrainingArguments(seed=99, calibration_folds=2, min_df=1),
    )
    assert one.version != other.version


def test_current_pointer(small_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no CURRENT file"):
        current_model_path(tmp_path)
    report = train_fast_model(data_dir=small_data, model_dir=tmp_path, args=ARGS)
    with pytest.raises(ModelNotFoundError, match="not found"):
        set_current_model(tmp_path, "no-such-model")
    set_current_model(tmp_path, report.version)
    assert current_model_path(tmp_path) == report.path


def test_re_evaluation_keeps_what_training_recorded(small_data: Path, tmp_path: Path) -> None:
    """`threatwatch evaluate` rewrites the card without the training run's extras; it must keep them."""
    report = train_fast_model(data_dir=small_data, model_dir=tmp_path, args=ARGS)
    metrics_path = report.path / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["settle_none_threshold"] = 0.87
    metrics_path.write_text(json.dumps(metrics))
    model = FastStageModel.from_pretrained(report.path)
    write_model_card(report.path, model, load_labelled_data(small_data), description="again")
    rewritten = json.loads(metrics_path.read_text())
    assert rewritten["settle_none_threshold"] == 0.87
    assert rewritten["test"] == metrics["test"]  # same model, same data: the same evaluation
    assert "settle_none_threshold: `0.87`" in (report.path / "README.md").read_text()
