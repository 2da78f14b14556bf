"""Ranking within impressions: the shown candidates of one moment, some clicked, as in MIND.

An impression is what one user was shown at one instant: the user's test-period ``view`` and
clicked events (``click`` or another engaging type) that share a timestamp, as the MIND
importer writes them. An item clicked in the impression is positive, an item only viewed is
negative. Impressions without both a positive and a negative say nothing about ranking and are
left out.

The metrics follow the MIND benchmark's evaluation script (Wu et al., ACL 2020): per impression
AUC, MRR (the mean of 1/rank over the clicked items), nDCG@5 and nDCG@10 (binary gains,
log2 discounts), then the mean over impressions. AUC counts tied scores as half; for the
rank-based metrics ties are broken by item id, so that no method gains from ties.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

IMPRESSION_METRICS: tuple[str, ...] = ("auc", "mrr", "ndcg@5", "ndcg@10")
SHOWN_EVENT_TYPE = "view"


def impressions_from_events(events: pl.DataFrame, clicked_types: Iterable[str]) -> pl.DataFrame:
    """impression, user_id, event_ts, item_id, clicked: one row per distinct item of each impression.

    ``impression`` numbers the impressions 0.. in (user_id, event_ts) order; an item both viewed
    and clicked in one impression counts as clicked.
    """
    clicked_types = list(clicked_types)
    rows = (
        events.filter(pl.col("item_id").is_not_null() & pl.col("event_type").is_in([SHOWN_EVENT_TYPE, *clicked_types]))
        .group_by("user_id", "event_ts", "item_id")
        .agg(pl.col("event_type").is_in(clicked_types).any().alias("clicked"))
    )
    valid = (
        rows.group_by("user_id", "event_ts")
        .agg(pl.col("clicked").any().alias("_any"), (~pl.col("clicked")).any().alias("_none"))
        .filter(pl.col("_any") & pl.col("_none"))
        .sort("user_id", "event_ts")
        .with_row_index("impression")
        .select(pl.col("impression").cast(pl.Int64), "user_id", "event_ts")
    )
    return (
        valid.join(rows, on=["user_id", "event_ts"], how="inner")
        .sort("impression", "item_id")
        .select("impression", "user_id", "event_ts", "item_id", "clicked")
    )


def impression_metrics(candidates: pl.DataFrame, scores: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Mean per-impression AUC, MRR, nDCG@5 and nDCG@10.

    ``candidates``: impression, item_id, clicked (as from :func:`impressions_from_events`);
    ``scores``: one score per candidate row. NaN for every metric when there is no impression.
    """
    if candidates.height == 0:
        return {name: float("nan") for name in IMPRESSION_METRICS}
    frame = candidates.select("impression", "item_id", pl.col("clicked").cast(pl.Float64).alias("_y")).with_columns(
        pl.Series("_score", np.asarray(scores, dtype=np.float64))
    )
    ranked = frame.sort(["impression", "_score", "item_id"], descending=[False, True, False]).with_columns(
        (pl.int_range(pl.len()).over("impression") + 1).alias("_rank"),
        pl.col("_score").rank("average").over("impression").alias("_ascending_rank"),
    )
    discount = 1.0 / (pl.col("_rank") + 1).cast(pl.Float64).log(2)
    per_impression = ranked.group_by("impression").agg(
        pl.col("_y").sum().alias("_positives"),
        pl.len().alias("_n"),
        (pl.col("_y") * pl.col("_ascending_rank")).sum().alias("_positive_rank_sum"),
        (pl.col("_y") / pl.col("_rank")).sum().alias("_reciprocal"),
        *[(pl.col("_y") * discount).filter(pl.col("_rank") <= k).sum().alias(f"_dcg{k}") for k in (5, 10)],
    )
    positives = per_impression["_positives"].to_numpy()
    negatives = per_impression["_n"].to_numpy() - positives
    auc = (per_impression["_positive_rank_sum"].to_numpy() - positives * (positives + 1) / 2) / (positives * negatives)
    result = {"auc": float(auc.mean()), "mrr": float((per_impression["_reciprocal"].to_numpy() / positives).mean())}
    for k in (5, 10):
        ideal = np.array([np.sum(1.0 / np.log2(np.arange(2, min(k, int(p)) + 2))) for p in positives])
        result[f"ndcg@{k}"] = float((per_impression[f"_dcg{k}"].to_numpy() / ideal).mean())
    return result
