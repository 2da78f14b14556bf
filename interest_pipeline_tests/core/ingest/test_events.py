import datetime as dt
import gzip
import json

import polars as pl
import pytest

from interest_pipeline.core.ingest.event_files import find_event_files, log_date_of
from interest_pipeline.core.ingest.event_schema import EventFileError
from interest_pipeline.core.ingest.readers import read_event_file
from interest_pipeline.core.ingest.validation import load_log_date

DAY = dt.date(2026, 10, 5)
HEADER = "event_id,user_id,item_id,event_type,timestamp,device,location,rating,text\n"


def write_csv(path, rows):
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_log_date_comes_from_the_file_name(tmp_path):
    assert log_date_of(tmp_path / "events_2026-10-05.csv") == DAY
    assert log_date_of(tmp_path / "2026-10-05-part2.jsonl") == DAY
    assert log_date_of(tmp_path / "events.csv") is None
    assert log_date_of(tmp_path / "events_2026-13-45.csv") is None
    for name in ("events_2026-10-05.csv", "events_2026-10-05.parquet", "events_2026-10-06.csv", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in find_event_files(tmp_path, DAY)] == ["events_2026-10-05.csv", "events_2026-10-05.parquet"]


def test_valid_rows_are_normalised(tmp_path):
    path = write_csv(
        tmp_path / "events_2026-10-05.csv",
        [
            "e1,u1,i1,View,2026-10-05T10:00:00+02:00,Mobile,DE,,",
            "e2,u1,i2,add-to-cart,2026-10-05T23:30:00-05:00,desktop,US,,",
            'e3,u2,,search,2026-10-05T12:00:00Z,tablet,GB,,"trail, shoes"',
            "e4,u2,i3,rate,2026-10-05 08:00:00,mobile,GB,4,",
        ],
    )
    result = load_log_date([path], DAY)
    accepted = result.accepted
    assert result.n_rejected == 0, result.rejected
    assert accepted["event_type"].to_list() == ["view", "add_to_cart", "search", "rate"]
    # offsets converted to UTC; naive timestamps taken as UTC
    assert accepted["event_ts"].to_list() == [
        dt.datetime(2026, 10, 5, 8, 0),
        dt.datetime(2026, 10, 6, 4, 30),
        dt.datetime(2026, 10, 5, 12, 0),
        dt.datetime(2026, 10, 5, 8, 0),
    ]
    assert accepted["device"][0] == "Mobile"  # stored as given
    assert accepted["item_id"][2] is None
    assert accepted["text"][2] == "trail, shoes"
    assert accepted["rating"][3] == 4.0
    assert accepted["source_row"].to_list() == [2, 3, 4, 5]  # line numbers, header is line 1


@pytest.mark.parametrize(
    "row, reason",
    [
        ("e1,,i1,view,2026-10-05T10:00:00Z,,,,", "missing user_id"),
        ("e1,u1,i1,teleport,2026-10-05T10:00:00Z,,,,", "unknown event type 'teleport'"),
        ("e1,u1,i1,,2026-10-05T10:00:00Z,,,,", "missing event_type"),
        ("e1,u1,i1,view,not-a-date,,,,", "unparseable timestamp 'not-a-date'"),
        ("e1,u1,i1,view,2026-13-45T99:00,,,,", "unparseable timestamp"),
        ("e1,u1,i1,view,2026-09-01T10:00:00Z,,,,", "outside the log date"),
        ("e1,u1,,click,2026-10-05T10:00:00Z,,,,", "missing item_id for a click event"),
        ("e1,u1,i1,rate,2026-10-05T10:00:00Z,,,five,", "rating 'five' is not a number"),
        ("e1,u1,i1,rate,2026-10-05T10:00:00Z,,,9,", "outside 1..5"),
        ("e1,u1,i1,rate,2026-10-05T10:00:00Z,,,,", "missing rating for a rate event"),
        ("e1,u1,,search,2026-10-05T10:00:00Z,,,,", "missing query text"),
    ],
)
def test_invalid_rows_are_rejected_with_file_row_and_reason(tmp_path, row, reason):
    path = write_csv(tmp_path / "events_2026-10-05.csv", ["e0,u0,i0,view,2026-10-05T09:00:00Z,,,,", row])
    result = load_log_date([path], DAY)
    assert result.n_accepted == 1
    assert result.n_rejected == 1
    rejected = result.rejected.row(0, named=True)
    assert reason in rejected["reason"]
    assert rejected["source_file"] == str(path)
    assert rejected["source_row"] == 3
    assert json.loads(rejected["raw_row"])["event_id"] == "e1"


