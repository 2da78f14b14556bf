"""DuckDB reads and atomic writes of polars frames, and the embedding cache.

Every write is one transaction: a table or a set of partitions is replaced entirely or not
at all, so re-running anything is safe. Table names are identifiers of this module's
callers, never user input; values always travel as registered frames or parameters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from interest_pipeline.core.common.vectors import series_to_vectors, vectors_to_series
from interest_pipeline.core.text.encoding import text_hashes


def _is_lock_error(error: Exception) -> bool:
    return "lock" in str(error).lower()


def connect_with_retry(
    database: str, read_only: bool = True, attempts: int = 10, first_delay: float = 0.05, max_delay: float = 2.0
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, retrying with bounded exponential back-off while another process
    holds its lock (a writer, or a reader during a write); the last lock error is raised."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return duckdb.connect(database, read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as error:
            if attempt == attempts or not _is_lock_error(error):
                raise
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


def quote_identifier(identifier: str) -> str:
    """A table or column name as a quoted SQL identifier (names are never interpolated raw)."""
    return '"' + identifier.replace('"', '""') + '"'


_quote = quote_identifier


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()
    return bool(found and found[0])


def table_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", [table]
        ).fetchall()
    ]


# What each table was built with (its asset's parameters), one JSON record per table, written in
# the same transaction as the table, so downstream assets rebuild things exactly as it was built.
PARAMETERS_TABLE = "asset_parameters"


def read_frame(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence | None = None) -> pl.DataFrame:
    return conn.execute(sql, params or []).pl()


def replace_table(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    parameters: Mapping[str, object] | None = None,
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> None:
    """Replace a whole table with ``frame`` in one transaction, with the ``parameters`` it was
    built with (JSON-serialisable; see :func:`read_parameters`) when given; ``also`` runs more
    statements inside the transaction."""
    conn.register("_incoming", frame)
    try:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"CREATE OR REPLACE TABLE {_quote(table)} AS SELECT * FROM _incoming")
        if parameters is not None:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_quote(PARAMETERS_TABLE)} (table_name VARCHAR PRIMARY KEY, parameters VARCHAR NOT NULL)"
            )
            conn.execute(
                f"INSERT OR REPLACE INTO {_quote(PARAMETERS_TABLE)} VALUES (?, ?)",
                [table, json.dumps(parameters, sort_keys=True)],
            )
        if also is not None:
            also(conn)
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.unregister("_incoming")


def read_parameters(conn: duckdb.DuckDBPyConnection, table: str) -> dict:
    """The parameters ``table`` was last built with, as stored by :func:`replace_table`."""
    row = None
    if table_exists(conn, PARAMETERS_TABLE):
        row = conn.execute(
            f"SELECT parameters FROM {_quote(PARAMETERS_TABLE)} WHERE table_name = ?", [table]
        ).fetchone()
    if row is None:
        raise LookupError(
            f"no parameters are stored for table {table!r} (table {PARAMETERS_TABLE}): materialize {table} again"
        )
    return json.loads(row[0])


def replace_partitions(
    conn: duckdb.DuckDBPyConnection,
    tables: dict[str, pl.DataFrame],
    partition_column: str,
    partition_values: Sequence,
) -> None:
    """Replace the given partitions of several tables together, atomically."""
    try:
        conn.execute("BEGIN TRANSACTION")
        for table, frame in tables.items():
            conn.register("_incoming", frame)
            conn.execute(f"CREATE TABLE IF NOT EXISTS {_quote(table)} AS SELECT * FROM _incoming LIMIT 0")
            conn.execute(
                f"DELETE FROM {_quote(table)} WHERE {_quote(partition_column)} IN (SELECT UNNEST(?))",
                [list(partition_values)],
            )
            conn.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT * FROM _incoming")
            conn.unregister("_incoming")
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise


def stored_partitions(conn: duckdb.DuckDBPyConnection, log_dates: Sequence) -> list:
    """Those of ``log_dates`` for which the ingest tables hold any row."""
    if not log_dates:
        return []
    found: set = set()
    for table in ("raw_behavior_logs", "rejected_events"):
        if table_exists(conn, table):
            rows = conn.execute(
                f"SELECT DISTINCT log_date FROM {_quote(table)} WHERE log_date IN (SELECT UNNEST(?))", [list(log_dates)]
            )
            found.update(r[0] for r in rows.fetchall())
    return sorted(found)


def stored_source_files(conn: duckdb.DuckDBPyConnection, log_dates: Sequence) -> pl.DataFrame:
    """(log_date, source_file, rows): the stored rows of ``log_dates`` per file they came from,
    accepted and quarantined together."""
    empty = pl.DataFrame(schema={"log_date": pl.Date, "source_file": pl.String, "rows": pl.Int64})
    tables = [t for t in ("raw_behavior_logs", "rejected_events") if table_exists(conn, t)]
    if not log_dates or not tables:
        return empty
    union = " UNION ALL ".join(f"SELECT log_date, source_file FROM {_quote(t)}" for t in tables)
    found = read_frame(
        conn,
        f"SELECT log_date, source_file, count(*) AS rows FROM ({union}) WHERE log_date IN (SELECT UNNEST(?)) "
        "GROUP BY log_date, source_file ORDER BY log_date, source_file",
        [list(log_dates)],
    )
    return found.cast(empty.schema) if found.height else empty


def catalogued_item_ids(conn: duckdb.DuckDBPyConnection) -> pl.Series | None:
    """The item ids of the stored catalogue, or None while no catalogue is stored."""
    if not table_exists(conn, "item_catalog"):
        return None
    return read_frame(conn, "SELECT item_id FROM item_catalog")["item_id"].cast(pl.String)


def users_only_on_uncatalogued_items(conn: duckdb.DuckDBPyConnection) -> pl.Series:
    """Users whose every item event is on an item missing from the stored catalogue (none without one)."""
    if not table_exists(conn, "item_catalog") or not table_exists(conn, "raw_behavior_logs"):
        return pl.Series("user_id", [], dtype=pl.String)
    # in SQL: no event frame in memory
    return read_frame(
        conn,
        "SELECT e.user_id FROM raw_behavior_logs e LEFT JOIN item_catalog c ON c.item_id = e.item_id "
        "WHERE e.item_id IS NOT NULL GROUP BY e.user_id HAVING count(c.item_id) = 0 ORDER BY e.user_id",
    )["user_id"].cast(pl.String)


def stored_event_ids(conn: duckdb.DuckDBPyConnection, event_ids: pl.DataFrame, except_dates: Sequence) -> pl.DataFrame:
    """(event_id, log_date) of stored events with one of ``event_ids``, outside ``except_dates``."""
    empty = pl.DataFrame(schema={"event_id": pl.String, "log_date": pl.Date})
    if not event_ids.height or not table_exists(conn, "raw_behavior_logs"):
        return empty
    conn.register("_run_event_ids", event_ids.select("event_id"))
    try:
        found = read_frame(
            conn,
            "SELECT r.event_id, min(r.log_date) AS log_date FROM raw_behavior_logs r JOIN _run_event_ids USING (event_id) "
            "WHERE r.log_date NOT IN (SELECT UNNEST(?)) GROUP BY r.event_id",
            [list(except_dates)],
        )
    finally:
        conn.unregister("_run_event_ids")
    return found.cast({"event_id": pl.String, "log_date": pl.Date}) if found.height else empty


# The texts the embedding model is chosen for: comments and the catalogue, as tokenized.
_TEXT_TABLES = ("tokenized_comments", "item_catalog")
EMBEDDING_TABLES = ("item_embeddings", "comment_embeddings")


def texts_per_language(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Non-empty comments and catalogue texts per detected language (``""``: no letters)."""
    counts: dict[str, int] = {}
    for table in _TEXT_TABLES:
        if table_exists(conn, table):
            for language, n in conn.execute(
                f"SELECT language, count(*) FROM {_quote(table)} WHERE text_clean <> '' GROUP BY language"
            ).fetchall():
                counts[language or ""] = counts.get(language or "", 0) + n
    return counts


