"""Retraining on analysts' labels: label store, champion/challenger runs, registry, active learning."""
