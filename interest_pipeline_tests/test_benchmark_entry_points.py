"""The documented benchmark commands run end to end, on a tiny generated sample."""

import json

from interest_pipeline_tests.benchmarks import evaluation, taxonomy
from interest_pipeline_tests.benchmarks.__main__ import main as pipeline_benchmark


def test_the_pipeline_benchmark_runs_and_scores_against_the_planted_truth(tmp_path):
    assert pipeline_benchmark(["--scale", "tiny", "--out", str(tmp_path), "--skip-warm"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    topics = results["comparisons"]["topics"]
    # generic and flood comments have no planted interest: they are left out of the scores
    assert 0 < topics["scored_points"] < topics["points"]
    assert all(0 <= row["subtopic_nmi"] <= 1 for row in topics["rows"])
    assert (tmp_path / "results.md").read_text().strip()


def test_the_taxonomy_benchmark_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(taxonomy, "ROOT", tmp_path)  # its sample, cache and results
    assert taxonomy.main(["--scale", "tiny", "--seeds", "1", "--methods", "project,kmeans"]) == 0
    (results,) = tmp_path.rglob("results.md")
    assert "project" in results.read_text()


def test_the_evaluation_benchmark_scores_a_built_warehouse(pipeline_run, tmp_path, capsys):
    args = ["--warehouse", str(pipeline_run.warehouse), "--out", str(tmp_path), "--seeds", "1"]
    assert evaluation.main([*args, "--protocols", "per_user"]) == 0
    report = (tmp_path / "evaluation.md").read_text()
    assert "### per_user (last 20%)" in report and "leave_last_one" not in report
    assert "layered_collaborative" in report and "coverage@20 vs each baseline" in report
    assert "by activity" in report and "nan" not in report.split("by activity")[1].split("next-interest")[0]
