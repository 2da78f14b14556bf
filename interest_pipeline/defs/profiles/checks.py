"""Checks on the interest layers."""

from dagster import AssetCheckResult, MetadataValue, asset_check
from dagster_duckdb import DuckDBResource


@asset_check(
    asset="user_interest_layers",
    name="every_user_has_layers_or_is_cold_start",
    description="Every user in fused_user_features has at least one layer row, or is flagged cold-start.",
)
def every_user_covered(warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        uncovered = conn.execute(
            "SELECT f.user_id FROM fused_user_features f"
            " WHERE NOT f.is_cold_start AND f.user_id NOT IN (SELECT user_id FROM user_interest_layers WHERE source = 'activity') ORDER BY 1"
        ).fetchall()
        shares = conn.execute(
            "SELECT count(*) FROM (SELECT user_id, level, sum(share_long) s FROM user_interest_layers GROUP BY ALL)"
            " WHERE abs(s - 1) > 1e-6"
        ).fetchone()[0]
        no_rows = conn.execute("SELECT count(*) FROM fused_user_features WHERE user_id NOT IN (SELECT user_id FROM user_interest_layers)").fetchone()[0]
    problems = [f"{len(uncovered)} users without layers of their own and not cold-start"] if uncovered else []
    if no_rows:
        problems.append(f"{no_rows} users without any layer row (not even the popular fallback)")
    if shares:
        problems.append(f"{shares} (user, level) pairs whose long-term shares do not sum to 1")
    return AssetCheckResult(
        passed=not problems,
        metadata={
            "problems": MetadataValue.md("\n".join(problems) or "none"),
            "examples": ", ".join(u for (u,) in uncovered[:10]) or "none",
        },
    )
