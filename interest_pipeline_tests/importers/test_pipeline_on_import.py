"""The whole Dagster pipeline, default settings, on each imported fixture.

The fixtures are tiny (5-6 users, a few dozen items): the clustering must degrade
gracefully rather than fail, and MIND has no user text at all. Deselect with
``-m "not pipeline"``.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from interest_pipeline.core.evaluation.holdout_evaluation import METHODS
from interest_pipeline.core.ingest.catalogue import read_item_file, validate_items
from interest_pipeline.importers import import_dataset
from interest_pipeline_tests.importers.helpers import FIXTURES, validate_import

# a guard against a hung run, not a speed requirement
HANG_GUARD_S = 600
REPO = Path(__file__).resolve().parents[2]


FIXTURE_FILES = {
    "movielens": ("movielens", ("ratings.csv", "tags.csv", "movies.csv")),
    "mind": ("mind", ("behaviors.tsv", "news.tsv")),
    "amazon-reviews-2023": ("amazon_reviews_2023", ("All_Beauty.jsonl", "meta_All_Beauty.jsonl")),
}


@pytest.mark.pipeline
@pytest.mark.parametrize("dataset", sorted(FIXTURE_FILES))
def test_pipeline_runs_on_imported_fixture(tmp_path, dataset):
    sample = tmp_path / "sample"
    events = sample / "events"
    folder, names = FIXTURE_FILES[dataset]
    report = import_dataset(dataset, [FIXTURES / folder / n for n in names], events)
    shutil.move(events / "items.csv", sample / "items.csv")
    (tmp_path / "run").mkdir()
    command = [
        sys.executable,
        "-m",
        "interest_pipeline_tests.importers.pipeline_worker",
        str(tmp_path / "run"),
        str(sample),
    ]
    command += [report.days_written[0], report.days_written[-1]]
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the pipeline on the imported fixture did not finish within {HANG_GUARD_S} s")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ingest_success"] and result["model_success"], result["failures"]

    validated = validate_import(events)
    rows = result["rows"]
    assert rows["raw_behavior_logs"] == validated.accepted.height
    assert rows["rejected_events"] == validated.rejected.height
    items, _ = validate_items(read_item_file(sample / "items.csv"))
    assert rows["item_catalog"] == items.height
    with_text = validated.accepted.filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != ""))
    assert rows["tokenized_comments"] == with_text.height
    users = validated.accepted["user_id"].n_unique()
    assert rows["user_segments"] == rows["fused_user_features"] == users
    assert rows["interest_hierarchy"] > 1 and rows["user_interest_layers"] > 0
    if dataset == "mind":  # impressions: the methods also rank each impression's shown candidates
        with duckdb.connect(str(tmp_path / "run" / "warehouse.duckdb"), read_only=True) as conn:
            metrics = conn.execute(
                "SELECT method, metric, value FROM interest_evaluation WHERE metric LIKE 'impression_%'"
            ).fetchall()
        assert {m for _, m, _ in metrics} == {
            "impression_auc",
            "impression_mrr",
            "impression_ndcg@5",
            "impression_ndcg@10",
        }
        assert all(0.0 <= v <= 1.0 for _, _, v in metrics) and {method for method, _, _ in metrics} == set(METHODS)
