"""Checks on the interest layers."""

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check
from dagster_duckdb import DuckDBResource

from interest_pipeline.defs.warehouse import catalogued_item_ids, read_frame, users_only_on_uncatalogued_items


def uncovered_user_causes(uncovered: pl.DataFrame, only_unknown_items: pl.Series) -> dict[str, list[str]]:
    """Users without layers of their own and not cold-start, by cause. ``uncovered`` has user_id,
    events_on_catalogued_items and texts; users in ``only_unknown_items`` are a gap of the catalogue."""
    unknown = uncovered.filter(pl.col("user_id").is_in(only_unknown_items))
    rest = uncovered.filter(~pl.col("user_id").is_in(only_unknown_items))
    return {
        "items_not_in_catalogue": unknown["user_id"].sort().to_list(),
        "catalogued_items_without_subtopic": rest.filter(pl.col("events_on_catalogued_items") > 0)["user_id"]
        .sort()
        .to_list(),
        "only_texts_without_subtopic": rest.filter((pl.col("events_on_catalogued_items") == 0) & (pl.col("texts") > 0))[
            "user_id"
        ]
        .sort()
        .to_list(),
        "unexplained": rest.filter((pl.col("events_on_catalogued_items") == 0) & (pl.col("texts") == 0))["user_id"]
        .sort()
        .to_list(),
    }


_CAUSE_TEXT = {
    "items_not_in_catalogue": "every item event is on an item missing from item_catalog (see its check events_refer_to_catalogued_items); "
    "they get the popular fallback, fallback_reason = items_not_in_catalogue",
    "catalogued_items_without_subtopic": "events on catalogued items that reached no subtopic (items newer than the last clustering, "
    "or left out of it)",
    "only_texts_without_subtopic": "only texts that joined no subtopic (noise)",
    "unexplained": "neither item events nor texts",
}


@asset_check(
    asset="user_interest_layers",
    name="every_user_has_layers_or_is_cold_start",
    description="Every user in fused_user_features has at least one layer row, or is flagged cold-start. Users whose "
    "every event is on an item missing from the catalogue are a warning (a gap of the catalogue, named as such); "
    "any other user without layers of their own is an error, with its cause.",
)
def every_user_covered(warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as conn:
        catalogue_ids = catalogued_item_ids(conn)
        conn.register(
            "_catalogue",
            pl.DataFrame(
                {"item_id": catalogue_ids if catalogue_ids is not None else []}, schema={"item_id": pl.String}
            ),
        )
        try:
            uncovered = read_frame(
                conn,
                "SELECT f.user_id,"
                " count(e.item_id) FILTER (WHERE e.item_id IN (SELECT item_id FROM _catalogue)) AS events_on_catalogued_items,"
                " count(e.text) AS texts"
                " FROM fused_user_features f LEFT JOIN raw_behavior_logs e USING (user_id)"
                " WHERE NOT f.is_cold_start AND f.user_id NOT IN (SELECT user_id FROM user_interest_layers WHERE source = 'activity')"
                " GROUP BY f.user_id ORDER BY 1",
            )
        finally:
            conn.unregister("_catalogue")
        only_unknown_items = users_only_on_uncatalogued_items(conn)
        shares = conn.execute(
            "SELECT count(*) FROM (SELECT user_id, level, sum(share_long) s FROM user_interest_layers GROUP BY ALL)"
            " WHERE abs(s - 1) > 1e-6"
        ).fetchone()[0]
        no_rows = conn.execute(
            "SELECT count(*) FROM fused_user_features WHERE user_id NOT IN (SELECT user_id FROM user_interest_layers)"
        ).fetchone()[0]
    causes = uncovered_user_causes(uncovered, only_unknown_items)
    errors = [
        f"{len(users)} users without layers of their own and not cold-start: {_CAUSE_TEXT[cause]}"
        for cause, users in causes.items()
        if users and cause != "items_not_in_catalogue"
    ]
    if no_rows:
        errors.append(f"{no_rows} users without any layer row (not even the popular fallback)")
    if shares:
        errors.append(f"{shares} (user, level) pairs whose long-term shares do not sum to 1")
    gap = causes["items_not_in_catalogue"]
    warnings = [f"{len(gap)} users without layers of their own: {_CAUSE_TEXT['items_not_in_catalogue']}"] if gap else []
    return AssetCheckResult(
        passed=not errors and not warnings,
        severity=AssetCheckSeverity.ERROR if errors else AssetCheckSeverity.WARN,
        description="; ".join(errors + warnings) or "every user has layers of their own or is cold-start",
        metadata={
            "problems": MetadataValue.md("\n\n".join(errors + warnings) or "none"),
            **{f"users_{cause}": len(users) for cause, users in causes.items()},
            "examples": MetadataValue.md(
                "\n".join(f"- {cause}: {', '.join(users[:10])}" for cause, users in causes.items() if users) or "none"
            ),
        },
    )
