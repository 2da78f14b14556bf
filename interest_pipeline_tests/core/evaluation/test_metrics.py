import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score, roc_auc_score

from interest_pipeline.core.evaluation.metrics import (
    evaluate_rankings,
    metric_names,
    users_evaluated,
)


def test_single_user_hand_computed():
    # ranking by score: items 0,1,2,3,4,5 ; relevant at ranks 1, 3 and 6
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]])
    relevant = np.array([[1, 0, 1, 0, 0, 1]], dtype=bool)
    m = evaluate_rankings(scores, relevant, ks=(1, 3, 5))
    assert m["precision@1"] == pytest.approx(1.0)
    assert m["precision@3"] == pytest.approx(2 / 3)
    assert m["precision@5"] == pytest.approx(2 / 5)
    assert m["recall@3"] == pytest.approx(2 / 3)
    assert m["recall@5"] == pytest.approx(2 / 3)
    # AP@3 = (1/1 + 2/3) / min(3, 3); AP@5 = (1 + 2/3) / 3; AP@1 = 1 / 1
    assert m["map@1"] == pytest.approx(1.0)
    assert m["map@3"] == pytest.approx((1 + 2 / 3) / 3)
    assert m["map@5"] == pytest.approx((1 + 2 / 3) / 3)
    dcg3 = 1 + 1 / math.log2(4)
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@3"] == pytest.approx(dcg3 / idcg3)
    assert m["mrr"] == pytest.approx(1.0)
    # pairs (relevant, non-relevant) correctly ordered: item0 > 1,3,4 ; item2 > 3,4 ; item5 > none  -> 5 of 9
    assert m["auc"] == pytest.approx(5 / 9)
    assert m["auc"] == pytest.approx(roc_auc_score(relevant[0], scores[0]))


def test_matches_sklearn_references_on_random_data():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(40, 30))
    relevant = rng.random((40, 30)) < 0.15
    relevant[0] = False  # a user without relevant items is skipped
    m = evaluate_rankings(scores, relevant, ks=(5, 10))
    users = relevant.any(axis=1) & ~relevant.all(axis=1)
    expected_auc = np.mean([roc_auc_score(relevant[u], scores[u]) for u in np.flatnonzero(users)])
    assert m["auc"] == pytest.approx(expected_auc)
    has = relevant.any(axis=1)
    for k in (5, 10):
        assert m[f"ndcg@{k}"] == pytest.approx(
            np.mean([ndcg_score(relevant[[u]].astype(float), scores[[u]], k=k) for u in np.flatnonzero(has)])
        )


def test_ties_count_half_in_auc():
    scores = np.array([[1.0, 1.0, 0.0, 0.0]])
    relevant = np.array([[1, 0, 0, 1]], dtype=bool)
    # pairs: (0,1) tie 0.5, (0,2) 1, (3,1) 0, (3,2) tie 0.5 -> 2 / 4
    assert evaluate_rankings(scores, relevant, ks=(2,))["auc"] == pytest.approx(0.5)
    assert evaluate_rankings(np.zeros((1, 4)), relevant, ks=(2,))["auc"] == pytest.approx(0.5)


