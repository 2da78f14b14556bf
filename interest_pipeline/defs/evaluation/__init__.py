"""Evaluation: usefulness on held-out later events against simple baselines, tracked in MLflow."""
