"""The fast stage: word and character n-gram TF-IDF (optionally joined by sentence embeddings) with a
linear model. Trains in seconds on 2 cores."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline

from threatwatch.classify.base import ClassificationResult, Span, decide
from threatwatch.classify.explain import explain_labels, explained_results
from threatwatch.classify.prevalence import label_counts
from threatwatch.classify.sentence_embeddings import SentenceEmbeddings
from threatwatch.classify.surface import normalise, with_noisy_copies
from threatwatch.domain import LABELS, Label
from threatwatch.watchlist.names import fold

_URL = re.compile(r"https?://\S+")
_HANDLE = re.compile(r"@[\w.]+")
_DIGITS = re.compile(r"\d")

PIPELINE_FILE = "pipeline.joblib"
CONFIG_FILE = "config.json"
TRAINING_ARGS_FILE = "training_args.json"


def normalise_for_model(text: str) -> str:
    """What the n-grams of models trained before surface normalisation see: folded case and accents,
    any URL, @handle and digit made generic. Kept because their pickled pipelines call it by name."""
    text = _URL.sub(" url ", text)
    text = _HANDLE.sub(" @user ", text)
    return _DIGITS.sub("0", fold(text))


def normalise_surface_for_model(text: str) -> str:
    """What the n-grams see: the post's surface normalised (`surface.normalise`), case and accents
    folded, digits made generic."""
    return _DIGITS.sub("0", fold(normalise(text)))


@dataclass(frozen=True)
class FastTrainingArguments:
    """Everything that decides the fitted model; saved beside it so a run can be reproduced."""

    seed: int = 13
    c: float = 8.0
    word_ngram_max: int = 2
    char_ngram_min: int = 2
    char_ngram_max: int = 5
    min_df: int = 2
    max_iter: int = 3000
    # Class-balanced weights skew probabilities; cross-validated sigmoid calibration puts them back.
    calibration: str = "sigmoid"  # "sigmoid", "isotonic" or "none"
    calibration_folds: int = 5
    # > 0 joins multilingual USE sentence embeddings, scaled by this, to the n-grams (sentence_embeddings).
    sentence_embedding_weight: float = 0.0
    # As in `TransformerTrainingArguments`: read the normalised surface, train on noisy copies too.
    normalise_surface: bool = True
    noisy_copy_share: float = 0.5

    @classmethod
    def from_stored(cls, raw: dict[str, Any]) -> FastTrainingArguments:
        """Arguments saved beside a model; fields added since it was saved take the value that
        reproduces it (no surface normalisation, no noisy copies), not today's default."""
        return cls(**{"normalise_surface": False, "noisy_copy_share": 0.0, **raw})


@dataclass(frozen=True)
class FastConfig:
    version: str
    labels: tuple[str, ...] = tuple(label.value for label in LABELS)
    thresholds: dict[str, float] = field(default_factory=dict)
    # How many of each label it trained on (noisy copies included): the prior its probabilities carry.
    label_counts: dict[str, int] = field(default_factory=dict)
    kind: str = "fast"


class FastStageModel:
    """A fitted scikit-learn pipeline plus its config; owns loading, saving and prediction."""

    def __init__(self, pipeline: Pipeline, config: FastConfig) -> None:
        classes = [str(c) for c in pipeline.classes_]
        if classes != sorted(config.labels):
            raise ValueError(f"pipeline classes {classes} do not match labels {config.labels}")
        self.pipeline = pipeline
        self.config = config
        # scikit-learn orders columns alphabetically; we serve them in LABELS order.
        self._column_order = [classes.index(label) for label in config.labels]

    @property
    def version(self) -> str:
        return self.config.version

    @classmethod
    def build_pipeline(cls, args: FastTrainingArguments) -> Pipeline:
        preprocessor = normalise_surface_for_model if args.normalise_surface else normalise_for_model
        parts: list[tuple[str, Any]] = [
            (
                "words",
                TfidfVectorizer(
                    preprocessor=preprocessor,
                    ngram_range=(1, args.word_ngram_max),
                    min_df=args.min_df,
                    sublinear_tf=True,
                    token_pattern=r"(?u)@?\b\w+\b",
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    preprocessor=preprocessor,
                    analyzer="char_wb",
                    ngram_range=(args.char_ngram_min, args.char_ngram_max),
                    min_df=args.min_df,
                    sublinear_tf=True,
                ),
            ),
        ]
        if args.sentence_embedding_weight > 0:
            parts.append(("sentences", SentenceEmbeddings(args.sentence_embedding_weight)))
        features = FeatureUnion(parts)
        linear = LogisticRegression(
            C=args.c, class_weight="balanced", max_iter=args.max_iter, random_state=args.seed
        )
        model: Any = linear
        if args.calibration != "none":
            folds = StratifiedKFold(n_splits=args.calibration_folds, shuffle=True, random_state=args.seed)
            model = CalibratedClassifierCV(linear, method=args.calibration, cv=folds)
        return Pipeline([("features", features), ("model", model)])

    @classmethod
    def train(
        cls, texts: Sequence[str], labels: Sequence[str], *, version: str, args: FastTrainingArguments
    ) -> FastStageModel:
        pipeline = cls.build_pipeline(args)
        texts, labels = with_noisy_copies(texts, labels, share=args.noisy_copy_share, seed=args.seed)
        pipeline.fit(texts, labels)
        return cls(pipeline, FastConfig(version=version, label_counts=label_counts(labels)))

    def with_thresholds(self, thresholds: dict[str, float]) -> FastStageModel:
        return FastStageModel(self.pipeline, FastConfig(**{**asdict(self.config), "thresholds": thresholds}))

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        if not texts:
            return np.zeros((0, len(self.config.labels)))
        raw = self.pipeline.predict_proba(list(texts))
        return np.asarray(raw[:, self._column_order], dtype=np.float64)

    def predict(self, texts: Sequence[str], *, explain: bool = True) -> list[ClassificationResult]:
        probabilities = self.predict_proba(texts)
        labels = decide(probabilities, self.config.thresholds)
        return explained_results(
            texts,
            probabilities,
            labels,
            version=self.version,
            explain_with=self.explain if explain else None,
        )

    def explain(self, texts: Sequence[str], labels: Sequence[Label]) -> list[tuple[Span, ...]]:
        return explain_labels(texts, labels, self.predict_proba)

    def save_pretrained(self, directory: Path, *, args: FastTrainingArguments | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, directory / PIPELINE_FILE, compress=3)
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        if args is not None:
            (directory / TRAINING_ARGS_FILE).write_text(json.dumps(asdict(args), indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, directory: Path) -> FastStageModel:
        """Load a model directory written by ``save_pretrained``.

        The pipeline is a joblib pickle: load only model directories you trust (ours ship in ``models/``).
        """
        raw = json.loads((directory / CONFIG_FILE).read_text())
        raw["labels"] = tuple(raw["labels"])
        config = FastConfig(**raw)
        return cls(joblib.load(directory / PIPELINE_FILE), config)
