"""The documented benchmark commands run end to end, each on the smallest input it takes."""

import calendar
import datetime as dt
import json
import shutil

import duckdb

from interest_pipeline_tests.benchmarks import (
    daily_update,
    embedding_speed,
    evaluation,
    language_models,
    long_history,
    masking,
    reading_memory,
    taxonomy,
)
from interest_pipeline_tests.benchmarks.__main__ import main as pipeline_benchmark
from interest_pipeline_tests.benchmarks.scales import SCALES
from interest_pipeline_tests.table_diff import diff_tables


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


def test_the_daily_update_benchmark_matches_a_full_rebuild_and_replays_its_last_day(tmp_path):
    daily_update.main(["--scale", "tiny", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["scale"] == "tiny" and results["sample"]["users"] == SCALES["tiny"].spec.n_users
    assert "interest_topics" in results["cold"]["steps"]
    # the daily run refreshes exactly the eager assets, and each equals its rebuild from scratch
    assert set(results["daily_update"]["steps"]) >= set(daily_update.DAILY_ASSETS)
    assert [row["table"] for row in results["comparison"]] == list(daily_update.DAILY_ASSETS)
    for row in results["comparison"]:
        daily_rows, rebuilt_rows = row["rows"]
        assert daily_rows == rebuilt_rows > 0, row
        assert row["keys_only_left"] == row["keys_only_right"] == 0, row
        assert row["max_float_difference"] <= daily_update.FLOAT_TOLERANCE and not row["unequal_columns"], row

    first_run = tmp_path / "first_run.duckdb"
    shutil.copy(tmp_path / "warehouse.duckdb", first_run)
    daily_update.main(["--scale", "tiny", "--out", str(tmp_path), "--replay-last-day", "--no-compare"])
    replay = json.loads((tmp_path / "results_replay.json").read_text())
    last_day = SCALES["tiny"].last_log_date
    with (
        duckdb.connect(str(first_run), read_only=True) as before,
        duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as after,
    ):
        day_events = "SELECT count(*) FROM raw_behavior_logs WHERE log_date = ?::DATE"
        assert replay["taken_out"]["events_taken_out"] == before.execute(day_events, [last_day]).fetchone()[0] > 0
        # the replayed day gives the same daily tables as the first run
        for table in daily_update.DAILY_ASSETS:
            assert diff_tables(before, after, table).same(daily_update.FLOAT_TOLERANCE), table


def _markdown_tables(printed: str) -> list[list[list[str]]]:
    """The body rows (cells stripped) of each markdown table in ``printed``, in order."""
    tables, current = [], None
    for line in printed.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        if current is None:
            current = []
            tables.append(current)
        current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return [table[2:] for table in tables]  # without the header and its separator


def test_the_embedding_speed_benchmark_compares_backends_on_the_same_texts(tmp_path, capsys):
    args = ["--scale", "tiny", "--out", str(tmp_path), "--texts", "20", "--rounds", "1", "--backends", "float32"]
    assert embedding_speed.main([*args, "--recovery-points", "200", "--recovery-seeds", "2"]) == 0
    speed, lengths, recovery = _markdown_tables(capsys.readouterr().out)
    assert [(row[0], row[1]) for row in speed] == [
        (texts, backend)
        for texts in ("comments (20)", "items (20)", "long items (8)")
        for backend in ("bare float32", "float32")
    ]
    for row in speed:
        assert float(row[2].replace(",", "")) > 0, row  # texts/s
        # the project's float32 path encodes the same vectors as the bare model
        assert float(row[4]) > 0.999 and float(row[5]) > 0.999, row
    assert [row[0] for row in lengths] == ["comments", "items", "long items"]
    assert all(0 < int(row[1]) <= int(row[2]) <= int(row[3]) for row in lengths), lengths  # p50 <= p99 <= max
    (float32_recovery,) = recovery
    # planted-subtopic NMI of K-Means at the true k: well above chance on the tiny sample
    assert float32_recovery[0] == "float32" and 0.3 < float(float32_recovery[1].split(" ± ")[0]) <= 1


def test_the_language_models_benchmark_encodes_every_set_with_both_models(tmp_path, capsys):
    devdata = tmp_path / "devdata"
    (devdata / "news20").mkdir(parents=True)
    posts = [f"post {k} about graphics cards and drivers" for k in range(12)]
    (devdata / "news20" / "docs.jsonl").write_text("".join(json.dumps({"text": post}) + "\n" for post in posts))
    args = ["--scale", "tiny", "--out", str(tmp_path / "samples"), "--devdata", str(devdata)]
    assert language_models.main([*args, "--texts", "10", "--rounds", "1"]) == 0
    (table,) = _markdown_tables(capsys.readouterr().out)
    rows = {row[0]: row for row in table}
    # the tiny bilingual sample has English and Chinese reviews; the absent corpora are skipped
    assert set(rows) == {"sample en reviews", "sample zh reviews", "news20 (English posts)"}
    for row in rows.values():
        assert row[1] == "10"
        assert all(float(rate.replace(",", "")) > 0 for rate in row[2:4]), row


def test_the_long_history_benchmark_ingests_every_row_at_each_grain(tmp_path, capsys):
    days = 14
    assert long_history.main(["--out", str(tmp_path), "--days", str(days), "--grains", "month,day"]) == 0
    printed = capsys.readouterr().out
    table = printed.split("\ngrain ", 1)[1].splitlines()[1:]  # the lines under the header
    lines = {line.split()[0]: line.split() for line in table}
    rows_per_date = {
        dt.date.fromisoformat(path.stem.removeprefix("events_")): len(path.read_text().splitlines()) - 1
        for path in (tmp_path / "sample" / "events").glob("events_*.csv")
    }
    first = long_history.FIRST_DAY
    last = first + dt.timedelta(days=days - 1)
    month_end = last.replace(day=calendar.monthrange(last.year, last.month)[1])
    # a daily partition holds its day; a monthly one the whole month, past the last day asked for
    expected = {
        "day": (days, sum(n for date, n in rows_per_date.items() if first <= date <= last)),
        "month": (2, sum(n for date, n in rows_per_date.items() if first <= date <= month_end)),
    }
    assert set(lines) == set(expected), printed
    for grain, (partitions, accepted) in expected.items():
        assert accepted > 0
        assert (int(lines[grain][1]), int(lines[grain][5].replace(",", ""))) == (partitions, accepted), lines[grain]


def test_the_masking_benchmark_times_every_shape_and_the_slowest_runs(capsys):
    masking.main(["--sizes", "100,2000"])
    shape_lines = capsys.readouterr().out.splitlines()[1:]
    assert len(shape_lines) == 2 * len(masking.SHAPES)
    assert {line[:28].strip() for line in shape_lines} == set(masking.SHAPES)
    masking.main(["--runs", "--sizes", "300"])
    run_lines = capsys.readouterr().out.splitlines()[1:]
    assert len(run_lines) == 3 and all(" 300 " in line for line in run_lines)
    assert {line[:26].strip() for line in run_lines} <= set(masking.RUNS)


def test_the_reading_memory_benchmark_reports_each_case(tmp_path, capsys):
    reading_memory.main(["--megabytes", "1", "--rows", "200", "--folder", str(tmp_path)])
    outcomes = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(outcomes) == {"imports", "nul-csv", "nul-jsonl", "header-nul-csv", "rows-csv"}
    assert "file error: missing required column(s)" in outcomes["nul-csv"]
    assert "read 1, accepted 0, rejected 1" in outcomes["header-nul-csv"]
    assert "read 200, accepted 200, rejected 0, duplicates 0" in outcomes["rows-csv"]
    # a megabyte of garbage is quarantined as a bounded copy, not the whole megabyte
    longest = int(outcomes["nul-jsonl"].rsplit("longest quarantine copy ", 1)[1].split()[0].replace(",", ""))
    assert 0 < longest < 100_000
    # peak resident memory of each process, in MB
    assert all(float(line.split()[1 if case == "imports" else 2]) > 0 for case, line in outcomes.items())
