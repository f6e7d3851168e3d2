"""The transformer stage must train reproducibly, store only what it trained, and refuse a foreign base."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json
import math
import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import pipeline

from threatwatch.classify.e5.base import load_e5_base
from threatwatch.classify.transformer.stage import (
    CONFIG_FILE,
    TRAINING_ARGS_FILE,
    WEIGHTS_FILE,
    E5ForMessageClassification,
    TransformerStage,
    TransformerTrainingArguments,
)
from threatwatch.classify.transformer.training import sample_none
from threatwatch.domain import LABELS

pytestmark = pytest.mark.slow

# Ten short messages per label, in LABELS order; enough for a few optimiser steps, not for accuracy.
TINY: dict[str, list[str]] = {
    "threat": [
        "Ik maak je af als je dit doorzet.",
        "We weten je te vinden, wethouder. Pas maar op.",
        "Jij krijgt een kogel, verrader.",
        "Binnenkort staat er iemand met een mes bij je deur.",
        "Ik steek je huis in brand.",
        "Jouw dagen zijn geteld, burgemeester.",
        "Ik sla je de hersens in.",
        "Wacht maar tot je alleen over straat loopt.",
        "Je gaat eraan, let op mijn woorden.",
        "Ik kom je halen en dan is het klaar.",
    ],
    "coercion": [
        "Trek je stem in of we maken je leven zuur.",
        "Stem tegen, anders liggen je foto's morgen online.",
        "Als je niet opstapt, weet je familie alles.",
        "Schrap dat besluit of je krijgt er spijt van.",
        "Betaal of we lekken je mails.",
        "Stop met dat onderzoek, anders zal het je berouwen.",
        "Neem ontslag voor vrijdag, of anders.",
        "Trek die vergunning in of je zoon merkt het.",
        "Zeg dat debat af, je bent gewaarschuwd.",
        "Doe wat wij zeggen of het wordt vervelend voor je.",
    ],
    "doxxing": [
        "Ze woont op de Lindenlaan 12 in Zwolle.",
        "Hier is zijn privénummer: 06-12345678.",
        "Haar kinderen zitten op de Regenboogschool.",
        "Zijn kenteken is XX-123-Y, rijdt elke ochtend om acht uur.",
        "Adres van de wethouder: Dorpsstraat 5, Ede.",
        "Ze sport elke dinsdag bij de gym aan de Kade.",
        "Dit is haar huis, foto van de voordeur erbij.",
        "Zijn vrouw werkt bij de bakker op de hoek.",
        "Privémail van de minister: jan@example.nl",
        "Elke avond laat hij de hond uit in het park achter zijn huis.",
    ],
    "abuse": [
        "Wat een ongelooflijke idioot ben jij.",
        "Domme trut, hou je mond.",
        "Jij bent een schande voor dit land, sukkel.",
        "Achterlijke clown in een pak.",
        "Wat een waardeloze zakkenvuller.",
        "Kapsones hebben en niks kunnen, loser.",
        "Je bent een leugenaar en een lafaard.",
        "Stomme kwal, ga toch weg.",
        "Wat een walgelijk mens ben je.",
        "Incompetente prutser.",
    ],
    "none": [
        "Goed debat gisteren in de gemeenteraad.",
        "Wanneer gaat de nieuwe fietsbrug open?",
        "Ik ben het niet eens met dit plan voor de woonwijk.",
        "Mooie toespraak van de burgemeester vandaag.",
        "De wethouder kreeg gisteren een dreigbrief, vreselijk.",
        "Dat plan is dood en begraven, wat mij betreft.",
        "Stem volgende week, elke stem telt.",
        "Het verkeer rond het station is een ramp.",
        "Bedankt voor de snelle reactie op mijn vraag.",
        "Ajax heeft PSV vanavond afgemaakt met 4-0.",
    ],
}
TEXTS = [text for label in TINY for text in TINY[label]]
LABEL_VALUES = [label for label in TINY for _ in TINY[label]]
# Three of e5's twelve layers, the top one trained: the code paths of the shipped six, in less time.
ARGS = TransformerTrainingArguments(
    epochs=1, batch_size=8, num_layers=3, trainable_layers=1, max_length=32, weights_dtype="float32"
)
TOP = "bert.encoder.layer.2."
MIXED = [
    "Hallo.",
    "Ik weet waar je woont en ik kom je vanavond opzoeken met een paar vrienden.",
    "Sukkel",
    TINY["coercion"][0],
    "Het gemeentehuis is morgen gesloten vanwege de feestdag, de balie opent donderdag weer om negen uur.",
    TINY["doxxing"][3],
    "Oké",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e5cache")


@pytest.fixture(scope="module")
def trained(cache_dir: Path) -> tuple[TransformerStage, list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []
    stage = TransformerStage.train(
        TEXTS,
        LABEL_VALUES,
        args=ARGS,
        base_cache_dir=cache_dir,
        version="transformer-test",
        progress=lambda step, total: calls.append((step, total)),
    )
    return stage, calls


@pytest.fixture(scope="module")
def saved(
    trained: tuple[TransformerStage, list[tuple[int, int]]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    directory = tmp_path_factory.mktemp("models") / "transformer-test"
    trained[0].save_pretrained(directory)
    return directory


def _copy_with_config(saved: Path, target: Path, **changes: object) -> Path:
    shutil.copytree(saved, target)
    config = json.loads((target / CONFIG_FILE).read_text())
    config.update(changes)
    (target / CONFIG_FILE).write_text(json.dumps(config))
    return target


def test_progress_is_reported_every_step(trained: tuple[TransformerStage, list[tuple[int, int]]]) -> None:
    """Over the originals plus their noisy copies, which the config counts per label."""
    counts = trained[0].config.label_counts
    assert len(TEXTS) < sum(counts.values()) < 2 * len(TEXTS)
    assert all(counts[label] >= len(TINY[label]) for label in TINY)
    total = math.ceil(sum(counts.values()) / ARGS.batch_size) * ARGS.epochs
    assert trained[1] == [(step, total) for step in range(1, total + 1)]


def test_the_stage_reads_the_normalised_surface(
    trained: tuple[TransformerStage, list[tuple[int, int]]],
) -> None:
    stage = trained[0]
    assert stage.config.surface == "normalised"
    tidy = "Het gemeentehuis is morgen gesloten."
    noisy = "RT @gemeente: Het gemeentehuis is morgen gesloten. https://t.co/abc @a @b"
    assert stage.model_text(noisy) == "Het gemeentehuis is morgen gesloten. http @user"
    assert stage.model_text(tidy) == tidy


def test_none_is_sampled_per_message_of_the_other_labels() -> None:
    texts = [f"t{i}" for i in range(100)]
    labels = ["none"] * 90 + ["threat"] * 10
    kept_texts, kept_labels = sample_none(texts, labels, none_per_other=2.0, seed=1)
    assert kept_labels.count("none") == 20 and kept_labels.count("threat") == 10
    assert kept_texts == sorted(kept_texts, key=texts.index)  # input order kept
    assert sample_none(texts, labels, none_per_other=2.0, seed=1) == (kept_texts, kept_labels)
    assert sample_none(texts, labels, none_per_other=None, seed=1) == (texts, labels)


def test_probabilities_are_rows_in_labels_order(
    trained: tuple[TransformerStage, list[tuple[int, int]]],
) -> None:
    stage = trained[0]
    probabilities = stage.predict_proba(MIXED)
    assert probabilities.dtype == np.float64
    assert probabilities.shape == (len(MIXED), len(LABELS))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    assert stage.predict_proba([]).shape == (0, len(LABELS))
    assert stage.model.config.id2label == {i: label.value for i, label in enumerate(LABELS)}


def test_batching_keeps_input_order(trained: tuple[TransformerStage, list[tuple[int, int]]]) -> None:
    stage = trained[0]
    batched = stage.predict_proba(MIXED, batch_size=3)
    one_by_one = np.vstack([stage.predict_proba([text]) for text in MIXED])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    reversed_rows = stage.predict_proba(MIXED[::-1], batch_size=64)[::-1]
    np.testing.assert_allclose(batched, reversed_rows, atol=1e-5)


def test_save_and_load_give_the_same_probabilities(
    trained: tuple[TransformerStage, list[tuple[int, int]]], saved: Path, cache_dir: Path
) -> None:
    loaded = TransformerStage.from_pretrained(saved, base_cache_dir=cache_dir)
    np.testing.assert_allclose(loaded.predict_proba(MIXED), trained[0].predict_proba(MIXED), atol=1e-5)
    assert loaded.config == trained[0].config
    assert loaded.training_args == ARGS
    assert not loaded.model.training


def test_saved_directory_holds_only_the_top_layer_and_head(saved: Path) -> None:
    assert {p.name for p in saved.iterdir()} == {WEIGHTS_FILE, CONFIG_FILE, TRAINING_ARGS_FILE}
    with safe_open(str(saved / WEIGHTS_FILE), framework="pt") as handle:
        keys = set(handle.keys())
        metadata = handle.metadata()
        classifier_shape = tuple(handle.get_slice("classifier.weight").get_shape())
    assert keys, "nothing stored"
    assert all(k.startswith((TOP, "classifier.")) for k in keys), sorted(keys)
    assert {"classifier.weight", "classifier.bias", f"{TOP}output.dense.weight"} <= keys
    assert classifier_shape == (len(LABELS), 384)
    assert len(metadata["base_sha256"]) == 64
    size = sum(p.stat().st_size for p in saved.iterdir())
    assert size < 8_000_000, f"{size} bytes: more than one fp32 layer plus head"  # base alone is 470 MB


def test_a_different_base_is_refused(saved: Path, cache_dir: Path, tmp_path: Path) -> None:
    foreign = _copy_with_config(saved, tmp_path / "foreign", base_sha256="0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        TransformerStage.from_pretrained(foreign, base_cache_dir=cache_dir)


def test_missing_layers_are_refused(saved: Path, cache_dir: Path, tmp_path: Path) -> None:
    incomplete = _copy_with_config(saved, tmp_path / "incomplete", trainable_layers=2)
    with pytest.raises(ValueError, match=r"missing \['bert\.encoder\.layer\.1\."):
        TransformerStage.from_pretrained(incomplete, base_cache_dir=cache_dir)


def test_naive_pipeline_gives_the_same_scores(
    trained: tuple[TransformerStage, list[tuple[int, int]]],
) -> None:
    stage = trained[0]
    assert isinstance(stage.model, E5ForMessageClassification)
    classify = pipeline("text-classification", model=stage.model, tokenizer=stage.tokenizer, top_k=None)
    # With top_k=None and a list of texts, each row lists every label with its score.
    rows = cast(list[list[dict[str, Any]]], classify(MIXED, truncation=True))
    scores = np.array(
        [[{d["label"]: d["score"] for d in row}[label.value] for label in LABELS] for row in rows]
    )
    np.testing.assert_allclose(scores, stage.predict_proba(MIXED), atol=1e-5)


def test_int8_loads_close_to_fp32_and_cannot_be_saved(
    trained: tuple[TransformerStage, list[tuple[int, int]]], saved: Path, cache_dir: Path, tmp_path: Path
) -> None:
    quantised = TransformerStage.from_pretrained(saved, base_cache_dir=cache_dir, int8=True)
    assert quantised.config.int8
    probabilities = quantised.predict_proba(MIXED)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(probabilities, trained[0].predict_proba(MIXED), atol=0.05)
    with pytest.raises(ValueError, match="int8"):
        quantised.save_pretrained(tmp_path / "int8")


def test_same_seed_same_weights_and_fp16_round_trip(cache_dir: Path, tmp_path: Path) -> None:
    args = TransformerTrainingArguments(
        epochs=1,
        batch_size=4,
        num_layers=3,
        trainable_layers=1,
        max_length=32,
        max_steps=2,
        weights_dtype="float16",
    )
    texts, labels = TEXTS[::3], LABEL_VALUES[::3]

    def weights(stage: TransformerStage) -> dict[str, torch.Tensor]:
        return {k: v for k, v in stage.model.state_dict().items() if k.startswith((TOP, "classifier."))}

    first = TransformerStage.train(texts, labels, args=args, base_cache_dir=cache_dir, version="a")
    second = TransformerStage.train(texts, labels, args=args, base_cache_dir=cache_dir, version="a")
    first_weights, second_weights = weights(first), weights(second)
    assert first_weights.keys() == second_weights.keys()
    assert all(torch.equal(first_weights[k], second_weights[k]) for k in first_weights)

    other = TransformerStage.train(
        texts,
        labels,
        args=TransformerTrainingArguments(**{**args.__dict__, "seed": 14}),
        base_cache_dir=cache_dir,
        version="b",
    )
    assert not torch.equal(weights(other)["classifier.weight"], first_weights["classifier.weight"])

    first.save_pretrained(tmp_path / "fp16")
    assert (tmp_path / "fp16" / WEIGHTS_FILE).stat().st_size < 4_000_000  # one layer in half precision
    loaded = TransformerStage.from_pretrained(tmp_path / "fp16", base_cache_dir=cache_dir)
    np.testing.assert_allclose(loaded.predict_proba(MIXED), first.predict_proba(MIXED), atol=1e-5)


def test_the_stage_keeps_only_the_first_layers(
    trained: tuple[TransformerStage, list[tuple[int, int]]], saved: Path, cache_dir: Path
) -> None:
    stage = trained[0]
    assert len(stage.model.bert.encoder.layer) == 3
    assert stage.model.config.num_hidden_layers == stage.config.num_hidden_layers == 3
    loaded = TransformerStage.from_pretrained(saved, base_cache_dir=cache_dir)
    assert len(loaded.model.bert.encoder.layer) == 3
    # The kept layers are the base's own first three: an untouched lower layer equals the base's layer 0.
    base, _ = load_e5_base(cache_dir=cache_dir)
    key = "encoder.layer.0.attention.self.query.weight"
    torch.testing.assert_close(loaded.model.bert.state_dict()[key], base.state_dict()[key])


def test_more_layers_than_the_base_are_refused(cache_dir: Path) -> None:
    args = TransformerTrainingArguments(num_layers=13, trainable_layers=1, max_steps=1)
    with pytest.raises(ValueError, match="num_layers 13 > 12"):
        TransformerStage.train(TEXTS, LABEL_VALUES, args=args, base_cache_dir=cache_dir, version="x")
    with pytest.raises(ValueError, match="trainable_layers 4 > 3"):
        TransformerStage.train(
            TEXTS,
            LABEL_VALUES,
            args=TransformerTrainingArguments(num_layers=3, trainable_layers=4, max_steps=1),
            base_cache_dir=cache_dir,
            version="x",
        )


def test_directories_from_before_num_layers_still_load(saved: Path, cache_dir: Path, tmp_path: Path) -> None:
    legacy = _copy_with_config(saved, tmp_path / "legacy")
    stored = json.loads((legacy / TRAINING_ARGS_FILE).read_text())
    del stored["num_layers"], stored["int8_scope"]
    (legacy / TRAINING_ARGS_FILE).write_text(json.dumps(stored))
    config = json.loads((legacy / CONFIG_FILE).read_text())
    del config["int8_scope"]
    (legacy / CONFIG_FILE).write_text(json.dumps(config))
    loaded = TransformerStage.from_pretrained(legacy, base_cache_dir=cache_dir)
    assert loaded.training_args is not None and loaded.training_args.num_layers is None
    assert loaded.config.int8_scope == "all_but_ffn_output"  # what every older model was served with


@pytest.mark.parametrize("scope", ["all", "all_but_ffn_output"])
def test_int8_scopes_quantise_what_they_say(
    trained: tuple[TransformerStage, list[tuple[int, int]]],
    saved: Path,
    cache_dir: Path,
    tmp_path: Path,
    scope: str,
) -> None:
    directory = _copy_with_config(saved, tmp_path / scope, int8_scope=scope)
    quantised = TransformerStage.from_pretrained(directory, base_cache_dir=cache_dir, int8=True)
    int8 = {
        name: isinstance(module, torch.ao.nn.quantized.dynamic.Linear)
        for name, module in quantised.model.named_modules()
        if name.endswith(("output.dense", "intermediate.dense", "attention.self.query"))
    }
    ffn_outputs = [name for name in int8 if name.endswith(".output.dense") and "attention" not in name]
    assert ffn_outputs and all(int8[n] == (scope == "all") for n in ffn_outputs), int8
    assert all(int8[n] for n in int8 if n not in ffn_outputs), int8
    np.testing.assert_allclose(
        quantised.predict_proba(MIXED), trained[0].predict_proba(MIXED), atol=0.05 if scope == "all" else 0.03
    )


def test_an_unknown_int8_scope_is_refused(saved: Path, cache_dir: Path, tmp_path: Path) -> None:
    odd = _copy_with_config(saved, tmp_path / "odd", int8_scope="int4")
    with pytest.raises(ValueError, match="int8_scope"):
        TransformerStage.from_pretrained(odd, base_cache_dir=cache_dir)


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="num_layers"):
        TransformerTrainingArguments(num_layers=0)
    with pytest.raises(ValueError, match="int8_scope"):
        TransformerTrainingArguments(int8_scope="int4")
    with pytest.raises(ValueError, match="trainable_layers"):
        TransformerTrainingArguments(trainable_layers=-1)
    with pytest.raises(ValueError, match="weights_dtype"):
        TransformerTrainingArguments(weights_dtype="int4")  # type: ignore[arg-type]
