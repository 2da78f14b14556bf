"""MovieLens import: expectations are worked out from the fixture text, independently of the adapter."""

import collections
import csv
import datetime as dt
import decimal
import io

import polars as pl
import pytest

from interest_pipeline.core.ingest.catalogue import read_item_file, validate_items
from interest_pipeline.importers import import_dataset
from interest_pipeline_tests.importers.helpers import (
    FIXTURES,
    assert_conserved,
    tree_bytes,
    validate_import,
    written_events,
)

RATINGS = FIXTURES / "movielens" / "ratings.csv"
TAGS = FIXTURES / "movielens" / "tags.csv"
MOVIES = FIXTURES / "movielens" / "movies.csv"


def records(path):
    """(line, fields) per data row, read with the csv module."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return [(number, fields) for number, fields in enumerate(rows[1:], start=2) if fields]


def dated(path):
    return [(n, f) for n, f in records(path) if len(f) == 4 and f[3].strip().isdigit()]


def whole_stars(value: str) -> str:
    """Round half up, with decimal arithmetic so that the test does not share the adapter's float rule."""
    return str(decimal.Decimal(value).quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("movielens")
    report = import_dataset("movielens", [RATINGS, TAGS, MOVIES], out)
    return out, report


def test_files_are_told_apart_by_header(imported):
    _, report = imported
    assert report.file_kinds == {str(RATINGS): "ratings", str(TAGS): "tags", str(MOVIES): "movies"}


def test_every_row_is_an_event_or_a_reject(imported):
    out, report = imported
    for path in (RATINGS, TAGS):
        assert report.rows_read[str(path)] == len(records(path))
    assert report.events_by_type == {"rate": len(dated(RATINGS)), "review": len(dated(TAGS))}
    rejects = pl.read_csv(out / "import_rejects.csv", infer_schema=False)
    expected = collections.Counter()
    for path in (RATINGS, TAGS):
        for number, fields in records(path):
            if len(fields) != 4:
                expected[(str(path), number, "wrong number of fields")] += 1
            elif not fields[3].strip().isdigit():
                expected[(str(path), number, "missing or unparseable timestamp")] += 1
    assert collections.Counter(zip(rejects["source_file"], rejects["line"].cast(int), rejects["reason"])) == expected
    assert report.events_written + rejects.height == len(records(RATINGS)) + len(records(TAGS))


def test_ratings_are_rounded_half_up_to_whole_stars(imported):
    out, _ = imported
    rates = {
        row["event_id"]: row for row in written_events(out).filter(pl.col("event_type") == "rate").iter_rows(named=True)
    }
    half_steps = set()
    for _, (user, movie, rating, stamp) in dated(RATINGS):
        row = rates[f"ml-rate-{user}-{movie}-{stamp}"]
        try:
            assert row["rating"] == whole_stars(rating)
            half_steps.add(rating)
        except decimal.InvalidOperation:
            assert row["rating"] == rating  # not a number: left for validation to reject
        assert row["timestamp"] == dt.datetime.fromtimestamp(int(stamp), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # The fixture covers every half step, so each mapping is checked.
    assert {"0.5", "1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0"} <= half_steps
    assert rates["ml-rate-1-50-964982931"]["rating"] == "1"  # 0.5
    assert rates["ml-rate-1-6-964982224"]["rating"] == "5"  # 4.5


def test_tags_are_reviews_with_the_tag_as_text(imported):
    out, _ = imported
    reviews = written_events(out).filter(pl.col("event_type") == "review")
    assert sorted(reviews["text"].to_list()) == sorted(f[2] for _, f in dated(TAGS))
    assert reviews["rating"].null_count() == reviews.height
    assert {"philosophy, sci-fi", '"quirky" narrator', "武侠"} <= set(reviews["text"])
    # Two tags by one user on one movie in the same second are two events.
    same_second = reviews.filter((pl.col("user_id") == "ml:1") & (pl.col("item_id") == "ml:296"))
    assert same_second.height == 2 and same_second["event_id"].n_unique() == 2


def test_validator_outcome(imported):
    out, report = imported
    validated = validate_import(out)
    assert_conserved(report, validated)
    usable = [f for _, f in dated(RATINGS)]
    expected = collections.Counter()
    for user, _, rating, _ in usable:
        if not user:
            expected["missing user_id"] += 1
        elif not rating.replace(".", "", 1).isdigit():
            expected[f"rating '{rating}' is not a number"] += 1
        elif not 1 <= int(whole_stars(rating)) <= 5:
            expected[f"rating {float(whole_stars(rating))} is outside 1..5"] += 1
    expected["missing user_id"] += sum(1 for _, f in dated(TAGS) if not f[0])
    assert validated.reasons == expected
    assert sum(expected.values()) == 4
    lines = [tuple(f) for f in usable] + [tuple(f) for _, f in dated(TAGS)]
    assert validated.duplicates == sum(n - 1 for n in collections.Counter(lines).values()) == 2


def test_movies(imported):
    out, report = imported
    movies = [f for _, f in records(MOVIES)]
    assert report.items_written == len({tuple(f) for f in movies})
    assert report.item_rows_merged == len(movies) - report.items_written
    accepted, rejected = validate_items(read_item_file(out / "items.csv"))
    assert rejected.height == 0
    by_id = {row["item_id"]: row for row in accepted.iter_rows(named=True)}
    for movie_id, title, genres in movies:
        row = by_id[f"ml:{movie_id}"]
        assert row["title"] == title
        if genres == "(no genres listed)":
            assert row["category"] is None and row["genres"] is None and row["description"] is None
        else:
            assert row["category"] == genres.split("|")[0]
            assert row["genres"] == genres
            assert row["description"] == "Genres: " + ", ".join(genres.split("|"))
    assert by_id["ml:4973"]["title"] == "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)"
    assert by_id["ml:3996"]["title"].startswith("卧虎藏龙")
    assert by_id["ml:26649"]["title"] == '"Great Performances" Cats (1998)'


def test_reimport_is_byte_identical(imported, tmp_path):
    out, _ = imported
    before = tree_bytes(out)
    import_dataset("movielens", [RATINGS, TAGS, MOVIES], out)
    assert tree_bytes(out) == before
    import_dataset("movielens", [MOVIES, TAGS, RATINGS], tmp_path)
    assert tree_bytes(tmp_path) == before


def test_quoted_line_breaks_and_stray_quotes(tmp_path):
    tags = tmp_path / "tags.csv"
    tags.write_text(
        'userId,movieId,tag,timestamp\n7,1,"two\nlines",965000000\n7,2,say "hi",965000001\n7,3,plain,965000002\n',
        encoding="utf-8",
    )
    report = import_dataset("movielens", [tags], tmp_path / "out")
    events = written_events(tmp_path / "out")
    assert events["text"].to_list() == ["two\nlines", 'say "hi"', "plain"]
    assert report.rows_read == {str(tags): 3} and report.skipped == {}


def test_undecodable_and_blank_lines(tmp_path):
    ratings = tmp_path / "ratings.csv"
    ratings.write_bytes(
        b"userId,movieId,rating,timestamp\n7,1,4.0,965000000\n\n7,2,\xff3.0,965000001\n7,3,2.0,965000002\n"
    )
    report = import_dataset("movielens", [ratings], tmp_path / "out")
    assert report.rows_read == {str(ratings): 3}  # the blank line is not a row
    assert report.events_written == 2 and report.skipped == {"invalid UTF-8": 1}
    rejects = pl.read_csv(tmp_path / "out" / "import_rejects.csv", infer_schema=False)
    assert rejects.row(0, named=True) | {"source_file": None} == {
        "source_file": None,
        "line": "4",
        "raw_line": "7,2,\\xff3.0,965000001",
        "reason": "invalid UTF-8",
        "detail": None,
    }
