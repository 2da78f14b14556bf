"""Ranking metrics for offline evaluation of recommendations (binary relevance).

Conventions, shared by every function here:

- ``scores`` is a users x items matrix, higher is better; an item's rank is its position when
  a user's candidates are sorted by descending score, ties broken by item order (stable sort);
- ``relevant`` is a users x items boolean matrix (dense or scipy sparse);
- ``exclude`` (optional, same shape) marks items that are no candidates for a user, typically
  those the user already interacted with before the cutoff: they are removed from the ranking
  and are never relevant;
- per-user metrics are averaged over the users with at least one relevant candidate.

Definitions, for a user with relevant set R among the candidates and rel_i = 1 when the item
at rank i (1-based) is relevant:

- precision@K = sum_{i<=K} rel_i / K
- recall@K = sum_{i<=K} rel_i / |R|
- MAP@K: AP@K = sum_{i<=K} precision@i * rel_i / min(K, |R|), averaged over users
- nDCG@K = DCG@K / IDCG@K, DCG@K = sum_{i<=K} rel_i / log2(i + 1), IDCG@K the DCG of a ranking
  with all min(K, |R|) relevant items first
- AUC: probability that a relevant candidate scores above a non-relevant one, ties counting
  half (Mann-Whitney); users whose candidates are all relevant have no AUC and are skipped
- MRR: mean of 1 / rank of the first relevant candidate over the full ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from interest_pipeline.core.common.machine import available_cores

RANK_METRICS: tuple[str, ...] = ("precision", "recall", "map", "ndcg")
DEFAULT_KS: tuple[int, ...] = (5, 10, 20)
# Rows are ranked independently and numpy's partition and sort release the GIL, so blocks of rows
# rank on all cores (1,900 users x 10,000 items: 0.51 s on one thread, 0.26 s on two); below this
# many rows per thread one thread is quicker than starting more.
MIN_ROWS_PER_THREAD = 256


# The evaluation's default seed: of the random baseline, K-Means, user samples, bootstraps and take-up models.
SEED = 0


def by_row_blocks(
    function: Callable[..., np.ndarray], arrays: Sequence[np.ndarray], threads: int | None = None
) -> np.ndarray:
    """``function(*arrays)`` for a function whose output rows depend only on the same rows of its
    inputs: run on contiguous row blocks in ``threads`` threads (default: every core) and stacked,
    so the result is the same as one call's."""
    n_rows = len(arrays[0])
    workers = min(threads or available_cores(), n_rows // MIN_ROWS_PER_THREAD)
    if workers <= 1:
        return function(*arrays)
    bounds = np.linspace(0, n_rows, workers + 1).astype(np.int64)
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda i: function(*(a[bounds[i] : bounds[i + 1]] for a in arrays)), range(workers)))
    return np.concatenate(parts)


def as_bool_matrix(matrix, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A dense boolean array from a dense or scipy sparse matrix (None: all False of ``shape``)."""
    if matrix is None:
        if shape is None:
            raise ValueError("shape is needed when the matrix is None")
        return np.zeros(shape, dtype=bool)
    if sp.issparse(matrix):
        matrix = matrix.toarray()
    return np.asarray(matrix) != 0


def metric_names(ks: Sequence[int] = DEFAULT_KS) -> list[str]:
    """The keys :func:`evaluate_rankings` returns, in a fixed order."""
    return [f"{metric}@{k}" for metric in RANK_METRICS for k in ks] + ["auc", "mrr"]


def ranked_relevance(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per user, the relevance (bool) of the items in rank order; NaN or -inf scores rank last."""
    safe = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-safe, axis=1, kind="stable")
    return np.take_along_axis(relevant, order, axis=1)


def top_k_relevance(scores: np.ndarray, relevant: np.ndarray, k: int, threads: int | None = None) -> np.ndarray:
    """The first ``k`` columns of :func:`ranked_relevance` (ties too), without sorting every item.

    Every @K metric reads only the top K ranks; sorting 10,000 items per user for them costs
    about ten times a partition. A partition finds each row's k best; where items tie at the k-th
    best score, the tied ones fill the remaining places in item order (the stable sort's order);
    only those k items are then sorted. Blocks of rows run in ``threads`` threads (:func:`by_row_blocks`).
    """
    return np.take_along_axis(relevant, top_k_columns(scores, k, threads), axis=1)


