"""Split protocols: each user's training events end before their test events; the validation slice is cut from training only."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.evaluation.scoring_methods import RELEVANT_EVENT_TYPES
from interest_pipeline.core.evaluation.splits import SplitParams, held_out_count, split_events, validation_split

T0 = dt.datetime(2026, 1, 1)


def random_log(seed: int, n_users: int = 40, n_events: int = 600) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    types = ["view", "click", "purchase", "rate", "review", "search"]
    return pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n_events)],
            "user_id": [f"u{u}" for u in rng.integers(0, n_users, n_events)],
            "item_id": [f"i{i}" for i in rng.integers(0, 50, n_events)],
            "event_type": [types[t] for t in rng.integers(0, len(types), n_events)],
            # whole hours over a year, so that some events of a user share an instant
            "event_ts": [T0 + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 365, n_events)],
        },
        schema={
            "event_id": pl.String,
            "user_id": pl.String,
            "item_id": pl.String,
            "event_type": pl.String,
            "event_ts": pl.Datetime("us"),
        },
    )


PROTOCOLS = [
    SplitParams("per_user", test_fraction=0.2),
    SplitParams("per_user", test_events=3),
    SplitParams("leave_last_one"),
    SplitParams("global_cutoff", cutoff_fraction=0.7),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("params", PROTOCOLS, ids=lambda p: f"{p.protocol}-{p.test_events or p.test_fraction}")
def test_no_training_event_is_after_a_test_event_of_the_same_user(seed, params):
    log = random_log(seed)
    split = split_events(log, params, RELEVANT_EVENT_TYPES)
    assert split.train.height + split.test.height == log.height
    last_train = split.train.group_by("user_id").agg(pl.col("event_ts").max().alias("last_train"))
    first_test = split.test.group_by("user_id").agg(pl.col("event_ts").min().alias("first_test"))
    both = last_train.join(first_test, on="user_id", how="inner")
    assert both.height > 0
    assert (both["last_train"] < both["first_test"]).all()
    validation = validation_split(split.train, params, RELEVANT_EVENT_TYPES)
    assert validation.train.height + validation.test.height == split.train.height
    assert set(validation.test["event_id"]) <= set(
        split.train["event_id"]
    )  # the validation slice never holds a test event


def test_per_user_holds_out_each_users_last_fraction_of_relevant_events():
    log = random_log(3)
    params = SplitParams("per_user", test_fraction=0.25)
    split = split_events(log, params, RELEVANT_EVENT_TYPES)
    anchors = log.filter(pl.col("event_type").is_in(RELEVANT_EVENT_TYPES))
    for user, group in anchors.group_by("user_id"):
        held = split.test.filter(
            (pl.col("user_id") == user[0]) & pl.col("event_type").is_in(RELEVANT_EVENT_TYPES)
        ).height
        # events at the boundary instant all go to the test side, so at least the planned count
        assert held >= held_out_count(group.height, params)
        assert held_out_count(group.height, params) == max(1, -(-group.height // 4))


def test_leave_last_one_and_cold_start():
    rows = [
        ("e1", "u1", "a", "click", T0),
        ("e2", "u1", "b", "view", T0 + dt.timedelta(days=1)),
        ("e3", "u1", "c", "purchase", T0 + dt.timedelta(days=200)),
        ("e4", "u2", "a", "click", T0 + dt.timedelta(days=5)),  # one event only: no history
        ("e5", "u3", "a", "view", T0),  # no anchor event: all training
    ]
    log = pl.DataFrame(
        rows,
        schema={
            "event_id": pl.String,
            "user_id": pl.String,
            "item_id": pl.String,
            "event_type": pl.String,
            "event_ts": pl.Datetime("us"),
        },
        orient="row",
    )
    split = split_events(log, SplitParams("leave_last_one"), RELEVANT_EVENT_TYPES)
    assert sorted(split.test["event_id"]) == ["e3", "e4"]
    assert split.users_with_history(["u1", "u2", "u3"]) == [True, False, True]
    with pytest.raises(ValueError, match="unknown split protocol"):
        SplitParams("random")
