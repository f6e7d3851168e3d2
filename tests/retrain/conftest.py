"""Small real data and a real fast-stage champion, so retraining tests train real models in seconds."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest

from threatwatch.classify.training.data import Example, load_labelled_data
from threatwatch.classify.training.train import train_fast_model
from threatwatch.config import Settings
from threatwatch.registry.pointer import set_current_model

from ..conftest import MODEL_CACHE, REPO_ROOT

BASE_SHARE = 12  # per cent of labelled_data the champion was trained on (all of it in the test split too)
POOL_SHARE = 24  # per cent (above BASE_SHARE) that analysts label after the champion went live


def bucket(text: str) -> int:
    return int(hashlib.sha256(f"retrain-test:{text}".encode()).hexdigest()[:8], 16) % 100


def write_csv(directory: Path, examples: list[Example]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "data.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "subtype"])
        for e in examples:
            writer.writerow([e.text, e.label.value, e.subtype])
    return directory


# The first hand-written files: small and balanced, so retraining tests train real models in seconds
# (the later stream-like files are mostly `none` and would make every challenger minutes to train).
RETRAIN_TEST_FILES = frozenset(
    {"threat.csv", "coercion.csv", "doxxing.csv", "abuse.csv", "none_hard.csv", "none_plain.csv",
     "none_short.csv"}
)  # fmt: skip


@pytest.fixture(scope="session")
def all_examples() -> list[Example]:
    examples = load_labelled_data(REPO_ROOT / "labelled_data")
    return [e for e in examples if e.source_file in RETRAIN_TEST_FILES]


@pytest.fixture(scope="session")
def base_dir(all_examples: list[Example], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The labelled data the champion knows: a small slice of every label."""
    chosen = [e for e in all_examples if bucket(e.text) < BASE_SHARE]
    return write_csv(tmp_path_factory.mktemp("labelled"), chosen)


@pytest.fixture(scope="session")
def pool(all_examples: list[Example]) -> list[tuple[str, str]]:
    """Messages analysts label later, in a mixed order (as a queue would bring them): outside the
    champion's data and never in the test split."""
    chosen = [
        (e.text, e.label.value)
        for e in all_examples
        if BASE_SHARE <= bucket(e.text) < BASE_SHARE + POOL_SHARE and e.split != "test"
    ]
    return sorted(chosen, key=lambda row: hashlib.sha256(row[0].encode()).hexdigest())


@pytest.fixture(scope="session")
def champion_src(base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = train_fast_model(data_dir=base_dir, model_dir=tmp_path_factory.mktemp("champion"))
    return report.path


@pytest.fixture
def model_dir(champion_src: Path, tmp_path: Path) -> Path:
    """A models/ folder of this test's own holding the champion as CURRENT."""
    directory = tmp_path / "models"
    shutil.copytree(champion_src, directory / champion_src.name)
    set_current_model(directory, champion_src.name)
    return directory


@pytest.fixture
def retrain_settings(database_url: str, tmp_path: Path, model_dir: Path, base_dir: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        model_dir=model_dir,
        cache_dir=MODEL_CACHE,
        labelled_data_dir=base_dir,
        retrain_stage="fast",
        retrain_window_share=0.2,
        retrain_f1_margin=0.01,
    )
