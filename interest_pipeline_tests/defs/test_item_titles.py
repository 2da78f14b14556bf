"""The item catalogue reports how many titles it derived, as the table holds them."""

import duckdb


def test_item_catalog_reports_the_titles_it_derived(pipeline_run):
    events = [
        *pipeline_run.ingest_result.get_asset_materialization_events(),
        *pipeline_run.model_result.get_asset_materialization_events(),
    ]
    metadata = {e.asset_key.to_user_string(): e.materialization.metadata for e in events}["item_catalog"]
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        derived, missing = conn.execute(
            "SELECT count(*) FILTER (WHERE title_derived), count(*) FILTER (WHERE title IS NULL) FROM item_catalog"
        ).fetchone()
    assert metadata["titles_derived"].value == derived and missing == 0
