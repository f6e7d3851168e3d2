"""What the model versions page shows: every model directory, which one is live, its test metrics, its
real-world figures (realistic stream set, functional suite per functionality against its floor), the
model card's pictures and, for a retraining challenger, the verdict.

Read-only and forgiving: a half-written or foreign directory is listed with what could be read. The
pictures are served by name only: ``figure_path`` accepts a model name that is one of the listed
directories and a figure that is one of ``FIGURES``, never a path built from what a request sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threatwatch.classify.fast import CONFIG_FILE
from threatwatch.classify.training.plots import CONFUSION, PR_CURVES, RELIABILITY
from threatwatch.registry import CURRENT_FILE

METRICS_FILE = "metrics.json"
COMPARISON_METRICS_FILE = "comparison.json"  # written by `retrain.compare` beside a challenger
# The model card's pictures (``classify.plots``), by the name used in their URL; page order.
FIGURES: dict[str, str] = {"pr_curves": PR_CURVES, "reliability": RELIABILITY, "confusion_matrix": CONFUSION}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ModelFigure:
    """One picture of a model card that exists on disk, with its pixel size when the PNG header says."""

    figure: str  # a key of FIGURES
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class FunctionalRate:
    """One functionality of the functional suite as the model's metrics recorded it."""

    name: str
    expected: str  # "flagged" or "not_flagged"
    pass_rate: float
    floor: float
    cases: int | None

    @property
    def below_floor(self) -> bool:
        return self.pass_rate < self.floor


@dataclass(frozen=True)
class ModelVersion:
    name: str
    current: bool
    kind: str | None
    flagged_f1: float | None
    macro_f1: float | None
    flagged_recall: float | None
    thresholds: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, Any] = field(default_factory=dict)
    stream_false_flags_per_1000: float | None = None
    stream_recall: float | None = None
    functional_at_floor: str | None = None  # "35/37": functionalities at or above their floor
    verdict: str | None = None  # a challenger's promotion verdict and its reason
    stream_ordinary: int | None = None  # ordinary posts in the stream set ...
    stream_ordinary_flagged: int | None = None  # ... and how many of them the model flagged
    functional: tuple[FunctionalRate, ...] = ()  # empty: not recorded (older versions)
    figures: tuple[ModelFigure, ...] = ()  # the card's pictures present in the directory


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _functional_rates(functionalities: dict[str, Any]) -> tuple[FunctionalRate, ...]:
    rates = []
    for name, entry in functionalities.items():
        row = _mapping(entry)
        pass_rate, floor = _number(row.get("pass_rate")), _number(row.get("floor"))
        if pass_rate is None or floor is None:
            continue
        rates.append(
            FunctionalRate(
                name=str(name),
                expected=str(row.get("expected", "")),
                pass_rate=pass_rate,
                floor=floor,
                cases=_count(row.get("cases")),
            )
        )
    return tuple(rates)


def _png_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk (the first 24 bytes), or None when it is not one."""
    try:
        with path.open("rb") as handle:
            head = handle.read(24)
    except OSError:
        return None
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _version_dirs(model_dir: Path) -> list[Path]:
    """The model versions: directories directly under ``model_dir`` that hold a model config."""
    if not model_dir.is_dir():
        return []
    return [p for p in model_dir.iterdir() if p.is_dir() and (p / CONFIG_FILE).is_file()]


def _figure_file(version: Path, file_name: str) -> Path | None:
    """``version/file_name`` resolved, when it is a file inside the version's directory (a link in it
    may not lead out; the version directory itself may be a link, as a deployment may make it)."""
    try:
        root = version.resolve(strict=True)
        resolved = (version / file_name).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_file() and resolved.is_relative_to(root) else None


def _figures(version: Path) -> tuple[ModelFigure, ...]:
    present = []
    for figure, file_name in FIGURES.items():
        path = _figure_file(version, file_name)
        if path is not None:
            size = _png_size(path)
            present.append(ModelFigure(figure, *size) if size else ModelFigure(figure))
    return tuple(present)


def figure_path(model_dir: Path, *, name: str, figure: str) -> Path | None:
    """The file of one card picture of a listed model version, or None (unknown version or figure,
    file missing, or a link that leads outside the model directory)."""
    file_name = FIGURES.get(figure)
    if file_name is None:
        return None
    version = next((p for p in _version_dirs(model_dir) if p.name == name), None)
    if version is None:
        return None
    # Both parts of the path come from the directory listing and FIGURES, never from the request.
    return _figure_file(version, file_name)


def _verdict(comparison: dict[str, Any]) -> str | None:
    if not comparison:
        return None
    return f"{'promoted' if comparison.get('promote') else 'rejected'}: {comparison.get('reason', '')}"


def list_model_versions(model_dir: Path) -> list[ModelVersion]:
    """Directories holding a model config, the live one first, then newest name first."""
    pointer = model_dir / CURRENT_FILE
    current = pointer.read_text().strip() if pointer.is_file() else None
    versions = []
    for path in sorted(_version_dirs(model_dir), reverse=True):
        config = _read_json(path / CONFIG_FILE)
        metrics = _read_json(path / METRICS_FILE)
        test = _mapping(metrics.get("test"))
        stream = _mapping(metrics.get("stream"))
        functional = _mapping(_mapping(metrics.get("functional")).get("functionalities"))
        below = _mapping(metrics.get("functional")).get("below_floor")
        comparison = _read_json(path / COMPARISON_METRICS_FILE)
        thresholds = _mapping(config.get("thresholds"))
        versions.append(
            ModelVersion(
                name=path.name,
                current=path.name == current,
                kind=str(config["kind"]) if "kind" in config else None,
                flagged_f1=_number(test.get("flagged_f1")),
                macro_f1=_number(test.get("macro_f1")),
                flagged_recall=_number(test.get("flagged_recall")),
                thresholds={str(k): float(v) for k, v in thresholds.items() if _number(v) is not None},
                test_metrics={k: v for k, v in test.items() if k in ("n", "flagged_precision", "macro_f1")},
                stream_false_flags_per_1000=_number(stream.get("false_flags_per_1000_ordinary")),
                stream_recall=_number(stream.get("flagged_recall")),
                functional_at_floor=(
                    f"{len(functional) - len(below)}/{len(functional)}"
                    if functional and isinstance(below, list)
                    else None
                ),
                verdict=_verdict(comparison),
                stream_ordinary=_count(stream.get("ordinary")),
                stream_ordinary_flagged=_count(stream.get("ordinary_flagged")),
                functional=_functional_rates(functional),
                figures=_figures(path),
            )
        )
    return sorted(versions, key=lambda v: not v.current)
