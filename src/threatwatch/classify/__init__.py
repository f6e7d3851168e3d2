"""Classification: the model contract, the models behind it, training and evaluation. Which model is
live, and loading it, is the registry's (``threatwatch.registry``)."""

from threatwatch.classify.base import ClassificationResult, Classifier, Span

__all__ = ["ClassificationResult", "Classifier", "Span"]
