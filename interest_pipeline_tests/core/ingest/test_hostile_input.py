"""Hostile input, file by file: every row read is accepted, a duplicate, or rejected with the
exact reason, on its file line; a file that cannot be read at all fails naming the file.

Each case writes one event file next to a known-good row and checks conservation
(read = accepted + rejected + duplicates), the accepted rows' line numbers, and the exact
(line, reason) of every rejected row.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import polars as pl
import pytest

from interest_pipeline.core.ingest.event_schema import MAX_ID_CHARS, EventFileError
from interest_pipeline.core.ingest.privacy import mask_contact_details
from interest_pipeline.core.ingest.readers import read_event_file
from interest_pipeline.core.ingest.validation import load_log_date

DAY = dt.date(2026, 10, 5)
COLUMNS = ["event_id", "user_id", "item_id", "event_type", "timestamp", "device", "location", "rating", "text"]
HEADER = ",".join(COLUMNS)
GOOD = "g0,u0,i0,view,2026-10-05T09:00:00Z,,,,"
UNBALANCED = "unbalanced quote: a quoted field opened on this line is never closed"


def csv_row(**values: str) -> str:
    base = {
        "event_id": "e1",
        "user_id": "u1",
        "item_id": "i1",
        "event_type": "view",
        "timestamp": "2026-10-05T10:00:00Z",
    }
    return ",".join({**base, **values}.get(c, "") for c in COLUMNS)


def json_row(**values) -> str:
    base = {
        "event_id": "e1",
        "user_id": "u1",
        "item_id": "i1",
        "event_type": "view",
        "timestamp": "2026-10-05T10:00:00Z",
    }
    return json.dumps({**base, **values})


@dataclass
class Case:
    name: str
    suffix: str
    content: bytes | pl.DataFrame
    accepted_rows: list[int]
    rejected: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0
    quote: object = None


def csv_case(name, lines, accepted_rows, rejected=(), duplicates=0, ending="\n", quote=None, raw: bytes | None = None):
    content = raw if raw is not None else (ending.join([HEADER, GOOD, *lines]) + ending).encode("utf-8")
    return Case(name, ".csv", content, accepted_rows, list(rejected), duplicates, quote)


def jsonl_case(name, lines, accepted_rows, rejected=(), duplicates=0, ending="\n", raw: bytes | None = None):
    good = json_row(event_id="g0", user_id="u0", item_id="i0", timestamp="2026-10-05T09:00:00Z")
    content = raw if raw is not None else (ending.join([good, *lines]) + ending).encode("utf-8")
    return Case(name, ".jsonl", content, accepted_rows, list(rejected), duplicates)


def parquet_case(name, columns: dict, accepted_rows, rejected=(), duplicates=0):
    return Case(name, ".parquet", pl.DataFrame(columns), accepted_rows, list(rejected), duplicates)


LONG = "x" * (MAX_ID_CHARS + 1)
TOLERANCE = "by more than the tolerance"

CSV_CASES = [
    csv_case("ragged row, too few fields", ["e1,u1,i1"], [2], [(3, "row has 3 field(s), the header has 9")]),
    csv_case(
        "ragged row, too many fields", [csv_row() + ",extra"], [2], [(3, "row has 10 field(s), the header has 9")]
    ),
    csv_case(
        "unbalanced quote mid-file, later rows kept",
        [csv_row(text='"oops'), csv_row(event_id="e2")],
        [2, 4],
        [(3, UNBALANCED)],
    ),
    csv_case("unbalanced quote on the last line", [csv_row(text='"oops')], [2], [(3, UNBALANCED)]),
    csv_case(
        "unbalanced quote swallowing a row with a quote",
        [csv_row(text='"oops'), csv_row(event_id="e2", text='say "hi"')],
        [2, 4],
        [(3, UNBALANCED)],
    ),
    csv_case(
        "text after a closing quote",
        [csv_row(text='"ab"c'), csv_row(event_id="e2")],
        [2, 4],
        [(3, "malformed quoting: a closing quote must be followed by a comma or the line end")],
    ),
    csv_case(
        "invalid UTF-8 in text",
        [],
        [2],
        [(3, "invalid UTF-8 in text")],
        raw=(HEADER + "\n" + GOOD + "\n").encode() + csv_row(text="caf").encode() + b"\xe9\n",
    ),
    csv_case(
        "invalid UTF-8 in user_id and text",
        [],
        [2],
        [(3, "invalid UTF-8 in user_id, text")],
        raw=(HEADER + "\n" + GOOD + "\n").encode() + b"e1,u\xff,i1,view,2026-10-05T10:00:00Z,,,,\xfe\n",
    ),
    csv_case("CR-only line endings", [csv_row(), csv_row(event_id="e2")], [2, 3, 4], ending="\r"),
    csv_case("CRLF line endings", [csv_row(), csv_row(event_id="e2")], [2, 3, 4], ending="\r\n"),
    csv_case(
        "mixed line endings",
        [],
        [2, 3, 4],
        raw=(HEADER + "\r" + GOOD + "\r\n" + csv_row() + "\n" + csv_row(event_id="e2")).encode(),
    ),
    csv_case(
        "byte order mark before the header",
        [csv_row()],
        [2, 3],
        raw=("\ufeff" + HEADER + "\n" + GOOD + "\n" + csv_row() + "\n").encode(),
    ),
    csv_case("blank lines keep line numbers", ["", csv_row(), "", "", csv_row(event_id="e2")], [2, 4, 7]),
    csv_case(
        "quoted newline in text shifts later lines",
        [csv_row(text='"line one\nline two"'), csv_row(event_id="e2")],
        [2, 3, 5],
    ),
    csv_case("NUL byte in text", [csv_row(event_type="review", rating="4", text="nul\x00byte")], [2, 3]),
    csv_case(
        "a quote inside an unquoted field is kept",
        [csv_row(event_type="review", rating="4", text='a 5" screen')],
        [2, 3],
    ),
    csv_case("missing user_id", [csv_row(user_id="")], [2], [(3, "missing user_id")]),
    csv_case("blank user_id", [csv_row(user_id="   ")], [2], [(3, "missing user_id")]),
    csv_case(
        "user_id over the limit",
        [csv_row(user_id=LONG)],
        [2],
        [(3, f"user_id of {MAX_ID_CHARS + 1} characters is over the limit of {MAX_ID_CHARS}")],
    ),
    csv_case(
        "item_id over the limit",
        [csv_row(item_id=LONG)],
        [2],
        [(3, f"item_id of {MAX_ID_CHARS + 1} characters is over the limit of {MAX_ID_CHARS}")],
    ),
    csv_case(
        "event_id over the limit",
        [csv_row(event_id=LONG)],
        [2],
        [(3, f"event_id of {MAX_ID_CHARS + 1} characters is over the limit of {MAX_ID_CHARS}")],
    ),
    csv_case("unknown event type", [csv_row(event_type="teleport")], [2], [(3, "unknown event type 'teleport'")]),
    csv_case(
        "unknown event type holding an e-mail, masked in the reason",
        [csv_row(event_type="x@example.com")],
        [2],
        [(3, "unknown event type '[email]'")],
        quote=mask_contact_details,
    ),
    csv_case(
        "unparseable timestamp holding a phone number, masked",
        [csv_row(timestamp="call 0170/1234567")],
        [2],
        [(3, "unparseable timestamp 'call [phone]'")],
        quote=mask_contact_details,
    ),
    csv_case("missing event type", [csv_row(event_type="")], [2], [(3, "missing event_type")]),
    csv_case(
        "event type synonyms and case",
        [
            csv_row(event_type="Favourite"),
            csv_row(event_id="e2", event_type="add-to-cart"),
            csv_row(event_id="e3", event_type="BUY"),
        ],
        [2, 3, 4, 5],
    ),
    csv_case("ISO timestamp without seconds", [csv_row(timestamp="2026-10-05T10:00")], [2, 3]),
    csv_case("ISO timestamp without seconds, with Z", [csv_row(timestamp="2026-10-05T10:00Z")], [2, 3]),
    csv_case("date without a time", [csv_row(timestamp="2026-10-05")], [2, 3]),
    csv_case(
        "epoch seconds and milliseconds",
        [csv_row(timestamp="1791194400"), csv_row(event_id="e2", timestamp="1791194400000")],
        [2, 3, 4],
    ),
    csv_case(
        "epoch with eleven digits",
        [csv_row(timestamp="17914536000")],
        [2],
        [(3, "unparseable timestamp '17914536000'")],
    ),
    csv_case(
        "unparseable timestamp", [csv_row(timestamp="yesterday")], [2], [(3, "unparseable timestamp 'yesterday'")]
    ),
    csv_case(
        "timestamp outside the log date",
        [csv_row(timestamp="2026-09-01T10:00:00Z")],
        [2],
        [(3, f"timestamp 2026-09-01 10:00:00.000000 (UTC) is outside the log date 2026-10-05 {TOLERANCE}")],
    ),
    csv_case(
        "missing item for a click",
        [csv_row(event_type="click", item_id="")],
        [2],
        [(3, "missing item_id for a click event")],
    ),
    csv_case("rating zero", [csv_row(event_type="rate", rating="0")], [2], [(3, "rating 0.0 is outside 1..5")]),
    csv_case(
        "rating just over five",
        [csv_row(event_type="rate", rating="5.0000001")],
        [2],
        [(3, "rating 5.0000001 is outside 1..5")],
    ),
    csv_case("rating NaN", [csv_row(event_type="rate", rating="NaN")], [2], [(3, "rating NaN is outside 1..5")]),
    csv_case("rating infinite", [csv_row(event_type="rate", rating="inf")], [2], [(3, "rating inf is outside 1..5")]),
    csv_case("rating a word", [csv_row(event_type="rate", rating="five")], [2], [(3, "rating 'five' is not a number")]),
    csv_case("rate without rating", [csv_row(event_type="rate")], [2], [(3, "missing rating for a rate event")]),
    csv_case(
        "search without query",
        [csv_row(event_type="search", item_id="")],
        [2],
        [(3, "missing query text for a search event")],
    ),
    csv_case(
        "text over the limit",
        [csv_row(event_type="review", text="y" * 10_001)],
        [2],
        [(3, "text of 10001 characters is over the limit of 10000")],
    ),
    csv_case("exact duplicate rows", [csv_row(), csv_row(), csv_row()], [2, 3], duplicates=2),
    csv_case(
        "event id reused with other content",
        [csv_row(), csv_row(item_id="i9")],
        [2, 3],
        [(4, "event_id 'e1' is already used by another row with different content")],
    ),
    csv_case(
        "SQL in text is only text", [csv_row(event_type="review", text="'; DROP TABLE raw_behavior_logs; --")], [2, 3]
    ),
    csv_case(
        "header with spaces and capitals",
        [],
        [2, 3],
        raw=(
            " Event_ID , USER_ID,item_id,Event_Type,timestamp\n"
            + GOOD[:-4]
            + "\n"
            + "e1,u1,i1,view,2026-10-05T10:00:00Z\n"
        ).encode(),
    ),
    csv_case(
        "unknown extra column ignored",
        [],
        [2, 3],
        raw=(HEADER + ",notes\n" + GOOD + ",x\n" + csv_row() + ",y\n").encode(),
    ),
    csv_case("header only", [], [], raw=(HEADER + "\n").encode()),
]

JSONL_CASES = [
    jsonl_case(
        "invalid JSON", ["{not json"], [1], [(2, "invalid JSON: Expecting property name enclosed in double quotes")]
    ),
    jsonl_case(
        "truncated object",
        ['{"user_id": "u1", "event_type": "view"'],
        [1],
        [(2, "invalid JSON: Expecting ',' delimiter")],
    ),
    jsonl_case("an array, not an object", ["[1, 2]"], [1], [(2, "a line must hold a JSON object")]),
    jsonl_case("a bare string", ['"u1"'], [1], [(2, "a line must hold a JSON object")]),
    jsonl_case(
        "invalid UTF-8",
        [],
        [1],
        [(2, "text is not valid UTF-8")],
        raw=(json_row(event_id="g0", user_id="u0") + "\n").encode() + b'{"user_id": "\xff"}\n',
    ),
    jsonl_case(
        "lone surrogate escape",
        [json_row(text="\\ud800 alone").replace("\\\\ud800", "\\ud800")],
        [1],
        [(2, "a \\u escape is a lone surrogate, which is not valid Unicode text")],
    ),
    jsonl_case(
        "duplicate key",
        ['{"user_id": "a", "user_id": "b", "event_type": "view", "timestamp": "2026-10-05T10:00:00Z", "item_id": "i"}'],
        [1],
        [(2, "duplicate JSON key 'user_id'")],
    ),
    jsonl_case(
        "keys differing only in case",
        ['{"User_ID": "a", "user_id": "b", "event_type": "view", "timestamp": "2026-10-05T10:00:00Z", "item_id": "i"}'],
        [1],
        [(2, "duplicate JSON key 'user_id' (keys differing only in case or spaces)")],
    ),
    jsonl_case("nested too deeply", ["[" * 100_000], [1], [(2, "invalid JSON: nested too deeply")]),
    jsonl_case("numbers as values", [json_row(user_id=123, event_type="rate", rating=4)], [1, 2]),
    jsonl_case("object as text", [json_row(event_type="review", rating=5, text={"a": 1})], [1, 2]),
    jsonl_case("null user id", [json_row(user_id=None)], [1], [(2, "missing user_id")]),
    jsonl_case(
        "missing event type key",
        ['{"user_id": "u1", "item_id": "i1", "timestamp": "2026-10-05T10:00:00Z"}'],
        [1],
        [(2, "missing event_type")],
    ),
    jsonl_case(
        "boolean rating", [json_row(event_type="rate", rating=True)], [1], [(2, "rating 'true' is not a number")]
    ),
    jsonl_case("CR-only line endings", [json_row(), json_row(event_id="e2")], [1, 2, 3], ending="\r"),
    jsonl_case("blank lines keep line numbers", ["", json_row(), "  ", json_row(event_id="e2")], [1, 3, 5]),
    jsonl_case(
        "byte order mark", [], [1, 2], raw=("\ufeff" + json_row(event_id="g0") + "\n" + json_row() + "\n").encode()
    ),
    jsonl_case("extra keys ignored", [json_row(session={"id": 7}, notes="x")], [1, 2]),
    jsonl_case("exact duplicate lines", [json_row(), json_row()], [1, 2], duplicates=1),
    jsonl_case("timestamp without seconds", [json_row(timestamp="2026-10-05T10:00")], [1, 2]),
    jsonl_case(
        "id over the limit",
        [json_row(user_id=LONG)],
        [1],
        [(2, f"user_id of {MAX_ID_CHARS + 1} characters is over the limit of {MAX_ID_CHARS}")],
    ),
]

PARQUET_CASES = [
    parquet_case(
        "typed columns read as text",
        {
            "user_id": ["u1"],
            "item_id": ["i1"],
            "event_type": ["rate"],
            "timestamp": ["2026-10-05T10:00:00Z"],
            "rating": [3],
        },
        [1],
    ),
    parquet_case(
        "naive datetime column",
        {"user_id": ["u1"], "item_id": ["i1"], "event_type": ["view"], "timestamp": [dt.datetime(2026, 10, 5, 10)]},
        [1],
    ),
    parquet_case(
        "UTC datetime column",
        {
            "user_id": ["u1"],
            "item_id": ["i1"],
            "event_type": ["view"],
            "timestamp": pl.Series([dt.datetime(2026, 10, 5, 10)]).dt.replace_time_zone("UTC"),
        },
        [1],
    ),
    parquet_case(
        "integer user ids",
        {
            "user_id": [1, 2],
            "item_id": ["i1", "i1"],
            "event_type": ["view", "view"],
            "timestamp": ["2026-10-05T10:00:00Z"] * 2,
        },
        [1, 2],
    ),
    parquet_case(
        "null user id",
        {
            "user_id": ["u1", None],
            "item_id": ["i1", "i1"],
            "event_type": ["view", "view"],
            "timestamp": ["2026-10-05T10:00:00Z"] * 2,
        },
        [1],
        [(2, "missing user_id")],
    ),
    parquet_case(
        "unknown event type",
        {
            "user_id": ["u1", "u2"],
            "item_id": ["i1", "i1"],
            "event_type": ["view", "warp"],
            "timestamp": ["2026-10-05T10:00:00Z"] * 2,
        },
        [1],
        [(2, "unknown event type 'warp'")],
    ),
    parquet_case(
        "duplicate rows",
        {
            "user_id": ["u1"] * 3,
            "item_id": ["i1"] * 3,
            "event_type": ["view"] * 3,
            "timestamp": ["2026-10-05T10:00:00Z"] * 3,
        },
        [1],
        duplicates=2,
    ),
    parquet_case(
        "rating out of range",
        {
            "user_id": ["u1"],
            "item_id": ["i1"],
            "event_type": ["rate"],
            "timestamp": ["2026-10-05T10:00:00Z"],
            "rating": [7.5],
        },
        [],
        [(1, "rating 7.5 is outside 1..5")],
    ),
]

CASES = CSV_CASES + JSONL_CASES + PARQUET_CASES


def write_case(tmp_path, case: Case):
    path = tmp_path / f"events_{DAY}{case.suffix}"
    if isinstance(case.content, pl.DataFrame):
        case.content.write_parquet(path)
    else:
        path.write_bytes(case.content)
    return path


@pytest.mark.parametrize("case", CASES, ids=[f"{c.suffix[1:]}: {c.name}" for c in CASES])
def test_every_row_is_accounted_for_with_its_line_and_reason(tmp_path, case):
    path = write_case(tmp_path, case)
    result = load_log_date([path], DAY, quote=case.quote)
    assert result.n_read == result.n_accepted + result.n_rejected + result.n_duplicates
    assert result.accepted["source_row"].to_list() == case.accepted_rows
    assert result.rejected.select("source_row", "reason").rows() == case.rejected
    assert result.n_duplicates == case.duplicates
    assert (result.rejected["source_file"] == str(path)).all() and (result.accepted["source_file"] == str(path)).all()
    for raw_row in result.rejected["raw_row"]:
        json.loads(raw_row)  # every quarantine copy is JSON


def test_the_suite_is_large_enough():
    assert len(CASES) >= 60 and {c.suffix for c in CASES} == {".csv", ".jsonl", ".parquet"}


FILE_ERRORS = [
    (
        "events_2026-10-05.csv",
        (HEADER + ",user_id\n").encode(),
        "the header holds the same column 'user_id' twice (columns 2 and 10)",
    ),
    (
        "events_2026-10-05.csv",
        b"User_ID,user_id,event_type,timestamp\n",
        "the header holds columns differing only in case or spaces 'user_id' twice (columns 1 and 2)",
    ),
    ("events_2026-10-05.csv", b"user_id,item_id\nu1,i1\n", "missing required column(s) event_type, timestamp"),
    ("events_2026-10-05.csv", b"user_id,event_type,timestmp\n", "did you mean 'timestmp' for timestamp?"),
    ("events_2026-10-05.parquet", b"PAR1 truncated", "cannot be read as parquet"),
    ("events_2026-10-05.txt", b"x", "unsupported file type"),
]


@pytest.mark.parametrize("name, content, problem", FILE_ERRORS)
def test_files_that_cannot_be_read_fail_naming_the_file(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(EventFileError) as error:
        read_event_file(path)
    assert str(error.value).startswith(f"{path}: ") and problem in str(error.value)


def test_a_file_without_a_header_never_repeats_its_first_row():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events_2026-10-05.csv"
        path.write_text("e1,alice@example.com,i1,view,2026-10-05T10:00:00Z\n")
        with pytest.raises(EventFileError) as error:
            read_event_file(path)
    assert "alice" not in str(error.value) and "e1" not in str(error.value).replace(str(path), "")
    assert error.value.__cause__ is None and error.value.__context__ is None


@pytest.mark.parametrize(
    "frame, problem",
    [
        (
            pl.DataFrame(
                {"user_id": ["u1"], "event_type": ["view"], "timestamp": ["2026-10-05T10:00:00Z"], "text": [["a", "b"]]}
            ),
            "column 'text' has type List",
        ),
        (
            pl.DataFrame({"user_id": [b"u1"], "event_type": ["view"], "timestamp": ["2026-10-05T10:00:00Z"]}),
            "column 'user_id' has type Binary",
        ),
        (
            pl.DataFrame({"User_ID": ["u1"], "user_id": ["u2"], "event_type": ["view"], "timestamp": ["x"]}),
            "differing only in case or spaces 'user_id' twice",
        ),
    ],
)
def test_parquet_schema_problems_name_the_file(tmp_path, frame, problem):
    path = tmp_path / "events_2026-10-05.parquet"
    frame.write_parquet(path)
    with pytest.raises(EventFileError) as error:
        read_event_file(path)
    assert str(error.value).startswith(f"{path}: ") and problem in str(error.value)


def test_an_item_file_without_a_header_never_repeats_its_first_row(tmp_path):
    from interest_pipeline.core.ingest.catalogue import read_item_file

    path = tmp_path / "items.csv"
    path.write_text("i1,Secret Title,bob@example.com\n")
    with pytest.raises(EventFileError) as error:
        read_item_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: missing required column(s) item_id, title; the header has 3 column(s)")
    assert "bob@example.com" not in message and "Secret" not in message


# ---------------------------------------------------------------------------------------------
# Hostile shapes against privacy: with pseudonymisation on, no raw user id of any JSON or CSV
# shape is kept in the quarantine, and no error quotes the first row of a file without a header.
# ---------------------------------------------------------------------------------------------

from interest_pipeline.core.ingest.privacy import protect_events, pseudonym

PRIVACY_KEY = b"hostile-secret"


@pytest.mark.parametrize(
    "first_line, columns",
    [
        ("e1,rawuid-7781,i1,view,2026-10-05T10:00:00Z,rawuid-7781\n", "columns 2 and 6"),
        ("e1,RawUid-7781,i1,view,2026-10-05T10:00:00Z, rawuid-7781\n", "columns 2 and 6"),
        ("e1,rawuid-7781,i1,view,2026-10-05T10:00:00Z,,\n", "columns 6 and 7"),
    ],
)
def test_a_headerless_file_with_a_repeated_value_never_quotes_it(tmp_path, first_line, columns):
    path = tmp_path / f"events_{DAY}.csv"
    path.write_text(first_line + "e2,rawuid-7781,i1,view,2026-10-05T11:00:00Z,x,y\n")
    with pytest.raises(EventFileError) as error:
        read_event_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: the header holds ") and columns in message
    assert "looks like data, not a header" in message and "rawuid" not in message.lower().replace(str(path), "")


def test_a_headerless_file_never_offers_a_value_as_a_near_miss(tmp_path):
    path = tmp_path / f"events_{DAY}.csv"
    path.write_text("user_i7,view,2026-10-05T10:00:00Z\n")  # "user_i7" is close to user_id
    with pytest.raises(EventFileError) as error:
        read_event_file(path)
    assert "missing required column(s) user_id" in str(error.value) and "user_i7" not in str(error.value)


RAW_IDS = [f"RAWID-{n}" for n in range(8)]
HOSTILE_JSON_LINES = [
    '{"\\u0075ser_id": "' + RAW_IDS[0] + '", "user_id": "u1", "event_type": "view"}',  # repeated key, escaped
    '{"user\\u005fid": "' + RAW_IDS[1] + '", "event_type": "view"',  # escaped key, no closing brace
    '["' + RAW_IDS[2] + '", "i1", "view", "2026-10-05T10:00:00Z"]',  # an array
    '"' + RAW_IDS[3] + '"',  # a bare string
    "e1," + RAW_IDS[4] + ",i1,view,2026-10-05T10:00:00Z",  # a CSV line
    '{"User_ID": "' + RAW_IDS[5] + '", "user_id": "u1"}',  # keys differing in case
    '{"user_id": "' + RAW_IDS[6] + '", "text": "\\ud800"}',  # a lone surrogate
    '{"\\u0075ser_id": "' + RAW_IDS[7] + '" "event_type": "view"}',  # no JSON (a comma missing), escaped key
]


def test_no_raw_user_id_of_any_json_shape_is_kept_in_the_quarantine(tmp_path):
    path = tmp_path / f"events_{DAY}.jsonl"
    path.write_text("\n".join([json_row(event_id="g0", user_id="u0"), *HOSTILE_JSON_LINES]) + "\n")
    result = load_log_date([path], DAY)
    assert result.rejected["source_row"].to_list() == list(range(2, 2 + len(HOSTILE_JSON_LINES)))
    accepted, rejected = protect_events(result.accepted, result.rejected, PRIVACY_KEY, mask=True)
    stored = "\n".join(rejected["raw_row"].to_list() + rejected["reason"].to_list() + accepted["user_id"].to_list())
    assert [raw_id for raw_id in RAW_IDS if raw_id in stored] == []
    # the lines whose user id has a key keep everything else, with the pseudonym in its place
    kept = [json.loads(row).get("unparsed_json_line") for row in rejected["raw_row"]]
    assert [pseudonym(RAW_IDS[n], PRIVACY_KEY) in (kept[n] or "") for n in range(len(RAW_IDS))] == [
        True,
        True,
        False,
        False,
        False,
        True,
        True,
        True,
    ]


# -------------------------------------------------------------------------------------------------
# Bounded context values, ids written as JSON numbers, Parquet column encodings and damaged Parquet.
# Same checks as above: conservation, accepted lines, exact (line, reason) of every rejected row.

import math  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from interest_pipeline.core.ingest.event_schema import MAX_CONTEXT_CHARS, MAX_QUARANTINE_CHARS  # noqa: E402

OVER_CONTEXT = MAX_CONTEXT_CHARS + 1


def json_line(**values: str) -> str:
    """A JSON line whose values are written as given: numbers and literals stay as spelt."""
    base = {
        "event_id": '"e1"',
        "user_id": '"u1"',
        "item_id": '"i1"',
        "event_type": '"view"',
        "timestamp": '"2026-10-05T10:00:00Z"',
    }
    return "{" + ", ".join(f'"{k}": {v}' for k, v in {**base, **values}.items()) + "}"


BOUNDED_CASES = [
    csv_case("device at the limit", [csv_row(device="d" * MAX_CONTEXT_CHARS)], [2, 3]),
    csv_case(
        "device over the limit",
        [csv_row(device="d" * OVER_CONTEXT)],
        [2],
        [(3, f"device of {OVER_CONTEXT} characters is over the limit of {MAX_CONTEXT_CHARS}")],
    ),
    csv_case(
        "location over the limit",
        [csv_row(location="l" * OVER_CONTEXT)],
        [2],
        [(3, f"location of {OVER_CONTEXT} characters is over the limit of {MAX_CONTEXT_CHARS}")],
    ),
    csv_case(
        "a megabyte of device",
        [csv_row(device="d" * 1_000_000)],
        [2],
        [(3, f"device of 1000000 characters is over the limit of {MAX_CONTEXT_CHARS}")],
    ),
    csv_case(
        "long location of phone-like numbers, masked",
        [csv_row(location="call 0170 1234567 " * 20_000)],
        [2],
        [(3, f"location of 359999 characters is over the limit of {MAX_CONTEXT_CHARS}")],
        quote=mask_contact_details,
    ),
    csv_case(
        "the limit counts the value without surrounding spaces",
        [csv_row(device=" " * 300 + "web" + " " * 300)],
        [2, 3],
    ),
    jsonl_case(
        "ids of non-finite JSON numbers",
        [
            json_line(user_id="NaN"),
            json_line(event_id='"e2"', item_id="Infinity"),
            json_line(event_id="-Infinity"),
        ],
        [1],
        [
            (2, "user_id is the number NaN, which is not finite and cannot be an id"),
            (3, "item_id is the number Infinity, which is not finite and cannot be an id"),
            (4, "event_id is the number -Infinity, which is not finite and cannot be an id"),
        ],
    ),
    jsonl_case(
        "an id of 5,000 digits is rejected by its length, not a crash",
        [json_line(user_id="1" + "0" * 5_000)],
        [1],
        [(2, f"user_id of 5001 characters is over the limit of {MAX_ID_CHARS}")],
    ),
    jsonl_case(
        "a rating NaN is still a rating outside 1..5",
        [json_line(event_type='"rate"', rating="NaN")],
        [1],
        [(2, "rating NaN is outside 1..5")],
    ),
    parquet_case(
        "float ids that are not finite",
        {
            "user_id": [1.0, math.inf, math.nan],
            "item_id": ["i1"] * 3,
            "event_type": ["view"] * 3,
            "timestamp": ["2026-10-05T10:00:00Z"] * 3,
        },
        [1],
        [
            (2, "user_id is the number inf, which is not finite and cannot be an id"),
            (3, "user_id is the number NaN, which is not finite and cannot be an id"),
        ],
    ),
    parquet_case(
        "a categorical (dictionary-encoded) column",
        pl.DataFrame(
            {"user_id": ["u1", "u2"], "item_id": ["i1", "i1"], "event_type": ["view", "warp"], "timestamp": ["x", "x"]}
        )
        .with_columns(pl.col("event_type").cast(pl.Categorical), pl.lit("2026-10-05T10:00:00Z").alias("timestamp"))
        .to_dict(as_series=True),
        [1],
        [(2, "unknown event type 'warp'")],
    ),
    parquet_case(
        "an enum column",
        {
            "user_id": pl.Series(["u1", "u2"]).cast(pl.Enum(["u1", "u2"])),
            "item_id": ["i1", "i1"],
            "event_type": ["view", "view"],
            "timestamp": ["2026-10-05T10:00:00Z"] * 2,
        },
        [1, 2],
    ),
]


@pytest.mark.parametrize("case", BOUNDED_CASES, ids=[f"{c.suffix[1:]}: {c.name}" for c in BOUNDED_CASES])
def test_bounded_values_and_number_ids_are_accounted_for(tmp_path, case):
    path = write_case(tmp_path, case)
    result = load_log_date([path], DAY, quote=case.quote)
    assert result.n_read == result.n_accepted + result.n_rejected + result.n_duplicates
    assert result.accepted["source_row"].to_list() == case.accepted_rows
    assert result.rejected.select("source_row", "reason").rows() == case.rejected
    assert result.n_duplicates == case.duplicates
    for raw_row in result.rejected["raw_row"]:
        assert len(raw_row) <= MAX_QUARANTINE_CHARS
        json.loads(raw_row)


def test_json_number_ids_keep_the_text_written_in_the_file(tmp_path):
    """Read as floats, 1e400 and 1e401 would both be the user 'Infinity' and the long decimals
    would lose digits; as written they stay apart, and 1.0 stays apart from 1."""
    ids = ["1e400", "1e401", "12345678901234567890.5", "12345678901234567890.6", "1.0", "1", "-0"]
    lines = [json_line(event_id=f'"e{k}"', user_id=user) for k, user in enumerate(ids)]
    lines.append(json_line(event_id='"t"', event_type='"review"', text='{"stars": 4.50, "tags": [1, 2]}'))
    path = tmp_path / f"events_{DAY}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = load_log_date([path], DAY)
    assert result.n_read == result.n_accepted + result.n_rejected + result.n_duplicates
    assert result.accepted["user_id"].to_list() == [*ids, "u1"]
    assert result.accepted["text"][-1] == '{"stars": 4.5, "tags": [1, 2]}'  # a text given as JSON stays JSON


def test_a_dictionary_encoded_parquet_file_is_read_as_text(tmp_path):
    path = tmp_path / f"events_{DAY}.parquet"
    table = pa.table(
        {
            "user_id": pa.array(["u1", "u2", "u1"]).dictionary_encode(),
            "item_id": pa.array(["i1", "i2", "i1"], pa.large_string()).dictionary_encode(),
            "event_type": pa.array(["view", "click", "view"]).dictionary_encode(),
            "timestamp": ["2026-10-05T10:00:00Z", "2026-10-05T11:00:00Z", "2026-10-05T12:00:00Z"],
            "rating": pa.array([1, 2, 1]).dictionary_encode(),
        }
    )
    pq.write_table(table, path)
    result = load_log_date([path], DAY)
    assert result.n_read == result.n_accepted + result.n_rejected + result.n_duplicates
    assert result.accepted.select("user_id", "item_id", "event_type").rows() == [
        ("u1", "i1", "view"),
        ("u2", "i2", "click"),
        ("u1", "i1", "view"),
    ]


def truncated_parquet(path, rows: int = 20_000) -> None:
    """A Parquet file whose middle is cut out while its footer stays: the footer still claims
    every row and every page where they were."""
    table = pa.table(
        {
            "user_id": [f"u{k}" for k in range(rows)],
            "item_id": ["i1"] * rows,
            "event_type": ["view"] * rows,
            "timestamp": ["2026-10-05T10:00:00Z"] * rows,
        }
    )
    pq.write_table(table, path, compression="none")
    data = path.read_bytes()
    footer_length = int.from_bytes(data[-8:-4], "little")
    body, footer = data[: -(footer_length + 8)], data[-(footer_length + 8) :]
    path.write_bytes(body[: len(body) // 2] + footer)


def test_a_truncated_parquet_file_that_keeps_its_footer_fails_naming_the_file(tmp_path):
    path = tmp_path / f"events_{DAY}.parquet"
    truncated_parquet(path)
    with pytest.raises(EventFileError) as error:
        load_log_date([path], DAY)
    assert str(error.value).startswith(f"{path}: cannot be read as parquet: the file is damaged")
    assert error.value.__cause__ is None and error.value.__suppress_context__  # the panic is not shown as a cause
    good = tmp_path / "events_2026-10-06.parquet"
    pl.DataFrame({"user_id": ["u1"], "event_type": ["view"], "timestamp": ["2026-10-06T10:00:00Z"]}).write_parquet(good)
    assert load_log_date([good], dt.date(2026, 10, 6)).n_read == 1  # the reader still works afterwards


@pytest.mark.parametrize(
    "value, text",
    [
        ("1e400", "1e400"),
        ("-0", "-0"),
        ("1" + "0" * 5_000, "1" + "0" * 5_000),
        ("12345678901234567890.5", "12345678901234567890.5"),
        ("NaN", "NaN"),
        ('"1e400"', "1e400"),
        ("true", "true"),
        ("null", None),
        ('{"a": 1.50, "b": [2, 1e400]}', '{"a": 1.5, "b": [2, Infinity]}'),
    ],
)
def test_a_json_value_becomes_the_text_written_in_the_line(value, text):
    from interest_pipeline.core.ingest.readers import json_value_as_text, parse_json_line

    assert json_value_as_text(parse_json_line(f'{{"v": {value}}}')["v"]) == text


def test_an_empty_csv_file_holds_no_rows_as_an_empty_jsonl_file_does(tmp_path):
    for suffix in (".csv", ".jsonl"):
        path = tmp_path / f"events_{DAY}{suffix}"
        path.write_bytes(b"")
        result = load_log_date([path], DAY)
        assert (result.n_read, result.n_accepted, result.n_rejected) == (0, 0, 0)
        assert result.rows_per_file == {str(path): 0}
