"""User segments on real development sets: the project's segments beside K-Means.

    python -m interest_pipeline_tests.benchmarks.real_segments --devdata DIR [--seeds 3]
        [--sets movielens100k,taobao_ub_sample,douban_dmr_zh] [--model auto|NAME] [--variants] [--out DIR]

``DIR`` holds the converted development sets (``devdata/README.md`` of the shared folder; never part
of the repository). Every set with users and an item catalogue is used:

- ``movielens100k``: 943 users' ratings; item text = title and description (with the genres);
- ``taobao_ub_sample``: 814 users' views, carts, favourites and purchases; the items have no text,
  so the pipeline derives each title from the (anonymised) category id;
- ``douban_dmr_zh``: 44 users' Chinese reviews and ratings (reviews also feed X_t).

The users' vectors are built as ``fused_user_features`` builds them
(:func:`~interest_pipeline.core.features.user_features.fused_vectors` with the default parameters:
event-type weights, 30-day half-life from each user's latest event, alpha 0.6), from item texts and
reviews cleaned and embedded as the pipeline does (model ``auto`` chosen by the texts' languages, or
``--model``; cached under ``data/benchmarks/real_segments/``).

The yardstick is each user's **dominant category**: the catalogue ``category`` on which the user
spent the most event weight (the same event-type weights; ties to the smaller name), or with
``--yardstick distinctive`` the category most over-represented in the user's weight against
everyone's (among those holding at least 10% of it; see :func:`distinctive_categories`). Every method
segments the same vectors once per seed, and each level is scored against the dominant categories
(NMI, AMI, ARI; AMI is corrected for chance and so compares levels of different sizes):

- ``project``: the pipeline's segment clustering (``cluster_distinct`` without keys,
  ``SegmentConfig()`` defaults), fine and coarse levels;
- ``K-Means (silhouette k)``: k chosen by the data, the best cosine silhouette over a grid of k
  (see :func:`silhouette_k`), reported at both levels;
- ``K-Means (project's k)``: k = the project's number of fine / coarse segments in that seed, the
  same granularity;
- ``K-Means (true k)``: k = the number of dominant categories (a reference that knows the labels).

``--variants`` adds other segment settings (see :data:`VARIANTS`) for choosing the defaults.
``results.md`` and ``results.json`` go to the output folder.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from interest_pipeline.core.clustering.at_scale import cluster_distinct  # noqa: E402
from interest_pipeline.core.clustering.density_clustering import NOISE  # noqa: E402
from interest_pipeline.core.common.tokenize import tokenize_frame  # noqa: E402
from interest_pipeline.core.features.user_features import (  # noqa: E402
    DEFAULT_EVENT_WEIGHTS,
    Embeddings,
    TextEmbeddings,
    UserHistory,
    fused_vectors,
)
from interest_pipeline.core.ingest.catalogue import item_text, validate_items  # noqa: E402
from interest_pipeline.defs.clustering.config import SegmentConfig  # noqa: E402
from interest_pipeline.defs.resources import SentenceEmbedder  # noqa: E402
from interest_pipeline_tests.benchmarks.real_corpora import (  # noqa: E402
    _cell,
    embed,
    embedder_key_file,
    level_scores,
    means_over_corpora,
    spread,
    table,
    truth_row,
)

ROOT = Path("data/benchmarks/real_segments")
SETS = ("movielens100k", "taobao_ub_sample", "douban_dmr_zh")
LEVELS = ("fine", "coarse")
PROJECT = "project"
KMEANS_SILHOUETTE, KMEANS_SAME_K, KMEANS_TRUE_K = "K-Means (silhouette k)", "K-Means (project's k)", "K-Means (true k)"
METRICS = ("clusters", "largest_share", "raw_noise", "nmi", "ari", "ami", "seconds")
# Segment settings tried beside the defaults when choosing them (name -> ClusteringParams changes).
VARIANTS: dict[str, dict] = {
    "leaf": {"fine_selection": "leaf"},
    "scale 0.5": {"min_cluster_scale": 0.5},
    "scale 0.125": {"min_cluster_scale": 0.125},
    "5 components": {"n_components": 5},
    "30 neighbours": {"umap_n_neighbors": 30},
    "min_samples 5 (former default)": {"min_samples": 5},
    "min_samples 2": {"min_samples": 2},
    "leaf, min_samples 5": {"fine_selection": "leaf", "min_samples": 5},
    "coarse share 0.4": {"coarse_max_share": 0.4},
    "no reduction": {"reduction": "none"},
}


def read_events(folder: Path) -> pl.DataFrame:
    return pl.read_csv(folder / "events.csv", infer_schema=False).select(
        pl.col("user_id"),
        pl.col("item_id"),
        pl.col("event_type"),
        pl.col("timestamp").str.to_datetime(time_zone="UTC").dt.replace_time_zone(None).alias("event_ts"),
        pl.col("text"),
    )


def read_items(folder: Path) -> pl.DataFrame:
    """item_id, category and the cleaned item text, as the pipeline's catalogue builds them."""
    raw = pl.read_csv(folder / "items.csv", infer_schema=False)
    accepted, _ = validate_items(
        raw.with_columns(
            pl.lit(str(folder / "items.csv")).alias("source_file"), pl.int_range(2, raw.height + 2).alias("source_row")
        )
    )
    frame = accepted.select("item_id", "category").with_columns(item_text(accepted).alias("text"))
    return tokenize_frame(frame, text_column="text").filter(pl.col("text_clean") != "")


