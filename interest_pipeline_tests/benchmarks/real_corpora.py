"""Taxonomy quality on real development corpora: the project's clustering beside two references.

    python -m interest_pipeline_tests.benchmarks.real_corpora --devdata DIR [--seeds 3] [--max-docs N]
        [--sets news20,csl_zh] [--model auto|NAME] [--coarse-candidates] [--out DIR]

``DIR`` holds the converted development sets (``devdata/README.md`` of the shared folder; they are
never part of the repository). Each set becomes one corpus of labelled texts:

- ``news20``: posts, ``label_l2`` (20 newsgroups) for the subtopics and ``label_l1`` (6 groups) for
  the topics; 4,000 posts sampled stratified by ``label_l2`` by default;
- ``csl_zh``: paper titles and abstracts, 67 disciplines / 13 categories (all 2,000);
- ``tnews_zh``: headlines, one level (15 categories), 4,000 sampled;
- ``movielens100k``, ``douban_dmr_zh``: the item catalogue, the item text the pipeline builds
  (title and description), scored at the topic level against ``category`` (the first genre);
- ``taobao_ub_sample`` is skipped: its items have no text.

Texts are cleaned as the pipeline cleans them, embedded with the pipeline's default embedder
(:class:`~interest_pipeline.defs.resources.SentenceEmbedder`: model ``auto``, chosen per corpus by
its languages as the pipeline chooses it, or ``--model``; precision ``auto``, truncated at its
``max_seq_length``) and cached under ``data/benchmarks/real_corpora/`` by the embedder's cache key
and the text hashes. Every method clusters the same vectors once per
seed:

- ``project``: ``cluster_distinct`` with ``ClusteringParams()`` defaults and near-duplicate keys,
  the path the pipeline runs;
- ``UMAP(10)+HDBSCAN(EOM,8)``: UMAP (10 components, cosine, 15 neighbours, min_dist 0) +
  HDBSCAN (EOM, min_cluster_size 8), noise to the nearest centroid; topics by Ward on the fine
  centroids at the true number of topics;
- ``K-Means (true k)``: k = the true number of classes at each level.

Per corpus and level: clusters, the largest cluster's share of the points, the raw noise share
(before noise assignment), NMI, ARI and AMI against the labels, as mean +- standard deviation over
the seeds, with the labels' own count and largest share beside them, and the mean over corpora.
``--coarse-candidates`` adds other coarse levels on the project's own fine clusterings (see
:func:`coarse_candidates`). ``results.md`` and ``results.json`` are written to the output folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from sklearn.metrics import adjusted_mutual_info_score  # noqa: E402

from interest_pipeline.core.clustering.agreement import agreement  # noqa: E402
from interest_pipeline.core.clustering.at_scale import cluster_distinct  # noqa: E402
from interest_pipeline.core.clustering.density_clustering import (  # noqa: E402
    NOISE,
    ClusteringParams,
    TwoLevelClustering,
    _fit_hdbscan,
    _number_groups,
    _relabel_by_size,
    assign_noise_to_nearest,
    balanced_groups,
    centroids,
    group_clusters,
)
from interest_pipeline.core.common.tokenize import tokenize_frame  # noqa: E402
from interest_pipeline.core.ingest.catalogue import item_text  # noqa: E402
from interest_pipeline.core.text.encoding import text_hashes  # noqa: E402
from interest_pipeline.core.text.models import load_model  # noqa: E402
from interest_pipeline.core.text.near_duplicates import near_duplicate_key  # noqa: E402
from interest_pipeline.defs.resources import SentenceEmbedder  # noqa: E402

ROOT = Path("data/benchmarks/real_corpora")


@dataclass(frozen=True)
class CorpusSpec:
    kind: str  # "docs": docs.jsonl; "items": items.csv with the pipeline's item text
    levels: tuple[tuple[str, str], ...]  # (level, label column), finest first
    max_docs: int | None  # default sample size (stratified by the finest label); None: all


CORPORA: dict[str, CorpusSpec] = {
    "news20": CorpusSpec("docs", (("subtopics", "label_l2"), ("topics", "label_l1")), 4000),
    "csl_zh": CorpusSpec("docs", (("subtopics", "label_l2"), ("topics", "label_l1")), 2000),
    "tnews_zh": CorpusSpec("docs", (("topics", "label_l1"),), 4000),
    "movielens100k": CorpusSpec("items", (("topics", "category"),), None),
    "douban_dmr_zh": CorpusSpec("items", (("topics", "category"),), None),
}
SKIPPED = {"taobao_ub_sample": "items have no title or description (anonymised category ids only): nothing to embed"}
LEVELS = ("subtopics", "topics")
PROJECT, RECIPE, KMEANS = "project", "UMAP(10)+HDBSCAN(EOM,8)", "K-Means (true k)"
# The project with the coarse level it had before 2026-12-06 (a second, coarser HDBSCAN): old vs new.
FORMER = "project, density topics (former default)"


def stratified_rows(labels: list[str], size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``size`` rows, each label keeping its share (largest remainders round)."""
    n = len(labels)
    if size >= n:
        return np.arange(n, dtype=np.int64)
    _, inverse, counts = np.unique(np.asarray(labels, dtype=str), return_inverse=True, return_counts=True)
    share = counts * size / n
    take = np.floor(share).astype(np.int64)
    take[np.argsort(-(share - take), kind="stable")[: size - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(inverse == g), size=int(t), replace=False) for g, t in enumerate(take) if t]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def load_corpus(folder: Path, spec: CorpusSpec, max_docs: int | None) -> pl.DataFrame:
    """content_id, text_clean and the label columns of one set, sampled, cleaned as the pipeline does."""
    labels = [column for _, column in spec.levels]
    if spec.kind == "docs":
        frame = pl.read_ndjson(folder / "docs.jsonl", infer_schema_length=None).select(
            pl.col("id").cast(pl.String).alias("content_id"),
            pl.col("text").cast(pl.String),
            *[pl.col(c).cast(pl.String) for c in labels],
        )
    else:
        items = pl.read_csv(folder / "items.csv", infer_schema=False)
        frame = items.select(pl.col("item_id").alias("content_id"), *labels).with_columns(
            item_text(items).alias("text")
        )
    frame = frame.filter(pl.all_horizontal(pl.col(c).is_not_null() & (pl.col(c) != "") for c in labels))
    if max_docs is not None:
        frame = frame[stratified_rows(frame[labels[0]].to_list(), max_docs)]
    return (
        tokenize_frame(frame, text_column="text")
        .filter(pl.col("text_clean") != "")
        .select("content_id", "text_clean", "language", *labels)
    )


