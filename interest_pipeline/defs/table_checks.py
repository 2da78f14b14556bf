"""A factory of schema and non-null checks for warehouse tables, used by each stage's checks.py."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check
from dagster_duckdb import DuckDBResource


def table_schema_check(asset: str, columns: dict[str, str], non_null: tuple[str, ...] = (), table: str | None = None):
    """Fails when a column is missing or of another type, or a required column holds nulls."""
    table = table or asset

    @asset_check(
        asset=asset,
        name="schema_and_non_null",
        description=f"Columns and types of {table} as documented; no nulls in {', '.join(non_null) or 'any key column'}.",
        blocking=False,
    )
    def _check(warehouse: DuckDBResource) -> AssetCheckResult:
        with warehouse.get_connection() as conn:
            found = dict(
                conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                    [table],
                ).fetchall()
            )
            null_counts = {
                c: conn.execute(f'SELECT count(*) FROM "{table}" WHERE "{c}" IS NULL').fetchone()[0] for c in non_null if c in found
            }
        problems = [f"missing column {c}" for c in columns if c not in found]
        problems += [f"{c} is {found[c]}, expected {t}" for c, t in columns.items() if c in found and found[c] != t]
        problems += [f"{c} has {n} nulls" for c, n in null_counts.items() if n]
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.ERROR,
            metadata={"problems": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"), "columns": len(found)},
        )

    return _check
