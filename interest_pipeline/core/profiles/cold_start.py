"""Layers for users with nothing placed in the taxonomy yet: the most popular topics and subtopics.

A user whose events and texts map to no subtopic (say, only searches that resemble nothing, or
events on items the clustering left out) would otherwise have no layers at all. They get the
``top_n`` most popular nodes of each level instead, popularity being the share of users with
the node as a core or secondary long-term interest. These rows are guesses, not interests:
``source`` is ``popular`` (``activity`` for layers built from the user's own behaviour), the
weights and interaction counts are 0, the shares are the popularity normalised over the chosen
nodes, and the tier is ``peripheral`` in both views, so nothing downstream mistakes them for core
interests.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from interest_pipeline.core.profiles.layers import ENGAGED_TIERS, LayerParams

ACTIVITY, POPULAR = "activity", "popular"


def node_popularity(layers: pl.DataFrame) -> pl.DataFrame:
    """level, node_id, parent_id, popularity: share of the layers' users with the node as core or secondary (long term)."""
    n_users = max(layers["user_id"].n_unique(), 1)
    return (
        layers.filter(pl.col("tier_long").is_in(ENGAGED_TIERS))
        .group_by("level", "node_id", "parent_id")
        .agg((pl.col("user_id").n_unique() / n_users).alias("popularity"))
        .sort(["level", "popularity", "node_id"], descending=[False, True, False])
    )


def popular_layers(
    layers: pl.DataFrame, user_ids: Sequence[str], top_n: int = LayerParams().popular_fallback_nodes
) -> pl.DataFrame:
    """Fallback rows, in the schema of ``layers`` plus ``source``, for the users in ``user_ids`` without any layer row."""
    if top_n < 1:
        raise ValueError("top_n must be at least 1")
    missing = (
        pl.DataFrame({"user_id": list(user_ids)}, schema={"user_id": pl.String})
        .unique()
        .join(layers.select("user_id").unique(), on="user_id", how="anti")
    )
    chosen = (
        node_popularity(layers)
        .group_by("level", maintain_order=True)
        .head(top_n)
        .with_columns(
            (pl.col("popularity") / pl.col("popularity").sum().over("level")).alias("share"),
            pl.int_range(1, pl.len() + 1).over("level").cast(pl.Int64).alias("rank"),
        )
    )
    rows = (
        missing.sort("user_id")
        .join(chosen, how="cross")
        .select(
            "user_id",
            "level",
            "node_id",
            "parent_id",
            pl.lit(0.0).alias("weight_long"),
            pl.lit(0.0).alias("weight_short"),
            pl.lit(0, dtype=pl.Int64).alias("n_interactions"),
            pl.lit(None).alias("last_interaction_ts"),
            pl.col("share").alias("share_long"),
            pl.col("rank").alias("rank_long"),
            pl.lit("peripheral").alias("tier_long"),
            pl.col("share").alias("share_short"),
            pl.col("rank").alias("rank_short"),
            pl.lit("peripheral").alias("tier_short"),
            pl.lit("stable").alias("trend"),
            pl.lit(0.0).alias("drift_score"),
        )
    )
    schema = {name: dtype for name, dtype in layers.schema.items() if name in rows.columns}
    return rows.cast(schema).with_columns(pl.lit(POPULAR).alias("source"))
