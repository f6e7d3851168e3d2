"""Prefect flows: thin compositions of the plain functions in ``threatwatch``."""
