"""What the model versions page shows: every model directory, which one is live, its test metrics, its
real-world figures (realistic stream set, functional suite) and, for a retraining challenger, the verdict.

Read-only and forgiving: a half-written or foreign directory is listed with what could be read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threatwatch.classify.fast import CONFIG_FILE
from threatwatch.classify.registry import CURRENT_FILE

METRICS_FILE = "metrics.json"
COMPARISON_METRICS_FILE = "comparison.json"  # written by `retrain.compare` beside a challenger


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


def _verdict(comparison: dict[str, Any]) -> str | None:
    if not comparison:
        return None
    return f"{'promoted' if comparison.get('promote') else 'rejected'}: {comparison.get('reason', '')}"


def list_model_versions(model_dir: Path) -> list[ModelVersion]:
    """Directories holding a model config, the live one first, then newest name first."""
    pointer = model_dir / CURRENT_FILE
    current = pointer.read_text().strip() if pointer.is_file() else None
    if not model_dir.is_dir():
        return []
    versions = []
    for path in sorted((p for p in model_dir.iterdir() if (p / CONFIG_FILE).is_file()), reverse=True):
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
            )
        )
    return sorted(versions, key=lambda v: not v.current)