def test_mrr_and_averaging_over_users():
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1], [0.9, 0.8, 0.7]])
    relevant = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    m = evaluate_rankings(scores, relevant, ks=(1, 2))
    # user 0: relevant at rank 3; user 1: rank 2; user 2 has nothing relevant and is skipped
    assert m["mrr"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert m["precision@2"] == pytest.approx((0 + 0.5) / 2)
    assert m["recall@2"] == pytest.approx((0 + 1) / 2)
    assert users_evaluated(relevant) == 2


def test_excluded_items_leave_the_ranking():
    scores = np.array([[0.9, 0.8, 0.7, 0.1]])
    relevant = np.array([[1, 0, 1, 0]], dtype=bool)
    exclude = np.array([[1, 1, 0, 0]], dtype=bool)
    m = evaluate_rankings(scores, relevant, exclude, ks=(1,))
    # candidates 2 and 3; item 0 is excluded, so no longer relevant; item 2 ranks first
    assert m["precision@1"] == 1.0 and m["recall@1"] == 1.0 and m["auc"] == 1.0 and m["mrr"] == 1.0
    assert users_evaluated(relevant, exclude) == 1
    # a user whose only relevant item is excluded is not evaluated
    only_excluded = evaluate_rankings(scores, np.array([[1, 0, 0, 0]], dtype=bool), exclude, ks=(1,))
    assert all(math.isnan(v) for v in only_excluded.values())


def test_sparse_input_and_key_order():
    scores = np.array([[0.2, 0.1, 0.3]])
    relevant = sp.csr_matrix(np.array([[0, 1, 0]]))
    m = evaluate_rankings(scores, relevant, ks=(5, 10))
    assert list(m) == metric_names((5, 10))
    assert m["recall@5"] == 1.0 and m["precision@5"] == pytest.approx(1 / 5)
    assert m["map@5"] == pytest.approx(1 / 3) and m["mrr"] == pytest.approx(1 / 3)
    assert m["auc"] == 0.0


def test_perfect_ranking_scores_one():
    rng = np.random.default_rng(0)
    relevant = rng.random((20, 15)) < 0.3
    relevant[:, 0] = True
    m = evaluate_rankings(relevant.astype(float), relevant, ks=(5,))
    for key in ("ndcg@5", "map@5", "auc", "mrr"):
        assert m[key] == pytest.approx(1.0)


def test_rejects_shape_mismatch():
    with pytest.raises(ValueError):
        evaluate_rankings(np.zeros((2, 3)), np.zeros((2, 4), dtype=bool))


def test_metrics_ranked_a_block_of_users_at_a_time_equal_those_of_the_whole_matrix():
    from interest_pipeline.core.evaluation.holdout_evaluation import _metrics_in_blocks
    from interest_pipeline.core.evaluation.metrics import per_user_metrics

    rng = np.random.default_rng(3)
    scores = rng.random((23, 40))
    relevant, exclude = rng.random((23, 40)) < 0.1, rng.random((23, 40)) < 0.2
    rows = rng.random(23) < 0.8
    _, whole = per_user_metrics(scores[rows], relevant[rows], exclude[rows], (5, 10))
    blocks = _metrics_in_blocks(scores, relevant, exclude, (5, 10), rows, block_users=4)
    assert whole.keys() == blocks.keys()
    for name in whole:
        np.testing.assert_array_equal(whole[name], blocks[name])


def _full_sort_metrics(scores, relevant, exclude, ks):
    """The metrics from one stable sort of every item and scipy's ranks: the definition, slowly."""
    from scipy.stats import rankdata

    candidates = ~exclude
    relevant = relevant & candidates
    keep = relevant.any(axis=1)
    s, r, c = scores[keep], relevant[keep], candidates[keep]
    safe = np.where(c, np.where(np.isnan(s), -np.inf, s), -np.inf)
    ranked = np.take_along_axis(r, np.argsort(-safe, axis=1, kind="stable"), axis=1)
    n = r.sum(axis=1)
    out = {}
    for k in ks:
        top = ranked[:, :k]
        out[f"precision@{k}"] = top.sum(axis=1) / k
        out[f"recall@{k}"] = top.sum(axis=1) / n
        discounts = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
        ideal = np.array([discounts[: min(k, m)].sum() for m in n])
        out[f"ndcg@{k}"] = (top * discounts).sum(axis=1) / ideal
    first = np.argmax(ranked, axis=1) + 1
    out["mrr"] = 1.0 / first
    auc = []
    for u in range(len(s)):
        labels, values = r[u, c[u]], s[u, c[u]]
        n_pos, n_neg = labels.sum(), (~labels).sum()
        ranks = rankdata(values)
        auc.append((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg) if n_pos and n_neg else np.nan)
    out["auc"] = np.array(auc)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_k_ranking_equals_a_full_stable_sort_with_ties_and_nan(seed):
    from interest_pipeline.core.evaluation.metrics import per_user_metrics

    rng = np.random.default_rng(seed)
    # few distinct values: many ties, also at the k-th place; some NaN and excluded items
    scores = rng.integers(0, 6, size=(60, 50)).astype(np.float64)
    scores[rng.random(scores.shape) < 0.03] = np.nan
    scores[:3] = 0.0  # a whole row tied
    relevant = rng.random(scores.shape) < 0.08
    exclude = rng.random(scores.shape) < 0.2
    ks = (1, 5, 10, 20)
    _, fast = per_user_metrics(scores, relevant, exclude, ks)
    slow = _full_sort_metrics(scores, relevant, exclude, ks)
    for name, expected in slow.items():
        np.testing.assert_allclose(fast[name], expected, rtol=1e-12, atol=1e-12, err_msg=name)
    assert np.isnan(fast["auc"]).sum() == np.isnan(slow["auc"]).sum() > 0


def test_top_k_relevance_is_the_head_of_the_full_ranking():
    from interest_pipeline.core.evaluation.metrics import ranked_relevance, top_k_relevance

    rng = np.random.default_rng(4)
    scores = rng.integers(0, 3, size=(30, 12)).astype(np.float64)
    relevant = rng.random(scores.shape) < 0.3
    full = ranked_relevance(scores, relevant)
    for k in (1, 4, 11, 12, 40):
        np.testing.assert_array_equal(top_k_relevance(scores, relevant, k), full[:, : min(k, 12)])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_top_k_relevance_is_the_same_in_row_blocks_on_threads(threads):
    from interest_pipeline.core.evaluation.metrics import MIN_ROWS_PER_THREAD, ranked_relevance, top_k_relevance

    rng = np.random.default_rng(5)
    rows = 3 * MIN_ROWS_PER_THREAD + 7  # three blocks of unequal size
    scores = rng.integers(0, 4, size=(rows, 40)).astype(np.float64)  # many ties at the k-th score
    scores[rng.random(scores.shape) < 0.05] = np.nan
    scores[rng.random(scores.shape) < 0.05] = -np.inf
    relevant = rng.random(scores.shape) < 0.2
    np.testing.assert_array_equal(
        top_k_relevance(scores, relevant, 10, threads=threads), ranked_relevance(scores, relevant)[:, :10]
    )


def test_top_k_columns_are_the_head_of_the_stable_sort():
    from interest_pipeline.core.evaluation.metrics import top_k_columns

    rng = np.random.default_rng(6)
    scores = rng.integers(0, 3, size=(30, 12)).astype(np.float64)  # ties at the k-th score
    scores[rng.random(scores.shape) < 0.1] = np.nan  # NaN ranks last
    full = np.argsort(-np.where(np.isnan(scores), -np.inf, scores), axis=1, kind="stable")
    for k in (1, 4, 11, 12, 40):
        np.testing.assert_array_equal(top_k_columns(scores, k), full[:, : min(k, 12)])