def top_k_columns(scores: np.ndarray, k: int, threads: int | None = None) -> np.ndarray:
    """Per user, the columns of the ``k`` best items in rank order (the order of :func:`ranked_relevance`):
    the ranking :func:`top_k_relevance` reads, for measures that need the items rather than their relevance."""
    return by_row_blocks(lambda s: _top_k_columns(s, k), (scores,), threads)


def _top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    descending = np.negative(scores, dtype=np.float64)
    missing = np.isnan(descending)
    if missing.any():
        descending[missing] = np.inf  # NaN ranks last
    n_users, n_items = descending.shape
    k = min(int(k), n_items)
    if k == n_items:
        return np.argsort(descending, axis=1, kind="stable")
    if k == 0:
        return np.zeros((n_users, 0), dtype=np.int64)
    columns = np.argpartition(descending, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(descending, columns, axis=1).max(axis=1, keepdims=True)
    # argpartition picks any of the items tied at the k-th score; where more are tied than there
    # are places left, the stable order wants the first ones in item order
    crowded = np.flatnonzero((descending <= kth).sum(axis=1) > k)
    if crowded.size:
        rows = descending[crowded]
        above, tied = rows < kth[crowded], rows == kth[crowded]
        room = k - above.sum(axis=1, keepdims=True)
        chosen = above | (tied & (np.cumsum(tied, axis=1, dtype=np.int32) <= room))
        columns[crowded] = np.nonzero(chosen)[1].reshape(len(crowded), k)
    chosen_scores = np.take_along_axis(descending, columns, axis=1)
    order = np.lexsort((columns, chosen_scores), axis=1)  # by score, then item order
    return np.take_along_axis(columns, order, axis=1)


def first_relevant_rank(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per user, the 1-based rank of the first relevant item in the order of :func:`ranked_relevance`
    (0 without one): the items scored above the best relevant score, plus the tied ones before it
    in item order, plus one."""
    safe = np.where(np.isnan(scores), -np.inf, scores)
    best = (
        np.where(relevant, safe, -np.inf).max(axis=1, keepdims=True)
        if safe.shape[1]
        else np.full((len(safe), 1), -np.inf)
    )
    at_best = safe == best
    first = np.argmax(relevant & at_best, axis=1)
    tied_before = (at_best & (np.arange(safe.shape[1]) < first[:, None])).sum(axis=1)
    rank = (safe > best).sum(axis=1) + tied_before + 1
    return np.where(relevant.any(axis=1), rank, 0)


def precision_at_k(ranked: np.ndarray, k: int) -> np.ndarray:
    return ranked[:, :k].sum(axis=1) / k


def recall_at_k(ranked: np.ndarray, k: int, n_relevant: np.ndarray) -> np.ndarray:
    return ranked[:, :k].sum(axis=1) / np.maximum(n_relevant, 1)


def average_precision_at_k(ranked: np.ndarray, k: int, n_relevant: np.ndarray) -> np.ndarray:
    top = ranked[:, :k].astype(np.float64)
    positions = np.arange(1, top.shape[1] + 1)
    precision_at_i = np.cumsum(top, axis=1) / positions
    return (precision_at_i * top).sum(axis=1) / np.maximum(np.minimum(k, n_relevant), 1)


def ndcg_at_k(ranked: np.ndarray, k: int, n_relevant: np.ndarray) -> np.ndarray:
    top = ranked[:, :k].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    dcg = (top * discounts).sum(axis=1)
    ideal_discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    idcg = ideal_discounts[np.minimum(k, n_relevant)]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


# Relevant (user, item) pairs compared with their users' rows at a time in user_auc: a block of
# pairs x items comparisons stays near 100 MB.
AUC_PAIR_BLOCK = 1_000


def user_auc(scores: np.ndarray, relevant: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Per user AUC over their candidates, ties counting half; NaN without both classes or with a
    NaN score among the candidates.

    Mann-Whitney: each relevant candidate counts the non-relevant candidates scored below it, and
    half of those scored alike; the sum over the user's relevant candidates is divided by
    ``n_relevant * n_other``.
    """
    relevant = relevant & candidates
    others = candidates & ~relevant
    n_pos, n_neg = relevant.sum(axis=1), others.sum(axis=1)
    users, items = np.nonzero(relevant)
    wins = np.zeros(len(users))
    for start in range(0, len(users), AUC_PAIR_BLOCK):
        u, i = users[start : start + AUC_PAIR_BLOCK], items[start : start + AUC_PAIR_BLOCK]
        rows, own, negatives = scores[u], scores[u, i][:, None], others[u]
        wins[start : start + len(u)] = ((rows < own) & negatives).sum(axis=1) + 0.5 * ((rows == own) & negatives).sum(
            axis=1
        )
    total = np.bincount(users, weights=wins, minlength=scores.shape[0])
    valid = (n_pos > 0) & (n_neg > 0) & ~(np.isnan(scores) & candidates).any(axis=1)
    out = np.full(scores.shape[0], np.nan)
    out[valid] = total[valid] / (n_pos[valid] * n_neg[valid])
    return out


def per_user_metrics(
    scores: np.ndarray,
    relevant,
    exclude=None,
    ks: Sequence[int] = DEFAULT_KS,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-user values of every metric: (mask of the users with a relevant candidate, metric ->
    values over those users, in row order). AUC is NaN for a user whose candidates are all relevant."""
    users, values, _ = per_user_metrics_and_top_items(scores, relevant, exclude, ks)
    return users, values


def per_user_metrics_and_top_items(
    scores: np.ndarray,
    relevant,
    exclude=None,
    ks: Sequence[int] = DEFAULT_KS,
    top_k: int = 0,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """:func:`per_user_metrics`, and the columns of those users' top ``max(top_k, max(ks))`` candidates
    in rank order: the one ranking both read, so measures over the recommended items cost no second
    partition. Where a user has fewer candidates, the excluded items fill the last places."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError("scores must be a users x items matrix")
    relevant = as_bool_matrix(relevant)
    excluded = as_bool_matrix(exclude, scores.shape)
    if relevant.shape != scores.shape or excluded.shape != scores.shape:
        raise ValueError(f"shapes differ: scores {scores.shape}, relevant {relevant.shape}, exclude {excluded.shape}")
    if any(int(k) < 1 for k in ks):
        raise ValueError("every K must be at least 1")
    candidates = ~excluded
    relevant = relevant & candidates
    n_relevant = relevant.sum(axis=1)
    users = n_relevant > 0
    s, r, c, n = scores[users], relevant[users], candidates[users], n_relevant[users]
    candidate_scores = np.where(c, s, -np.inf)
    top_items = top_k_columns(candidate_scores, max([int(k) for k in ks] + [int(top_k), 1]))
    ranked = np.take_along_axis(r, top_items, axis=1)
    per_metric = {
        "precision": lambda k: precision_at_k(ranked, k),
        "recall": lambda k: recall_at_k(ranked, k, n),
        "map": lambda k: average_precision_at_k(ranked, k, n),
        "ndcg": lambda k: ndcg_at_k(ranked, k, n),
    }
    values = {f"{metric}@{k}": per_metric[metric](int(k)) for metric in RANK_METRICS for k in ks}
    values["auc"] = user_auc(s, r, c)
    rank = first_relevant_rank(candidate_scores, r)
    values["mrr"] = np.divide(1.0, rank, out=np.zeros(len(rank)), where=rank > 0)
    return users, values, top_items


def evaluate_rankings(
    scores: np.ndarray,
    relevant,
    exclude=None,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Mean precision/recall/MAP/nDCG at each K, AUC and MRR over users with a relevant candidate.

    Returns NaN for every metric when no user has a relevant candidate.
    """
    users, values = per_user_metrics(scores, relevant, exclude, ks)
    if not users.any():
        return {name: float("nan") for name in metric_names(ks)}
    return {name: mean_or_nan(v) for name, v in values.items()}


def mean_or_nan(values: np.ndarray) -> float:
    """Mean over the finite values; NaN when there is none."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, n_resamples: int = 1000, seed: int = SEED, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of the per-user differences ``a - b`` and its bootstrap ``level`` interval (users resampled
    with replacement, seeded). Users where either value is NaN are left out; NaNs when none is left."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in shape: {a.shape} and {b.shape}")
    diff = (a - b)[np.isfinite(a) & np.isfinite(b)]
    if diff.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 100):  # in blocks: a users x resamples index matrix can be large
        stop = min(start + 100, n_resamples)
        means[start:stop] = diff[rng.integers(0, diff.size, size=(stop - start, diff.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(diff.mean()), float(low), float(high)


def users_evaluated(relevant, exclude=None) -> int:
    """How many users :func:`evaluate_rankings` averages over."""
    relevant = as_bool_matrix(relevant)
    return int((relevant & ~as_bool_matrix(exclude, relevant.shape)).any(axis=1).sum())
