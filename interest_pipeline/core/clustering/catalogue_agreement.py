"""The catalogue's own categories as a yardstick for the discovered taxonomy.

Items often carry categories (``category``, ``subcategory``, ``category_path``, as the
importers write them). They are never used to fit the taxonomy, which stays label-free;
they show a user how far the discovered structure agrees with the catalogue's.
"""

from __future__ import annotations

import polars as pl

from interest_pipeline.core.clustering.agreement import agreement

CATEGORY_COLUMNS = ("category", "subcategory", "category_path")
LEVELS = {"topic": "topic_id", "subtopic": "subtopic_id"}


def category_columns(catalogue: pl.DataFrame) -> list[str]:
    """The category columns the catalogue has, coarse to fine."""
    return [c for c in CATEGORY_COLUMNS if c in catalogue.columns]


def finest_category(catalogue: pl.DataFrame) -> str | None:
    columns = category_columns(catalogue)
    return columns[-1] if columns else None


def _labelled(items: pl.DataFrame, catalogue: pl.DataFrame, column: str, level_column: str) -> pl.DataFrame:
    return (
        items.select("item_id", level_column)
        .join(catalogue.select("item_id", pl.col(column).cast(pl.String).alias("category")), on="item_id")
        .filter(pl.col(level_column).is_not_null() & pl.col("category").is_not_null() & (pl.col("category") != ""))
    )


def purity(clusters: pl.Series, categories: pl.Series) -> float:
    """Share of items whose cluster's most common category is their own."""
    frame = pl.DataFrame({"cluster": clusters, "category": categories})
    if frame.height == 0:
        return float("nan")
    majority = frame.group_by("cluster", "category").len().group_by("cluster").agg(pl.col("len").max())
    return float(majority["len"].sum() / frame.height)


def catalogue_agreement(items: pl.DataFrame, catalogue: pl.DataFrame) -> dict[str, float]:
    """NMI, AMI, ARI and purity of each discovered level against each category column.

    ``items``: item_id, subtopic_id, topic_id (the items' rows of interest_topics);
    ``catalogue``: item_id and any of the category columns. Keys look like
    ``catalogue/subcategory/subtopic_nmi``; no category columns: an empty dict.
    """
    scores: dict[str, float] = {}
    for column in category_columns(catalogue):
        for level, level_column in LEVELS.items():
            frame = _labelled(items, catalogue, column, level_column)
            if frame.height < 2:
                continue
            found, truth = frame[level_column].to_list(), frame["category"].to_list()
            scores.update({f"catalogue/{column}/{level}_{k}": v for k, v in agreement(truth, found).items()})
            scores[f"catalogue/{column}/{level}_purity"] = purity(frame[level_column], frame["category"])
            scores[f"catalogue/{column}/items"] = float(frame.height)
    return scores


def dominant_categories(items: pl.DataFrame, catalogue: pl.DataFrame) -> pl.DataFrame:
    """Per topic and subtopic: the most common value of the finest category column among its
    items and its share of them (node_id, dominant_category, dominant_category_share)."""
    schema = {"node_id": pl.String, "dominant_category": pl.String, "dominant_category_share": pl.Float64}
    column = finest_category(catalogue)
    if column is None:
        return pl.DataFrame(schema=schema)
    frames = []
    for level_column in LEVELS.values():
        frame = _labelled(items, catalogue, column, level_column).rename({level_column: "node_id"})
        counts = frame.group_by("node_id", "category").len()
        totals = counts.group_by("node_id").agg(pl.col("len").sum().alias("total"))
        top = (
            counts.sort(["node_id", "len", "category"], descending=[False, True, False])
            .group_by("node_id", maintain_order=True)
            .first()
        )
        frames.append(
            top.join(totals, on="node_id").select(
                "node_id",
                pl.col("category").alias("dominant_category"),
                (pl.col("len") / pl.col("total")).alias("dominant_category_share"),
            )
        )
    return pl.concat(frames).cast(schema)
