"""Input fingerprints: which keys a build must redo, and writes that are whole or not at all."""

import duckdb
import polars as pl
import pytest

from interest_pipeline.defs.incremental import find_changes, key_fingerprints, read_for_changes, store_changes


def _events(conn, rows):
    conn.execute("CREATE OR REPLACE TABLE events (user_id VARCHAR, event_id VARCHAR, value INTEGER)")
    conn.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)


def _build(conn, context=None, full_refresh=False):
    """A toy per-user table: the sum of each user's values, kept incrementally."""
    fingerprints = key_fingerprints(conn, "SELECT * FROM events", "user_id", ["event_id", "value"])
    changes = find_changes(conn, "sums", fingerprints, context or {"p": 1}, full_refresh)
    rows = read_for_changes(
        conn, "SELECT user_id, sum(value)::BIGINT AS total FROM events {only_changed} GROUP BY user_id", changes
    )
    store_changes(conn, changes, rows, "user_id", {"p": 1})
    return changes


def _sums(conn):
    return dict(conn.execute("SELECT user_id, total FROM sums").fetchall())


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        _events(connection, [("a", "e1", 1), ("a", "e2", 2), ("b", "e3", 5)])
        yield connection


def test_the_first_build_is_full_and_a_rerun_redoes_nothing(conn):
    first = _build(conn)
    assert first.full and first.reason == "first build" and _sums(conn) == {"a": 3, "b": 5}
    again = _build(conn)
    assert not again.full and again.changed.len() == 0 and again.removed.len() == 0 and _sums(conn) == {"a": 3, "b": 5}


def test_only_users_with_new_changed_or_removed_events_are_rebuilt(conn):
    _build(conn)
    _events(conn, [("a", "e1", 1), ("a", "e2", 2), ("b", "e3", 6), ("c", "e4", 7)])  # b's event changed, c is new
    changes = _build(conn)
    assert not changes.full and sorted(changes.changed.to_list()) == ["b", "c"] and changes.summary["keys_kept"] == 1
    assert _sums(conn) == {"a": 3, "b": 6, "c": 7}
    _events(conn, [("a", "e1", 1), ("a", "e2", 2), ("a", "e2", 2), ("c", "e4", 7)])  # b is gone; a has a duplicate row
    changes = _build(conn)
    assert changes.removed.to_list() == ["b"] and changes.changed.to_list() == ["a"]  # two equal rows do not cancel out
    assert _sums(conn) == {"a": 5, "c": 7}


@pytest.mark.parametrize(
    "context, full_refresh, reason",
    [({"p": 2}, False, "parameters or shared inputs changed"), ({"p": 1}, True, "full_refresh requested")],
)
def test_another_context_or_a_requested_refresh_rebuilds_every_key(conn, context, full_refresh, reason):
    _build(conn)
    changes = _build(conn, context, full_refresh)
    assert changes.full and changes.reason == reason and changes.changed.len() == 2


def test_a_failed_write_leaves_the_previous_build_whole(conn):
    _build(conn)
    _events(conn, [("a", "e1", 10), ("b", "e3", 5)])
    fingerprints = key_fingerprints(conn, "SELECT * FROM events", "user_id", ["event_id", "value"])
    changes = find_changes(conn, "sums", fingerprints, {"p": 1})
    rows = pl.DataFrame({"user_id": ["a"], "total": [10]})

    def fail(_conn):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store_changes(conn, changes, rows, "user_id", also=fail)
    assert _sums(conn) == {"a": 3, "b": 5}
    assert _build(conn).changed.to_list() == ["a"] and _sums(conn) == {
        "a": 10,
        "b": 5,
    }  # the fingerprints were not advanced either
