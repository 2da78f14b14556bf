"""Reading stays bounded by the rows, not by the bytes of garbage: a line over MAX_LINE_CHARS is
quarantined by its start, every quarantine copy (raw_row) and every value a reason quotes is cut to
a fixed size with the length of the whole, and a file is streamed once, its fingerprint taken as
it is read. Every case that loads a file checks conservation (read = accepted + rejected +
duplicates) and the bound of every quarantine copy.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os

import polars as pl
import pytest

from interest_pipeline.core.ingest.event_files import verify_unchanged
from interest_pipeline.core.ingest.event_schema import (
    INPUT_COLUMNS,
    MAX_LINE_CHARS,
    MAX_QUARANTINE_CHARS,
    EventFileError,
    ValidatedEvents,
)
from interest_pipeline.core.ingest.privacy import (
    UNPARSED_CSV_LINE,
    UNPARSED_JSON_LINE,
    UNPARSED_LINE_HMAC,
    mask_contact_details,
    protect_raw_row,
)
from interest_pipeline.core.ingest.readers import (
    LongLine,
    StreamedFile,
    cut_for_quarantine,
    cut_marker,
    physical_lines,
    quarantine_copy,
    read_event_file,
    read_event_file_checked,
)
from interest_pipeline.core.ingest.validation import MAX_QUOTED_CHARS, load_log_date

DAY = dt.date(2026, 10, 5)
HEADER = "event_id,user_id,item_id,event_type,timestamp,device,location,rating,text\n"
GOOD_CSV = "e0,u0,i0,view,2026-10-05T09:00:00Z,,,,\n"


def json_line(event_id: str) -> str:
    return json.dumps(
        {"event_id": event_id, "user_id": "u1", "item_id": "i1", "event_type": "view", "timestamp": "2026-10-05T10:00Z"}
    )


def load(path, quote=None) -> ValidatedEvents:
    """The file loaded, with conservation and the bound of every quarantine copy checked."""
    result = load_log_date([path], DAY, quote=quote)
    assert result.n_read == result.n_accepted + result.n_rejected + result.n_duplicates
    for raw_row in [*result.rejected["raw_row"], *result.accepted_raw]:
        assert len(raw_row) <= MAX_QUARANTINE_CHARS
        json.loads(raw_row)
    return result


# Lines over the limit --------------------------------------------------------------------------


def test_a_jsonl_line_over_the_limit_is_quarantined_by_its_start(tmp_path):
    path = tmp_path / "events_2026-10-05.jsonl"
    length = MAX_LINE_CHARS + 10
    path.write_bytes((json_line("e0") + "\n").encode() + b"\x00" * length + b"\r\n" + (json_line("e1") + "\n").encode())
    result = load(path)
    assert result.accepted["source_row"].to_list() == [1, 3]
    assert result.rejected.select("source_row", "reason").rows() == [
        (2, f"line of {length} characters is over the limit of {MAX_LINE_CHARS}")
    ]
    copy = json.loads(result.rejected["raw_row"][0])
    assert list(copy) == [UNPARSED_JSON_LINE]
    assert copy[UNPARSED_JSON_LINE].startswith("\x00\x00") and copy[UNPARSED_JSON_LINE].endswith(cut_marker(length))


def test_a_csv_line_over_the_limit_is_quarantined_and_reading_goes_on(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    long_line = "x," * (MAX_LINE_CHARS // 2 + 5)
    path.write_text(HEADER + GOOD_CSV + long_line + "\n" + "e2,u2,i2,view,2026-10-05T11:00:00Z,,,,\n")
    result = load(path)
    assert result.accepted["source_row"].to_list() == [2, 4]
    assert result.rejected.select("source_row", "reason").rows() == [
        (3, f"line of {len(long_line)} characters is over the limit of {MAX_LINE_CHARS}")
    ]
    assert json.loads(result.rejected["raw_row"][0])[UNPARSED_CSV_LINE].endswith(cut_marker(len(long_line)))


def test_a_header_line_over_the_limit_fails_naming_the_file(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_bytes(b"\x00" * (MAX_LINE_CHARS + 1) + b"\n" + GOOD_CSV.encode())
    with pytest.raises(EventFileError) as error:
        read_event_file(path)
    assert str(error.value) == f"{path}: the header line is over the limit of {MAX_LINE_CHARS} characters"


def test_a_quote_never_closed_stops_at_the_record_limit_and_reading_goes_on(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    opened = 'e1,u1,i1,review,2026-10-05T10:00:00Z,,,4,"never closed\n'
    rows = [f"f{k},u1,i1,view,2026-10-05T10:00:00Z,,,,{'t' * 60}\n" for k in range(MAX_LINE_CHARS // 90)]
    path.write_text(HEADER + GOOD_CSV + opened + "".join(rows))
    result = load(path)
    assert result.rejected.select("source_row", "reason").rows() == [
        (3, f"unbalanced quote: a quoted field opened on this line is never closed within {MAX_LINE_CHARS} characters")
    ]
    assert result.accepted["source_row"].to_list() == [2, *range(4, 4 + len(rows))]


# Quarantine copies and quoted values ----------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_line_of_nul_bytes_under_the_line_limit_keeps_a_bounded_copy(tmp_path, suffix):
    """Each NUL byte takes six characters in JSON (\\u0000): the copy is cut by its written length."""
    path = tmp_path / f"events_2026-10-05{suffix}"
    first = HEADER + GOOD_CSV if suffix == ".csv" else json_line("e0") + "\n"
    path.write_bytes(first.encode() + b"\x00" * 1_000_000 + b"\n")
    result = load(path)
    assert result.n_accepted == 1 and result.n_rejected == 1
    (copy,) = json.loads(result.rejected["raw_row"][0]).values()
    assert copy.startswith("\x00") and copy.endswith(cut_marker(1_000_000))


@pytest.mark.parametrize("text", ["y" * 1_000_000, "\x00" * 3_000], ids=["a megabyte", "NUL bytes, six times as long"])
def test_a_row_rejected_by_a_rule_keeps_its_short_fields_whole_and_its_long_ones_cut(tmp_path, text):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_text(HEADER + GOOD_CSV + f"e1,u1,i1,teleport,2026-10-05T10:00:00Z,web,DE,,{text}\n")
    result = load(path)
    assert result.rejected.select("source_row", "reason").rows() == [(3, "unknown event type 'teleport'")]
    copy = json.loads(result.rejected["raw_row"][0])
    assert list(copy) == list(INPUT_COLUMNS)
    assert {k: copy[k] for k in ("event_id", "user_id", "event_type", "device", "rating")} == {
        "event_id": "e1",
        "user_id": "u1",
        "event_type": "teleport",
        "device": "web",
        "rating": None,
    }
    assert copy["text"].startswith(text[:3]) and copy["text"].endswith(cut_marker(len(text)))


@pytest.mark.parametrize("quote", [None, mask_contact_details], ids=["as read", "masked"])
def test_a_long_value_is_quoted_in_a_reason_by_its_start(tmp_path, quote):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_text(HEADER + GOOD_CSV + f"e1,u1,i1,{'z' * 100_000},2026-10-05T10:00:00Z,,,,\n")
    result = load(path, quote)
    assert result.rejected["reason"].to_list() == [
        f"unknown event type '{'z' * MAX_QUOTED_CHARS}{cut_marker(100_000)}'"
    ]


def test_a_cut_line_stays_one_field_so_that_pseudonymisation_still_hides_it(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_text(HEADER + GOOD_CSV + "e1,alice," + "a" * 10_000 + "\n")
    result = load(path)
    protected = json.loads(protect_raw_row(result.rejected["raw_row"][0], b"key", mask=True))
    assert set(protected) == {UNPARSED_LINE_HMAC, "unparsed_line_chars"} and "alice" not in json.dumps(protected)


def test_a_quarantine_copy_fits_its_bound_and_keeps_its_keys():
    fields = {"event_id": "e1", "user_id": "u1", "device": None, "text": "\x00" * 10_000, "location": '"' * 3_000}
    copy = quarantine_copy(fields)
    assert len(copy) <= MAX_QUARANTINE_CHARS
    parsed = json.loads(copy)
    assert list(parsed) == list(fields)
    assert (parsed["event_id"], parsed["user_id"], parsed["device"]) == ("e1", "u1", None)
    assert parsed["text"].strip("\x00") == cut_marker(10_000) and parsed["location"].endswith(cut_marker(3_000))


def test_a_short_quarantine_copy_is_the_row_as_json():
    fields = {"event_id": "e1", "text": "café \x00"}
    assert quarantine_copy(fields) == json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def test_a_value_known_to_be_only_a_start_is_always_marked():
    assert json.loads(quarantine_copy({"text": "abc"}, {"text": 10})) == {"text": "abc" + cut_marker(10)}
    assert cut_for_quarantine("abc", 100) == "abc"
    assert cut_for_quarantine("abc", 100, total=7) == "abc" + cut_marker(7)
    cut = cut_for_quarantine("\x00" * 100, 60)
    assert len(json.dumps(cut, ensure_ascii=False)) - 2 <= 60 and cut.endswith(cut_marker(100))


# Lines from pieces -----------------------------------------------------------------------------


def pieces(text: str, size: int) -> list[str]:
    return [text[k : k + size] for k in range(0, len(text), size)]


def test_lines_keep_their_endings_however_the_file_is_cut_into_pieces():
    text = "a\r\nbb\rccc\n\r\n\r\rdddd\n\ne"
    expected = io.StringIO(text, newline="").readlines()
    for size in range(1, len(text) + 1):
        assert list(physical_lines(iter(pieces(text, size)), limit=100)) == expected, size


def test_a_line_over_the_limit_comes_as_its_start_and_length_however_it_is_cut():
    text = "ab\r\n" + "x" * 50 + "\r\n" + "y" * 30 + "\r" + "z" * 5 + "\n" + "w" * 12
    expected = ["ab\r\n", LongLine("x" * 10, 50), LongLine("y" * 10, 30), "zzzzz\n", LongLine("w" * 10, 12)]
    for size in range(1, len(text) + 1):
        lines = list(physical_lines(iter(pieces(text, size)), limit=10))
        assert lines == expected, size
        assert all(len(line if isinstance(line, str) else line.start) <= 10 for line in lines)


def test_lines_split_in_one_go_read_as_the_csv_module_reads_them(tmp_path):
    """Many batches of lines without quotes (split at commas in one go) around records that need
    the csv module: the rows are those of the csv module, on the same lines."""
    lines = [f"e{k},u{k % 7},i{k % 5},view,2026-10-05T10:00:00Z,web,DE,,caf\u00e9 {k}\r\n" for k in range(60_000)]
    lines[30_000] = 'q1,u1,i1,review,2026-10-05T10:00:00Z,,,4,"two\r\nlines, quoted"\r\n'
    lines[45_000] = "r1,u1,i1\r\n"
    lines[50_000] = "\r\n"
    path = tmp_path / "events_2026-10-05.csv"
    path.write_text(HEADER + "".join(lines), newline="")
    frame, rejected = read_event_file(path)
    expected, numbers = [], []
    reader = csv.reader(io.StringIO(HEADER + "".join(lines), newline=""))
    names = next(reader)
    first_line = reader.line_num + 1
    for fields in reader:
        if len(fields) == len(names):
            row = dict(zip(names, fields))
            expected.append(tuple(row[c] or None for c in INPUT_COLUMNS))
            numbers.append(first_line)  # a record is numbered by its first line
        first_line = reader.line_num + 1
    assert frame.select(INPUT_COLUMNS).rows() == expected
    assert frame["source_row"].to_list() == numbers
    # line 45,003: the header, and the quoted record of two lines before it
    assert rejected.select("source_row", "reason").rows() == [(45_003, "row has 3 field(s), the header has 9")]


# Streaming and the fingerprint ----------------------------------------------------------------


def test_the_fingerprint_of_a_streamed_file_is_that_of_its_bytes(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_bytes((HEADER + GOOD_CSV * 3).encode())
    _, _, fingerprint = read_event_file_checked(path)
    stat = path.stat()
    assert (fingerprint.size, fingerprint.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert fingerprint.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_growing_while_it_is_streamed_is_refused(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_text(HEADER + GOOD_CSV * 100)
    stream = StreamedFile(path, chunk_bytes=64)
    chunks = stream.chunks()
    next(chunks)
    with path.open("a") as out:
        out.write(GOOD_CSV)
    for _ in chunks:
        pass
    with pytest.raises(EventFileError, match="changed while it was read"):
        stream.fingerprint()


def test_a_file_rewritten_in_place_while_it_is_streamed_is_refused(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_text(HEADER + GOOD_CSV * 100)
    stream = StreamedFile(path, chunk_bytes=64)
    chunks = stream.chunks()
    next(chunks)
    path.write_text((HEADER + GOOD_CSV * 100).replace("u0", "u9"))  # same size, new content and time
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    for _ in chunks:
        pass
    with pytest.raises(EventFileError, match="changed while it was read"):
        stream.fingerprint()


def test_a_streamed_fingerprint_is_checked_again_before_storing(tmp_path):
    path = tmp_path / "events_2026-10-05.jsonl"
    path.write_text(json_line("e1") + "\n")
    _, _, fingerprint = read_event_file_checked(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # touched, same content
    verify_unchanged({str(path): fingerprint})
    path.write_text(json_line("e2") + "\n")
    with pytest.raises(EventFileError, match="rewritten while the run was reading it"):
        verify_unchanged({str(path): fingerprint})


def test_rows_are_kept_whole_across_frames(tmp_path):
    """More rows than one frame gathers: every row once, in line order, as JSON lines too."""
    path = tmp_path / "events_2026-10-05.jsonl"
    path.write_text("".join(json_line(f"e{k}") + "\n" for k in range(60_000)))
    frame, rejected = read_event_file(path)
    assert rejected.height == 0
    assert frame["source_row"].to_list() == list(range(1, 60_001))
    assert frame["event_id"].to_list() == [f"e{k}" for k in range(60_000)]
    assert frame.schema["event_id"] == pl.String