def embedder_key_file(out: Path, name: str, embedder: SentenceEmbedder) -> Path:
    digest = hashlib.sha256(embedder.cache_key().encode()).hexdigest()[:12]
    return out / "embeddings" / f"{name}-{digest}.npz"


def embed(texts: list[str], cache_file: Path, embedder: SentenceEmbedder) -> np.ndarray:
    """Embeddings of ``texts`` by ``embedder``, each distinct text encoded once and kept in an npz cache."""
    hashes = text_hashes(texts)
    cache: dict[str, np.ndarray] = {}
    if cache_file.exists():
        stored = np.load(cache_file)
        if str(stored["key"]) == embedder.cache_key():
            cache = dict(zip(stored["hashes"].tolist(), stored["vectors"]))
    missing = {h: t for h, t in zip(hashes, texts) if h not in cache}
    if missing:
        start = time.perf_counter()
        cache.update(zip(missing, embedder.encode(list(missing.values()))))
        print(
            f"  embedded {len(missing):,} distinct texts in {time.perf_counter() - start:.0f} s "
            f"({embedder.cache_key()})",
            flush=True,
        )
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache_file,
            key=np.array(embedder.cache_key()),
            hashes=np.array(list(cache)),
            vectors=np.vstack(list(cache.values())),
        )
    return np.vstack([cache[h] for h in hashes]).astype(np.float32)


