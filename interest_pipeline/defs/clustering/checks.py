"""Checks on the taxonomy: a proper tree (quality bounds are checked inside the clustering assets)."""

from dagster import AssetCheckResult, MetadataValue, asset_check
from dagster_duckdb import DuckDBResource


@asset_check(
    asset="interest_hierarchy",
    name="one_parent_per_node",
    description="Exactly one root; every other node has exactly one parent, which exists and sits one level up.",
)
def hierarchy_is_a_tree(warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        problems = [
            row[0]
            for row in conn.execute(
                """
                SELECT 'duplicate node id ' || node_id FROM interest_hierarchy GROUP BY node_id HAVING count(*) > 1
                UNION ALL
                SELECT 'roots: ' || count(*) FROM interest_hierarchy WHERE parent_id IS NULL HAVING count(*) <> 1
                UNION ALL
                SELECT 'node ' || c.node_id || ' (' || c.level || ') has parent ' || coalesce(c.parent_id, 'none')
                       || ' of level ' || coalesce(p.level, 'missing')
                FROM interest_hierarchy c LEFT JOIN interest_hierarchy p ON p.node_id = c.parent_id
                WHERE c.level <> 'root'
                  AND (p.node_id IS NULL OR (c.level = 'topic' AND p.level <> 'root') OR (c.level = 'subtopic' AND p.level <> 'topic'))
                """
            ).fetchall()
        ]
    return AssetCheckResult(
        passed=not problems,
        metadata={"problems": MetadataValue.md("\n".join(f"- {p}" for p in problems[:20]) or "none")},
    )
