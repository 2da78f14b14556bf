"""Embedding backends side by side: texts/s and cosine to float32, in one paired run.

    python -m interest_pipeline_tests.benchmarks.embedding_speed --texts 400 --rounds 3

On the small benchmark sample (``--scale``; generated once under ``data/benchmarks/embedding/``,
``--out``), three sets
of texts are encoded by every backend in the same process, in alternating order round after
round (so a busy machine slows them alike):

- ``bare float32``: ``SentenceTransformer.encode`` as it comes (batch 64, its own length sort);
- ``float32``, ``bfloat16``, ``int8``: the project's ``encode_texts`` (token-length-sorted
  batches of at most 64 texts and ``MAX_BATCH_TOKENS`` padded word pieces) with each backend;
- ``float32-64`` (only when asked for in ``--backends``): float32 in length-sorted batches of 64
  texts whatever their length, the batching before the token budget;
- any project backend with ``-serial`` (only when asked for, e.g. ``bfloat16-serial``): one batch at
  a time on every torch thread, instead of one batch per thread at once.

Sets: ``comments`` (cleaned review and search texts), ``items`` (title + description) and
``long items`` (the item texts of one subtopic joined, several hundred word pieces, so truncation at
``max_seq_length`` matters). Printed per set: median texts/s over the rounds, the ratio to bare
float32, and the cosine to bare float32 (min and mean); then the token lengths of each set and
the share of the work a data-chosen ``max_seq_length`` (99th percentile) would save.

``--recovery kmeans`` (default) or ``project`` also embeds the whole sample with each backend and
scores the agreement with the planted subtopics (NMI) on ``--recovery-seeds`` seeded samples of
``--recovery-points`` points: K-Means with the true k, or the project's clustering (UMAP + HDBSCAN),
reported as mean ± sd and as each backend's paired difference to float32 on the same samples.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl

from interest_pipeline.core.common.vectors import min_and_mean_cosine
from interest_pipeline.core.text import encoding
from interest_pipeline.core.text import models as embedding_models
from interest_pipeline.core.text import precision as embedding_precision
from interest_pipeline_tests.benchmarks.scales import SCALES, write_sample

ROOT = Path("data/benchmarks/embedding")
BACKENDS = ("bare float32", "float32", "bfloat16", "int8")
UNBUDGETED = "float32-64"  # float32 without the token budget per batch
SERIAL = "-serial"  # suffix: one batch at a time (encode_texts' parallel=1)


def text_sets(corpus: pl.DataFrame, n: int, seed: int = 0) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)

    def sample(texts: list[str], k: int) -> list[str]:
        return [texts[i] for i in np.sort(rng.choice(len(texts), size=min(k, len(texts)), replace=False))]

    comments = corpus.filter(pl.col("content_kind") == "comment")["text_clean"].unique(maintain_order=True).to_list()
    items = corpus.filter(pl.col("content_kind") == "item")
    joined = (
        items.group_by("subtopic_id", maintain_order=True)
        .agg(pl.col("text_clean").str.join(" "))["text_clean"]
        .to_list()
    )
    return {
        "comments": sample(comments, n),
        "items": sample(items["text_clean"].to_list(), n),
        "long items": sample(joined, max(8, n // 4)),
    }


def bare_encoder(path: str):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    return model, encode


def project_encoder(name: str):
    backend = name.removesuffix(SERIAL)
    precision = "float32" if backend == UNBUDGETED else backend
    budget = None if backend == UNBUDGETED else encoding.MAX_BATCH_TOKENS
    parallel = 1 if name.endswith(SERIAL) else None
    encoder = embedding_models.load_model(embedding_models.PACKAGED_MODEL, "cpu", 256, precision)
    return lambda texts: encoding.encode_texts(
        encoder, texts, batch_size=encoding.BATCH_SIZE, max_batch_tokens=budget, parallel=parallel
    )


def paired_run(sets: dict[str, list[str]], encoders: dict, rounds: int) -> tuple[dict, dict]:
    """Seconds per (set, backend) per round, alternating the order; vectors of the last round."""
    seconds = {(s, b): [] for s in sets for b in encoders}
    vectors = {}
    names = list(encoders)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for set_name, texts in sets.items():
            for name in order:
                start = time.perf_counter()
                vectors[set_name, name] = encoders[name](texts)
                seconds[set_name, name].append(time.perf_counter() - start)
        print(f"round {r + 1}/{rounds} done", flush=True)
    return seconds, vectors


def speed_table(sets, encoders, seconds, vectors) -> str:
    lines = [
        "| texts | backend | texts/s (median) | x bare float32 | cosine min | cosine mean |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for set_name, texts in sets.items():
        bare_rate = len(texts) / float(np.median(seconds[set_name, "bare float32"]))
        for name in encoders:
            rate = len(texts) / float(np.median(seconds[set_name, name]))
            low, mean = min_and_mean_cosine(vectors[set_name, "bare float32"], vectors[set_name, name])
            lines.append(
                f"| {set_name} ({len(texts)}) | {name} | {rate:,.1f} | {rate / bare_rate:.2f} | {low:.4f} | {mean:.4f} |"
            )
    return "\n".join(lines)


def length_table(sets, tokenizer, limit: int) -> str:
    lines = [
        f"| texts | p50 | p99 | max | truncated at {limit} | work saved by a p99 limit |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for set_name, texts in sets.items():
        lengths = encoding.token_lengths(tokenizer, texts)
        kept = np.minimum(lengths, limit)
        p99 = int(np.percentile(kept, 99))
        saved = 1 - np.minimum(kept, p99).sum() / kept.sum()  # tokens, as a first-order share of the work
        lines.append(
            f"| {set_name} | {int(np.median(lengths))} | {int(np.percentile(lengths, 99))} | {int(lengths.max())} | "
            f"{(lengths > limit).mean():.1%} | {saved:.2%} (p99 = {p99}) |"
        )
    return "\n".join(lines)


def recovery_table(corpus: pl.DataFrame, encoders: dict, method: str, max_points: int, seeds: int = 1) -> str:
    """Planted-subtopic NMI per backend over ``seeds`` seeded samples of points (and clustering
    seeds): mean, spread, and each backend's paired difference to float32 on the same samples."""
    from interest_pipeline.core.clustering.agreement import agreement
    from interest_pipeline.core.text.near_duplicates import near_duplicate_key
    from interest_pipeline_tests.benchmarks import taxonomy
    from interest_pipeline_tests.benchmarks.comparisons import sample_rows

    k_fine, k_coarse = corpus["subtopic_id"].drop_nulls().n_unique(), corpus["topic_id"].drop_nulls().n_unique()
    texts = corpus["text_clean"].to_list()
    names = [n for n in encoders if n != "bare float32"]  # bare float32: float32's vectors to float tolerance
    vectors = {name: encoders[name](texts) for name in names}
    nmi = {name: [] for name in names}
    for seed in range(seeds):
        rows = sample_rows(corpus.height, max_points, seed)
        part = corpus[rows.tolist()]
        scored = part["subtopic_id"].is_not_null().to_numpy()
        truth = part["subtopic_id"].to_numpy()[scored]
        keys = [near_duplicate_key(t) for t in part["text_clean"].to_list()]
        for name in names:
            if method == "project":
                _, fine, _ = taxonomy.project(vectors[name][rows], seed, keys)
            else:
                _, fine, _ = taxonomy.kmeans_true_k(vectors[name][rows], seed, k_fine, k_coarse)
            nmi[name].append(agreement(truth, fine[scored])["nmi"])
        print(f"recovery seed {seed}: " + ", ".join(f"{n} {nmi[n][-1]:.4f}" for n in names), flush=True)
    points = min(corpus.height, max_points)
    lines = [
        f"| backend | subtopic NMI ({method}, {points:,} points, {seeds} seeds): mean ± sd | paired difference to float32: mean [min, max] |",
        "| --- | --- | --- |",
    ]
    for name in names:
        scores = np.array(nmi[name])
        paired = scores - np.array(nmi["float32"]) if "float32" in nmi else None
        difference = (
            "—"
            if paired is None or name == "float32"
            else f"{paired.mean():+.4f} [{paired.min():+.4f}, {paired.max():+.4f}]"
        )
        lines.append(
            f"| {name} | {scores.mean():.4f} ± {scores.std(ddof=1) if seeds > 1 else 0.0:.4f} | {difference} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=400, help="texts per set (the long set has a quarter of them)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--recovery", choices=["none", "kmeans", "project"], default="kmeans")
    parser.add_argument(
        "--recovery-points", type=int, default=1500, help="a seeded sample of the sample's items and comments"
    )
    parser.add_argument(
        "--recovery-seeds", type=int, default=5, help="samples (and clustering seeds) the recovery is measured over"
    )
    parser.add_argument(
        "--backends",
        default="",
        help="comma-separated, of "
        + ", ".join([*BACKENDS[1:], UNBUDGETED])
        + " (each may end in "
        + SERIAL
        + "); default: all but "
        + UNBUDGETED
        + ", "
        "bfloat16 only where the CPU has bf16 units (emulated elsewhere: many times slower)",
    )
    parser.add_argument(
        "--scale", choices=list(SCALES), default="small", help="the generated sample the texts come from"
    )
    parser.add_argument("--out", type=Path, default=ROOT, help="where the sample is generated (once per scale)")
    args = parser.parse_args(argv)

    from interest_pipeline_tests.benchmarks.taxonomy import build_corpus

    sample = args.out / args.scale / "sample"
    if not (sample / "truth").exists():
        write_sample(SCALES[args.scale], sample)
    corpus = build_corpus(sample)
    sets = text_sets(corpus, args.texts)
    start = time.perf_counter()
    model, bare = bare_encoder(embedding_models.resolve_model_path(embedding_models.PACKAGED_MODEL))
    has_bf16 = bool(embedding_precision.cpu_flags() & embedding_precision.BF16_CPU_FLAGS)
    chosen = args.backends.split(",") if args.backends else [b for b in BACKENDS[1:] if b != "bfloat16" or has_bf16]
    encoders = {"bare float32": bare, **{p: project_encoder(p) for p in chosen}}
    print(
        f"backends loaded in {time.perf_counter() - start:.1f} s (int8: exported and quantized on first use, then cached); "
        f"flags: {sorted(embedding_precision.cpu_flags() & (embedding_precision.BF16_CPU_FLAGS | {'avx512_vnni', 'avx512f', 'avx2'}))}; auto picks {embedding_precision.choose_precision('auto', 'cpu')}",
        flush=True,
    )
    seconds, vectors = paired_run(sets, encoders, args.rounds)
    print()
    print(speed_table(sets, encoders, seconds, vectors))
    print()
    print(length_table(sets, model.tokenizer, int(model.max_seq_length)))
    if args.recovery != "none":
        print()
        print(recovery_table(corpus, encoders, args.recovery, args.recovery_points, args.recovery_seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
