"""Classification: the model contract, the models behind it, training and evaluation."""

from threatwatch.classify.base import ClassificationResult, Classifier, Span
from threatwatch.classify.registry import ModelNotFoundError, load_classifier

__all__ = ["ClassificationResult", "Classifier", "ModelNotFoundError", "Span", "load_classifier"]