def embedding_model_key(conn: duckdb.DuckDBPyConnection) -> str:
    """The model (cache key) both embedding tables were built with; an error names each table's
    model when they differ (one was rebuilt after the corpus's languages changed the choice)."""
    keys = {table: read_parameters(conn, table)["model"] for table in EMBEDDING_TABLES}
    if len(set(keys.values())) > 1:
        built = "; ".join(f"{table} with {key}" for table, key in keys.items())
        raise ValueError(f"the embeddings come from two models ({built}): materialize both embedding assets together")
    return keys[EMBEDDING_TABLES[0]]


@dataclass(frozen=True)
class EmbeddingOutcome:
    vectors: np.ndarray  # one row per input text, in input order
    hashes: list[str]
    n_distinct: int
    n_from_cache: int
    n_embedded: int
    encode_seconds: float

    @property
    def texts_per_second(self) -> float:
        return self.n_embedded / self.encode_seconds if self.encode_seconds > 0 else float("nan")


def embed_with_cache(conn: duckdb.DuckDBPyConnection, texts: list[str], model_key: str, encode) -> EmbeddingOutcome:
    """Embed each distinct text once, ever: look up (model, text hash) first, encode the rest."""
    if not texts:  # nothing new since the last build
        return EmbeddingOutcome(np.zeros((0, 0), dtype=np.float32), [], 0, 0, 0, 0.0)
    # No primary key: DuckDB writes a table's whole key index at every checkpoint, seconds per
    # daily update at a few hundred thousand texts; the insert below keeps (model, hash) unique.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS embedding_cache (model VARCHAR NOT NULL, text_hash VARCHAR NOT NULL, embedding FLOAT[] NOT NULL)"
    )
    hashes = text_hashes(texts)
    distinct = pl.DataFrame(
        {"text_hash": hashes, "text": texts}, schema={"text_hash": pl.String, "text": pl.String}
    ).unique("text_hash", keep="first", maintain_order=True)
    conn.register("_wanted", distinct.select("text_hash"))
    cached = read_frame(
        conn,
        "SELECT c.text_hash, c.embedding FROM embedding_cache c JOIN _wanted w USING (text_hash) WHERE c.model = ?",
        [model_key],
    )
    conn.unregister("_wanted")
    cached = cached.unique("text_hash", keep="first", maintain_order=True)
    missing = distinct.join(cached.select("text_hash"), on="text_hash", how="anti")

    start = time.perf_counter()
    new_vectors = encode(missing["text"].to_list()) if missing.height else None
    seconds = time.perf_counter() - start
    if missing.height:
        fresh = missing.select(pl.lit(model_key).alias("model"), "text_hash").with_columns(
            vectors_to_series("embedding", new_vectors)
        )
        conn.register("_fresh", fresh)
        conn.execute(
            "INSERT INTO embedding_cache SELECT f.model, f.text_hash, f.embedding FROM _fresh f"
            " ANTI JOIN embedding_cache c ON c.model = f.model AND c.text_hash = f.text_hash"
        )
        conn.unregister("_fresh")
        cached = pl.concat([cached, fresh.select("text_hash", pl.col("embedding").cast(cached.schema["embedding"]))])

    dim = new_vectors.shape[1] if new_vectors is not None else None
    lookup = cached.with_row_index("_row")
    order = pl.DataFrame({"text_hash": hashes}, schema={"text_hash": pl.String}).join(
        lookup.select("text_hash", "_row"), on="text_hash", how="left", maintain_order="left"
    )
    matrix = series_to_vectors(lookup["embedding"], dim)
    vectors = matrix[order["_row"].to_numpy()] if len(hashes) else matrix[:0]
    return EmbeddingOutcome(
        vectors=vectors,
        hashes=hashes,
        n_distinct=distinct.height,
        n_from_cache=distinct.height - missing.height,
        n_embedded=missing.height,
        encode_seconds=seconds,
    )
