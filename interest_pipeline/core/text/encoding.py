"""Encoding texts with any encoder backend: length-sorted batches, one per core on the CPU,
progress lines, and the text hashes that key the embedding cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from interest_pipeline.core.common.vectors import l2_normalise

# (texts done, texts in all, seconds since the first batch started); called after each batch.
Progress = Callable[[int, int, float], None]


def token_lengths(tokenizer, texts: Sequence[str], max_seq_length: int | None = None) -> np.ndarray:
    """Word pieces per text, special tokens included (capped at ``max_seq_length`` when given)."""
    if len(texts) == 0:
        return np.zeros(0, dtype=np.int64)
    ids = tokenizer(
        list(texts), add_special_tokens=True, truncation=max_seq_length is not None, max_length=max_seq_length
    )["input_ids"]
    return np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))


# Texts per forward pass, and padded word pieces (texts x the batch's longest text) per pass: a
# batch of 64 texts of 256 word pieces holds ~200 MB of attention scores and runs slower per
# token than eight batches of 8 (10-15% over the large benchmark's comments, see README).
BATCH_SIZE = 64


MAX_BATCH_TOKENS = 2048


def length_sorted_batches(
    lengths: np.ndarray, batch_size: int, max_batch_tokens: int | None = None
) -> list[np.ndarray]:
    """Positions of the texts in batches of similar length, longest first (padding is wasted work;
    the longest batch first shows a memory limit at once). Ties keep input order. A batch holds at
    most ``batch_size`` texts and, when given, at most ``max_batch_tokens`` padded word pieces
    (always at least one text)."""
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        # longest first, so the batch's first text sets its padded width
        size = (
            batch_size
            if max_batch_tokens is None
            else max(1, min(batch_size, max_batch_tokens // max(int(lengths[order[start]]), 1)))
        )
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
    batches = length_sorted_batches(
        token_lengths(encoder.tokenizer, texts, encoder.max_seq_length), batch_size, max_batch_tokens
    )
    out = np.empty((len(texts), encoder.dimension()), dtype=np.float32)
    parallel = encoder.parallel_batches() if parallel is None else parallel
    start, done = time.perf_counter(), 0
    with _batch_map(min(parallel, len(batches))) as batch_map:
        for positions, vectors in zip(
            batches, batch_map(lambda positions: encoder.embed_batch([texts[i] for i in positions]), batches)
        ):
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


def progress_logger(
    log: Callable[[str], None], min_interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic
) -> Progress:
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
