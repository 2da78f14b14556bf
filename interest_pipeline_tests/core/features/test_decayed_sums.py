"""A user's decayed sum over old and new rows is the old sum brought forward plus the new one."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.features.decayed_sums import DecayedSums, add_decayed, decay_factor
from interest_pipeline.core.features.user_features import (
    activity_statistics,
    add_activity_statistics,
    user_behavior_sums,
    user_text_sums,
)

START = dt.datetime(2024, 1, 1)
WEIGHTS = {"view": 1.0, "click": 2.0, "purchase": 6.0}


def _events(rng, n_users=40, n_items=30, n_events=1500, days=400):
    seconds = np.sort(rng.integers(0, days * 86_400, n_events))
    return pl.DataFrame(
        {
            "user_id": [f"u{u:02d}" for u in rng.integers(0, n_users, n_events)],
            "item_id": [f"i{i:02d}" for i in rng.integers(0, n_items, n_events)],
            "event_type": rng.choice(list(WEIGHTS), n_events).tolist(),
            "event_ts": [START + dt.timedelta(seconds=int(s)) for s in seconds],
        }
    )


def _split_after_each_users_cut(events, cut):
    """Old rows up to ``cut``; new rows after it, but only for users who had old rows (the append case)."""
    old = events.filter(pl.col("event_ts") <= cut)
    new = events.filter((pl.col("event_ts") > cut) & pl.col("user_id").is_in(old["user_id"].unique().implode()))
    return old, new


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bringing_the_old_sum_forward_and_adding_the_new_rows_gives_the_sum_over_all_rows(seed):
    rng = np.random.default_rng(seed)
    items = [f"i{i:02d}" for i in range(30)]
    item_vectors = rng.normal(size=(30, 8)).astype(np.float32)
    events = _events(rng)
    old, new = _split_after_each_users_cut(events, START + dt.timedelta(days=300))
    everything = pl.concat([old, new])
    full = user_behavior_sums(everything, items, item_vectors, 30.0, WEIGHTS)
    earlier = user_behavior_sums(old, items, item_vectors, 30.0, WEIGHTS)
    brought = add_decayed(
        earlier, user_behavior_sums(new, items, item_vectors, 30.0, WEIGHTS).reindexed(earlier.keys), 30.0
    )
    assert brought.keys == full.keys
    np.testing.assert_array_equal(brought.reference_ts, full.reference_ts)
    np.testing.assert_allclose(brought.sums, full.sums, rtol=1e-10, atol=1e-10)
    # kept as a float32 unit vector and a norm, as the warehouse keeps it: float32's tolerance
    stored = DecayedSums.from_stored(earlier.keys, earlier.unit_vectors, earlier.norms, earlier.reference_ts)
    via_stored = add_decayed(
        stored, user_behavior_sums(new, items, item_vectors, 30.0, WEIGHTS).reindexed(earlier.keys), 30.0
    )
    np.testing.assert_allclose(via_stored.unit_vectors, full.unit_vectors, atol=1e-6)
    assert np.abs(via_stored.unit_vectors - full.unit_vectors).max() > 0  # really went through float32
    # a sum brought forward is not the sum left where it was (the decay does matter)
    assert not np.allclose(
        earlier.sums + user_behavior_sums(new, items, item_vectors, 30.0, WEIGHTS).reindexed(earlier.keys).sums,
        full.sums,
    )


def test_text_sums_add_up_the_same_way_and_keys_without_new_rows_keep_their_sum():
    rng = np.random.default_rng(5)
    events = _events(rng, n_users=12, n_events=300)
    vectors = rng.normal(size=(events.height, 6))
    cut = START + dt.timedelta(days=250)
    # u00 and u01 have no new rows
    events = events.filter((pl.col("event_ts") <= cut) | ~pl.col("user_id").is_in(["u00", "u01"]))
    vectors = vectors[: events.height]
    is_old = (events["event_ts"] <= cut).to_numpy()
    old, new = events.filter(pl.Series(is_old)), events.filter(pl.Series(~is_old))
    full = user_text_sums(events, vectors, 10.0)
    earlier = user_text_sums(old, vectors[is_old], 10.0)
    later = user_text_sums(new, vectors[~is_old], 10.0)
    keys = sorted(set(earlier.keys) | set(later.keys))
    combined = add_decayed(earlier.reindexed(keys), later.reindexed(keys), 10.0)
    assert combined.keys == full.keys
    np.testing.assert_allclose(combined.sums, full.sums, rtol=1e-10, atol=1e-10)
    untouched = [k for k in earlier.keys if k not in later.keys]
    assert untouched == ["u00", "u01"]
    position = {k: i for i, k in enumerate(earlier.keys)}
    for key in untouched:
        np.testing.assert_array_equal(combined.sums[combined.keys.index(key)], earlier.sums[position[key]])


def test_a_key_without_a_sum_takes_the_other_one_and_time_never_runs_back():
    a = DecayedSums(
        ["x", "y"], np.array([[1.0, 0.0], [0.0, 0.0]]), np.array(["2024-01-01", "NaT"], dtype="datetime64[us]")
    )
    b = DecayedSums(
        ["x", "y"], np.array([[0.0, 0.0], [0.0, 3.0]]), np.array(["NaT", "2024-02-01"], dtype="datetime64[us]")
    )
    combined = add_decayed(a, b, 7.0)
    np.testing.assert_array_equal(combined.sums, [[1.0, 0.0], [0.0, 3.0]])
    np.testing.assert_array_equal(combined.reference_ts, np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[us]"))
    assert decay_factor(
        np.array(["2024-01-01"], dtype="datetime64[us]"), np.array(["2024-01-15"], dtype="datetime64[us]"), 7.0
    )[0] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="earlier time"):
        decay_factor(
            np.array(["2024-01-15"], dtype="datetime64[us]"), np.array(["2024-01-01"], dtype="datetime64[us]"), 7.0
        )
    with pytest.raises(ValueError, match="different keys"):
        add_decayed(a, DecayedSums(["y", "x"], b.sums, b.reference_ts), 7.0)


@pytest.mark.parametrize("cut_hour", [0, 13])  # at midnight, and inside a day some users were active on
def test_activity_statistics_of_stored_users_add_the_new_events(cut_hour):
    rng = np.random.default_rng(cut_hour)
    events = _events(rng, n_users=25, n_events=4000, days=60)  # ~3 events a user a day: the cut day is shared
    cut = START + dt.timedelta(days=40, hours=cut_hour)
    old, new = _split_after_each_users_cut(events, cut)
    reference = START + dt.timedelta(days=61)
    stored = activity_statistics(old, reference)
    appended_users = new["user_id"].unique().implode()
    updated = add_activity_statistics(stored.filter(pl.col("user_id").is_in(appended_users)), new, reference)
    expected = activity_statistics(pl.concat([old, new]), reference).filter(pl.col("user_id").is_in(appended_users))
    assert updated.height > 5
    assert updated.equals(expected)


def test_activity_statistics_refuse_new_events_that_are_not_later_than_the_stored_ones():
    rng = np.random.default_rng(3)
    events = _events(rng, n_users=5, n_events=100, days=30)
    reference = START + dt.timedelta(days=31)
    stored = activity_statistics(events, reference)
    late = events.head(1)  # an event the stored statistics already end after
    with pytest.raises(ValueError, match="not later"):
        add_activity_statistics(stored, late, reference)
