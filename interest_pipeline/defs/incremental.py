"""Daily updates that redo only what changed, and give the tables a full rebuild would give.

Each incrementally kept table stores, beside its rows, a fingerprint of the inputs of every key
(a user, a comment, an item): a hash over the input rows of that key, computed in DuckDB. On the
next build the asset computes the fingerprints again and rebuilds only the keys whose inputs are
new or differ, and deletes the keys whose inputs are gone. Whatever the keys share (the asset's
parameters, the item embeddings a behaviour vector is built from, the taxonomy's run) is the
build's *context*: when it differs from the stored one, or nothing is stored, every key is
rebuilt. Rows, fingerprints and parameters are written in one transaction, so a failed or
interrupted update leaves the previous state whole, and re-running an update is a no-op.

Nothing here depends on new data arriving in date order: a backfilled or re-ingested old
partition changes the fingerprints of exactly the users and texts it touches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import polars as pl
from dagster import Config
from pydantic import Field

from interest_pipeline.defs.tracking import package_code_version
from interest_pipeline.defs.warehouse import PARAMETERS_TABLE, quote_identifier, read_frame, table_exists

FINGERPRINTS_TABLE = "input_fingerprints"
CONTEXT_TABLE = "input_contexts"


def row_hash(columns: Sequence[str]) -> str:
    """SQL for one input row's hash; several rows of a key are combined by :func:`key_fingerprint`."""
    return f"hash({', '.join(columns)})"


def key_fingerprint(row_hash_sql: str) -> str:
    """SQL aggregate over a key's input rows: their number and the sum of their hashes (order-free,
    and unlike XOR two equal rows do not cancel)."""
    return f"hash(count(*), sum(({row_hash_sql})::HUGEINT))"


