"""Amazon Reviews 2023 import: expectations are worked out from the fixture text, independently of the adapter."""

import collections
import datetime as dt
import json

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

REVIEWS = FIXTURES / "amazon_reviews_2023" / "All_Beauty.jsonl"
META = FIXTURES / "amazon_reviews_2023" / "meta_All_Beauty.jsonl"


def json_lines(path):
    """(line number, text, object or None) per non-blank line."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        out.append((number, line, value if isinstance(value, dict) else None))
    return out


def usable_reviews():
    reviews = [r for _, _, r in json_lines(REVIEWS) if r is not None]
    return [r for r in reviews if str(r.get("timestamp") or "").isdigit() or isinstance(r.get("timestamp"), int)]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("amazon")
    report = import_dataset("amazon-reviews-2023", [REVIEWS, META], out)
    return out, report


def test_files_are_told_apart_by_content(imported):
    _, report = imported
    assert report.file_kinds == {str(REVIEWS): "reviews", str(META): "metadata"}


def test_every_line_is_an_event_source_or_a_reject(imported):
    out, report = imported
    lines = json_lines(REVIEWS)
    not_objects = [n for n, _, r in lines if r is None]
    undated = [n for n, _, r in lines if r is not None and r not in usable_reviews()]
    reviews = usable_reviews()
    assert report.rows_read[str(REVIEWS)] == len(lines)
    assert len(lines) == len(reviews) + len(not_objects) + len(undated)
    assert report.events_written == len(reviews) + sum(r["verified_purchase"] is True for r in reviews)
    rejects = pl.read_csv(out / "import_rejects.csv", infer_schema=False)
    meta_bad = [n for n, _, r in json_lines(META) if r is None]
    assert rejects.filter(pl.col("source_file") == str(REVIEWS))["line"].cast(int).sort().to_list() == sorted(
        not_objects + undated
    )
    assert rejects.filter(pl.col("source_file") == str(META))["line"].cast(int).to_list() == meta_bad
    assert report.skipped == {"invalid JSON": 2, "not a JSON object": 1, "missing or unparseable timestamp": 1}
    invalid = rejects.filter(pl.col("reason") == "invalid JSON")
    assert invalid.height == 2 and all(
        d.startswith("Unterminated string") or d.startswith("Expecting value") for d in invalid["detail"]
    )


def test_reviews_and_verified_purchases(imported):
    out, report = imported
    reviews = usable_reviews()
    events = written_events(out)
    counts = collections.Counter(events["event_type"].to_list())
    assert counts == {"review": len(reviews), "purchase": sum(r["verified_purchase"] is True for r in reviews)}
    assert report.events_by_type == dict(counts)
    # Every purchase has the review it comes from: same user, item and time, and that review was verified.
    review_rows = events.filter(pl.col("event_type") == "review")
    purchases = events.filter(pl.col("event_type") == "purchase")
    matched = purchases.join(
        review_rows, on=["user_id", "item_id", "timestamp"], how="left", suffix="_review", nulls_equal=True
    )
    assert matched["event_id_review"].null_count() == 0
    verified = {
        (r["user_id"], r["parent_asin"], int(r["timestamp"])) for r in reviews if r["verified_purchase"] is True
    }
    as_keys = {
        (
            (row["user_id"] or "").removeprefix("amz:"),
            row["item_id"].removeprefix("amz:"),
            int(dt.datetime.fromisoformat(row["timestamp"]).timestamp() * 1000),
        )
        for row in purchases.iter_rows(named=True)
    }
    assert as_keys == verified
    assert purchases["rating"].null_count() == purchases.height and purchases["text"].null_count() == purchases.height


def test_review_text_and_rating(imported):
    out, _ = imported
    events = written_events(out).filter(pl.col("event_type") == "review")
    by_id = {row["event_id"]: row for row in events.iter_rows(named=True)}

    def review(user, asin, ms):
        return by_id[f"amz-review-{user}-{asin}-{ms}"]

    # Title without final punctuation: ". "; with it: a space; empty parts left out.
    assert review("AHREXOGQPZDA6354MHH4ETSF3MCQ", "B09JS339BZ", 1589020000000)["text"] == "Just okay"
    assert review("AHREXOGQPZDA6354MHH4ETSF3MCQ", "B08BZ63GMJ", 1589030000000)["text"] is None
    assert review("AFQLNQNQYFWQZPJQZS6V3NZU4QBQ", "B07PNNCSP9", 1588860000123)["text"] == (
        "Arrived broken! The bottle leaked all over the box.\nI asked for a refund."
    )
    assert review("AFQLNQNQYFWQZPJQZS6V3NZU4QBQ", "B097R46CSY", 1588940000000)["text"].startswith("Best conditioner")
    assert review("AEBTCAQ5BMMQ7VG4GBUZV5BWD6YA", "B099DRHW5V", 1589200000000)["text"] == (
        'Nice\tbrush set. Soft bristles,\ttabs\tinside the text, and a "travel" case.'
    )
    assert (
        review("AEBTCAQ5BMMQ7VG4GBUZV5BWD6YA", "B00R8DXL44", 1589100000000)["text"]
        == "很好用. 味道很清新，用了一个月皮肤变好了。"
    )
    assert (
        review("AFQLNQNQYFWQZPJQZS6V3NZU4QBQ", "B07PNNCSP9", 1588860000123)["timestamp"] == "2020-05-07T14:00:00.123Z"
    )
    # A timestamp given as a string of digits is still Unix milliseconds.
    assert review("AHV6QCNBJNSGLATP56JAWJ3C4G2A", "B01CUPMQZE", 1589400000000)["timestamp"] == "2020-05-13T20:00:00Z"
    # The item is the parent ASIN; the variant's ASIN only tells reviews apart.
    assert review("AGZZXSMMS4WRHHJRBUJZI4FZDHKQ", "B07XXPHQZK", 1589500000000)["item_id"] == "amz:B07PNNCSP9"
    ratings = {r["rating"] for r in by_id.values()}
    assert ratings == {"1", "2", "3", "4", "5", None}


def test_validator_outcome(imported):
    out, report = imported
    validated = validate_import(out)
    assert_conserved(report, validated)
    reviews = usable_reviews()
    # The review appearing twice repeats its review and purchase events.
    lines = [line for _, line, r in json_lines(REVIEWS) if r is not None]
    repeated = [json.loads(line) for line, n in collections.Counter(lines).items() for _ in range(n - 1)]
    assert validated.duplicates == sum(1 + (r["verified_purchase"] is True) for r in repeated) > 0
    anonymous = [r for r in reviews if not r["user_id"]]
    assert validated.reasons == {"missing user_id": sum(1 + (r["verified_purchase"] is True) for r in anonymous)}
    assert validated.accepted.filter(pl.col("rating").is_null() & (pl.col("event_type") == "review")).height == 1


def test_items(imported):
    out, report = imported
    objects = [r for _, _, r in json_lines(META) if r is not None]
    distinct = {json.dumps(r, sort_keys=True) for r in objects}
    assert report.items_written == len(distinct)
    assert report.item_rows_merged == len(objects) - len(distinct)
    accepted, rejected = validate_items(read_item_file(out / "items.csv"))
    titled = {r["parent_asin"] for r in objects if r["title"]}
    # The item without a title is kept, titled by its description's first sentence.
    assert set(accepted["item_id"]) == {f"amz:{r['parent_asin']}" for r in objects} and rejected.height == 0
    assert accepted.filter(pl.col("title_derived")).select("item_id", "title").rows() == [
        ("amz:B0XXNOTITLE", "An item whose title is missing in the source")
    ]
    by_id = {row["item_id"]: row for row in accepted.iter_rows(named=True)}
    for r in objects:
        if r["parent_asin"] in titled:
            row = by_id[f"amz:{r['parent_asin']}"]
            assert row["title"] == r["title"]
            assert row["category"] == r["main_category"]
            assert (row["category_path"] or "") == " > ".join(r["categories"])
            assert row["store"] == r["store"]
            for part in r["description"] + r["features"]:
                assert part in row["description"]
    assert by_id["amz:B00R8DXL44"]["title"] == "资生堂 保湿面霜 50ml"
    assert by_id["amz:B00R8DXL44"]["store"] == "資生堂"
    assert by_id["amz:B097R46CSY"]["title"] == 'Curl Defining Conditioner "Bounce" Formula'
    assert by_id["amz:B07PNNCSP9"]["price"] is None  # "None" in the source
    assert by_id["amz:B081TJ8YS3"]["price"] == "14.99"
    assert by_id["amz:B09JS339BZ"]["category_path"] is None and by_id["amz:B09JS339BZ"]["description"] is None


def test_reimport_is_byte_identical(imported, tmp_path):
    out, _ = imported
    before = tree_bytes(out)
    import_dataset("amazon-reviews-2023", [REVIEWS, META], out)
    assert tree_bytes(out) == before
    import_dataset("amazon-reviews-2023", [META, REVIEWS], tmp_path)
    assert {k: v for k, v in tree_bytes(tmp_path).items() if k != "import_rejects.csv"} == {
        k: v for k, v in before.items() if k != "import_rejects.csv"
    }
