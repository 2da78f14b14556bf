"""Recovery of a known truth: agreement of discovered structure with a planted (or editorial) truth."""

from __future__ import annotations

import polars as pl
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score


def agreement(true_labels, predicted_labels) -> dict[str, float]:
    """NMI, AMI and ARI between two labelings of the same points. NMI rises with the number of
    clusters even for random ones; AMI is corrected for chance, so it compares levels of
    different sizes."""
    return {
        "nmi": float(normalized_mutual_info_score(true_labels, predicted_labels)),
        "ami": float(adjusted_mutual_info_score(true_labels, predicted_labels)),
        "ari": float(adjusted_rand_score(true_labels, predicted_labels)),
    }


def majority_mapping(predicted: pl.Series, truth: pl.Series) -> dict[str, str]:
    """Each discovered cluster -> the true class most of its members belong to."""
    frame = pl.DataFrame({"predicted": predicted, "truth": truth}).drop_nulls()
    counts = (
        frame.group_by("predicted", "truth").len().sort(["predicted", "len", "truth"], descending=[False, True, False])
    )
    return dict(counts.group_by("predicted", maintain_order=True).first().select("predicted", "truth").iter_rows())


def core_interest_hit_rate(
    core_nodes: pl.DataFrame, planted_core: pl.DataFrame, node_to_truth: dict[str, str]
) -> float:
    """Share of users whose core tier holds at least one of their planted core interests.

    ``core_nodes``: user_id, node_id (discovered, core tier); ``planted_core``: user_id,
    truth_id. Users without planted core interests are ignored.
    """
    mapped = core_nodes.with_columns(pl.col("node_id").replace_strict(node_to_truth, default=None).alias("truth_id"))
    hits = mapped.join(planted_core, on=["user_id", "truth_id"], how="inner")["user_id"].n_unique()
    users = planted_core["user_id"].n_unique()
    return float(hits / users) if users else float("nan")


def planted_recovery(
    content_topics: pl.DataFrame,
    core_layers: pl.DataFrame,
    truth_items: pl.DataFrame,
    truth_texts: pl.DataFrame,
    truth_users: pl.DataFrame,
) -> dict[str, float]:
    """Agreement of the discovered taxonomy and core tiers with the generator's planted truth.

    ``content_topics``: content_id, content_kind, subtopic_id, topic_id, is_noise (the
    interest_topics table); ``core_layers``: user_id, node_id of core subtopics;
    truth frames as written by ``interest_pipeline.sample_data``.
    """
    truth = pl.concat(
        [
            truth_items.select(
                pl.col("item_id").alias("content_id"), pl.lit("item").alias("content_kind"), "subtopic_id", "topic_id"
            ),
            truth_texts.select(
                pl.col("event_id").alias("content_id"),
                pl.lit("comment").alias("content_kind"),
                "subtopic_id",
                "topic_id",
            ),
        ]
    ).rename({"subtopic_id": "true_subtopic", "topic_id": "true_topic"})
    joined = content_topics.join(truth, on=["content_id", "content_kind"], how="inner")
    # Generic and flood comments belong to no planted interest: they are left out of the
    # agreement, and the share of them that HDBSCAN left as noise is reported on its own.
    no_interest = joined.filter(pl.col("true_subtopic").is_null() | (pl.col("true_subtopic") == ""))
    joined = joined.join(
        no_interest.select("content_id", "content_kind"), on=["content_id", "content_kind"], how="anti"
    )
    scores: dict[str, float] = {
        "scored_points": float(joined.height),
        "no_interest_points": float(no_interest.height),
        "no_interest_noise_share": float(no_interest["is_noise"].mean()) if no_interest.height else float("nan"),
    }
    for prefix, frame in (("", joined), ("clustered_", joined.filter(~pl.col("is_noise")))):
        sub = agreement(frame["true_subtopic"].to_list(), frame["subtopic_id"].to_list())
        top = agreement(frame["true_topic"].to_list(), frame["topic_id"].to_list())
        scores.update(
            {
                f"{prefix}subtopic_nmi": sub["nmi"],
                f"{prefix}subtopic_ami": sub["ami"],
                f"{prefix}subtopic_ari": sub["ari"],
                f"{prefix}topic_nmi": top["nmi"],
                f"{prefix}topic_ami": top["ami"],
                f"{prefix}topic_ari": top["ari"],
            }
        )
    items = joined.filter(pl.col("content_kind") == "item")
    mapping = majority_mapping(items["subtopic_id"], items["true_subtopic"])
    planted_core = truth_users.filter(pl.col("role") == "core").select(
        "user_id", pl.col("subtopic_id").alias("truth_id")
    )
    scores["core_hit_rate"] = core_interest_hit_rate(core_layers, planted_core, mapping)
    return scores


def drift_separation(layers: pl.DataFrame, truth_users: pl.DataFrame) -> dict[str, float]:
    """Mean subtopic drift score of users planted with an emerging interest, and of the others."""
    scores = layers.filter(pl.col("level") == "subtopic").group_by("user_id").agg(pl.col("drift_score").first())
    drifters = truth_users.filter(pl.col("role") == "emerging").select("user_id").unique()
    return {
        "drift_score_drifters": float(
            scores.join(drifters, on="user_id", how="semi")["drift_score"].mean() or float("nan")
        ),
        "drift_score_others": float(
            scores.join(drifters, on="user_id", how="anti")["drift_score"].mean() or float("nan")
        ),
    }
