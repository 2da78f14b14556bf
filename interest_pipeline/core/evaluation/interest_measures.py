"""Measures where interests should matter, beside accuracy: which of a user's interests a ranking
reaches, how many interests it spans, and how each method fares for light and heavy users.

A method can win nDCG@10 by filling its list from the user's core interest alone; these measures
show it. They read the subtopics of the recommended and the held-out items (an item's subtopic is
its ``interest_topics`` row of ``content_kind = 'item'``; noise items have none), over the same top
K that the accuracy metrics rank (:func:`interest_pipeline.core.evaluation.metrics.top_k_columns`).

Definitions, for a user u with top-K items L_u (the K best candidates, training items excluded)
and held-out items H_u (the user's test-period items of the relevant event types, items already
seen in training included: re-engaging with an interest is engaging with it):

- **interest coverage@K** = |S(H_u) ∩ S(L_u)| / |S(H_u)|, S(X) the set of subtopics of the items
  of X (items without a subtopic add none): the share of the subtopics the user engaged with in
  the test period that the list reaches. Undefined (NaN) for a user with no held-out item in a
  subtopic; averaged over the users where it is defined.
- **subtopic diversity@K** = |S(L_u)| / K: the distinct subtopics of the list per place, 1/K for
  a list from one subtopic, 1 when every item comes from a different one (at most
  min(K, number of subtopics) / K). Chosen over Gini-Simpson (1 - sum of squared subtopic shares)
  because it counts interests reached, in the same unit as coverage, and needs no rule for items
  without a subtopic: they reach none, so a list cannot look diverse by recommending unclustered
  items.
- **activity groups**: the users with training history split into tertiles of their number of
  training events (any event type): light <= the lower tertile t1, medium in (t1, t2], heavy > t2,
  with t1 and t2 the ``lower`` 1/3 and 2/3 quantiles of the counts. Users with equal counts stay
  together, so groups can differ in size where counts tie.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

INTEREST_K = 20
COVERAGE = f"coverage@{INTEREST_K}"
DIVERSITY = f"diversity@{INTEREST_K}"
INTEREST_MEASURES: tuple[str, ...] = (COVERAGE, DIVERSITY)
ACTIVITY_GROUPS: tuple[str, ...] = ("light", "medium", "heavy")


def item_subtopics(content_topics: pl.DataFrame, item_ids: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Per item of ``item_ids``, the position of its subtopic among the returned subtopic ids (sorted),
    -1 for an item without one. ``content_topics``: content_id, content_kind, subtopic_id."""
    pairs = content_topics.filter((pl.col("content_kind") == "item") & pl.col("subtopic_id").is_not_null()).select(
        "content_id", "subtopic_id"
    )
    subtopic_ids = sorted(set(pairs["subtopic_id"].to_list()))
    position = {s: i for i, s in enumerate(subtopic_ids)}
    subtopic_of = {item: position[s] for item, s in pairs.iter_rows()}
    return np.array([subtopic_of.get(item, -1) for item in item_ids], dtype=np.int64), subtopic_ids


def _subtopic_sets(users: np.ndarray, subtopics: np.ndarray, n_users: int, n_subtopics: int) -> np.ndarray:
    """users x subtopics booleans from (user row, subtopic position) pairs; positions below 0 are left out."""
    out = np.zeros((n_users, n_subtopics), dtype=bool)
    placed = subtopics >= 0
    out[users[placed], subtopics[placed]] = True
    return out


def recommended_subtopics(
    top_items: np.ndarray, item_subtopic: np.ndarray, n_subtopics: int, excluded: np.ndarray | None = None
) -> np.ndarray:
    """users x subtopics: True where one of the user's ``top_items`` (users x K item columns) is in the
    subtopic. Items ``excluded`` for the user (users x items; they fill the list only when a user has
    fewer than K candidates) are no recommendation and count for no subtopic."""
    subtopics = item_subtopic[top_items]
    if excluded is not None:
        subtopics = np.where(np.take_along_axis(excluded, top_items, axis=1), -1, subtopics)
    rows = np.repeat(np.arange(len(top_items)), top_items.shape[1])
    return _subtopic_sets(rows, subtopics.ravel(), len(top_items), n_subtopics)


def engaged_subtopics(held_out: np.ndarray, item_subtopic: np.ndarray, n_subtopics: int) -> np.ndarray:
    """users x subtopics: True where one of the user's held-out items (users x items booleans) is in the subtopic."""
    rows, items = np.nonzero(held_out)
    return _subtopic_sets(rows, item_subtopic[items], len(held_out), n_subtopics)


def interest_coverage(engaged: np.ndarray, recommended: np.ndarray) -> np.ndarray:
    """Per user, the share of the engaged subtopics that are recommended; NaN where none is engaged."""
    n_engaged = engaged.sum(axis=1)
    reached = (engaged & recommended).sum(axis=1)
    return np.divide(reached, n_engaged, out=np.full(len(engaged), np.nan), where=n_engaged > 0)


def subtopic_diversity(recommended: np.ndarray, k: int) -> np.ndarray:
    """Per user, the distinct recommended subtopics divided by the list length ``k``."""
    return recommended.sum(axis=1) / float(k)


def per_user_interest_measures(
    top_items: np.ndarray,
    held_out: np.ndarray,
    excluded: np.ndarray,
    item_subtopic: np.ndarray,
    n_subtopics: int,
    k: int = INTEREST_K,
) -> dict[str, np.ndarray]:
    """Per user, interest coverage@k and subtopic diversity@k (definitions in the module docstring) of
    the first ``k`` of ``top_items`` (users x at least k item columns, in rank order)."""
    if top_items.shape[1] < min(k, held_out.shape[1]):
        raise ValueError(f"{top_items.shape[1]} ranked items per user, {k} needed")
    recommended = recommended_subtopics(top_items[:, :k], item_subtopic, n_subtopics, excluded)
    engaged = engaged_subtopics(held_out, item_subtopic, n_subtopics)
    return {
        f"coverage@{k}": interest_coverage(engaged, recommended),
        f"diversity@{k}": subtopic_diversity(recommended, k),
    }


def activity_groups(n_events: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Per user, 0 (light), 1 (medium) or 2 (heavy) by tertiles of their training event counts, and the
    thresholds (t1, t2): light <= t1 < medium <= t2 < heavy (the ``lower`` 1/3 and 2/3 quantiles)."""
    counts = np.asarray(n_events, dtype=np.float64)
    if counts.size == 0:
        return np.zeros(0, dtype=np.int64), (float("nan"), float("nan"))
    t1, t2 = np.quantile(counts, [1 / 3, 2 / 3], method="lower")
    return (counts > t1).astype(np.int64) + (counts > t2).astype(np.int64), (float(t1), float(t2))
