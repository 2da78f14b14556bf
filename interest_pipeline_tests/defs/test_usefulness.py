"""Usefulness on a month of generated behaviour: what the interest layers win, and where they do not.

The sample (700 users, 300 items, 30 days, ~20,000 events) is the benchmark's small scale of the
realistic generator: long-tailed subtopics, sparse users, generic comments. Its planted users hold
several interests that drift. The hold-out split, the baselines and the metrics are the pipeline's
own ``interest_evaluation`` asset, run by ``interest_model_job``.

Measured on it (one global cutoff): the layers lead popularity on nDCG@10 (the top of the list),
about tie with the K-Means segments and trail the mean embedding slightly there, and on recall@20 popularity,
the segments and the mean embedding all rank better, as on real data. The tests assert what holds;
a popularity prior and per-user splits are the open work on usefulness.
"""

import datetime as dt

import duckdb
import polars as pl
import pytest

from interest_pipeline.defs.evaluation.assets import EXPANSION_METRIC
from interest_pipeline.sample_data import SampleSpec, generate_sample
from interest_pipeline_tests.helpers import make_resources, run_pipeline

MONTH_SPEC = SampleSpec(n_users=700, n_items=300, n_days=30, mean_events_per_user=30)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory) -> dict[tuple[str, str], float]:
    from dagster import DagsterInstance

    from interest_pipeline.definitions import build_definitions

    root = tmp_path_factory.mktemp("month")
    generate_sample(root / "sample", MONTH_SPEC)
    last = MONTH_SPEC.start_date + dt.timedelta(days=MONTH_SPEC.n_days - 1)
    with DagsterInstance.ephemeral() as instance:
        _, model = run_pipeline(build_definitions(make_resources(root, root / "sample")), instance, MONTH_SPEC.start_date.isoformat(), last.isoformat())
    assert model.success
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        table = conn.execute("SELECT method, metric, value, n_users_scored FROM interest_evaluation").pl()
    with pl.Config(tbl_rows=20, tbl_cols=30, tbl_width_chars=300, float_precision=4):
        print(f"\nusers scored: {table['n_users_scored'][0]}")
        print(table.pivot(on="metric", index="method", values="value"))
    return {(m, k): v for m, k, v, _ in table.iter_rows()}


@pytest.mark.parametrize("metric", ["ndcg@10", "recall@20", "map@10"])
def test_interest_layers_beat_random(evaluation, metric):
    assert evaluation[("interest_layers", metric)] > 2 * evaluation[("random", metric)]


def test_interest_layers_lead_popularity_at_the_top_of_the_list(evaluation):
    # Measured: nDCG@10 0.073 against 0.066; the K-Means segments (0.071) are too close to assert on.
    assert evaluation[("interest_layers", "ndcg@10")] > evaluation[("popularity", "ndcg@10")]


def test_expansion_suggestions_are_taken_up_more_often_than_random_ones(evaluation):
    # The generator draws a drifter's emerging subtopic by popularity alone, so popular subtopics are
    # the ceiling here; the suggestions must still beat chance.
    assert evaluation[("interest_expansion", EXPANSION_METRIC)] > evaluation[("random_subtopics", EXPANSION_METRIC)]
