"""The pipeline's methods beside simple baselines, on the same data in the same process.

a. embedding: the cold ``comment_embeddings`` step vs a bare ``SentenceTransformer.encode``;
b. topics: ``two_level_clustering`` (project defaults) vs a BERTopic-style UMAP + HDBSCAN;
c. segments: the ``user_segments`` clustering vs K-Means on [X_u, X_t].

Agreement is measured against the generator's planted truth (NMI and ARI).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from interest_pipeline.core.clustering.agreement import agreement
from interest_pipeline.core.clustering.density_clustering import NOISE, ClusteringParams, two_level_clustering
from interest_pipeline.core.common.vectors import series_to_vectors
from interest_pipeline.core.text.models import PACKAGED_MODEL, resolve_model_path
from interest_pipeline_tests.benchmarks.measure import measured

# BERTopic's default reduction and clustering (random_state fixed for repeatable runs,
# which makes UMAP single-threaded, as in the project's own reduction).
BERTOPIC_UMAP = dict(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
BERTOPIC_HDBSCAN = dict(min_cluster_size=10, metric="euclidean", cluster_selection_method="eom", prediction_data=True)

# The "source documents' method": K-Means with k = planted topics on [X_u, X_t].
KMEANS = dict(n_init=10, random_state=42)


def _query(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(sql).pl()


def _scores(truth_sub, truth_topic, sub_labels, topic_labels) -> dict[str, float]:
    sub, top = agreement(truth_sub, sub_labels), agreement(truth_topic, topic_labels)
    return {"subtopic_nmi": sub["nmi"], "subtopic_ari": sub["ari"], "topic_nmi": top["nmi"], "topic_ari": top["ari"]}


def _step_usage(step: dict) -> dict:
    return {k: step.get(k) for k in ("wall_s", "cpu_s", "peak_rss_mb", "start_rss_mb", "others_cores")}


def _summary(method: str, usage, labels: np.ndarray, noise: np.ndarray, scores: dict) -> dict:
    return {
        "method": method,
        **(usage.as_dict() if usage is not None else {}),
        "points": len(labels),
        "clusters": len(set(labels.tolist()) - {NOISE}),
        "noise_fraction": round(float(noise.mean()), 4) if len(noise) else 0.0,
        **{k: round(v, 4) for k, v in scores.items()},
    }


# ---------------------------------------------------------------------------------------
# a. embedding throughput
# ---------------------------------------------------------------------------------------


def distinct_comment_texts(warehouse: Path) -> list[str]:
    """The texts ``comment_embeddings`` embeds: distinct non-empty cleaned texts, first seen first."""
    texts = _query(warehouse, "SELECT text_clean FROM tokenized_comments WHERE text_clean <> '' ORDER BY comment_id")
    return texts["text_clean"].unique(maintain_order=True).to_list()


def sample_rows(n: int, max_n: int, seed: int = 0) -> np.ndarray:
    """Row positions: all of them, or a seeded sorted sample of ``max_n`` (0 = no limit)."""
    if max_n <= 0 or n <= max_n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_n, replace=False))


def embedding_comparison(
    warehouse: Path, asset_step: dict, device: str, batch_size: int = 64, max_texts: int = 0
) -> dict:
    """Bare encode of the same texts (or a seeded sample of ``max_texts`` of them) vs the cold asset, as texts per second."""
    from sentence_transformers import SentenceTransformer

    all_texts = distinct_comment_texts(warehouse)
    texts = [all_texts[i] for i in sample_rows(len(all_texts), max_texts)]
    with measured() as load:
        model = SentenceTransformer(resolve_model_path(PACKAGED_MODEL), device=device)
    with measured() as encode:
        vectors = model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    bare_rate = len(texts) / encode.wall_s

    meta = asset_step["metadata"].get("comment_embeddings", {})
    embedded = int(meta.get("texts_embedded", 0))
    encode_seconds = float(meta.get("encode_seconds", float("nan")))
    step_rate = embedded / asset_step["wall_s"] if asset_step["wall_s"] > 0 else float("nan")
    encode_rate = embedded / encode_seconds if encode_seconds > 0 else float("nan")
    # Per CPU second as a second view: other processes on the cores lower texts/s more than texts/CPU s.
    bare_cpu_rate = len(texts) / encode.cpu_s
    step_cpu_rate = embedded / asset_step["cpu_s"] if asset_step["cpu_s"] > 0 else float("nan")
    return {
        "texts": len(texts),
        "distinct_texts": len(all_texts),
        "dimension": int(vectors.shape[1]),
        "device": device,
        "batch_size": batch_size,
        "max_seq_length": int(model.max_seq_length),
        "bare_load_seconds": round(load.wall_s, 3),
        "bare": {
            **encode.as_dict(),
            "texts_per_second": round(bare_rate, 1),
            "texts_per_cpu_second": round(bare_cpu_rate, 1),
        },
        "asset_texts_embedded": embedded,
        "asset_distinct_texts": int(meta.get("distinct_texts", 0)),
        "asset_encode_seconds": encode_seconds,
        "asset_encode_texts_per_second": round(encode_rate, 1),
        "asset_step_seconds": asset_step["wall_s"],
        "asset_step_texts_per_second": round(step_rate, 1),
        "asset_step_cpu_seconds": asset_step["cpu_s"],
        "asset_step_others_cores": asset_step.get("others_cores"),
        "asset_step_texts_per_cpu_second": round(step_cpu_rate, 1),
        "ratio_encode_vs_bare": round(encode_rate / bare_rate, 3),
        "ratio_step_vs_bare": round(step_rate / bare_rate, 3),
        "ratio_step_vs_bare_per_cpu_second": round(step_cpu_rate / bare_cpu_rate, 3),
    }


# ---------------------------------------------------------------------------------------
# b. topic clustering
# ---------------------------------------------------------------------------------------

CONTENT_SQL = """
SELECT e.item_id AS content_id, 'item' AS content_kind, e.embedding FROM item_embeddings e
UNION ALL
SELECT e.comment_id, 'comment', e.embedding FROM comment_embeddings e
ORDER BY content_kind DESC, content_id
"""


def _content_truth(truth_dir: Path) -> pl.DataFrame:
    """Items and texts with a planted interest (generic and flood comments have none: left out)."""
    items = pl.read_csv(truth_dir / "items.csv").select(
        pl.col("item_id").alias("content_id"), pl.lit("item").alias("content_kind"), "subtopic_id", "topic_id"
    )
    texts = pl.read_csv(truth_dir / "texts.csv").select(
        pl.col("event_id").alias("content_id"), pl.lit("comment").alias("content_kind"), "subtopic_id", "topic_id"
    )
    return pl.concat([items, texts]).filter(pl.col("subtopic_id").is_not_null() & (pl.col("subtopic_id") != ""))


def bertopic_style(vectors: np.ndarray) -> np.ndarray:
    import hdbscan
    import umap

    reduced = umap.UMAP(**BERTOPIC_UMAP).fit_transform(vectors)
    return hdbscan.HDBSCAN(**BERTOPIC_HDBSCAN).fit(reduced.astype(np.float64)).labels_.astype(np.int64)


def topic_comparison(warehouse: Path, truth_dir: Path, asset_step: dict | None, max_points: int = 0) -> dict:
    """Same embeddings (items + comments, the asset's order, or a seeded sample of ``max_points``
    of them for both methods), project vs BERTopic-style."""
    content = _query(warehouse, CONTENT_SQL)
    total_points = content.height
    content = content[sample_rows(content.height, max_points)].with_row_index("_row")
    keys = ["content_id", "content_kind"]
    truth = content.select("_row", *keys).join(_content_truth(truth_dir), on=keys, how="inner").sort("_row")
    scored = truth["_row"].to_numpy()
    true_sub, true_topic = truth["subtopic_id"].to_list(), truth["topic_id"].to_list()
    vectors = series_to_vectors(content["embedding"], 0)

    params = ClusteringParams()
    with measured() as project_usage:
        project = two_level_clustering(vectors, params)
    with measured() as baseline_usage:
        baseline = bertopic_style(vectors)

    rows = [
        _summary(
            "project: two_level_clustering (UMAP 30nn -> HDBSCAN leaf -> Ward)",
            project_usage,
            project.fine,
            project.fine_raw == NOISE,
            _scores(true_sub, true_topic, project.fine[scored], project.coarse[scored]),
        ),
        _summary(
            "BERTopic-style (UMAP 15nn -> HDBSCAN eom, mcs 10)",
            baseline_usage,
            baseline,
            baseline == NOISE,
            _scores(true_sub, true_topic, baseline[scored], baseline[scored]),
        ),
    ]
    stored = _query(warehouse, "SELECT content_id, content_kind, subtopic_id, topic_id, is_noise FROM interest_topics")
    stored = truth.select("content_id", "content_kind", "subtopic_id", "topic_id").join(
        stored, on=["content_id", "content_kind"], how="inner", suffix="_found"
    )
    rows.append(
        {
            "method": "interest_topics table of the pipeline run (whole step)",
            **(_step_usage(asset_step) if asset_step else {}),
            "points": stored.height,
            "clusters": stored["subtopic_id_found"].n_unique(),
            "noise_fraction": round(float(stored["is_noise"].mean()), 4),
            **{
                k: round(v, 4)
                for k, v in _scores(
                    stored["subtopic_id"].to_list(),
                    stored["topic_id"].to_list(),
                    stored["subtopic_id_found"].to_list(),
                    stored["topic_id_found"].to_list(),
                ).items()
            },
        }
    )
    return {
        "points": len(vectors),
        "total_points": total_points,
        "scored_points": len(scored),
        "params": {"project": asdict(params), "bertopic_umap": BERTOPIC_UMAP, "bertopic_hdbscan": BERTOPIC_HDBSCAN},
        "project_timings": {k: round(v, 3) for k, v in project.timings.items()},
        "rows": rows,
        "wall_ratio_project_vs_baseline": round(project_usage.wall_s / baseline_usage.wall_s, 3),
    }


# ---------------------------------------------------------------------------------------
# c. user segmentation
# ---------------------------------------------------------------------------------------

USERS_SQL = """
SELECT f.user_id, f.embedding AS fused, b.embedding AS x_u, t.embedding AS x_t
FROM fused_user_features f
LEFT JOIN user_behavior_features b USING (user_id)
LEFT JOIN user_text_features t USING (user_id)
ORDER BY f.user_id
"""


def _user_truth(truth_dir: Path) -> pl.DataFrame:
    """A user's planted label: the first core subtopic in truth/users.csv, and its topic."""
    users = pl.read_csv(truth_dir / "users.csv").filter(pl.col("role") == "core")
    return users.unique("user_id", keep="first", maintain_order=True).select("user_id", "subtopic_id", "topic_id")


