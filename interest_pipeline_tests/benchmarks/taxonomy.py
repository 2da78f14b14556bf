"""Taxonomy quality over seeds: the project's clustering beside the previous defaults and baselines.

    python -m interest_pipeline_tests.benchmarks.taxonomy --scale small --seeds 3

For one generated sample (the benchmark scales), the items and comments are cleaned and
tokenized as the pipeline does, embedded once with the packaged model (cached under
``data/benchmarks/taxonomy/``), and every method clusters the same vectors once per seed:

- ``project``: ``cluster_distinct`` with the current defaults (distinct texts once, sampled fit
  above ``max_fit_points``, data-sized coarse level);
- ``previous defaults``: UMAP(5, 30 nn) + HDBSCAN(leaf, min_cluster_size 1% of the points,
  min_samples 10) on every point, round(sqrt(k)) topics by Ward;
- ``UMAP(10)+HDBSCAN(EOM,8)+nearest``: UMAP(10 components, 15 nn) + HDBSCAN(EOM,
  min_cluster_size 8), noise to the nearest centroid, topics by the project's density grouping (HDBSCAN, 4 x 8);
- ``K-Means (true k)``: k = planted subtopics for the fine level, k = planted topics for the coarse one.

``--coarse-candidates`` also scores, on the project's own fine clusters of every seed, the topics of
the Ward coarse candidates of :mod:`~interest_pipeline_tests.benchmarks.real_corpora` beside the
project's current coarse level (topics, the largest topic's share of all points, topic NMI / ARI).

Agreement (NMI / ARI) is scored on the content that has a planted interest; generic and flood
comments (no interest) only count in the noise share. Printed: mean +- standard deviation over
the seeds, and ``results.md`` / ``results.json`` beside the cache.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from interest_pipeline.core.clustering.agreement import agreement
from interest_pipeline.core.clustering.at_scale import cluster_distinct
from interest_pipeline.core.clustering.density_clustering import (
    NOISE,
    ClusteringParams,
    assign_noise_to_nearest,
    density_groups,
    group_clusters,
    two_level_clustering,
)
from interest_pipeline.core.common.tokenize import tokenize_frame
from interest_pipeline.core.ingest.catalogue import item_text
from interest_pipeline.core.text.encoding import encode_texts, text_hashes
from interest_pipeline.core.text.models import PACKAGED_MODEL, load_model
from interest_pipeline.core.text.near_duplicates import near_duplicate_key
from interest_pipeline_tests.benchmarks.scales import SCALES, write_sample

ROOT = Path("data/benchmarks/taxonomy")


def _read_events(folder: Path) -> pl.DataFrame:
    frames = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False)
        elif path.suffix == ".jsonl":
            frame = pl.read_ndjson(path, infer_schema_length=None).cast(pl.String)
        elif path.suffix == ".parquet":
            frame = pl.read_parquet(path).cast(pl.String)
        else:
            continue
        frames.append(frame.select("event_id", "event_type", "text"))
    return pl.concat(frames)


def build_corpus(sample: Path) -> pl.DataFrame:
    """Items and user texts with their planted truth: content_id, kind, text_clean, tokens, truth."""
    truth_items = pl.read_csv(sample / "truth/items.csv", infer_schema=False)
    truth_texts = pl.read_csv(sample / "truth/texts.csv", infer_schema=False)
    if "kind" not in truth_texts.columns:
        truth_texts = truth_texts.with_columns(pl.lit("interest").alias("kind"))
    items = pl.read_csv(sample / "items.csv", infer_schema=False)
    items = tokenize_frame(items.with_columns(item_text(items)), text_column="item_text")
    items = items.join(truth_items.select("item_id", "subtopic_id", "topic_id"), on="item_id").select(
        pl.col("item_id").alias("content_id"),
        pl.lit("item").alias("content_kind"),
        pl.lit("interest").alias("kind"),
        "text_clean",
        "tokens",
        "subtopic_id",
        "topic_id",
    )
    texts = (
        _read_events(sample / "events")
        .filter(pl.col("text").is_not_null())
        .unique("event_id", keep="first", maintain_order=True)
    )
    texts = texts.join(truth_texts, on="event_id", how="inner")
    texts = tokenize_frame(texts, text_column="text").select(
        pl.col("event_id").alias("content_id"),
        pl.lit("comment").alias("content_kind"),
        "kind",
        "text_clean",
        "tokens",
        "subtopic_id",
        "topic_id",
    )
    corpus = pl.concat([items, texts]).filter(pl.col("text_clean") != "")
    return corpus.with_columns(pl.col("subtopic_id").replace("", None), pl.col("topic_id").replace("", None)).sort(
        "content_kind", "content_id", descending=[True, False]
    )


def embed(texts: list[str], cache_file: Path, precision: str) -> np.ndarray:
    """Embeddings of ``texts``, each distinct text encoded once and kept in an npz cache."""
    hashes = text_hashes(texts)
    cache: dict[str, np.ndarray] = {}
    if cache_file.exists():
        stored = np.load(cache_file)
        cache = dict(zip(stored["hashes"].tolist(), stored["vectors"]))
    missing = {h: t for h, t in zip(hashes, texts) if h not in cache}
    if missing:
        start = time.perf_counter()
        encoder = load_model(PACKAGED_MODEL, "cpu", 256, precision)
        vectors = encode_texts(encoder, list(missing.values()))
        cache.update(zip(missing, vectors))
        print(
            f"embedded {len(missing):,} distinct texts in {time.perf_counter() - start:.0f} s ({precision})", flush=True
        )
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache_file, hashes=np.array(list(cache)), vectors=np.vstack(list(cache.values())))
    return np.vstack([cache[h] for h in hashes]).astype(np.float32)


PREVIOUS = dict(n_components=5, umap_n_neighbors=30, min_samples=10, fine_selection="leaf")


def previous_defaults(vectors: np.ndarray, seed: int):
    params = ClusteringParams(
        **PREVIOUS,
        min_cluster_size=max(10, int(round(0.01 * len(vectors)))),
        random_state=seed,
        max_fit_points=len(vectors) + 1,
    )
    result = two_level_clustering(vectors, params)
    k = len(set(result.fine.tolist()) - {NOISE})
    mapping = group_clusters(vectors, result.fine, max(2, int(round(np.sqrt(k)))))
    return result.fine_raw, result.fine, np.array([mapping.get(int(f), NOISE) for f in result.fine])


def umap10_eom8(vectors: np.ndarray, seed: int):
    import hdbscan
    import umap

    reduced = umap.UMAP(
        n_components=10, n_neighbors=15, min_dist=0.0, metric="cosine", random_state=seed, n_jobs=1
    ).fit_transform(vectors)
    raw = (
        hdbscan.HDBSCAN(min_cluster_size=8, cluster_selection_method="eom")
        .fit(reduced.astype(np.float64))
        .labels_.astype(np.int64)
    )
    fine, _ = assign_noise_to_nearest(reduced, raw)
    mapping = density_groups(reduced, fine, 4 * 8, 8)
    return raw, fine, np.array([mapping.get(int(f), NOISE) for f in fine])


def kmeans_true_k(vectors: np.ndarray, seed: int, k_fine: int, k_coarse: int):
    from sklearn.cluster import KMeans, MiniBatchKMeans

    model = KMeans if len(vectors) <= 30_000 else MiniBatchKMeans
    fine = model(n_clusters=k_fine, random_state=seed, n_init=3).fit_predict(vectors)
    coarse = model(n_clusters=k_coarse, random_state=seed, n_init=3).fit_predict(vectors)
    return fine.copy(), fine, coarse


def project(vectors: np.ndarray, seed: int, keys: list[str], **overrides):
    result = cluster_distinct(vectors, ClusteringParams(random_state=seed, **overrides), keys)
    return result.fine_raw, result.fine, result.coarse


def score(corpus: pl.DataFrame, raw: np.ndarray, fine: np.ndarray, coarse: np.ndarray, seconds: float) -> dict:
    scored = corpus["subtopic_id"].is_not_null().to_numpy()
    true_sub, true_topic = corpus["subtopic_id"].to_numpy()[scored], corpus["topic_id"].to_numpy()[scored]
    sub, top = agreement(true_sub, fine[scored]), agreement(true_topic, coarse[scored])
    no_interest = ~scored
    return {
        "subtopics": len(set(fine.tolist()) - {NOISE}),
        "topics": len(set(coarse.tolist()) - {NOISE}),
        "raw_noise": float((raw == NOISE).mean()),
        "subtopic_nmi": sub["nmi"],
        "subtopic_ari": sub["ari"],
        "topic_nmi": top["nmi"],
        "topic_ari": top["ari"],
        "no_interest_flagged": float((raw[no_interest] == NOISE).mean()) if no_interest.any() else float("nan"),
        "seconds": seconds,
    }


METRICS = [
    "subtopics",
    "topics",
    "raw_noise",
    "subtopic_nmi",
    "subtopic_ari",
    "topic_nmi",
    "topic_ari",
    "no_interest_flagged",
    "seconds",
]


def spread(runs: list[dict], metrics=METRICS) -> dict:
    return {m: (float(np.mean([r[m] for r in runs])), float(np.std([r[m] for r in runs]))) for m in metrics}


def as_markdown(title: str, table: dict[str, dict], metrics=METRICS) -> str:
    lines = [f"### {title}", "", "| method | " + " | ".join(metrics) + " |", "| --- |" + " --- |" * len(metrics)]
    for method, values in table.items():
        cells = []
        for m in metrics:
            mean, sd = values[m]
            cells.append(
                f"{mean:.0f} ± {sd:.0f}" if m in ("subtopics", "topics", "seconds") else f"{mean:.3f} ± {sd:.3f}"
            )
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


CANDIDATE_METRICS = ["topics", "largest_share", "topic_nmi", "topic_ari"]


def candidate_scores(corpus: pl.DataFrame, vectors: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> dict:
    """Topic scores of the project's coarse level and of each Ward candidate on the same fine clusters."""
    from interest_pipeline_tests.benchmarks.real_corpora import ward_candidates

    scored = corpus["subtopic_id"].is_not_null().to_numpy()
    true_topic = corpus["topic_id"].to_numpy()[scored]
    levels = {"project (default)": coarse} | {
        name: np.array([m.get(int(f), NOISE) for f in fine], dtype=np.int64)
        for name, m in ward_candidates(vectors, fine).items()
    }
    out = {}
    for name, labels in levels.items():
        clustered = labels[labels != NOISE]
        top = agreement(true_topic, labels[scored])
        out[name] = {
            "topics": len(set(clustered.tolist())),
            "largest_share": float(np.unique(clustered, return_counts=True)[1].max() / len(labels)),
            "topic_nmi": top["nmi"],
            "topic_ari": top["ari"],
        }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--precision",
        choices=["float32", "bfloat16", "int8"],
        default="bfloat16",
        help="embedding precision (every method uses the same vectors)",
    )
    parser.add_argument("--methods", default="project,project_density,previous,umap10_eom8,kmeans")
    parser.add_argument(
        "--baseline-max-points",
        type=int,
        default=60_000,
        help="the previous defaults and the UMAP(10) recipe run on a seeded sample of this many points above it",
    )
    parser.add_argument(
        "--coarse-candidates",
        action="store_true",
        help="also score the Ward coarse candidates on the project's fine clusters",
    )
    parser.add_argument(
        "--sample", type=Path, help="use this sample folder instead of generating the scale's (results go beside it)"
    )
    args = parser.parse_args(argv)

    sample = args.sample or ROOT / args.scale / "sample"
    if args.sample is None and not (sample / "truth").exists():
        summary = write_sample(SCALES[args.scale], sample)
        print(
            f"generated {args.scale}: {summary['events']:,} events, {summary['texts']:,} texts in {summary['generate_seconds']} s",
            flush=True,
        )
    corpus = build_corpus(sample)
    vectors = embed(corpus["text_clean"].to_list(), ROOT / f"embeddings-{args.precision}.npz", args.precision)
    keys = [near_duplicate_key(t) for t in corpus["text_clean"].to_list()]
    k_fine = corpus["subtopic_id"].drop_nulls().n_unique()
    k_coarse = corpus["topic_id"].drop_nulls().n_unique()
    print(
        f"{corpus.height:,} points ({len(set(keys)):,} distinct), {k_fine} planted subtopics in {k_coarse} topics",
        flush=True,
    )

    rng = np.random.default_rng(0)
    capped = (
        np.sort(rng.choice(corpus.height, size=args.baseline_max_points, replace=False))
        if corpus.height > args.baseline_max_points
        else None
    )
    methods = {
        "project": lambda v, s, rows: project(v, s, [keys[i] for i in rows]),
        # The coarse level before 2026-12-06 (a second, coarser HDBSCAN), for old vs new.
        "project_density": lambda v, s, rows: project(v, s, [keys[i] for i in rows], coarse_method="density"),
        "previous": lambda v, s, rows: previous_defaults(v, s),
        "umap10_eom8": lambda v, s, rows: umap10_eom8(v, s),
        "kmeans": lambda v, s, rows: kmeans_true_k(v, s, k_fine, k_coarse),
    }
    results: dict[str, dict] = {}
    candidate_runs: dict[str, list[dict]] = {}
    for name in args.methods.split(","):
        rows = (
            np.arange(corpus.height) if name in ("project", "project_density", "kmeans") or capped is None else capped
        )
        runs = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            raw, fine, coarse = methods[name](vectors[rows], seed, rows)
            runs.append(score(corpus[rows], raw, fine, coarse, time.perf_counter() - start))
            print(f"{name} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[-1].items()), flush=True)
            if args.coarse_candidates and name == "project":
                for candidate, values in candidate_scores(corpus[rows], vectors[rows], fine, coarse).items():
                    candidate_runs.setdefault(candidate, []).append(values)
        results[name + (f" ({len(rows):,}-point sample)" if len(rows) < corpus.height else "")] = spread(runs)
    name = args.scale if args.sample is None else args.sample.parent.name
    text = as_markdown(
        f"{name}: {corpus.height:,} points, {len(set(keys)):,} distinct, {k_fine} planted subtopics / {k_coarse} topics, {args.seeds} seeds",
        results,
    )
    if candidate_runs:
        candidates = {c: spread(r, CANDIDATE_METRICS) for c, r in candidate_runs.items()}
        text += "\n\n" + as_markdown(
            "Coarse candidates on the project's fine clusters (topics against the planted topics)",
            candidates,
            CANDIDATE_METRICS,
        )
        results["coarse candidates"] = candidates
    print(text)
    out = ROOT / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
