"""Two classic collaborative baselines for the hold-out evaluation: EASE^R and item-kNN.

Both score a user's candidate items from the items the user interacted with in the training period
(implicit feedback: an item counts once, whatever the events on it):

- **EASE^R** (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): item-item
  weights in closed form, ``P = (XᵀX + λI)⁻¹``, ``B = −P / diag(P)``, ``diag(B) = 0``; scores ``XB``.
  The inverse is dense: it covers the :data:`MAX_EASE_ITEMS` (10,000) items with the most training
  interactions (an inverse of about 0.8 GB and a minute or two on 2 cores); items beyond them get no
  weights, so EASE never recommends them.
- **item-kNN**: cosine similarity between the items' user columns, each item keeping its ``k``
  most similar neighbours (sparse, any catalogue size); scores ``X S``.

``λ`` and ``k`` are chosen on the validation slice (the training events cut in two, as the shipped
ranker's settings are) by mean nDCG@10. The baselines read every item of a user's history alike; the
shipped ranker's collaborative part may read it by recency (:func:`recency_weighted_matrix`), its
model, setting and half-life chosen together on the same slice (``CollaborativeTuning.recent``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp

from interest_pipeline.core.evaluation import scoring_methods as scoring

MAX_EASE_ITEMS = 10_000
EASE_L2_GRID = (20.0, 100.0, 500.0, 2000.0)
KNN_NEIGHBOURS_GRID = (10, 30, 100, 300)
# how the shipped ranker may read a user's history: half-lives in the user's own items, 0 unweighted
RECENCY_HALF_LIVES = (0.0, 3.0, 10.0, 30.0)


def recency_weighted_matrix(
    events: pl.DataFrame, user_ids: Sequence[str], item_ids: Sequence[str], half_life: float
) -> sp.csr_matrix:
    """users x items: each item the user had weighs ``0.5 ** (r / half_life)``, r the number of the
    user's other items with a later last event (0 for the most recent; items of one time weigh alike).
    Counted in the user's own items, not in days, so that a user's latest session weighs most
    whether they come daily or yearly; ``half_life`` 0 weighs every item 1 (:func:`implicit_matrix`)."""
    if not half_life:
        return implicit_matrix(events, user_ids, item_ids)
    if half_life < 0:
        raise ValueError(f"half_life must be at least 0, got {half_life}")
    latest = (
        events.filter(pl.col("item_id").is_not_null())
        .group_by("user_id", "item_id")
        .agg(pl.col("event_ts").max())
        .with_columns((pl.col("event_ts").rank("min", descending=True).over("user_id") - 1).alias("recency_rank"))
    )
    placed = latest.join(
        pl.DataFrame(
            {"user_id": list(user_ids), "_u": np.arange(len(user_ids))}, schema={"user_id": pl.String, "_u": pl.Int64}
        ),
        on="user_id",
    ).join(
        pl.DataFrame(
            {"item_id": list(item_ids), "_i": np.arange(len(item_ids))}, schema={"item_id": pl.String, "_i": pl.Int64}
        ),
        on="item_id",
    )
    rows, columns = placed["_u"].to_numpy(), placed["_i"].to_numpy()
    weights = np.power(0.5, placed["recency_rank"].to_numpy() / half_life).astype(np.float32)
    return sp.csr_matrix((weights, (rows, columns)), shape=(len(user_ids), len(item_ids)))


def implicit_matrix(events: pl.DataFrame, user_ids: Sequence[str], item_ids: Sequence[str]) -> sp.csr_matrix:
    """users x items, 1.0 where the user has any event on the item (float32, sparse)."""
    pairs = events.filter(pl.col("item_id").is_not_null()).select("user_id", "item_id").unique()
    rows, columns = scoring.pair_positions(pairs, user_ids, item_ids)
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(user_ids), len(item_ids)))


def ease_weights(interactions: sp.csr_matrix, l2: float, max_items: int = MAX_EASE_ITEMS) -> np.ndarray:
    """EASE^R's item-item weights (items x items, zero diagonal) over the ``max_items`` items with
    the most interactions (ties: lower index); the other items' rows and columns are zero."""
    counts = np.asarray(interactions.sum(axis=0)).ravel()
    active = np.flatnonzero(counts > 0)
    if len(active) > max_items:
        active = np.sort(active[np.lexsort((active, -counts[active]))[:max_items]])
    x = interactions[:, active]
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    block = -precision / np.diag(precision)
    np.fill_diagonal(block, 0.0)
    weights = np.zeros((interactions.shape[1], interactions.shape[1]), dtype=np.float32)
    weights[np.ix_(active, active)] = block
    return weights


