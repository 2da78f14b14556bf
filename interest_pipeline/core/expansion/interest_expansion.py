"""Interest expansion: per user, the subtopics not engaged with yet that they are most likely to take up.

Candidates are the taxonomy's subtopics the user has no subtopic layer row for. Each candidate
gets three signals, all in [0, 1]:

- **hierarchy**: the summed long-term share of the user's core and secondary subtopics under
  the candidate's topic (its engaged siblings); the reason names the strongest sibling;
- **peers**: the share of the user's peer group that has the candidate as a core or secondary
  subtopic. The peer group is the user's fine segment, or the coarse one when the fine segment
  is missing or smaller than ``min_segment_size``, or else all users. The user counts in the
  group, but never among those who have the candidate (they have not engaged with it). The shares
  can be given as a table (:func:`peer_share_table`, kept on the re-clustering cadence), which
  makes every user's suggestions depend on their own inputs only (``score_users``);
- **similarity**: the cosine similarity, clipped at 0, between the candidate's centroid and the
  user's profile, the share_long-weighted mean of the centroids of all their engaged subtopics;
- **model** (when take-up probabilities are given, see :mod:`interest_pipeline.core.expansion.takeup`):
  the probability that the user takes the candidate up next, divided by the largest such
  probability among the user's candidates; ``takeup_probability`` keeps the raw value.

``score = sum over signals of w_signal * signal / sum(w)``, in
[0, 1]. Per user the candidates with a positive score are ranked by score, ties by subtopic id,
and the top ``top_n`` kept. The strongest signal is the one with the largest weighted
contribution (ties: peers, hierarchy, similarity, model), kept as ``strongest_signal``; the reason
names it first, then any other signal contributing at least ``REASON_SHARE`` of it.

Users without any subtopic layer row in the taxonomy (cold start) get the globally most popular
subtopics instead: popularity is the share of all users with the subtopic as core or secondary,
reported as both ``score`` and ``peer_signal``, reason ``popular``, ``is_cold_start_fallback``.

The work is dense numpy over (users x subtopics), in chunks of users to bound memory, and
polars for the joins and the reasons; nothing loops over users.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import polars as pl

from interest_pipeline.core.common.vectors import series_to_vectors
from interest_pipeline.core.expansion.takeup import TakeupParams
from interest_pipeline.core.profiles.layers import ENGAGED_TIERS

SIGNALS = ("peers", "hierarchy", "similarity", "model")  # also the tie order for the strongest signal
POPULAR = "popular"
ALL_USERS = "all users"
# A second signal is named in the reason when its contribution reaches this share of the strongest.
REASON_SHARE = 0.75
# Scores are rounded before ranking so that floating-point noise cannot reorder ties.
SCORE_DECIMALS = 9

OUTPUT_SCHEMA = {
    "user_id": pl.String,
    "rank": pl.Int64,
    "subtopic_id": pl.String,
    "topic_id": pl.String,
    "score": pl.Float64,
    "hierarchy_signal": pl.Float64,
    "peer_signal": pl.Float64,
    "similarity_signal": pl.Float64,
    "model_signal": pl.Float64,
    "takeup_probability": pl.Float64,
    "strongest_signal": pl.String,
    "reason": pl.String,
    "is_cold_start_fallback": pl.Boolean,
}


@dataclass(frozen=True)
class ExpansionWeights:
    """Weights of the signals in the score. Without take-up probabilities the model signal is 0,
    so under these defaults a score is then at most 0.8."""

    peers: float = 0.4
    hierarchy: float = 0.35
    similarity: float = 0.25
    model: float = 0.25

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError("expansion weights must be finite numbers")
        if any(v < 0 for v in values):
            raise ValueError("expansion weights must not be negative")
        if sum(values) <= 0:
            raise ValueError("at least one expansion weight must be positive")

    @classmethod
    def from_mapping(cls, weights: Mapping[str, float]) -> ExpansionWeights:
        """From a config mapping; unknown names are refused, missing ones weigh 0."""
        unknown = set(weights) - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown expansion weights {sorted(unknown)}; expected some of {list(SIGNALS)}")
        return cls(**{name: float(weights.get(name, 0.0)) for name in SIGNALS})

    def normalised(self) -> dict[str, float]:
        total = sum(getattr(self, name) for name in SIGNALS)
        return {name: getattr(self, name) / total for name in SIGNALS}

    def as_mapping(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in SIGNALS}


@dataclass(frozen=True)
class ExpansionParams:
    """Settings of one expansion run: suggestions per user, signal weights, peer groups, take-up models."""

    top_n: int = 5
    weights: ExpansionWeights = field(default_factory=ExpansionWeights)
    min_segment_size: int = 5
    takeup: TakeupParams = field(default_factory=TakeupParams)

    def __post_init__(self) -> None:
        if self.top_n < 1:
            raise ValueError("top_n must be at least 1")
        if self.min_segment_size < 1:
            raise ValueError("min_segment_size must be at least 1")


def _takeup_matrix(takeup, population: pl.DataFrame, subtopics: pl.DataFrame) -> np.ndarray | None:
    """Probabilities aligned to the population's rows (_i) and the subtopics' columns (_j), float32."""
    if takeup is None:
        return None
    user_ids, subtopic_ids, probabilities = takeup
    matrix = np.zeros((population.height, subtopics.height), dtype=np.float32)
    rows = (
        pl.DataFrame({"user_id": list(user_ids)}, schema={"user_id": pl.String})
        .with_row_index("_k")
        .join(population, on="user_id", how="inner")
    )
    column_of = dict(zip(subtopics["subtopic_id"].to_list(), subtopics["_j"].to_list()))
    columns = [(k, column_of[s]) for k, s in enumerate(subtopic_ids) if s in column_of]
    if rows.height and columns:
        source_columns, target_columns = map(np.array, zip(*columns))
        source_rows, target_rows = rows["_k"].to_numpy().astype(np.int64), rows["_i"].to_numpy()
        probabilities = np.asarray(probabilities)
        same_rows = len(user_ids) == rows.height == population.height and np.array_equal(source_rows, target_rows)
        if same_rows:  # the usual case (the models applied to every user, in user order): no row gather, 2-4x faster
            matrix[:, target_columns] = probabilities[:, source_columns]
        else:
            matrix[np.ix_(target_rows, target_columns)] = probabilities[np.ix_(source_rows, source_columns)]
    return matrix


def _top_columns(score: np.ndarray, top_n: int) -> np.ndarray:
    """Per row, the columns of the ``top_n`` highest scores, highest first, equal scores by lower
    column. Scores are rounded to SCORE_DECIMALS, so score * 10**SCORE_DECIMALS is an integer and
    (that integer, the column's reverse index) is one exact key: a partial sort finds the top."""
    n_rows, n_columns = score.shape
    top_n = min(top_n, n_columns)
    if top_n == 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    key = np.rint(score * 10**SCORE_DECIMALS).astype(np.int64) * n_columns + (n_columns - 1 - np.arange(n_columns))
    if top_n < n_columns:
        candidates = np.argpartition(-key, top_n - 1, axis=1)[:, :top_n]
    else:
        candidates = np.broadcast_to(np.arange(n_columns), key.shape)
    order = np.argsort(-np.take_along_axis(key, candidates, axis=1), axis=1)
    return np.take_along_axis(candidates, order, axis=1)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=OUTPUT_SCHEMA)


