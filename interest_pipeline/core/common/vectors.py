"""Vector helpers shared by every stage: unit length, cosine, and vectors in polars columns."""

from __future__ import annotations

import numpy as np
import polars as pl


def min_and_mean_cosine(reference: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Row-wise cosine of two sets of unit vectors: its minimum and mean."""
    cosine = (l2_normalise(reference) * l2_normalise(other)).sum(axis=1)
    return float(cosine.min()), float(cosine.mean())


def vectors_to_series(name: str, vectors: np.ndarray) -> pl.Series:
    """A 2-D float array as a polars List(Float32) column (DuckDB FLOAT[])."""
    return pl.Series(name, vectors.astype(np.float32, copy=False)).cast(pl.List(pl.Float32))


def series_to_vectors(series: pl.Series, dim: int | None = None) -> np.ndarray:
    """The inverse of :func:`vectors_to_series`; ``dim`` is needed only for empty series."""
    if series.len() == 0:
        return np.zeros((0, dim or 0), dtype=np.float32)
    flat = series.explode().to_numpy().astype(np.float32, copy=False)
    return flat.reshape(series.len(), -1)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