def dominant_categories(events: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """user_id, dominant_category: the category with the most event weight (ties: smaller name)."""
    weights = pl.col("event_type").replace_strict(DEFAULT_EVENT_WEIGHTS, return_dtype=pl.Float64)
    return (
        events.join(items.select("item_id", "category").drop_nulls(), on="item_id")
        .group_by("user_id", "category")
        .agg(weights.sum().alias("weight"))
        .sort(["user_id", "weight", "category"], descending=[False, True, False])
        .group_by("user_id", maintain_order=True)
        .first()
        .select("user_id", pl.col("category").alias("dominant_category"))
    )


def distinctive_categories(events: pl.DataFrame, items: pl.DataFrame, min_share: float = 0.1) -> pl.DataFrame:
    """user_id, dominant_category: among the categories holding at least ``min_share`` of the user's
    event weight, the one most over-represented against everyone's weight (share / overall share).
    On a catalogue where one category is everyone's first (drama on MovieLens), this tells users apart."""
    weights = pl.col("event_type").replace_strict(DEFAULT_EVENT_WEIGHTS, return_dtype=pl.Float64)
    per_user = (
        events.join(items.select("item_id", "category").drop_nulls(), on="item_id")
        .group_by("user_id", "category")
        .agg(weights.sum().alias("weight"))
    )
    overall = per_user.group_by("category").agg((pl.col("weight").sum() / per_user["weight"].sum()).alias("overall"))
    return (
        per_user.with_columns((pl.col("weight") / pl.col("weight").sum().over("user_id")).alias("share"))
        .join(overall, on="category")
        .filter(pl.col("share") >= min_share)
        .with_columns((pl.col("share") / pl.col("overall")).alias("lift"))
        .sort(["user_id", "lift", "category"], descending=[False, True, False])
        .group_by("user_id", maintain_order=True)
        .first()
        .select("user_id", pl.col("category").alias("dominant_category"))
    )


YARDSTICKS = {"dominant": dominant_categories, "distinctive": distinctive_categories}


def user_vectors(name: str, events: pl.DataFrame, items: pl.DataFrame, embedder: SentenceEmbedder, out: Path):
    """Users (sorted), their fused vectors, and the resolved embedder with the reason for its model."""
    comments = tokenize_frame(
        events.filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != "")), text_column="text"
    ).filter(pl.col("text_clean") != "")
    languages = pl.concat([items.select("language"), comments.select("language")])["language"].value_counts()
    embedder, choice = embedder.for_languages(dict(languages.iter_rows()))
    item_vectors = embed(items["text_clean"].to_list(), embedder_key_file(out, f"{name}-items", embedder), embedder)
    comment_vectors = (
        embed(comments["text_clean"].to_list(), embedder_key_file(out, f"{name}-comments", embedder), embedder)
        if comments.height
        else np.zeros((0, item_vectors.shape[1]), dtype=np.float32)
    )
    history = UserHistory(
        events.select("user_id", "item_id", "event_type", "event_ts"),
        TextEmbeddings(comments.select("user_id", "event_ts"), comment_vectors),
        Embeddings(items["item_id"].to_list(), item_vectors),
    )
    users, vectors = fused_vectors(history)
    return users, vectors, embedder, choice


