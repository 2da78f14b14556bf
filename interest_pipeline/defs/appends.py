"""Keys whose inputs only gained rows later than any they had: updated from their new rows alone.

A table kept incrementally (:mod:`interest_pipeline.defs.incremental`) rebuilds a key from all its
input rows when they changed. For the user features that is the user's whole history, although a
new day usually only appends to it. This module tells the two apart, for a build that keeps
per key a decayed sum (:mod:`interest_pipeline.core.features.decayed_sums`):

- per (table, key) the state of the last build is stored: the number of input rows and the sum of
  their hashes (the two halves of the key's fingerprint), the time of the newest input row, and
  the reference time and norm of the key's decayed sum;
- a key is *appended* when its inputs now are exactly the stored ones plus rows later than the
  stored newest one: the count and the hash sum of those later rows added to the stored ones give
  the current ones. Anything else (a row changed, removed or arriving late, a re-ingested day) is
  not an append, and the key is rebuilt from all its rows as before.

The totals are computed in DuckDB into a temporary table, so the 128-bit hash sums never leave it;
the state is written in the build's own transaction (``store_changes``'s ``also``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from interest_pipeline.core.features.decayed_sums import DecayedSums
from interest_pipeline.defs.incremental import Changes, key_fingerprint, row_hash
from interest_pipeline.defs.warehouse import read_frame, table_exists

APPEND_STATE_TABLE = "append_state"
_TOTALS = "_append_totals"


@dataclass(frozen=True)
class KeyTotals:
    """This build's fingerprints, and the keys whose inputs only gained later rows."""

    fingerprints: pl.DataFrame  # key, fingerprint: what ``find_changes`` compares
    appendable: pl.DataFrame  # key, stored_last_ts: keys that are appends of their stored inputs

    def split(self, changes: Changes) -> tuple[pl.Series, pl.DataFrame]:
        """The changed keys to rebuild from all their rows, and those to update from their new
        rows (with the stored newest time); on a full build every key is rebuilt."""
        if changes.full:
            return changes.changed, self.appendable.clear()
        appended = self.appendable.join(changes.changed.to_frame("key"), on="key", how="semi")
        return changes.changed.filter(~changes.changed.is_in(appended["key"].implode())), appended


