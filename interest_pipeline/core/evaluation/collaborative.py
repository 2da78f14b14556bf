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
ranker's settings are) by mean nDCG@10.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
import scipy.sparse as sp

from interest_pipeline.core.evaluation import scoring_methods as scoring

MAX_EASE_ITEMS = 10_000
EASE_L2_GRID = (20.0, 100.0, 500.0, 2000.0)
KNN_NEIGHBOURS_GRID = (10, 30, 100, 300)


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


def model_weights(model: str, interactions: sp.csr_matrix, tuning: CollaborativeTuning):
    """The fitted item-item weights of ``model`` ("ease" or "item_knn") with its tuned setting."""
    if model == "ease":
        return ease_weights(interactions, tuning.ease_l2)
    if model == "item_knn":
        return knn_weights(interactions, tuning.knn_neighbours)
    raise ValueError(f"unknown collaborative model {model!r}")


def model_scores(model: str, interactions: sp.csr_matrix, weights) -> np.ndarray:
    """users x items scores of ``model`` for the users of ``interactions`` from :func:`model_weights`."""
    return ease_scores(interactions, weights) if model == "ease" else knn_scores(interactions, weights)


@dataclass(frozen=True)
class CollaborativeTuning:
    ease_l2: float
    knn_neighbours: int
    ease_validation_ndcg: float
    knn_validation_ndcg: float
    # the better model's validation users x items scores with its chosen setting, so that the shipped
    # ranker's own tuning on the same users does not fit it again (EASE's inverse takes minutes at scale)
    better_validation_scores: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def better_model(self) -> str:
        """The model with the higher validation nDCG (EASE on a tie or where neither was scored)."""
        return "item_knn" if self.knn_validation_ndcg > self.ease_validation_ndcg else "ease"


def tune_collaborative(
    fit_interactions: sp.csr_matrix,
    relevant: np.ndarray,
    exclude: np.ndarray,
    rows: np.ndarray,
    mean_ndcg,
    l2_grid: Sequence[float] = EASE_L2_GRID,
    neighbour_grid: Sequence[int] = KNN_NEIGHBOURS_GRID,
    k: int = 10,
) -> CollaborativeTuning:
    """The λ and k with the best mean nDCG@``k`` on the validation slice: ``fit_interactions`` holds
    every fit-period user (the model is fitted on all), ``rows`` the validation users' rows in it,
    ``relevant`` / ``exclude`` their validation items and fit-period items. Ties keep the first
    setting in grid order."""

    def best(settings, scores_of):
        """The setting with the best nDCG (ties: the first), its nDCG and its scores."""
        chosen, chosen_score, chosen_scores = None, float("-inf"), None
        for setting in settings:
            scores = scores_of(setting)
            value = mean_ndcg(scores, relevant, exclude, k)
            if chosen is None or value > chosen_score:
                chosen, chosen_score, chosen_scores = setting, value, scores
        return chosen, chosen_score, chosen_scores

    users = fit_interactions[rows]
    l2, ease_ndcg, ease_best = best(l2_grid, lambda l2: ease_scores(users, ease_weights(fit_interactions, l2)))
    neighbours, knn_ndcg, knn_best = best(neighbour_grid, lambda n: knn_scores(users, knn_weights(fit_interactions, n)))
    tuning = CollaborativeTuning(float(l2), int(neighbours), float(ease_ndcg), float(knn_ndcg))
    better = ease_best if tuning.better_model == "ease" else knn_best
    return replace(tuning, better_validation_scores=better)


def tune_on_validation(
    fit: pl.DataFrame,
    validation: pl.DataFrame,
    item_ids: Sequence[str],
    relevant_types: Sequence[str],
    mean_ndcg,
    max_users: int = 2_000,
    seed: int = 0,
) -> CollaborativeTuning:
    """:func:`tune_collaborative` on the two parts of the training events (test events never enter):
    the users with fit-period history and a relevant new item in the validation part (a seeded
    sample of ``max_users``), the models fitted on every fit-period user."""
    users, relevant, exclude = scoring.validation_targets(fit, validation, item_ids, relevant_types, max_users, seed)
    if not users:
        return CollaborativeTuning(EASE_L2_GRID[0], KNN_NEIGHBOURS_GRID[0], float("nan"), float("nan"))
    fit_users = sorted(set(fit["user_id"].to_list()))
    row_of = {u: i for i, u in enumerate(fit_users)}
    return tune_collaborative(
        implicit_matrix(fit, fit_users, item_ids), relevant, exclude, np.array([row_of[u] for u in users]), mean_ndcg
    )