def _dense(series: pl.Series, dim: int) -> np.ndarray:
    return series_to_vectors(series.fill_null(pl.lit([0.0] * dim, dtype=pl.List(pl.Float32))), dim)


def segment_comparison(warehouse: Path, truth_dir: Path, asset_step: dict | None) -> dict:
    from sklearn.cluster import KMeans

    from interest_pipeline.defs.clustering.assets import SegmentConfig

    users = _query(warehouse, USERS_SQL).with_row_index("_row")
    truth = users.select("_row", "user_id").join(_user_truth(truth_dir), on="user_id", how="inner").sort("_row")
    if truth.height == 0:
        raise ValueError(
            "no user of the warehouse is in truth/users.csv: are user ids pseudonymised (INTEREST_PIPELINE_PSEUDONYMISE)?"
        )
    scored = truth["_row"].to_numpy()
    true_sub, true_topic = truth["subtopic_id"].to_list(), truth["topic_id"].to_list()
    dim = next(len(v) for v in users["fused"].drop_nulls().head(1))
    fused = series_to_vectors(users["fused"], dim)
    x_u, x_t = _dense(users["x_u"], dim), _dense(users["x_t"], dim)
    k = pl.read_csv(truth_dir / "items.csv")["topic_id"].n_unique()

    params = SegmentConfig().params()
    usable = np.linalg.norm(fused, axis=1) > 0
    with measured() as project_usage:
        result = two_level_clustering(fused[usable], params)
    fine = np.full(len(users), NOISE, dtype=np.int64)
    coarse = np.full(len(users), NOISE, dtype=np.int64)
    raw_noise = np.ones(len(users), dtype=bool)
    fine[usable], coarse[usable], raw_noise[usable] = result.fine, result.coarse, result.fine_raw == NOISE

    with measured() as kmeans_usage:
        kmeans = KMeans(n_clusters=k, **KMEANS).fit_predict(np.hstack([x_u, x_t])).astype(np.int64)

    rows = [
        _summary(
            "project: user_segments clustering (fused X, UMAP -> HDBSCAN leaf -> Ward)",
            project_usage,
            fine,
            raw_noise,
            _scores(true_sub, true_topic, fine[scored], coarse[scored]),
        ),
        _summary(
            f"K-Means k={k} on [X_u, X_t] (zeros where missing)",
            kmeans_usage,
            kmeans,
            np.zeros(len(kmeans), dtype=bool),
            _scores(true_sub, true_topic, kmeans[scored], kmeans[scored]),
        ),
    ]
    stored = _query(warehouse, "SELECT user_id, segment_coarse, segment_fine, is_noise FROM user_segments")
    stored = truth.join(stored, on="user_id", how="inner").with_columns(
        pl.col("segment_fine", "segment_coarse").fill_null("none")
    )
    rows.append(
        {
            "method": "user_segments table of the pipeline run (whole step)",
            **(_step_usage(asset_step) if asset_step else {}),
            "points": stored.height,
            "clusters": stored.filter(pl.col("segment_fine") != "none")["segment_fine"].n_unique(),
            "noise_fraction": round(float(stored["is_noise"].mean()), 4),
            **{
                k: round(v, 4)
                for k, v in _scores(
                    stored["subtopic_id"].to_list(),
                    stored["topic_id"].to_list(),
                    stored["segment_fine"].to_list(),
                    stored["segment_coarse"].to_list(),
                ).items()
            },
        }
    )
    return {
        "users": len(users),
        "scored_users": len(scored),
        "users_without_vector": int((~usable).sum()),
        "users_without_text": int(users["x_t"].is_null().sum()),
        "k": k,
        "params": {"project": asdict(params), "kmeans": KMEANS},
        "project_timings": {k_: round(v, 3) for k_, v in result.timings.items()},
        "rows": rows,
        "wall_ratio_project_vs_baseline": round(project_usage.wall_s / kmeans_usage.wall_s, 3),
    }