def test_text_over_the_limit_is_rejected(tmp_path):
    from interest_pipeline.core.ingest.event_schema import ValidationRules

    path = write_csv(tmp_path / "events_2026-10-05.csv", [f"e1,u1,i1,review,2026-10-05T10:00:00Z,,,5,{'a' * 50}"])
    result = load_log_date([path], DAY, ValidationRules(max_text_chars=40))
    assert result.n_rejected == 1 and "over the limit" in result.rejected["reason"][0]


def test_exact_duplicates_are_dropped_and_counted_across_files(tmp_path):
    line = "e1,u1,i1,view,2026-10-05T10:00:00Z,mobile,DE,,"
    a = write_csv(tmp_path / "events_2026-10-05.csv", [line, line, "e2,u1,i2,view,2026-10-05T11:00:00Z,,,,"])
    b = write_csv(tmp_path / "events_2026-10-05-late.csv", [line])
    result = load_log_date([a, b], DAY)
    assert result.n_read == 4
    assert result.n_accepted == 2
    assert result.n_duplicates == 2
    assert result.n_read == result.n_accepted + result.n_rejected + result.n_duplicates


def test_reused_event_id_with_other_content_is_rejected(tmp_path):
    path = write_csv(
        tmp_path / "events_2026-10-05.csv",
        ["e1,u1,i1,view,2026-10-05T10:00:00Z,,,,", "e1,u2,i9,click,2026-10-05T11:00:00Z,,,,"],
    )
    result = load_log_date([path], DAY)
    assert result.n_accepted == 1 and result.n_rejected == 1
    assert "already used" in result.rejected["reason"][0]


def test_missing_event_ids_get_a_content_hash(tmp_path):
    path = write_csv(
        tmp_path / "events_2026-10-05.csv",
        [",u1,i1,view,2026-10-05T10:00:00Z,,,,", ",u1,i2,view,2026-10-05T10:00:00Z,,,,"],
    )
    ids = load_log_date([path], DAY).accepted["event_id"].to_list()
    assert len(set(ids)) == 2 and all(i.startswith("h") for i in ids)
    assert ids == load_log_date([path], DAY).accepted["event_id"].to_list()


def test_jsonl_bad_lines_are_rejected_not_fatal(tmp_path):
    path = tmp_path / "events_2026-10-05.jsonl"
    good = {
        "event_id": "e1",
        "user_id": "u1",
        "item_id": "i1",
        "event_type": "view",
        "timestamp": "2026-10-05T10:00:00Z",
        "rating": None,
    }
    path.write_bytes((json.dumps(good) + "\n{not json\n[1, 2]\n").encode() + b'{"user_id": "\xff"}\n' + b"\n")
    result = load_log_date([path], DAY)
    assert result.n_accepted == 1
    assert result.n_read == 4
    reasons = result.rejected["reason"].to_list()
    assert any(r.startswith("invalid JSON") for r in reasons)
    assert "a line must hold a JSON object" in reasons
    assert any("not valid UTF-8" in r for r in reasons)
    assert result.rejected["source_row"].to_list() == [2, 3, 4]


