"""Clustering: the interest taxonomy (topics -> subtopics) and user segments, HDBSCAN after
reduction, each run tracked in MLflow; new items and texts join the taxonomy between re-clusterings."""