def token_stats(embedder: SentenceEmbedder, texts: list[str]) -> dict[str, float]:
    """Share of texts the model truncates (longer than its max_seq_length) and of [UNK] word pieces."""
    encoder = load_model(embedder.model, embedder.device, embedder.max_seq_length, embedder.resolved_precision())
    tokenizer = encoder.tokenizer
    ids = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    lengths = np.array([len(i) for i in ids])
    unknown = sum(sum(1 for t in i if t == tokenizer.unk_token_id) for i in ids)
    return {
        "truncated_share": float((lengths > embedder.max_seq_length).mean()),
        "unk_share": float(unknown / max(1, int((lengths - 2).sum()))),
        "median_word_pieces": float(np.median(lengths)),
    }


# --- methods: the project's run, and two references returning (raw fine, fine, coarse) labels ---------


def project(vectors: np.ndarray, seed: int, keys: list[str], **params) -> TwoLevelClustering:
    return cluster_distinct(vectors, ClusteringParams(random_state=seed, **params), keys)


def umap10_eom8(vectors: np.ndarray, seed: int, k_coarse: int):
    import hdbscan

    from interest_pipeline.core.common.jit_cache import import_umap

    reduced = (
        import_umap()
        .UMAP(n_components=10, n_neighbors=15, min_dist=0.0, metric="cosine", random_state=seed, n_jobs=1)
        .fit_transform(vectors)
    )
    raw = (
        hdbscan.HDBSCAN(min_cluster_size=8, cluster_selection_method="eom")
        .fit(reduced.astype(np.float64))
        .labels_.astype(np.int64)
    )
    if (raw == NOISE).all():
        fine = np.zeros(len(raw), dtype=np.int64)
    else:
        fine, _ = assign_noise_to_nearest(reduced, raw)
    mapping = group_clusters(vectors, fine, k_coarse)
    return raw, fine, np.array([mapping.get(int(f), NOISE) for f in fine])


def kmeans_true_k(vectors: np.ndarray, seed: int, k_fine: int | None, k_coarse: int):
    from sklearn.cluster import KMeans

    coarse = KMeans(n_clusters=k_coarse, random_state=seed, n_init=3).fit_predict(vectors)
    fine = coarse if k_fine is None else KMeans(n_clusters=k_fine, random_state=seed, n_init=3).fit_predict(vectors)
    return np.zeros(len(vectors), dtype=np.int64), fine, coarse


# --- coarse-level candidates on the project's fine clustering ------------------------------------


def ward_gap_groups(
    vectors: np.ndarray, fine: np.ndarray, low: int = 3, high_factor: float = 2.0, relative: bool = False
) -> dict[int, int]:
    """Ward over the unit-normalised fine centroids, cut at the k in [low, high_factor * sqrt(n_fine)]
    where the merge distance jumps most: the largest gap between the last merge kept and the next
    (``relative``: the largest ratio of the two)."""
    from scipy.cluster.hierarchy import linkage

    ids, centres = centroids(vectors, fine)
    m = len(ids)
    if m <= low:
        return {int(i): rank for rank, i in enumerate(ids)}
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    heights = linkage(centres / np.where(norms == 0, 1, norms), method="ward")[:, 2]
    high = min(m - 1, max(low, int(round(high_factor * np.sqrt(m)))))
    # k clusters remain after the first m - k merges; the next merge (index m - k) would join two of them.
    if relative:
        gaps = {k: heights[m - k] / max(heights[m - k - 1], 1e-12) for k in range(low, high + 1)}
    else:
        gaps = {k: heights[m - k] - heights[m - k - 1] for k in range(low, high + 1)}
    return group_clusters(vectors, fine, max(gaps, key=lambda k: (gaps[k], -k)))


