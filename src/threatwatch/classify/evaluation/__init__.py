"""Evaluation: metrics, the functional suite and stream set, and scoring a user's labelled file."""
