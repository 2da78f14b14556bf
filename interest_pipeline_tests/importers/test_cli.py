"""The command line: report as JSON, .gz inputs, exit code 2 naming an unreadable file."""

import gzip
import json

import pytest

from interest_pipeline.importers import ADAPTERS, ImportInputError, import_dataset
from interest_pipeline.importers.__main__ import main
from interest_pipeline_tests.importers.helpers import FIXTURES, tree_bytes

MIND = [FIXTURES / "mind" / "behaviors.tsv", FIXTURES / "mind" / "news.tsv"]
AMAZON = [
    FIXTURES / "amazon_reviews_2023" / "All_Beauty.jsonl",
    FIXTURES / "amazon_reviews_2023" / "meta_All_Beauty.jsonl",
]
MOVIELENS = [
    FIXTURES / "movielens" / "ratings.csv",
    FIXTURES / "movielens" / "tags.csv",
    FIXTURES / "movielens" / "movies.csv",
]


def gzipped(path, folder):
    target = folder / f"{path.name}.gz"
    target.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
    return target


def test_registry_names_the_three_formats():
    assert set(ADAPTERS) == {"mind", "amazon-reviews-2023", "movielens"}


@pytest.mark.parametrize("format, paths", [("mind", MIND), ("amazon-reviews-2023", AMAZON), ("movielens", MOVIELENS)])
def test_cli_prints_the_report_and_gz_gives_the_same_files(tmp_path, capsys, format, paths):
    assert main([format, *map(str, paths), "--out", str(tmp_path / "plain")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == format
    assert report["events_written"] == sum(report["rows_per_day"].values()) > 0
    assert sorted(report["rows_read"]) == sorted(map(str, paths))
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == sorted(
        [f"events_{day}.csv" for day in report["days_written"]] + ["items.csv", "import_rejects.csv"]
    )
    packed = [gzipped(p, tmp_path) for p in paths]
    assert main([format, *map(str, packed), "--out", str(tmp_path / "gz")]) == 0
    plain, gz = tree_bytes(tmp_path / "plain"), tree_bytes(tmp_path / "gz")
    # The rejects name their source file, which differs; everything else is the same.
    assert {k: v for k, v in plain.items() if k != "import_rejects.csv"} == {
        k: v for k, v in gz.items() if k != "import_rejects.csv"
    }


def test_missing_file_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "ratings.csv"
    assert main(["movielens", str(MOVIELENS[2]), str(missing), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "not found" in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_truncated_gzip_exits_2_naming_it(tmp_path, capsys):
    packed = gzipped(AMAZON[0], tmp_path)
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(packed.read_bytes()[: len(packed.read_bytes()) * 2 // 3])
    assert main(["amazon-reviews-2023", str(truncated), str(AMAZON[1]), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(truncated) in err and "truncated" in err
    assert not (tmp_path / "out").exists()


def test_not_gzip_exits_2(tmp_path, capsys):
    fake = tmp_path / "behaviors.tsv.gz"
    fake.write_bytes(MIND[0].read_bytes())
    assert main(["mind", str(fake), "--out", str(tmp_path / "out")]) == 2
    assert str(fake) in capsys.readouterr().err


@pytest.mark.parametrize(
    "format, name, content, message",
    [
        (
            "mind",
            "behaviors.tsv",
            "1\tU1\t11/11/2019 9:05:58 AM\n2\tU2\t11/11/2019 9:06:00 AM\n",
            "3 tab-separated fields",
        ),
        ("movielens", "ratings.csv", "userId,movieId,rating,timestamp\n1,2,3\n1,3,4\n", "no row has the 4 fields"),
        (
            "movielens",
            "links.csv",
            "movieId,imdbId,tmdbId\n1,0114709,862\n",
            "not a MovieLens ratings, tags or movies file",
        ),
        ("amazon-reviews-2023", "reviews.jsonl", "not json\n{broken\n", "no line is a JSON object"),
        ("amazon-reviews-2023", "other.jsonl", '{"id": 1}\n', "neither 'user_id'"),
    ],
)
def test_files_that_cannot_be_read_as_the_format_exit_2(tmp_path, capsys, format, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert main([format, str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_failed_import_leaves_a_previous_import_untouched(tmp_path):
    import_dataset("movielens", MOVIELENS, tmp_path)
    before = tree_bytes(tmp_path)
    with pytest.raises(ImportInputError):
        import_dataset("movielens", [*MOVIELENS, tmp_path / "gone.csv"], tmp_path)
    assert tree_bytes(tmp_path) == before


def test_unknown_format_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["netflix", str(MOVIELENS[0]), "--out", str(tmp_path)])
    assert exit_info.value.code == 2


def test_cli_prints_the_grain_for_the_imported_span_and_the_lines_to_set(tmp_path, capsys):
    ratings = tmp_path / "ratings.csv"
    # two ratings 18 years apart (2000-07-30 and 2018-09-24): days would be 6,631 partitions
    ratings.write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,1537799250\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["movielens", str(ratings), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout stays one JSON document
    assert report["partition_grain"] == "month" and "6,631 daily partitions" in report["partition_grain_reason"]
    exports = [line.strip() for line in captured.err.splitlines() if line.strip().startswith("export ")]
    assert exports == [
        f"export INTEREST_PIPELINE_EVENTS_DIR={out}",
        f"export INTEREST_PIPELINE_ITEMS_PATH={out / 'items.csv'}",
        "export INTEREST_PIPELINE_START_DATE=2000-07-30",
        "export INTEREST_PIPELINE_PARTITION_GRAIN=month",
    ]
    assert "partition grain: month" in captured.err


def test_a_short_import_keeps_the_daily_grain(tmp_path):
    report = import_dataset("movielens", MOVIELENS, tmp_path)
    assert report.partition_grain == "day"
    assert report.settings()["INTEREST_PIPELINE_START_DATE"] == report.days_written[0]