def condensed_tree_parents(result: TwoLevelClustering, params: ClusteringParams) -> dict[int, int]:
    """Each fine cluster joins the other selected clusters under the same parent node of HDBSCAN's
    condensed tree; a cluster whose parent is the root stays a topic of its own.

    HDBSCAN is fitted again on the same reduced points with the same parameters to reach its tree;
    should its clusters differ from the project's run, each fine cluster takes the refitted cluster
    that holds most of its points.
    """
    model = _fit_hdbscan(result.reduced, params)
    labels = _relabel_by_size(model.labels_)
    fitted_raw = result.fine_raw if result.fit_rows is None else result.fine_raw[result.fit_rows]
    fine_ids = sorted(set(result.fine.tolist()) - {NOISE})
    if not (labels != NOISE).any():
        return {int(i): 0 for i in fine_ids}
    if not np.array_equal(labels, fitted_raw):
        print("  (HDBSCAN fitted again differs from the project's run: clusters matched by overlap)", flush=True)
    tree = model.condensed_tree_.to_numpy()
    n = len(result.reduced)
    root = n
    parent_of = {int(c): int(p) for p, c, size in zip(tree["parent"], tree["child"], tree["child_size"]) if size > 1}
    segment = np.empty(n, dtype=np.int64)
    is_point = tree["child"] < n
    segment[tree["child"][is_point]] = tree["parent"][is_point]

    def ancestors(node: int) -> list[int]:
        chain = [node]
        while chain[-1] in parent_of:
            chain.append(parent_of[chain[-1]])
        return chain

    def tree_node(label: int) -> int:
        """The condensed tree's node selected as ``label``: the deepest common ancestor of where its points fell out
        (node ids grow with depth)."""
        segments = np.unique(segment[labels == label]).tolist()
        return max(set(ancestors(segments[0])).intersection(*(ancestors(s) for s in segments[1:])))

    mapping: dict[int, int] = {}
    for f in fine_ids:
        overlap = labels[(fitted_raw == f) & (labels != NOISE)]
        if len(overlap) == 0:  # nothing to match: the cluster stays a topic of its own
            mapping[int(f)] = -1 - int(f)
            continue
        node = tree_node(int(np.bincount(overlap).argmax()))
        parent = parent_of.get(node, root)
        mapping[int(f)] = node if parent == root else parent
    return _number_groups(mapping, result.fine)


CANDIDATES = (
    "Ward, largest gap, k in [3, 2 sqrt(n_fine)]",
    "Ward, largest ratio, k in [3, 2 sqrt(n_fine)]",
    "condensed-tree parents",
    "Ward, k = round(sqrt(n_fine))",
    "density groups (former default)",
    "Ward, k = round(1.5 sqrt(n_fine))",
    "Ward balanced, largest topic <= 35%, k in [sqrt, 2 sqrt(n_fine)]",
    "Ward balanced, largest topic <= 25%, k in [sqrt, 2 sqrt(n_fine)] (the default)",
)
WARD_CANDIDATES = (CANDIDATES[3], *CANDIDATES[5:])


def ward_candidates(vectors: np.ndarray, fine: np.ndarray) -> dict[str, dict[int, int]]:
    """Fine cluster -> topic under each Ward candidate of a fixed or balanced size."""
    n_fine = len(set(fine.tolist()) - {NOISE})
    return {
        CANDIDATES[3]: group_clusters(vectors, fine, max(1, int(round(np.sqrt(n_fine))))),
        CANDIDATES[5]: group_clusters(vectors, fine, max(1, int(round(1.5 * np.sqrt(n_fine))))),
        CANDIDATES[6]: balanced_groups(vectors, fine, 0.35),
        CANDIDATES[7]: balanced_groups(vectors, fine, 0.25),
    }


def coarse_candidates(
    vectors: np.ndarray, result: TwoLevelClustering, params: ClusteringParams, former: TwoLevelClustering
) -> dict:
    """Coarse labels of every point under each candidate, all on the same fine clusters:

    Ward over the fine centroids cut where the merge distance jumps most (by difference, and by
    ratio), k bounded to [3, 2 sqrt(n_fine)]; the parents of the fine clusters in HDBSCAN's
    condensed tree; Ward at round(sqrt(n_fine)); the project's own density grouping; Ward at
    round(1.5 sqrt(n_fine)); and Ward at the smallest k from round(sqrt(n_fine)) to round(2 sqrt(n_fine))
    whose largest topic holds at most 35% (25%) of the points.
    """
    fine = result.fine
    ward = ward_candidates(vectors, fine)
    mappings = {
        CANDIDATES[0]: ward_gap_groups(vectors, fine),
        CANDIDATES[1]: ward_gap_groups(vectors, fine, relative=True),
        CANDIDATES[2]: condensed_tree_parents(result, params),
        CANDIDATES[3]: ward[CANDIDATES[3]],
        # The same fine clusters (same seed and fine parameters), grouped the former way.
        CANDIDATES[4]: former.fine_to_coarse,
        **{name: ward[name] for name in CANDIDATES[5:]},
    }
    return {name: np.array([m.get(int(f), NOISE) for f in fine], dtype=np.int64) for name, m in mappings.items()}


