"""Previews in the Dagster UI: floats rounded, lists joined, node ids with their labels."""

import polars as pl

from interest_pipeline.defs.metadata import markdown_table


def test_preview_rounds_floats_and_names_nodes():
    frame = pl.DataFrame(
        {"node_id": ["t00.s001", "t01"], "share": [0.123456789, 2.0], "keywords": [["lens", "zoom"], []]}
    )
    lines = markdown_table(frame, labels={"t00.s001": "lens zoom", "t01": "tea"}).splitlines()
    assert lines[2] == "| t00.s001 (lens zoom) | 0.123 | lens, zoom |"
    assert lines[3] == "| t01 (tea) | 2 |  |"


def test_preview_says_how_many_rows_it_left_out():
    text = markdown_table(pl.DataFrame({"x": list(range(15))}), max_rows=10)
    assert text.count("\n| ") == 10 and text.endswith("5 more rows")