def context_fingerprint(context: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(context, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Changes:
    """What a build must redo: every key (``full``), or the keys in ``changed`` and ``removed``."""

    table: str
    full: bool
    reason: str
    fingerprints: pl.DataFrame  # key, fingerprint: the inputs of this build
    changed: pl.Series  # keys whose inputs are new or differ (every key when full)
    removed: pl.Series  # keys stored before whose inputs are gone
    context: str

    @property
    def summary(self) -> dict[str, object]:
        return {
            "update": "full" if self.full else "incremental",
            "update_reason": self.reason,
            "keys_rebuilt": self.changed.len(),
            "keys_removed": self.removed.len(),
            "keys_kept": self.fingerprints.height - self.changed.len(),
        }


def stored_context(conn: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The context ``table`` was last built with (None before its first incremental build)."""
    if not table_exists(conn, CONTEXT_TABLE):
        return None
    row = conn.execute(f"SELECT context FROM {CONTEXT_TABLE} WHERE table_name = ?", [table]).fetchone()
    return row[0] if row else None


def find_changes(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    fingerprints: pl.DataFrame,
    context: Mapping[str, object],
    full_refresh: bool = False,
) -> Changes:
    """Compare this build's ``fingerprints`` (key, fingerprint) and ``context`` with those stored for ``table``."""
    fingerprints = fingerprints.select(pl.col("key").cast(pl.String), pl.col("fingerprint").cast(pl.UInt64))
    # another version of the code may compute other rows from the same inputs: rebuild once
    now = context_fingerprint({**context, "code_version": package_code_version()})
    previous = stored_context(conn, table)
    reason = ""
    if full_refresh:
        reason = "full_refresh requested"
    elif not table_exists(conn, table):
        reason = "first build"
    elif previous is None:
        reason = "no input fingerprints stored"
    elif previous != now:
        reason = "parameters or shared inputs changed"
    if reason:
        return Changes(
            table, True, reason, fingerprints, fingerprints["key"], pl.Series("key", [], dtype=pl.String), now
        )
    stored = read_frame(conn, f"SELECT key, fingerprint FROM {FINGERPRINTS_TABLE} WHERE table_name = ?", [table]).cast(
        {"key": pl.String, "fingerprint": pl.UInt64}
    )
    changed = fingerprints.join(stored, on=["key", "fingerprint"], how="anti")["key"]
    removed = stored.join(fingerprints, on="key", how="anti")["key"]
    return Changes(
        table,
        False,
        "inputs of some keys changed" if changed.len() or removed.len() else "nothing changed",
        fingerprints,
        changed,
        removed,
        now,
    )


def store_changes(
    conn: duckdb.DuckDBPyConnection,
    changes: Changes,
    rows: pl.DataFrame,
    key_sql: str,
    parameters: Mapping[str, object] | None = None,
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    replace_where: str | None = None,
) -> None:
    """Write a build in one transaction: on a full build the whole table, else the rows of the
    rebuilt keys in place of their old ones (and the removed keys' rows deleted). ``key_sql`` is
    the key as an SQL expression over the table's columns; ``also`` runs more statements inside
    the transaction (updates of columns every row shares, such as a recency); rows matching the
    SQL condition ``replace_where`` are replaced too (rows that depend on every key, such as the
    popular fallback, which ``rows`` then holds in full)."""
    table = quote_identifier(changes.table)
    conn.register("_rows", rows)
    conn.register("_fingerprints", changes.fingerprints)
    conn.register(
        "_dropped", pl.DataFrame({"key": pl.concat([changes.changed, changes.removed])}, schema={"key": pl.String})
    )
    try:
        conn.execute("BEGIN TRANSACTION")
        if changes.full:
            conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _rows")
        else:
            also_replaced = f" OR ({replace_where})" if replace_where else ""
            conn.execute(f"DELETE FROM {table} WHERE ({key_sql}) IN (SELECT key FROM _dropped){also_replaced}")
            conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
        if also is not None:
            also(conn)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {FINGERPRINTS_TABLE} (table_name VARCHAR NOT NULL, key VARCHAR NOT NULL, fingerprint UBIGINT NOT NULL)"
        )
        if changes.full:
            conn.execute(f"DELETE FROM {FINGERPRINTS_TABLE} WHERE table_name = ?", [changes.table])
            conn.execute(
                f"INSERT INTO {FINGERPRINTS_TABLE} SELECT ?, key, fingerprint FROM _fingerprints", [changes.table]
            )
        else:
            conn.execute(
                f"DELETE FROM {FINGERPRINTS_TABLE} WHERE table_name = ? AND key IN (SELECT key FROM _dropped)",
                [changes.table],
            )
            conn.execute(
                f"INSERT INTO {FINGERPRINTS_TABLE} SELECT ?, f.key, f.fingerprint FROM _fingerprints f SEMI JOIN _dropped d ON d.key = f.key",
                [changes.table],
            )
        store_context(conn, changes.table, changes.context)
        if parameters is not None:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {PARAMETERS_TABLE} (table_name VARCHAR PRIMARY KEY, parameters VARCHAR NOT NULL)"
            )
            conn.execute(
                f"INSERT OR REPLACE INTO {PARAMETERS_TABLE} VALUES (?, ?)",
                [changes.table, json.dumps(parameters, sort_keys=True)],
            )
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    finally:
        for name in ("_rows", "_fingerprints", "_dropped"):
            conn.unregister(name)


def read_for_changes(
    conn: duckdb.DuckDBPyConnection, sql: str, changes: Changes, key_column: str = "user_id"
) -> pl.DataFrame:
    """The rows of ``sql`` for the keys to rebuild: every row on a full build. ``sql`` marks with
    ``{only_changed}`` the place after its FROM clause where the key filter goes."""
    return read_for_keys(conn, sql, None if changes.full else changes.changed, key_column)


def read_for_keys(
    conn: duckdb.DuckDBPyConnection, sql: str, keys: pl.Series | None, key_column: str = "user_id"
) -> pl.DataFrame:
    """The rows of ``sql`` (with ``{only_changed}`` as in :func:`read_for_changes`) of ``keys``; every row for None."""
    if keys is None:
        return read_frame(conn, sql.format(only_changed=""))
    conn.register("_changed", pl.DataFrame({key_column: keys}, schema={key_column: pl.String}))
    try:
        return read_frame(conn, sql.format(only_changed=f"SEMI JOIN _changed USING ({key_column})"))
    finally:
        conn.unregister("_changed")


def upstream_fingerprints_sql(*tables: str) -> str:
    """SQL for key, fingerprint combining the stored input fingerprints of ``tables`` (full join on
    the key): a table built row by row from those tables needs a key again exactly when one of
    them rebuilt it, without hashing their rows (with their contexts in the build's context)."""
    parts = [
        f"(SELECT key, fingerprint AS f{i} FROM {FINGERPRINTS_TABLE} WHERE table_name = '{t}') t{i}"
        for i, t in enumerate(tables)
    ]
    joined = parts[0] + "".join(f" FULL JOIN {part} USING (key)" for part in parts[1:])
    return f"SELECT key, hash({', '.join(f'f{i}' for i in range(len(tables)))}) AS fingerprint FROM {joined}"


def table_fingerprint(conn: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> str | None:
    """One fingerprint of a whole input table (for the context of a build that reads all of it)."""
    if not table_exists(conn, table):
        return None
    value = conn.execute(f"SELECT {key_fingerprint(row_hash(columns))} FROM {quote_identifier(table)}").fetchone()[0]
    return str(value)


def key_fingerprints(
    conn: duckdb.DuckDBPyConnection, source_sql: str, key_sql: str, columns: Sequence[str]
) -> pl.DataFrame:
    """key, fingerprint of the rows of ``source_sql`` (a query or a table name) grouped by ``key_sql``."""
    return read_frame(
        conn,
        f"SELECT ({key_sql})::VARCHAR AS key, {key_fingerprint(row_hash(columns))} AS fingerprint FROM ({source_sql}) GROUP BY ALL",
    )


def whole_table_context(
    conn: duckdb.DuckDBPyConnection,
    inputs: Mapping[str, str],
    context: Mapping[str, object],
    upstream: Sequence[str] = (),
) -> str:
    """For a table rebuilt whole from all its inputs: one fingerprint of every row it reads
    (``inputs``: name -> query), of ``context`` and of the code version. When it equals the stored
    one (:func:`stored_context`), a build would give the stored table again.

    ``upstream`` names tables kept row by row (:func:`store_changes`) that are read whole: each
    counts by its stored input fingerprints and context, which decide its rows, so its rows are not
    hashed (they are when it has no context stored yet)."""
    queries, upstream_contexts = dict(inputs), {}
    for table in upstream:
        upstream_contexts[table] = stored_context(conn, table)
        queries[table] = (
            upstream_fingerprints_sql(table)
            if upstream_contexts[table] is not None
            else f"SELECT * FROM {quote_identifier(table)}"
        )
    hashed = {
        name: str(conn.execute(f"SELECT {key_fingerprint('hash(q)')} FROM ({sql}) q").fetchone()[0])
        for name, sql in queries.items()
    }
    return context_fingerprint(
        {**context, "inputs": hashed, "upstream": upstream_contexts, "code_version": package_code_version()}
    )


def store_context(conn: duckdb.DuckDBPyConnection, table: str, context: str) -> None:
    """Inside the build's transaction: the context ``table`` was built with (:func:`find_changes`'s, or :func:`whole_table_context`)."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {CONTEXT_TABLE} (table_name VARCHAR PRIMARY KEY, context VARCHAR NOT NULL)"
    )
    conn.execute(f"INSERT OR REPLACE INTO {CONTEXT_TABLE} VALUES (?, ?)", [table, context])


class RebuildConfig(Config):
    """Run config of an asset kept up to date incrementally."""

    full_refresh: bool = Field(
        default=False,
        description="Rebuild every row, not only those whose inputs changed since the last build (the result is the same).",
    )