def knn_weights(interactions: sp.csr_matrix, neighbours: int) -> sp.csr_matrix:
    """Cosine similarity of the items' user columns, each item (row) keeping its ``neighbours``
    most similar other items (ties: lower item index)."""
    norms = np.sqrt(np.asarray(interactions.multiply(interactions).sum(axis=0)).ravel())
    scaled = interactions @ sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))
    similarity = (scaled.T @ scaled).tocsr()
    similarity.setdiag(0.0)
    similarity.eliminate_zeros()
    rows, cols, values = [], [], []
    for item in range(similarity.shape[0]):
        start, end = similarity.indptr[item], similarity.indptr[item + 1]
        if start == end:
            continue
        found, strength = similarity.indices[start:end], similarity.data[start:end]
        order = np.lexsort((found, -strength))[:neighbours]
        rows.append(np.full(len(order), item))
        cols.append(found[order])
        values.append(strength[order])
    if not rows:
        return sp.csr_matrix(similarity.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(values).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=similarity.shape,
    )


def ease_scores(interactions: sp.csr_matrix, weights: np.ndarray) -> np.ndarray:
    return np.asarray(interactions @ weights, dtype=np.float32)


def knn_scores(interactions: sp.csr_matrix, weights: sp.csr_matrix) -> np.ndarray:
    # a user's score for an item: the summed similarity of the item to the items the user had
    return np.asarray((interactions @ weights.T).toarray(), dtype=np.float32)


def model_weights(model: str, interactions: sp.csr_matrix, setting: float):
    """The fitted item-item weights of ``model`` ("ease" or "item_knn") with ``setting`` (EASE's λ or
    item-kNN's number of neighbours)."""
    if model == "ease":
        return ease_weights(interactions, float(setting))
    if model == "item_knn":
        return knn_weights(interactions, int(setting))
    raise ValueError(f"unknown collaborative model {model!r}")


def model_scores(model: str, history: sp.csr_matrix, weights) -> np.ndarray:
    """users x items scores of ``model`` for the users whose history rows are ``history`` (binary or
    recency-weighted), from :func:`model_weights`."""
    return ease_scores(history, weights) if model == "ease" else knn_scores(history, weights)


@dataclass(frozen=True)
class CollaborativeChoice:
    """One collaborative model as chosen on the validation slice: the model, its setting (EASE's λ or
    item-kNN's k), the recency half-life its users' histories are read with (0: unweighted) and the
    validation nDCG it reached."""

    model: str
    setting: float
    recency_half_life: float = 0.0
    validation_ndcg: float = float("nan")


@dataclass(frozen=True)
class CollaborativeTuning:
    """The baselines' settings (histories unweighted) and the recency-aware choice of the shipped ranker."""

    ease_l2: float
    knn_neighbours: int
    ease_validation_ndcg: float
    knn_validation_ndcg: float
    # the best model, setting and recency half-life over both models, for the shipped ranker
    recent: CollaborativeChoice | None = None
    # its validation users x items scores, so that the shipped ranker's own tuning on the same users
    # does not fit the model again (EASE's inverse takes minutes at scale)
    recent_validation_scores: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def shipped_choice(self) -> CollaborativeChoice:
        """:attr:`recent`, or where it was not tuned the better baseline (EASE on a tie or where
        neither was scored) with unweighted histories."""
        if self.recent is not None:
            return self.recent
        if self.knn_validation_ndcg > self.ease_validation_ndcg:
            return CollaborativeChoice("item_knn", self.knn_neighbours, 0.0, self.knn_validation_ndcg)
        return CollaborativeChoice("ease", self.ease_l2, 0.0, self.ease_validation_ndcg)


