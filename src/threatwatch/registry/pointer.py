"""Which model is live: ``models/CURRENT`` names a directory under the model dir, and how a model
directory is loaded by the ``kind`` in its config."""

from __future__ import annotations

import json
from pathlib import Path

from threatwatch.classify.base import Classifier
from threatwatch.classify.fast import CONFIG_FILE, FastStageModel

CURRENT_FILE = "CURRENT"


class ModelNotFoundError(FileNotFoundError):
    pass


def current_model_path(model_dir: Path, name: str | None = None) -> Path:
    """The directory of ``name``, or of the model that ``CURRENT`` names."""
    if name is None:
        pointer = model_dir / CURRENT_FILE
        if not pointer.is_file():
            raise ModelNotFoundError(
                f"no {CURRENT_FILE} file in {model_dir}: train a model (`threatwatch train`) "
                "or set THREATWATCH_MODEL_DIR to the shipped models/ folder"
            )
        name = pointer.read_text().strip()
    path = model_dir / name
    if not (path / CONFIG_FILE).is_file():
        raise ModelNotFoundError(f"model {name!r} not found: {path / CONFIG_FILE} is missing")
    return path


def current_name(model_dir: Path) -> str | None:
    """The name ``CURRENT`` holds, or None without one."""
    pointer = model_dir / CURRENT_FILE
    return pointer.read_text().strip() if pointer.is_file() else None


def model_kind(path: Path) -> str:
    return str(json.loads((path / CONFIG_FILE).read_text()).get("kind", "unknown"))


def set_current_model(model_dir: Path, name: str) -> None:
    """Point ``CURRENT`` at ``name``; atomic, so a reader sees the old or the new name, never half.
    Only ``versions.promote`` calls it in the service (a row and an audit record go with every swap);
    setting up a model folder by hand (tests, benchmarks) may call it directly."""
    current_model_path(model_dir, name)
    tmp = model_dir / f".{CURRENT_FILE}.tmp"
    tmp.write_text(name + "\n")
    tmp.replace(model_dir / CURRENT_FILE)


def load_model(path: Path, *, cache_dir: Path) -> Classifier:
    """Load a model directory by the ``kind`` in its config; ``cache_dir`` holds the rebuilt base encoder."""
    kind = json.loads((path / CONFIG_FILE).read_text()).get("kind")
    if kind == "fast":
        return FastStageModel.from_pretrained(path)
    if kind == "cascade":
        from threatwatch.classify.cascade import CascadeModel

        return CascadeModel.from_pretrained(path, base_cache_dir=cache_dir)
    raise ModelNotFoundError(f"{path}: unknown model kind {kind!r}")
