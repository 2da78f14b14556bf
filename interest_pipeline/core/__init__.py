"""The pure core: plain functions over polars frames and numpy arrays, with no Dagster, DuckDB or
MLflow. One package per stage of the asset graph, in its order (``ingest``, ``text``, ``features``,
``clustering``, ``profiles``, ``expansion``, ``evaluation``), plus ``common``; a package builds only
on ``common`` and the stages before it (interest_pipeline_tests/test_layout.py)."""
