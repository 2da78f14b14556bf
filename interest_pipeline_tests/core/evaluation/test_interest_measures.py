"""Interest coverage, subtopic diversity and activity groups, on hand-computable cases."""

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.evaluation.interest_measures import (
    activity_groups,
    engaged_subtopics,
    interest_coverage,
    item_subtopics,
    per_user_interest_measures,
    recommended_subtopics,
    subtopic_diversity,
)
from interest_pipeline.core.evaluation.metrics import per_user_metrics, per_user_metrics_and_top_items


def test_item_subtopics_reads_item_rows_only():
    content_topics = pl.DataFrame(
        {
            "content_id": ["i1", "i2", "i3", "c1", "i4"],
            "content_kind": ["item", "item", "item", "comment", "item"],
            "topic_id": ["t1", "t1", "t2", "t2", None],
            "subtopic_id": ["s2", "s1", "s2", "s9", None],
        }
    )
    codes, subtopic_ids = item_subtopics(content_topics, ["i4", "i1", "i2", "i3", "unknown"])
    # the comment's subtopic s9 is no item's; i4 is noise and "unknown" is not in the taxonomy
    assert subtopic_ids == ["s1", "s2"]
    assert codes.tolist() == [-1, 1, 0, 1, -1]


def test_coverage_and_diversity_by_hand():
    item_subtopic = np.array([0, 0, 1, 2, -1, 2])  # six items, three subtopics, item 4 in none
    top_items = np.array([[0, 1, 4], [2, 3, 0], [4, 4, 4]])
    held_out = np.array(
        [
            [0, 0, 1, 1, 0, 0],  # engaged with subtopics 1 and 2; the list reaches neither
            [1, 0, 0, 0, 0, 1],  # subtopics 0 and 2: both reached
            [0, 0, 0, 0, 1, 0],  # only an item without a subtopic: coverage undefined
        ],
        dtype=bool,
    )
    recommended = recommended_subtopics(top_items, item_subtopic, 3)
    assert recommended.tolist() == [[True, False, False], [True, True, True], [False, False, False]]
    engaged = engaged_subtopics(held_out, item_subtopic, 3)
    np.testing.assert_array_equal(interest_coverage(engaged, recommended), [0.0, 1.0, np.nan])
    np.testing.assert_allclose(subtopic_diversity(recommended, 3), [1 / 3, 1.0, 0.0])


def test_excluded_items_filling_a_short_list_reach_no_subtopic():
    item_subtopic = np.array([0, 1, 2])
    top_items = np.array([[1, 0, 2]])
    excluded = np.array([[False, True, True]])  # one candidate: the two others fill the list
    held_out = np.array([[False, True, True]])
    measures = per_user_interest_measures(top_items, held_out, excluded, item_subtopic, 3, k=3)
    assert measures["coverage@3"].tolist() == [0.0]  # the engaged subtopics 1 and 2 are only on excluded items
    assert measures["diversity@3"].tolist() == [pytest.approx(1 / 3)]


def synthetic_catalogue():
    """30 items of subtopic 0 (the user's core), 10 of subtopic 1 and 10 of subtopic 2. The user took
    up two core items (a0, a1) and one of each other subtopic (items 35 and 45) in the test period."""
    item_subtopic = np.repeat([0, 1, 2], [30, 10, 10])
    held_out = np.zeros((1, 50), dtype=bool)
    held_out[0, [0, 1, 35, 45]] = True
    return item_subtopic, held_out


def scores_from_order(order: list[int], n_items: int = 50) -> np.ndarray:
    scores = np.zeros((1, n_items))
    scores[0, order] = np.arange(len(order), 0, -1)
    return scores


def test_a_core_only_ranker_wins_ndcg_but_covers_fewer_interests():
    item_subtopic, held_out = synthetic_catalogue()
    no_exclusion = np.zeros_like(held_out)
    core_only = scores_from_order(list(range(20)))  # a0 .. a19: every place from the core subtopic
    # a0 first, then one item of each subtopic in turn: 7 core, 7 of subtopic 1, 6 of subtopic 2
    spread = scores_from_order([0] + [item for trio in zip(range(2, 9), range(30, 37), range(40, 46)) for item in trio])
    results = {}
    for name, scores in (("core_only", core_only), ("spread", spread)):
        _, values, top_items = per_user_metrics_and_top_items(scores, held_out, no_exclusion, (10, 20), top_k=20)
        results[name] = values | per_user_interest_measures(top_items, held_out, no_exclusion, item_subtopic, 3)
    core, wide = results["core_only"], results["spread"]
    # nDCG@10: the core-only list finds a0 and a1 at ranks 1 and 2, the spread one a0 alone
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4) + 1 / np.log2(5)
    assert core["ndcg@10"][0] == pytest.approx((1 + 1 / np.log2(3)) / ideal)
    assert wide["ndcg@10"][0] == pytest.approx(1 / ideal)
    assert core["ndcg@10"][0] > wide["ndcg@10"][0]
    # but it reaches one of the user's three test-period interests, from one subtopic
    assert core["coverage@20"][0] == pytest.approx(1 / 3)
    assert wide["coverage@20"][0] == pytest.approx(1.0)
    assert core["diversity@20"][0] == pytest.approx(1 / 20)
    assert wide["diversity@20"][0] == pytest.approx(3 / 20)


def test_the_evaluation_blocks_add_the_measures_and_keep_every_metric():
    from interest_pipeline.core.evaluation.holdout_evaluation import _metrics_in_blocks

    rng = np.random.default_rng(5)
    scores = rng.normal(size=(30, 50))
    relevant = rng.random((30, 50)) < 0.1
    relevant[:, 0] = True  # every user has a relevant candidate
    exclude = (rng.random((30, 50)) < 0.2) & ~relevant
    item_subtopic = rng.integers(-1, 6, 50)
    rows = np.ones(30, dtype=bool)
    with_measures = _metrics_in_blocks(
        scores, relevant, exclude, (5, 10), rows, block_users=7, item_subtopic=item_subtopic, n_subtopics=6
    )
    _, plain = per_user_metrics(scores, relevant, exclude, (5, 10))
    for name, values in plain.items():
        np.testing.assert_array_equal(with_measures[name], values)
    # the measures from the full ranking, by hand: the 20 best candidates of each user
    for user in range(30):
        candidates = np.flatnonzero(~exclude[user])
        top = candidates[np.argsort(-scores[user, candidates], kind="stable")][:20]
        listed = set(item_subtopic[top].tolist()) - {-1}
        engaged = set(item_subtopic[relevant[user]].tolist()) - {-1}
        coverage = len(engaged & listed) / len(engaged) if engaged else np.nan
        np.testing.assert_allclose(with_measures["coverage@20"][user], coverage)
        assert with_measures["diversity@20"][user] == pytest.approx(len(listed) / 20)


@pytest.mark.parametrize(
    ("counts", "groups", "thresholds"),
    [
        ([5, 1, 9, 2, 8, 3, 7, 4, 6], [1, 0, 2, 0, 2, 0, 2, 1, 1], (3, 6)),
        ([1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 2, 2], (2, 4)),
        # ties stay together: four users at one event are all light, none is medium
        ([1, 1, 1, 1, 5, 9], [0, 0, 0, 0, 2, 2], (1, 1)),
    ],
)
def test_activity_groups_are_tertiles_of_training_events(counts, groups, thresholds):
    labels, bounds = activity_groups(np.array(counts))
    assert labels.tolist() == groups
    assert bounds == thresholds