def key_totals(
    conn: duckdb.DuckDBPyConnection, table: str, source_sql: str, key_sql: str, ts_sql: str, columns: Sequence[str]
) -> KeyTotals:
    """Per key of ``source_sql``: its fingerprint (as :func:`key_fingerprints` computes it over
    ``columns``) and whether its rows are the stored ones of ``table`` plus later rows (by ``ts_sql``)."""
    hashed = row_hash(columns)
    if table_exists(conn, APPEND_STATE_TABLE):
        stored, params = (
            f"(SELECT key, n_rows, hash_sum, last_ts FROM {APPEND_STATE_TABLE} WHERE table_name = ?)",
            [table],
        )
    else:
        stored, params = (
            "(SELECT NULL::VARCHAR AS key, NULL::BIGINT AS n_rows, NULL::HUGEINT AS hash_sum, NULL::TIMESTAMP AS last_ts WHERE false)",
            [],
        )
    later = "r.ts > s.last_ts"
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_TOTALS} AS
        WITH r AS (SELECT ({key_sql})::VARCHAR AS key, ({ts_sql})::TIMESTAMP AS ts, ({hashed})::HUGEINT AS h FROM ({source_sql}))
        SELECT r.key, {key_fingerprint("r.h")} AS fingerprint, count(*) AS n_rows, sum(r.h) AS hash_sum, max(r.ts) AS last_ts,
               any_value(s.last_ts) AS stored_last_ts,
               coalesce(count(*) FILTER ({later}) > 0
                        AND any_value(s.n_rows) + count(*) FILTER ({later}) = count(*)
                        AND any_value(s.hash_sum) + coalesce(sum(r.h) FILTER ({later}), 0) = sum(r.h), false) AS appendable
        FROM r LEFT JOIN {stored} s USING (key)
        GROUP BY r.key
        """,
        params,
    )
    fingerprints = read_frame(conn, f"SELECT key, fingerprint FROM {_TOTALS}")
    appendable = read_frame(conn, f"SELECT key, stored_last_ts FROM {_TOTALS} WHERE appendable")
    return KeyTotals(fingerprints, appendable)


def stored_sums(conn: duckdb.DuckDBPyConnection, table: str, keys: pl.Series, unit_vectors: np.ndarray) -> DecayedSums:
    """The decayed sums of ``keys`` as the last build left them: the table's unit vectors
    (``unit_vectors``, rows aligned with ``keys``) scaled by the stored norms."""
    conn.register(
        "_keys",
        pl.DataFrame({"key": keys, "position": np.arange(keys.len())}, schema={"key": pl.String, "position": pl.Int64}),
    )
    try:
        state = read_frame(
            conn,
            f"SELECT k.position, s.reference_ts, s.norm FROM _keys k JOIN {APPEND_STATE_TABLE} s ON s.key = k.key AND s.table_name = ? ORDER BY k.position",
            [table],
        )
    finally:
        conn.unregister("_keys")
    if state.height != keys.len():
        raise ValueError(f"{table}: {keys.len() - state.height} appended key(s) without a stored state")
    return DecayedSums.from_stored(
        keys.to_list(), unit_vectors, state["norm"].to_numpy(), state["reference_ts"].to_numpy()
    )


def store_state(conn: duckdb.DuckDBPyConnection, changes: Changes, sums: DecayedSums) -> None:
    """Inside ``store_changes``'s transaction: the state of the keys this build wrote (every
    key on a full build), with the reference times and norms of their ``sums`` (keys without
    a sum get a zero norm)."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {APPEND_STATE_TABLE} (table_name VARCHAR NOT NULL, key VARCHAR NOT NULL, n_rows BIGINT NOT NULL, "
        "hash_sum HUGEINT NOT NULL, last_ts TIMESTAMP, reference_ts TIMESTAMP, norm DOUBLE NOT NULL)"
    )
    conn.register(
        "_sums",
        pl.DataFrame(
            {"key": sums.keys, "reference_ts": sums.reference_ts, "norm": sums.norms},
            schema={"key": pl.String, "reference_ts": pl.Datetime("us"), "norm": pl.Float64},
        ),
    )
    try:
        written = "" if changes.full else " SEMI JOIN _dropped d ON d.key = t.key"
        only_dropped = "" if changes.full else " AND key IN (SELECT key FROM _dropped)"
        conn.execute(f"DELETE FROM {APPEND_STATE_TABLE} WHERE table_name = ?{only_dropped}", [changes.table])
        conn.execute(
            f"INSERT INTO {APPEND_STATE_TABLE} SELECT ?, t.key, t.n_rows, t.hash_sum, t.last_ts, v.reference_ts, coalesce(v.norm, 0) "
            f"FROM {_TOTALS} t{written} LEFT JOIN _sums v ON v.key = t.key",
            [changes.table],
        )
    finally:
        conn.unregister("_sums")


def read_appended_rows(
    conn: duckdb.DuckDBPyConnection, sql: str, appended: pl.DataFrame, key_column: str, ts_column: str
) -> pl.DataFrame:
    """The rows of ``sql`` later than their key's stored newest row, for the ``appended`` keys.
    ``sql`` marks with ``{only_new}`` the place after its FROM clause where the filter goes."""
    conn.register("_appended", appended.rename({"key": key_column}))
    try:
        return read_frame(
            conn, sql.format(only_new=f"JOIN _appended _a USING ({key_column}) WHERE {ts_column} > _a.stored_last_ts")
        )
    finally:
        conn.unregister("_appended")
