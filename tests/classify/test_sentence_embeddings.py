"""The fast stage's opt-in sentence embeddings: the real USE encoder from the wheel, no download."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from threatwatch.classify.fast import PIPELINE_FILE, FastStageModel, FastTrainingArguments
from threatwatch.classify.sentence_embeddings import DIMENSIONS, SentenceEmbeddings, embed
from threatwatch.classify.training.data import load_labelled_data
from threatwatch.domain import LABELS

from ..conftest import REPO_ROOT


def test_embeddings_are_normalised_deterministic_and_semantic() -> None:
    texts = [
        "We weten waar je kinderen naar school gaan.",
        "Wij kennen de school van je kinderen.",
        "De gemeenteraad vergadert donderdag over de begroting.",
    ]
    vectors = embed(texts)
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert np.array_equal(vectors, embed(texts))
    # each text is embedded on its own merits: batching does not change a row
    assert np.allclose(embed(texts[:1])[0], vectors[0], atol=1e-5)
    paraphrase, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert paraphrase > unrelated + 0.2, (paraphrase, unrelated)
    assert embed([]).shape == (0, DIMENSIONS)


def test_weight_scales_the_features() -> None:
    one = SentenceEmbeddings(1.0).fit_transform(["Aftreden!"]).toarray()
    half = SentenceEmbeddings(0.5).transform(["Aftreden!"]).toarray()
    assert np.allclose(half, one / 2)


def test_fast_stage_with_embeddings_saves_without_the_encoder(tmp_path: Path) -> None:
    examples = load_labelled_data(REPO_ROOT / "labelled_data")
    train = [e for label in LABELS for e in [x for x in examples if x.label is label][:40]]
    args = FastTrainingArguments(calibration_folds=2, min_df=1, sentence_embedding_weight=0.5)
    model = FastStageModel.train(
        [e.text for e in train], [e.label.value for e in train], version="fast-use", args=args
    )
    assert "sentences" in dict(model.pipeline.named_steps["features"].transformer_list)
    model.save_pretrained(tmp_path, args=args)
    # the encoder's weights (~30 MB) stay in the package; the pickle holds only the linear model
    assert (tmp_path / PIPELINE_FILE).stat().st_size < 3_000_000
    assert json.loads((tmp_path / "training_args.json").read_text())["sentence_embedding_weight"] == 0.5
    texts = ["Ik weet waar je woont, burgemeester.", "Fijne avond allemaal!"]
    again = FastStageModel.from_pretrained(tmp_path).predict_proba(texts)
    assert np.allclose(again, model.predict_proba(texts))
    assert again.shape == (2, len(LABELS)) and np.allclose(again.sum(axis=1), 1.0)
