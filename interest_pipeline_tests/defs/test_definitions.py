"""The code location loads, and shows every asset, check and job with its group and kinds."""

from interest_pipeline.definitions import defs

EXPECTED_GROUPS = {
    "raw_behavior_logs": "ingest",
    "rejected_events": "ingest",
    "item_catalog": "ingest",
    "rejected_items": "ingest",
    "tokenized_comments": "text",
    "comment_embeddings": "text",
    "item_embeddings": "text",
    "user_behavior_features": "features",
    "user_text_features": "features",
    "fused_user_features": "features",
    "interest_topics": "clustering",
    "interest_hierarchy": "clustering",
    "user_segments": "clustering",
    "incremental_topic_assignments": "clustering",
    "user_interest_layers": "profiles",
    "takeup_models": "expansion",
    "segment_peer_shares": "expansion",
    "interest_expansion": "expansion",
    "interest_evaluation": "evaluation",
    "item_recommendations": "recommendation",
}


def test_every_asset_is_present_with_group_kinds_and_description():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string(): k for k in graph.get_all_asset_keys()}
    assert set(keys) == set(EXPECTED_GROUPS)
    for name, group in EXPECTED_GROUPS.items():
        node = graph.get(keys[name])
        assert node.group_name == group, name
        assert node.kinds, name
        assert node.description and len(node.description) > 30, name


def test_partitioned_ingest_and_unpartitioned_model():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string(): k for k in graph.get_all_asset_keys()}
    assert graph.get(keys["raw_behavior_logs"]).partitions_def is not None
    assert graph.get(keys["raw_behavior_logs"]).backfill_policy is not None
    assert graph.get(keys["user_interest_layers"]).partitions_def is None


def test_jobs_and_checks_are_defined():
    assert defs.resolve_job_def("ingest_job").partitions_def is not None
    assert defs.resolve_job_def("interest_model_job") is not None
    check_keys = {c.name for c in defs.resolve_asset_graph().asset_check_keys}
    assert "rows_conserved" in check_keys


def test_resources_cover_every_requirement():
    assert {"warehouse", "event_source", "embedder", "mlflow"} <= set(defs.resources)


def test_every_resource_describes_itself():
    # The UI's resource page shows these; a library's generic docstring says nothing about this project.
    for name, resource in defs.resources.items():
        description = resource.get_resource_definition().description or ""
        assert len(description) > 30 and not description.startswith("Resource for interacting"), name
