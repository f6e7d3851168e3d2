"""Training: labelled data, near-duplicates, threshold tuning, training runs, model cards and figures."""