# --- scoring and tables --------------------------------------------------------------------------


def level_scores(truth: np.ndarray, labels: np.ndarray, raw: np.ndarray) -> dict[str, float]:
    clustered = labels[labels != NOISE]
    scores = agreement(truth, labels)
    return {
        "clusters": float(len(set(clustered.tolist()))),
        "largest_share": float(np.bincount(clustered - clustered.min()).max() / len(labels)) if len(clustered) else 0.0,
        "raw_noise": float((raw == NOISE).mean()),
        "nmi": scores["nmi"],
        "ari": scores["ari"],
        "ami": float(adjusted_mutual_info_score(truth, labels)),
    }


METRICS = ("clusters", "largest_share", "raw_noise", "nmi", "ari", "ami", "seconds")
CANDIDATE_METRICS = ("clusters", "largest_share", "nmi", "ari", "ami")
HEADERS = {
    "clusters": "clusters",
    "largest_share": "largest share",
    "raw_noise": "raw noise",
    "nmi": "NMI",
    "ari": "ARI",
    "ami": "AMI",
    "seconds": "seconds",
}


def spread(runs: list[dict], metrics=METRICS) -> dict[str, list[float]]:
    return {m: [float(np.mean([r[m] for r in runs])), float(np.std([r[m] for r in runs]))] for m in metrics}


def _cell(metric: str, value, with_sd: bool = True) -> str:
    if value is None:
        return "–"
    mean, sd = value if isinstance(value, list | tuple) else (value, None)
    digits = 0 if metric in ("clusters", "seconds") else 3
    if metric == "clusters" and mean < 20 and sd is not None and sd > 0:
        digits = 1
    text = f"{mean:.{digits}f}"
    return text + (f" ± {sd:.{digits}f}" if with_sd and sd is not None else "")


def table(rows: list[tuple[str, str, dict]], metrics=METRICS, first=("level", "method")) -> str:
    lines = [
        "| " + " | ".join([*first, *(HEADERS[m] for m in metrics)]) + " |",
        "| " + " | ".join(["---"] * (len(first) + len(metrics))) + " |",
    ]
    for a, b, values in rows:
        lines.append("| " + " | ".join([a, b, *(_cell(m, values.get(m)) for m in metrics)]) + " |")
    return "\n".join(lines)


def truth_row(truth: np.ndarray) -> dict:
    _, counts = np.unique(truth, return_counts=True)
    return {"clusters": float(len(counts)), "largest_share": float(counts.max() / counts.sum())}


def _mean(value) -> float:
    return float(value[0] if isinstance(value, list | tuple) else value)


def means_over_corpora(per_corpus: dict[str, dict], metrics) -> dict[str, dict[str, dict]]:
    """level -> method -> metric -> mean over the corpora that have the level; plus their count."""
    collected: dict[str, dict[str, list[dict]]] = {}
    for corpus in per_corpus.values():
        for level, methods in corpus.items():
            for method, values in methods.items():
                collected.setdefault(level, {}).setdefault(method, []).append(values)
    return {
        level: {
            method: {
                **{m: float(np.mean([_mean(v[m]) for v in values])) for m in metrics if all(m in v for v in values)},
                "corpora": len(values),
            }
            for method, values in methods.items()
        }
        for level, methods in collected.items()
    }