def _subtopics(hierarchy: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """Subtopic nodes in id order with their index ``_j``, and their unit centroids."""
    label = (
        pl.col("label").cast(pl.String)
        if "label" in hierarchy.columns
        else pl.lit(None, dtype=pl.String).alias("label")
    )
    subtopics = (
        hierarchy.filter(pl.col("level") == "subtopic")
        .select(pl.col("node_id").alias("subtopic_id"), pl.col("parent_id").alias("topic_id"), label, "centroid")
        .unique("subtopic_id", keep="first")
        .sort("subtopic_id")
        .with_row_index("_j")
        .with_columns(pl.col("_j").cast(pl.Int64))
    )
    centroids = series_to_vectors(subtopics["centroid"], 1).astype(np.float64)
    centroids = np.nan_to_num(centroids) if centroids.shape[0] == subtopics.height else np.zeros((subtopics.height, 1))
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    centroids = centroids / np.where(norms == 0, 1.0, norms)
    return subtopics.drop("centroid"), centroids


def _peer_groups(population: pl.DataFrame, segments: pl.DataFrame | None, min_segment_size: int) -> pl.DataFrame:
    """user_id -> peer group key (``fine:<id>``, ``coarse:<id>`` or ``all``) and its display name."""
    if segments is None:
        segments = pl.DataFrame(schema={"user_id": pl.String, "segment_fine": pl.String, "segment_coarse": pl.String})
    users = population.join(
        segments.select(
            "user_id", pl.col("segment_fine").cast(pl.String), pl.col("segment_coarse").cast(pl.String)
        ).unique("user_id", keep="first"),
        on="user_id",
        how="left",
    )
    fine_size = pl.len().over("segment_fine")
    coarse_size = pl.len().over("segment_coarse")
    use_fine = pl.col("segment_fine").is_not_null() & (fine_size >= min_segment_size)
    use_coarse = pl.col("segment_coarse").is_not_null() & (coarse_size >= min_segment_size)
    return users.with_columns(
        pl.when(use_fine)
        .then(pl.lit("fine:") + pl.col("segment_fine"))
        .when(use_coarse)
        .then(pl.lit("coarse:") + pl.col("segment_coarse"))
        .otherwise(pl.lit("all"))
        .alias("peer_group"),
        pl.when(use_fine)
        .then(pl.col("segment_fine"))
        .when(use_coarse)
        .then(pl.col("segment_coarse"))
        .otherwise(pl.lit(ALL_USERS))
        .alias("peer_group_name"),
    ).select("user_id", "_i", "segment_fine", "segment_coarse", "peer_group", "peer_group_name")


def _memberships(groups: pl.DataFrame) -> pl.DataFrame:
    """_i, peer_group: every group a user belongs to (fine and coarse segment, all users), whichever one is used."""
    return pl.concat(
        [
            groups.filter(pl.col("segment_fine").is_not_null()).select(
                "_i", (pl.lit("fine:") + pl.col("segment_fine")).alias("peer_group")
            ),
            groups.filter(pl.col("segment_coarse").is_not_null()).select(
                "_i", (pl.lit("coarse:") + pl.col("segment_coarse")).alias("peer_group")
            ),
            groups.select("_i", pl.lit("all").alias("peer_group")),
        ]
    )


def _group_shares(groups: pl.DataFrame, engaged: pl.DataFrame) -> pl.DataFrame:
    """peer_group, _j, members, share: per group and subtopic with any member engaged, the share of
    the group's members with the subtopic as core or secondary."""
    members = _memberships(groups)
    sizes = members.group_by("peer_group").agg(pl.len().cast(pl.Int64).alias("members"))
    counts = (
        members.join(engaged.filter(pl.col("_core_or_secondary")).select("_i", "_j"), on="_i", how="inner")
        .group_by("peer_group", "_j")
        .len("engaged")
    )
    return counts.join(sizes, on="peer_group", how="inner").select(
        "peer_group", "_j", "members", (pl.col("engaged") / pl.col("members").clip(lower_bound=1)).alias("share")
    )


def _peer_matrix(groups: pl.DataFrame, shares: pl.DataFrame, n_subtopics: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's row in the returned matrix, and per peer group in use (row) the share of each
    subtopic (column) from ``shares`` (peer_group, _j, share; groups or subtopics not there: 0)."""
    key_index = (
        groups.select(pl.col("peer_group").unique().sort())
        .with_row_index("_g")
        .with_columns(pl.col("_g").cast(pl.Int64))
    )
    present = shares.join(key_index, on="peer_group", how="inner")
    matrix = np.zeros((key_index.height, n_subtopics))
    matrix[present["_g"].to_numpy(), present["_j"].to_numpy()] = present["share"].to_numpy()
    user_rows = (
        groups.select("_i", "peer_group").join(key_index, on="peer_group", how="left").sort("_i")["_g"].to_numpy()
    )
    return user_rows, matrix


def _best_siblings(engaged: pl.DataFrame, subtopics: pl.DataFrame) -> pl.DataFrame:
    """Per (user, topic), the core/secondary subtopic with the largest share (ties: lowest id)."""
    return (
        engaged.filter(pl.col("_core_or_secondary"))
        .join(subtopics.select("_j", "subtopic_id", "topic_id", "label"), on="_j", how="inner")
        .sort(["_i", "topic_id", "share_long", "subtopic_id"], descending=[False, False, True, False])
        .group_by("_i", "topic_id", maintain_order=True)
        .first()
        .select(
            "_i",
            "topic_id",
            pl.col("subtopic_id").alias("_sibling"),
            pl.col("label").alias("_sibling_label"),
            pl.col("tier_long").alias("_sibling_tier"),
        )
    )


def _personalised(
    engaged: pl.DataFrame,
    n_users: int,
    personal_users: np.ndarray,
    subtopics: pl.DataFrame,
    centroids: np.ndarray,
    peer_rows: np.ndarray,
    peer_shares: np.ndarray,
    weights: ExpansionWeights,
    top_n: int,
    chunk_size: int,
    takeup: np.ndarray | None = None,
) -> pl.DataFrame:
    """Signals, scores and top-N for the users with layers, as long rows (_i, rank, _j, signals)."""
    n_sub = subtopics.height
    # Subtopic -> topic membership; a subtopic without a topic has no siblings.
    topic_codes = subtopics.select(pl.col("topic_id").rank("dense") - 1)["topic_id"]
    has_topic = topic_codes.is_not_null().to_numpy()
    topic_onehot = np.zeros((n_sub, int(topic_codes.max() or 0) + 1))
    topic_onehot[np.flatnonzero(has_topic), topic_codes.drop_nulls().to_numpy().astype(np.int64)] = 1.0
    w = weights.normalised()
    gram = centroids @ centroids.T

    rows = engaged.sort("_i", "_j")
    row_user = rows["_i"].to_numpy()
    row_sub = rows["_j"].to_numpy()
    row_share = rows["share_long"].fill_null(0.0).to_numpy().astype(np.float64)
    row_cs = rows["_core_or_secondary"].to_numpy()

    out: list[pl.DataFrame] = []
    for start in range(0, len(personal_users), chunk_size):
        users = personal_users[start : start + chunk_size]
        local = np.full(n_users, -1, dtype=np.int64)
        local[users] = np.arange(len(users))
        lo, hi = np.searchsorted(row_user, [users[0], users[-1] + 1])
        r_user, r_sub = local[row_user[lo:hi]], row_sub[lo:hi]
        keep = r_user >= 0
        r_user, r_sub = r_user[keep], r_sub[keep]

        shares = np.zeros((len(users), n_sub))
        shares[r_user, r_sub] = row_share[lo:hi][keep]
        engaged_mask = np.zeros((len(users), n_sub), dtype=bool)
        engaged_mask[r_user, r_sub] = True
        core_secondary = np.zeros((len(users), n_sub))
        core_secondary[r_user, r_sub] = np.where(row_cs[lo:hi][keep], row_share[lo:hi][keep], 0.0)

        hierarchy = np.clip((core_secondary @ topic_onehot) @ topic_onehot.T, 0.0, 1.0)
        peers = peer_shares[peer_rows[users]]
        # cos(profile, c_j) with profile = shares @ C, through the Gram matrix: no embedding-sized arrays.
        towards = shares @ gram
        norms = np.sqrt(np.clip(np.einsum("ij,ij->i", towards, shares), 0.0, None))[:, None]
        similarity = np.clip(towards / np.where(norms == 0, 1.0, norms), 0.0, 1.0)

        probability = takeup[users].astype(np.float64) if takeup is not None else np.zeros((len(users), n_sub))
        probability = np.where(engaged_mask, 0.0, probability)
        top = probability.max(axis=1, keepdims=True) if n_sub else np.zeros((len(users), 1))
        model = probability / np.where(top > 0, top, 1.0)
        score = np.round(
            w["peers"] * peers + w["hierarchy"] * hierarchy + w["similarity"] * similarity + w["model"] * model,
            SCORE_DECIMALS,
        )
        score = np.where(engaged_mask | (score <= 0), -1.0, score)
        order = _top_columns(score, top_n)  # equal scores: the lower subtopic id first
        chosen = np.take_along_axis(score, order, axis=1)
        valid = chosen > 0
        user_rows = np.broadcast_to(np.arange(len(users))[:, None], order.shape)[valid]
        cols = order[valid]
        out.append(
            pl.DataFrame(
                {
                    "_i": users[user_rows].astype(np.int64),
                    "rank": (np.broadcast_to(np.arange(1, order.shape[1] + 1), order.shape)[valid]).astype(np.int64),
                    "_j": cols.astype(np.int64),
                    "score": chosen[valid],
                    "hierarchy_signal": hierarchy[user_rows, cols],
                    "peer_signal": peers[user_rows, cols],
                    "similarity_signal": similarity[user_rows, cols],
                    "model_signal": model[user_rows, cols],
                    "takeup_probability": probability[user_rows, cols]
                    if takeup is not None
                    else np.full(len(cols), np.nan),
                }
            )
        )
    if not out:
        return pl.DataFrame(
            schema={
                "_i": pl.Int64,
                "rank": pl.Int64,
                "_j": pl.Int64,
                "score": pl.Float64,
                "hierarchy_signal": pl.Float64,
                "peer_signal": pl.Float64,
                "similarity_signal": pl.Float64,
                "model_signal": pl.Float64,
                "takeup_probability": pl.Float64,
            }
        )
    return pl.concat(out)


def _strongest(weights: ExpansionWeights) -> tuple[pl.Expr, dict[str, pl.Expr]]:
    w = weights.normalised()
    contribution = {
        "peers": pl.col("peer_signal") * w["peers"],
        "hierarchy": pl.col("hierarchy_signal") * w["hierarchy"],
        "similarity": pl.col("similarity_signal") * w["similarity"],
        "model": pl.col("model_signal") * w["model"],
    }
    best = pl.max_horizontal(*contribution.values())
    strongest = pl.when(contribution["peers"] >= best).then(pl.lit("peers"))
    strongest = strongest.when(contribution["hierarchy"] >= best).then(pl.lit("hierarchy"))
    strongest = strongest.when(contribution["similarity"] >= best).then(pl.lit("similarity")).otherwise(pl.lit("model"))
    named = {name: (expr > 0) & (expr >= REASON_SHARE * best) for name, expr in contribution.items()}
    return strongest, named


def _reason_parts() -> dict[str, pl.Expr]:
    sibling_label = (
        pl.when(pl.col("_sibling_label").fill_null("") != "")
        .then(pl.lit(" '") + pl.col("_sibling_label") + pl.lit("'"))
        .otherwise(pl.lit(""))
    )
    percent = (pl.col("peer_signal") * 100).round(0).cast(pl.Int64).cast(pl.String)
    return {
        "hierarchy": pl.concat_str(
            pl.lit("sibling of your "),
            pl.col("_sibling_tier"),
            pl.lit(" interest "),
            pl.col("_sibling"),
            sibling_label,
            pl.lit(" in topic "),
            pl.col("topic_id"),
        ),
        "peers": pl.when(pl.col("peer_group_name") == ALL_USERS)
        .then(percent + pl.lit("% of all users have it"))
        .otherwise(percent + pl.lit("% of users in segment ") + pl.col("peer_group_name") + pl.lit(" have it")),
        "similarity": pl.lit("close in content to your interests (similarity ")
        + pl.col("similarity_signal").round(2).cast(pl.String)
        + pl.lit(")"),
        "model": pl.lit("users like you took it up lately (")
        + (pl.col("takeup_probability") * 100).round(1).cast(pl.String)
        + pl.lit("% odds next window)"),
    }


def subtopic_popularity(layers: pl.DataFrame, users: pl.DataFrame | None = None) -> pl.DataFrame:
    """subtopic_id, popularity: the share of users with the subtopic as core or secondary (long term)."""
    population = (users if users is not None else layers).select("user_id").unique()
    counts = (
        layers.filter((pl.col("level") == "subtopic") & pl.col("tier_long").is_in(ENGAGED_TIERS))
        .join(population, on="user_id", how="semi")
        .group_by("node_id")
        .agg(pl.col("user_id").n_unique().alias("users"))
    )
    return counts.select(
        pl.col("node_id").alias("subtopic_id"), (pl.col("users") / max(population.height, 1)).alias("popularity")
    ).sort(["popularity", "subtopic_id"], descending=[True, False])


def _population_and_engaged(
    layers: pl.DataFrame, subtopics: pl.DataFrame, segments: pl.DataFrame | None, users: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Everyone covered (user_id, their index ``_i``, in id order) and their subtopic layer rows in the taxonomy."""
    if users is None:
        sources = [layers.select("user_id")] + ([segments.select("user_id")] if segments is not None else [])
        users = pl.concat(sources)
    population = (
        users.select(pl.col("user_id").cast(pl.String))
        .drop_nulls()
        .unique()
        .sort("user_id")
        .with_row_index("_i")
        .with_columns(pl.col("_i").cast(pl.Int64))
    )
    engaged = (
        layers.filter(pl.col("level") == "subtopic")
        .select(pl.col("user_id").cast(pl.String), pl.col("node_id").alias("subtopic_id"), "share_long", "tier_long")
        .unique(["user_id", "subtopic_id"], keep="first")
        .join(population, on="user_id", how="inner")
        .join(subtopics.select("subtopic_id", "_j"), on="subtopic_id", how="inner")
        .with_columns(pl.col("tier_long").is_in(ENGAGED_TIERS).fill_null(False).alias("_core_or_secondary"))
    )
    return population, engaged


PEER_SHARES_SCHEMA = {"peer_group": pl.String, "subtopic_id": pl.String, "members": pl.Int64, "share": pl.Float64}


def peer_groups(users: pl.DataFrame, segments: pl.DataFrame | None, min_segment_size: int) -> pl.DataFrame:
    """user_id, peer_group: the group whose shares are each user's peers signal (rules in the module docstring)."""
    population = (
        users.select(pl.col("user_id").cast(pl.String)).drop_nulls().unique().sort("user_id").with_row_index("_i")
    )
    return _peer_groups(population, segments, min_segment_size).sort("_i").select("user_id", "peer_group")


def peer_share_table(
    layers: pl.DataFrame,
    hierarchy: pl.DataFrame,
    segments: pl.DataFrame | None = None,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per peer group (``fine:<segment>``, ``coarse:<segment>``, ``all``) and subtopic, the share of
    the group's members with the subtopic as core or secondary (long term): the peers signal that
    :func:`expand_interests` computes when it is not given one. Every fine and coarse segment is
    listed, used or not; pairs with no engaged member are left out (share 0). Arguments as there."""
    subtopics, _ = _subtopics(hierarchy)
    population, engaged = _population_and_engaged(layers, subtopics, segments, users)
    if population.height == 0 or subtopics.height == 0:
        return pl.DataFrame(schema=PEER_SHARES_SCHEMA)
    groups = _peer_groups(population, segments, 1)
    return (
        _group_shares(groups, engaged)
        .join(subtopics.select("_j", "subtopic_id"), on="_j", how="inner")
        .select(list(PEER_SHARES_SCHEMA))
        .cast(PEER_SHARES_SCHEMA)
        .sort("peer_group", "subtopic_id")
    )


def expand_interests(
    layers: pl.DataFrame,
    hierarchy: pl.DataFrame,
    segments: pl.DataFrame | None = None,
    users: pl.DataFrame | None = None,
    weights: ExpansionWeights = ExpansionParams().weights,
    top_n: int = ExpansionParams().top_n,
    min_segment_size: int = ExpansionParams().min_segment_size,
    chunk_size: int = 20_000,
    takeup: tuple[Sequence[str], Sequence[str], np.ndarray] | None = None,
    peer_shares: pl.DataFrame | None = None,
    score_users: pl.Series | Sequence[str] | None = None,
) -> pl.DataFrame:
    """Suggested subtopics per user, ranked 1..top_n (rules in the module docstring).

    ``layers``: user_interest_layers rows (user_id, level, node_id, share_long, tier_long);
    ``hierarchy``: interest_hierarchy (node_id, level, parent_id, label, centroid);
    ``segments``: user_id, segment_fine, segment_coarse (None: everyone is one peer group);
    ``users``: user_id of everyone to cover (None: the users of ``layers`` and ``segments``);
    ``takeup``: (user ids, subtopic ids, users x subtopics probabilities) for the model signal
    (``Takeup.signal``); users and subtopics missing there get 0;
    ``peer_shares``: the peers signal as :func:`peer_share_table` gives it, e.g. stored on the
    re-clustering cadence (None: computed from ``layers``, ``segments`` and ``users``);
    ``score_users``: only these users get personal suggestions computed (their rows are the same
    as in the result for everyone); every user without layers still gets the popular fallback,
    which depends on everyone's layers. None: everyone.
    """
    if top_n < 1:
        raise ValueError("top_n must be at least 1")
    if min_segment_size < 1:
        raise ValueError("min_segment_size must be at least 1")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    subtopics, centroids = _subtopics(hierarchy)
    population, engaged = _population_and_engaged(layers, subtopics, segments, users)
    if population.height == 0 or subtopics.height == 0:
        return _empty()

    groups = _peer_groups(population, segments, min_segment_size).sort("_i")
    if peer_shares is None:
        shares = _group_shares(groups, engaged)
    else:
        shares = peer_shares.select(
            pl.col("peer_group").cast(pl.String), pl.col("subtopic_id").cast(pl.String), "share"
        ).join(subtopics.select("subtopic_id", "_j"), on="subtopic_id", how="inner")
    peer_rows, peer_matrix = _peer_matrix(groups, shares, subtopics.height)

    has_layers = np.zeros(population.height, dtype=bool)
    has_layers[engaged["_i"].unique().to_numpy()] = True
    scored = has_layers
    if score_users is not None:
        wanted = population.join(
            pl.DataFrame({"user_id": pl.Series(score_users, dtype=pl.String)}), on="user_id", how="semi"
        )["_i"].to_numpy()
        scored = np.zeros(population.height, dtype=bool)
        scored[wanted] = True
        scored &= has_layers
        engaged = engaged.filter(pl.Series(scored[engaged["_i"].to_numpy()]))
    personal = _personalised(
        engaged,
        population.height,
        np.flatnonzero(scored),
        subtopics,
        centroids,
        peer_rows,
        peer_matrix,
        weights,
        top_n,
        chunk_size,
        _takeup_matrix(takeup, population, subtopics),
    )
    strongest, named = _strongest(weights)
    # each signal's phrase is built once as a column, then picked: the strongest first, then the others named
    parts = {name: f"_reason_{name}" for name in SIGNALS}
    others = [pl.when(named[name] & (pl.col("strongest_signal") != name)).then(pl.col(parts[name])) for name in SIGNALS]
    first = pl.when(pl.col("strongest_signal") == "peers").then(pl.col(parts["peers"]))
    for name in SIGNALS[1:]:
        first = first.when(pl.col("strongest_signal") == name).then(pl.col(parts[name]))
    personal = (
        personal.join(subtopics.select("_j", "subtopic_id", "topic_id"), on="_j", how="left")
        .join(groups.select("_i", "peer_group_name"), on="_i", how="left")
        .join(_best_siblings(engaged, subtopics), on=["_i", "topic_id"], how="left")
        .with_columns(
            strongest.alias("strongest_signal"),
            *(phrase.alias(parts[name]) for name, phrase in _reason_parts().items()),
        )
        .with_columns(
            pl.concat_str(first, *others, separator="; ", ignore_nulls=True).alias("reason"),
            pl.lit(False).alias("is_cold_start_fallback"),
        )
        .drop(parts.values())
    )

    popular = (
        subtopic_popularity(
            layers.filter(pl.col("level") == "subtopic").join(
                subtopics.select(pl.col("subtopic_id").alias("node_id")), on="node_id", how="semi"
            ),
            population,
        )
        .filter(pl.col("popularity") > 0)
        .head(top_n)
        .with_row_index("rank", offset=1)
        .join(subtopics.select("subtopic_id", "topic_id"), on="subtopic_id", how="left")
    )
    cold = (
        population.filter(pl.Series(~has_layers))
        .select("_i")
        .join(popular, how="cross")
        .select(
            "_i",
            pl.col("rank").cast(pl.Int64),
            "subtopic_id",
            "topic_id",
            pl.col("popularity").round(SCORE_DECIMALS).alias("score"),
            pl.lit(0.0).alias("hierarchy_signal"),
            pl.col("popularity").alias("peer_signal"),
            pl.lit(0.0).alias("similarity_signal"),
            pl.lit(0.0).alias("model_signal"),
            pl.lit(None, dtype=pl.Float64).alias("takeup_probability"),
            pl.lit(POPULAR).alias("strongest_signal"),
            pl.lit(POPULAR).alias("reason"),
            pl.lit(True).alias("is_cold_start_fallback"),
        )
    )
    columns = [c for c in OUTPUT_SCHEMA if c != "user_id"]
    result = pl.concat([personal.select("_i", *columns), cold.select("_i", *columns)])
    return (
        result.join(population, on="_i", how="left")
        .select(list(OUTPUT_SCHEMA))
        .cast(OUTPUT_SCHEMA)
        .with_columns(pl.col("takeup_probability").fill_nan(None))
        .sort("user_id", "rank")
    )