def silhouette_k(vectors: np.ndarray, seed: int, candidates: list[int] | None = None) -> int:
    """The k of K-Means with the best cosine silhouette among ``candidates`` (default: 2 to 10, then
    every third up to 40 or a tenth of the users), scored on up to 5,000 users."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(vectors)
    top = max(2, min(40, n // 10))
    candidates = candidates or sorted({*range(2, min(10, top) + 1), *range(10, top + 1, 3)})
    best, best_score = candidates[0], -np.inf
    for k in candidates:
        labels = KMeans(n_clusters=k, random_state=seed, n_init=3).fit_predict(vectors)
        if len(set(labels.tolist())) < 2:
            continue
        score = silhouette_score(vectors, labels, metric="cosine", sample_size=min(n, 5000), random_state=seed)
        if score > best_score:
            best, best_score = k, score
    return best


def kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=max(1, min(k, len(vectors))), random_state=seed, n_init=3).fit_predict(vectors)


def segment(vectors: np.ndarray, seed: int, **changes):
    params = replace(SegmentConfig().params(), random_state=seed, **changes)
    return cluster_distinct(vectors, params)


def _count(labels: np.ndarray) -> int:
    return len(set(labels.tolist()) - {NOISE})


def run_set(name: str, args, embedder: SentenceEmbedder, out: Path) -> dict:
    start = time.perf_counter()
    folder = args.devdata / name
    events, items = read_events(folder), read_items(folder)
    users, vectors, resolved, choice = user_vectors(name, events, items, embedder, out)
    labelled = YARDSTICKS[args.yardstick](events, items)
    dominant = pl.DataFrame({"user_id": users}).join(labelled, on="user_id", how="left")
    keep = dominant["dominant_category"].is_not_null().to_numpy() & (np.linalg.norm(vectors, axis=1) > 0)
    vectors, truth = vectors[keep], dominant["dominant_category"].to_numpy()[keep].astype(str)
    k_true = len(np.unique(truth))
    info = {
        "users": int(keep.sum()),
        "events": events.height,
        "items": items.height,
        "dominant_categories": k_true,
        "model": resolved.cache_key(),
        "model_reason": choice.reason,
        "prepare_seconds": time.perf_counter() - start,
    }
    print(
        f"{name}: {info['users']:,} users with a vector and a {args.yardstick} category ({k_true} distinct), "
        f"{events.height:,} events, {items.height:,} items with text; model {info['model']} ({choice.reason})",
        flush=True,
    )
    settings = {PROJECT: {}, **({f"{PROJECT}, {v}": c for v, c in VARIANTS.items()} if args.variants else {})}
    runs: dict[str, dict[str, list[dict]]] = {level: {} for level in LEVELS}

    def record(method: str, level: str, labels: np.ndarray, raw: np.ndarray, seconds: float) -> None:
        runs[level].setdefault(method, []).append({**level_scores(truth, labels, raw), "seconds": seconds})

    no_noise = np.zeros(len(vectors), dtype=np.int64)
    for seed in range(args.seeds):
        counts = {}
        for method, changes in settings.items():
            t0 = time.perf_counter()
            result = segment(vectors, seed, **changes)
            seconds = time.perf_counter() - t0
            record(method, "fine", result.fine, result.fine_raw, seconds)
            record(method, "coarse", result.coarse, result.fine_raw, seconds)
            counts[method] = (_count(result.fine), _count(result.coarse))
        t0 = time.perf_counter()
        k = silhouette_k(vectors, seed)
        chosen = kmeans(vectors, k, seed)
        seconds = time.perf_counter() - t0
        for level in LEVELS:
            record(KMEANS_SILHOUETTE, level, chosen, no_noise, seconds)
        for level, k_project in zip(LEVELS, counts[PROJECT]):
            t0 = time.perf_counter()
            record(KMEANS_SAME_K, level, kmeans(vectors, k_project, seed), no_noise, time.perf_counter() - t0)
            t0 = time.perf_counter()
            record(KMEANS_TRUE_K, level, kmeans(vectors, k_true, seed), no_noise, time.perf_counter() - t0)
        print(
            f"  seed {seed}: silhouette k {k}; "
            + "; ".join(f"{m} {f} fine / {c} coarse" for m, (f, c) in counts.items()),
            flush=True,
        )
    levels = {
        level: {"labels": truth_row(truth), **{m: spread(r) | {"runs": r} for m, r in runs[level].items()}}
        for level in LEVELS
    }
    return {"info": info, "levels": levels, "seconds": time.perf_counter() - start}


def as_markdown(results: dict, args) -> str:
    parts = [
        "## User segments on real development sets",
        "",
        f"{args.seeds} seeds (mean ± sd); model setting `{results['embedder']}`; segments with `SegmentConfig()` "
        "defaults; scored against each user's "
        f"{args.yardstick} category.",
        "",
    ]
    for name, reason in results["skipped"].items():
        parts += [f"- {name}: skipped, {reason}."]
    parts.append("")
    for name, corpus in results["sets"].items():
        info = corpus["info"]
        parts += [
            f"### {name}: {info['users']:,} users, {info['dominant_categories']} dominant categories",
            "",
            f"{info['events']:,} events, {info['items']:,} items with text; model `{info['model']}` "
            f"({info['model_reason']}); {corpus['seconds']:.0f} s in all.",
            "",
        ]
        rows = [(level, m, v) for level, methods in corpus["levels"].items() for m, v in methods.items()]
        parts += [table(rows), ""]
    parts += ["### Mean over sets", "", "Means of the per-set means; `(n)`: how many sets.", ""]
    rows = [
        (level, f"{m} ({v['corpora']})", v) for level, methods in results["mean"].items() for m, v in methods.items()
    ]
    parts += [table(rows), ""]
    best = {
        level: max(((m, v["ami"]) for m, v in methods.items() if m != "labels"), key=lambda mv: mv[1])
        for level, methods in results["mean"].items()
    }
    parts += [
        "Best mean AMI: " + "; ".join(f"{level} {m} {_cell('ami', a, False)}" for level, (m, a) in best.items()),
        "",
    ]
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devdata", type=Path, required=True, help="folder of the converted development sets")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument("--model", default="auto", help="the embedder's model setting (default auto, as the pipeline)")
    parser.add_argument(
        "--yardstick",
        choices=sorted(YARDSTICKS),
        default="dominant",
        help="each user's label: the category with the most event weight (dominant) or the most over-represented "
        "one among those holding 10%% of it (distinctive)",
    )
    parser.add_argument("--variants", action="store_true", help="also score the segment settings of VARIANTS")
    parser.add_argument("--out", type=Path, default=ROOT, help=f"results and embedding cache (default {ROOT})")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    embedder = SentenceEmbedder(model=args.model)
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in names if s not in SETS]
    if unknown:
        parser.error(f"unknown sets {unknown}; known: {', '.join(SETS)}")
    skipped = {n: f"not found under {args.devdata}" for n in names if not (args.devdata / n / "events.csv").is_file()}
    for name, reason in skipped.items():
        print(f"{name}: skipped, {reason}", flush=True)
    sets = {name: run_set(name, args, embedder, args.out) for name in names if name not in skipped}
    results = {
        "embedder": embedder.model,
        "seeds": args.seeds,
        "skipped": skipped,
        "sets": sets,
        "mean": means_over_corpora({n: s["levels"] for n, s in sets.items()}, METRICS),
    }
    results["seconds"] = time.perf_counter() - start
    text = as_markdown(results, args) + f"\nRun time {results['seconds'] / 60:.1f} min.\n"
    print(text, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