def tune_collaborative(
    fit_interactions: sp.csr_matrix,
    relevant: np.ndarray,
    exclude: np.ndarray,
    rows: np.ndarray,
    mean_ndcg,
    l2_grid: Sequence[float] = EASE_L2_GRID,
    neighbour_grid: Sequence[int] = KNN_NEIGHBOURS_GRID,
    k: int = 10,
    recent_histories: Mapping[float, sp.csr_matrix] | None = None,
) -> CollaborativeTuning:
    """The settings with the best mean nDCG@``k`` on the validation slice: ``fit_interactions`` holds
    every fit-period user (the models are fitted on all), ``rows`` the validation users' rows in it,
    ``relevant`` / ``exclude`` their validation items and fit-period items; ``recent_histories`` the
    validation users' histories read with each recency half-life (:func:`recency_weighted_matrix`,
    rows in the order of ``rows``). The baselines' λ and k are the best with unweighted histories;
    the shipped ranker's choice is the best model, setting and half-life together. Each model is
    fitted once per setting; ties keep the first (EASE, grid order, unweighted first)."""
    histories = {0.0: fit_interactions[rows], **{float(h): m for h, m in (recent_histories or {}).items() if h}}
    unweighted: dict[str, tuple[float, float]] = {}  # model -> (setting, nDCG), histories unweighted
    recent, recent_scores = None, None
    for model, grid in (("ease", l2_grid), ("item_knn", neighbour_grid)):
        for setting in grid:
            weights = model_weights(model, fit_interactions, setting)
            for half_life, history in histories.items():
                scores = model_scores(model, history, weights)
                value = mean_ndcg(scores, relevant, exclude, k)
                if half_life == 0.0 and (model not in unweighted or value > unweighted[model][1]):
                    unweighted[model] = (setting, value)
                if recent is None or value > recent.validation_ndcg:
                    recent, recent_scores = CollaborativeChoice(model, setting, half_life, float(value)), scores
    (l2, ease_ndcg), (neighbours, knn_ndcg) = unweighted["ease"], unweighted["item_knn"]
    return CollaborativeTuning(
        float(l2), int(neighbours), float(ease_ndcg), float(knn_ndcg), recent, recent_validation_scores=recent_scores
    )


def tune_on_validation(
    fit: pl.DataFrame,
    validation: pl.DataFrame,
    item_ids: Sequence[str],
    relevant_types: Sequence[str],
    mean_ndcg,
    max_users: int = 2_000,
    seed: int = 0,
    recency_half_lives: Sequence[float] = RECENCY_HALF_LIVES,
) -> CollaborativeTuning:
    """:func:`tune_collaborative` on the two parts of the training events (test events never enter):
    the users with fit-period history and a relevant new item in the validation part (a seeded
    sample of ``max_users``), the models fitted on every fit-period user."""
    users, relevant, exclude = scoring.validation_targets(fit, validation, item_ids, relevant_types, max_users, seed)
    if not users:
        return CollaborativeTuning(EASE_L2_GRID[0], KNN_NEIGHBOURS_GRID[0], float("nan"), float("nan"))
    fit_users = sorted(set(fit["user_id"].to_list()))
    row_of = {u: i for i, u in enumerate(fit_users)}
    recent = {h: recency_weighted_matrix(fit, users, item_ids, h) for h in recency_half_lives if h}
    return tune_collaborative(
        implicit_matrix(fit, fit_users, item_ids),
        relevant,
        exclude,
        np.array([row_of[u] for u in users]),
        mean_ndcg,
        recent_histories=recent,
    )