def run_corpus(name: str, args, embedder: SentenceEmbedder, out: Path) -> dict:
    spec = CORPORA[name]
    start = time.perf_counter()
    corpus = load_corpus(args.devdata / name, spec, args.max_docs if args.max_docs else spec.max_docs)
    texts = corpus["text_clean"].to_list()
    embedder, choice = embedder.for_languages(dict(corpus["language"].value_counts().iter_rows()))
    vectors = embed(texts, embedder_key_file(out, name, embedder), embedder)
    keys = [near_duplicate_key(t) for t in texts]
    truths = {level: corpus[column].to_numpy().astype(str) for level, column in spec.levels}
    k = {level: len(np.unique(t)) for level, t in truths.items()}
    info = {
        "points": corpus.height,
        "distinct": len(set(keys)),
        "labels": {level: f"{column} ({k[level]})" for level, column in spec.levels},
        "model": embedder.cache_key(),
        "model_reason": choice.reason,
        **token_stats(embedder, texts),
        "prepare_seconds": time.perf_counter() - start,
    }
    print(
        f"{name}: {corpus.height:,} texts ({info['distinct']:,} distinct), "
        + ", ".join(f"{lv} = {lab}" for lv, lab in info["labels"].items())
        + f"; model {info['model']} ({choice.reason}); {info['truncated_share']:.1%} truncated at "
        f"{embedder.max_seq_length} word pieces, {info['unk_share']:.1%} [UNK] word pieces",
        flush=True,
    )
    runs: dict[str, dict[str, list[dict]]] = {level: {} for level in truths}
    candidate_runs: dict[str, list[dict]] = {}
    for seed in range(args.seeds):
        timed = {}
        t0 = time.perf_counter()
        result = project(vectors, seed, keys)
        timed[PROJECT] = (result.fine_raw, result.fine, result.coarse, time.perf_counter() - t0)
        t0 = time.perf_counter()
        former = project(vectors, seed, keys, coarse_method="density")
        timed[FORMER] = (former.fine_raw, former.fine, former.coarse, time.perf_counter() - t0)
        t0 = time.perf_counter()
        timed[RECIPE] = (*umap10_eom8(vectors, seed, k["topics"]), time.perf_counter() - t0)
        t0 = time.perf_counter()
        timed[KMEANS] = (*kmeans_true_k(vectors, seed, k.get("subtopics"), k["topics"]), time.perf_counter() - t0)
        for method, (raw, fine, coarse, seconds) in timed.items():
            for level, truth in truths.items():
                scores = level_scores(truth, fine if level == "subtopics" else coarse, raw)
                runs[level].setdefault(method, []).append({**scores, "seconds": seconds})
        if args.coarse_candidates:
            n_fine = len(set(result.fine.tolist()) - {NOISE})
            for candidate, coarse in coarse_candidates(
                vectors, result, ClusteringParams(random_state=seed), former
            ).items():
                scores = level_scores(truths["topics"], coarse, result.fine_raw)
                candidate_runs.setdefault(candidate, []).append({**scores, "fine_clusters": float(n_fine)})
        print(
            f"  seed {seed}: "
            + "; ".join(
                f"{method} {len(set(fine.tolist()) - {NOISE})} / {len(set(coarse.tolist()) - {NOISE})} clusters, "
                f"{seconds:.0f} s"
                for method, (raw, fine, coarse, seconds) in timed.items()
            ),
            flush=True,
        )
    levels = {
        level: {"labels": truth_row(truths[level]), **{m: spread(r) | {"runs": r} for m, r in runs[level].items()}}
        for level in truths
    }
    candidates = {c: spread(r, (*CANDIDATE_METRICS, "fine_clusters")) | {"runs": r} for c, r in candidate_runs.items()}
    return {"info": info, "levels": levels, "candidates": candidates, "seconds": time.perf_counter() - start}