def test_parquet_with_typed_columns_is_read_as_strings(tmp_path):
    path = tmp_path / "events_2026-10-05.parquet"
    pl.DataFrame(
        {
            "user_id": ["u1"],
            "item_id": ["i1"],
            "event_type": ["rate"],
            "timestamp": ["2026-10-05T10:00:00Z"],
            "rating": [3],
        }
    ).write_parquet(path)
    result = load_log_date([path], DAY)
    assert result.n_accepted == 1 and result.accepted["rating"][0] == 3.0
    assert result.accepted["source_row"][0] == 1


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("events_2026-10-05.csv", "user_id,item_id\nu1,i1\n", "missing required column(s) event_type, timestamp"),
        ("events_2026-10-05.parquet", "this is not parquet", "cannot be read as parquet"),
        ("events_2026-10-05.txt", "x", "unsupported file type"),
    ],
)
def test_unreadable_files_fail_naming_the_file(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(EventFileError) as error:
        read_event_file(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_truncated_gzip_named_as_csv_fails_clearly(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_bytes(gzip.compress((HEADER + "e1,u1,i1,view,2026-10-05T10:00:00Z,,,,\n").encode())[:20])
    with pytest.raises(EventFileError, match="events_2026-10-05.csv"):
        read_event_file(path)


def test_no_files_gives_an_empty_partition():
    result = load_log_date([], DAY)
    assert result.n_read == 0 and result.n_accepted == 0 and result.n_rejected == 0


@pytest.mark.parametrize("column, position", [("user_id", 1), ("item_id", 2), ("event_id", 0)])
def test_ids_over_the_length_limit_are_rejected_naming_the_field(tmp_path, column, position):
    from interest_pipeline.core.ingest.event_schema import MAX_ID_CHARS

    fields = ["e1", "u1", "i1", "view", "2026-10-05T10:00:00Z", "", "", "", ""]
    at_limit = list(fields)
    at_limit[position] = "x" * MAX_ID_CHARS
    fields[position] = "x" * (MAX_ID_CHARS + 1)
    path = write_csv(tmp_path / "events_2026-10-05.csv", [",".join(at_limit), ",".join(fields)])
    result = load_log_date([path], DAY)
    assert result.n_accepted == 1 and result.n_rejected == 1
    assert result.rejected["reason"].to_list() == [
        f"{column} of {MAX_ID_CHARS + 1} characters is over the limit of {MAX_ID_CHARS}"
    ]


@pytest.mark.parametrize("column, position", [("device", 5), ("location", 6)])
def test_device_and_location_over_the_length_limit_are_rejected_naming_the_field(tmp_path, column, position):
    from interest_pipeline.core.ingest.event_schema import MAX_CONTEXT_CHARS

    fields = ["e1", "u1", "i1", "view", "2026-10-05T10:00:00Z", "", "", "", ""]
    at_limit = list(fields)
    at_limit[position] = "x" * MAX_CONTEXT_CHARS
    fields[0] = "e2"
    fields[position] = "x" * (MAX_CONTEXT_CHARS + 1)
    path = write_csv(tmp_path / "events_2026-10-05.csv", [",".join(at_limit), ",".join(fields)])
    result = load_log_date([path], DAY)
    assert result.n_read == result.n_accepted + result.n_rejected + result.n_duplicates
    assert result.n_accepted == 1 and result.accepted[column][0] == "x" * MAX_CONTEXT_CHARS
    assert result.rejected["reason"].to_list() == [
        f"{column} of {MAX_CONTEXT_CHARS + 1} characters is over the limit of {MAX_CONTEXT_CHARS}"
    ]


@pytest.mark.parametrize(
    "name, log_date",
    [
        ("events_2026-10-011.csv", None),
        ("events_12026-10-01.csv", None),
        ("events_2026-10-01.csv", dt.date(2026, 10, 1)),
        ("events_2026-10-01_2.csv", dt.date(2026, 10, 1)),
        ("2026-10-01-part2.jsonl", dt.date(2026, 10, 1)),
        ("events_2026-10-011_2026-10-02.csv", dt.date(2026, 10, 2)),  # the first date standing alone
        ("events_2026-10-01.csv.tmp", None),
    ],
)
def test_the_date_in_a_file_name_stands_alone(tmp_path, name, log_date):
    assert log_date_of(tmp_path / name) == log_date


@pytest.mark.parametrize(
    "name",
    [
        "events_2026-10-05.csv\n",
        "events\n2026-10-05.csv",
        "events_2026-10-05\r.csv",
        "events_2026-10-05\x1b[2J.csv",
        "events_2026-10-05\x00.csv",
        "events_2026-10-05\x7f.csv",
        "events_2026-10-05\x85.csv",
        "events_2026-10-05\u2028.csv",
    ],
)
def test_a_file_name_with_control_characters_is_no_event_file(tmp_path, name):
    from interest_pipeline.core.ingest.event_files import has_control_characters

    assert has_control_characters(name)
    assert log_date_of(tmp_path / name) is None


@pytest.mark.parametrize(
    "name", ["events_2026-10-05.csv", "événements 2026-10-05 (copie).csv", "ereignisse_\u00a0.csv"]
)
def test_ordinary_file_names_have_no_control_characters(name):
    from interest_pipeline.core.ingest.event_files import has_control_characters

    assert not has_control_characters(name)


def test_files_with_a_newline_in_the_name_are_left_out(tmp_path):
    """Such a name would write a line of its own choosing into the run's log."""
    good = write_csv(tmp_path / "events_2026-10-05.csv", ["e1,u1,i1,view,2026-10-05T10:00:00Z,,,,"])
    write_csv(tmp_path / "x\n2026-10-05 INFO all files ingested.csv", ["e2,u1,i1,view,2026-10-05T10:00:00Z,,,,"])
    assert find_event_files(tmp_path, DAY) == [good]


def test_names_that_are_not_event_files_of_their_date_say_why(tmp_path):
    from interest_pipeline.core.ingest.event_files import not_ingested_reason

    longer = tmp_path / "events_2026-10-011.csv"
    broken = tmp_path / "events_2026-10-01\nFAKE LOG LINE.csv"
    for path in (longer, broken):
        path.write_text("user_id,event_type,timestamp\n")
    assert "runs into other digits" in not_ingested_reason(longer)
    assert "control character" in not_ingested_reason(broken)
