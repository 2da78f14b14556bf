"""Which embedding precision a machine can run: float32, bf16 (CPUs with bf16 units, GPUs) or
int8 (onnxruntime), and the part of the cache key that names it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from interest_pipeline.core.text.int8_backend import INT8_QUANTIZATION

PRECISIONS = ("auto", "float32", "bfloat16", "int8")


# CPU flags (as /proc/cpuinfo names them) of units that run bf16 matrix products natively.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The feature flags of the first CPU in ``cpuinfo`` (empty where the file is absent: not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def choose_precision(precision: str, device: str, flags: frozenset[str] | None = None) -> str:
    """The precision to run: ``precision`` itself unless it is ``auto``.

    ``auto``: bf16 on a GPU or on a CPU with bf16 units (``flags``, read from /proc/cpuinfo when not
    given), else float32: without bf16 units torch emulates bf16, many times slower than float32.
    int8 is not chosen by itself: it was 1.1-1.5x faster than float32 on the large benchmark's texts
    and more on the small sample's in paired runs (``benchmarks/embedding_speed.py``), but in the
    large cold build its ``comment_embeddings`` took 827 s against float32's 742 s (another run, on
    a machine then about 15% slower): no gain that the pipeline shows, for approximate vectors.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if resolve_device(device).startswith("cuda"):
        return "bfloat16"
    return "bfloat16" if (cpu_flags() if flags is None else flags) & BF16_CPU_FLAGS else "float32"


def precision_key(precision: str) -> str:
    """What a resolved precision adds to the vectors' cache key: nothing for float32 (the keys of
    older caches stay valid); int8 names its quantization, so another recipe never reuses its vectors."""
    if precision == "float32":
        return ""
    if precision == "int8":
        recipe = hashlib.sha256(json.dumps(INT8_QUANTIZATION, sort_keys=True).encode()).hexdigest()[:8]
        return f"|precision=int8-{recipe}"
    return f"|precision={precision}"