def as_markdown(results: dict, args) -> str:
    parts = [
        "## Taxonomy on real corpora",
        "",
        f"{args.seeds} seeds (mean ± sd); model setting `{results['embedder']}`; clustering `ClusteringParams()` defaults.",
        "",
    ]
    for name, reason in results["skipped"].items():
        parts += [f"- {name}: skipped, {reason}."]
    parts.append("")
    for name, corpus in results["corpora"].items():
        info = corpus["info"]
        labels = ", ".join(f"{level}: {label}" for level, label in info["labels"].items())
        parts += [
            f"### {name}: {info['points']:,} texts ({info['distinct']:,} distinct); {labels}",
            "",
            f"Model `{info['model']}` ({info['model_reason']}); "
            f"{info['truncated_share']:.1%} of the texts truncated at the model's max_seq_length, "
            f"{info['unk_share']:.1%} of the word pieces [UNK], median {info['median_word_pieces']:.0f} word pieces; "
            f"{corpus['seconds']:.0f} s in all.",
            "",
        ]
        rows = [
            (level, method, values) for level, methods in corpus["levels"].items() for method, values in methods.items()
        ]
        parts += [table(rows), ""]
    parts += ["### Mean over corpora", "", "Means of the per-corpus means; `corpora`: how many have the level.", ""]
    mean_rows = [
        (level, f"{method} ({v['corpora']})", v)
        for level, methods in results["mean"].items()
        for method, v in methods.items()
    ]
    parts += [table(mean_rows), ""]
    if results.get("candidate_mean"):
        parts += [
            "## Coarse-level candidates on the project's fine clusters",
            "",
            "Topics scored against each corpus's topic labels; every candidate groups the same fine clusters per seed.",
            "",
        ]
        rows = []
        for name, corpus in results["corpora"].items():
            rows.append((name, "labels", corpus["levels"]["topics"]["labels"]))
            fine = next(iter(corpus["candidates"].values()))["fine_clusters"]
            rows += [(f"{name} ({_cell('clusters', fine)} fine)", c, v) for c, v in corpus["candidates"].items()]
        parts += [table(rows, CANDIDATE_METRICS, ("corpus", "candidate")), ""]
        rows = [("mean", f"{c} ({v['corpora']})", v) for c, v in results["candidate_mean"].items()]
        parts += [table(rows, CANDIDATE_METRICS, ("corpora", "candidate")), ""]
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devdata", type=Path, required=True, help="folder of the converted development sets")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--max-docs", type=int, help="sample this many texts of every set (stratified by the finest label)"
    )
    parser.add_argument("--sets", default=",".join([*CORPORA, *SKIPPED]), help="comma-separated set names")
    parser.add_argument(
        "--coarse-candidates", action="store_true", help="also score other coarse levels on the project's fine clusters"
    )
    parser.add_argument("--model", default="auto", help="the embedder's model setting (default auto, as the pipeline)")
    parser.add_argument("--out", type=Path, default=ROOT, help=f"results and embedding cache (default {ROOT})")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    embedder = SentenceEmbedder(model=args.model)
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in names if s not in CORPORA and s not in SKIPPED]
    if unknown:
        parser.error(f"unknown sets {unknown}; known: {', '.join([*CORPORA, *SKIPPED])}")
    skipped = {s: SKIPPED[s] for s in names if s in SKIPPED}
    for name in names:
        if name in CORPORA and not (args.devdata / name).is_dir():
            skipped[name] = f"not found under {args.devdata}"
    for name, reason in skipped.items():
        print(f"{name}: skipped, {reason}", flush=True)
    corpora = {
        name: run_corpus(name, args, embedder, args.out) for name in names if name in CORPORA and name not in skipped
    }
    results = {
        "embedder": embedder.model,
        "seeds": args.seeds,
        "max_docs": args.max_docs,
        "skipped": skipped,
        "corpora": corpora,
        "mean": means_over_corpora({n: c["levels"] for n, c in corpora.items()}, METRICS),
    }
    if args.coarse_candidates:
        candidate_mean = means_over_corpora(
            {n: {"topics": c["candidates"]} for n, c in corpora.items()}, CANDIDATE_METRICS
        )
        results["candidate_mean"] = candidate_mean.get("topics", {})
    results["seconds"] = time.perf_counter() - start
    text = as_markdown(results, args) + f"\nRun time {results['seconds'] / 60:.1f} min.\n"
    print(text, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
