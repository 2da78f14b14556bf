import datetime as dt
import json
import random
import re

import polars as pl
import pytest

from interest_pipeline.core.ingest.event_schema import INPUT_COLUMNS
from interest_pipeline.core.ingest.privacy import (
    ID_FIELDS,
    UNPARSED_CSV_LINE,
    UNPARSED_JSON_LINE,
    UNPARSED_LINE_HMAC,
    _spelt_at_tokens,
    mask_contact_details,
    parse_switch,
    protect_events,
    protect_raw_row,
    pseudonym,
    pseudonym_key_bytes,
    quote_for_reason,
    settings_from_environment,
)
from interest_pipeline.core.ingest.validation import load_log_date, validate_events
from interest_pipeline_tests.core.ingest.masking_corpus import LIMITS, confusion_counts, corpus, identifiers

KEY = b"test-secret"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("write to jo.doe+shop@mail.example.com please", "write to [email] please"),
        ("call +44 20 7946 0958 today", "call [phone] today"),
        ("or (555) 123-4567.", "or [phone]."),
        ("bought on 2026-10-03 for 129.99, 4/5 stars", "bought on 2026-10-03 for 129.99, 4/5 stars"),
        ("size 42, 10 days, model X1000", "size 42, 10 days, model X1000"),
        ("used it 2009-2013, paid $150-174 then $1500-1750", "used it 2009-2013, paid $150-174 then $1500-1750"),
        ("take 3000-5000mg daily, or 3000-5000 mg", "take 3000-5000mg daily, or 3000-5000 mg"),
        ("rated 5.0000001 on 03/10/2026 and 2026/10/03", "rated 5.0000001 on 03/10/2026 and 2026/10/03"),
        ("write bob%work@example.com", "write [email]"),
        ("ring 0170/1234567 now", "ring [phone] now"),
        ("full-width x\uff20example.com", "full-width [email]"),
        ("call 555-1234 or 17914536000", "call [phone] or [phone]"),
        (
            "used 2009-2013, $150-174, part 753-06190, 3000-5000mg",
            "used 2009-2013, $150-174, part 753-06190, 3000-5000mg",
        ),
        (
            "sent 2026-10-03 12:30:00, order 1234567890, model no. 0170 123 4567",
            "sent 2026-10-03 12:30:00, order 1234567890, model no. 0170 123 4567",
        ),
        ("jo [at] example [dot] com or jo dot doe at example dot org", "[email] or [email]"),
        ("I looked at example.com", "I looked at example.com"),
        ("0170 1234567 0171 7654321", "[phone] [phone]"),
        ("@@@ a@b no-domain@localhost", "@@@ a@b no-domain@localhost"),
        (None, None),
    ],
)
def test_contact_details_are_masked_and_ordinary_numbers_kept(text, expected):
    assert mask_contact_details(text) == expected


@pytest.mark.parametrize(
    "unit, phones_per_unit",
    [
        ("a", 0),
        ("a@", 0),
        ("a.", 0),
        ("a%@", 0),
        ("1", 0),
        ("+1", 0),
        ("1-1mg ", 0),
        ("1 ", 0),
        ("a [at] ", 0),
        ("(1)", 0),
        ("tel 1 ", 0),
        ("0170 1234567 ", 1),
        ("+49 170 1234567, ", 1),
        ("call 555-1234 ", 1),
    ],
)
def test_hostile_runs_are_masked_exactly(unit, phones_per_unit):
    # 200,000 characters took minutes with the former backtracking pattern. No run holds an
    # e-mail address; one unbroken run of more than 15 digits, or of single digits, is no phone
    # number; repeated phone numbers are each masked, however many there are.
    text = unit * (200_000 // len(unit))
    masked = mask_contact_details(text)
    assert masked.count("[phone]") == phones_per_unit * (200_000 // len(unit))
    if not phones_per_unit:
        assert masked == text


def test_an_e_mail_address_after_a_long_run_is_still_found():
    assert mask_contact_details("a" * 100_000 + " x@example.com") == "a" * 100_000 + " [email]"
    assert mask_contact_details("a" * 100_000 + "@example.com") == "[email]"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        ("On", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("off", False),
        ("", False),
        (None, False),
    ],
)
def test_switches_accept_only_documented_values(value, expected):
    assert parse_switch("INTEREST_PIPELINE_PSEUDONYMISE", value, default=False) is expected


@pytest.mark.parametrize("value", ["y", "enabled", "2", "tru", "-1"])
def test_an_undocumented_switch_value_fails_loudly(value):
    with pytest.raises(ValueError, match="INTEREST_PIPELINE_PSEUDONYMISE"):
        parse_switch("INTEREST_PIPELINE_PSEUDONYMISE", value, default=False)
    with pytest.raises(ValueError, match="not an on/off value"):
        settings_from_environment({"INTEREST_PIPELINE_PSEUDONYMISE": value, "INTEREST_PIPELINE_PSEUDONYM_KEY": "k"})


@pytest.mark.parametrize("key", ["", " ", "\t\n"])
def test_a_blank_key_is_refused(key):
    with pytest.raises(ValueError, match="INTEREST_PIPELINE_PSEUDONYM_KEY"):
        settings_from_environment({"INTEREST_PIPELINE_PSEUDONYMISE": "true", "INTEREST_PIPELINE_PSEUDONYM_KEY": key})
    assert settings_from_environment(
        {"INTEREST_PIPELINE_PSEUDONYMISE": "no", "INTEREST_PIPELINE_PSEUDONYM_KEY": key}
    ) == (False, key, True)


def test_pseudonyms_are_stable_keyed_and_not_the_id():
    assert pseudonym("u00042", KEY) == pseudonym("u00042", KEY)
    assert pseudonym("u00042", KEY) != pseudonym("u00043", KEY)
    assert pseudonym("u00042", KEY) != pseudonym("u00042", b"other-key")
    assert "u00042" not in pseudonym("u00042", KEY)


def test_quarantined_rows_are_protected_too():
    raw = json.dumps({"user_id": "u7", "event_type": "teleport", "text": "mail a@b.co"})
    protected = json.loads(protect_raw_row(raw, KEY, mask=True))
    assert protected["user_id"] == pseudonym("u7", KEY) and protected["text"] == "mail [email]"
    assert protect_raw_row("{broken json a@b.co", None, mask=True) == "{broken json [email]"


def test_masking_keeps_ids_and_numbers_of_the_quarantine_copy_as_read():
    raw = json.dumps(
        {
            "event_id": "0170/1234567",
            "user_id": "u7",
            "item_id": "17914536000",
            "timestamp": "17914536000",
            "rating": "5.0000001",
            "text": "call 0170/1234567",
            "device": "x@example.com",
        }
    )
    protected = json.loads(protect_raw_row(raw, None, mask=True))
    assert protected == {**json.loads(raw), "text": "call [phone]", "device": "[email]"}
    with_mail = json.loads(protect_raw_row(json.dumps({"timestamp": "a@example.com 17914536000"}), None, mask=True))
    assert with_mail == {"timestamp": "[email] 17914536000"}


def test_unparsed_json_lines_keep_no_raw_user_id():
    line = '{"user_id": "alice@example.com", "Event_Type": "view", "text": "call 0170/1234567"'  # no closing brace
    protected = json.loads(protect_raw_row(json.dumps({UNPARSED_JSON_LINE: line}), KEY, mask=True))
    kept = protected[UNPARSED_JSON_LINE]
    assert "alice" not in kept and pseudonym("alice@example.com", KEY) in kept and "[phone]" in kept
    bare = json.loads(protect_raw_row(json.dumps({UNPARSED_JSON_LINE: '{"user_id": 4711, x}'}), KEY, mask=False))
    assert bare == {UNPARSED_JSON_LINE: '{"user_id": "' + pseudonym("4711", KEY) + '", x}'}
    # a mention of user_id whose value cannot be found: only a keyed hash of the line is kept
    hidden = json.loads(protect_raw_row(json.dumps({UNPARSED_JSON_LINE: '{"user_id" "bob", 1}'}), KEY, mask=True))
    assert set(hidden) == {UNPARSED_LINE_HMAC, "unparsed_line_chars"} and "bob" not in json.dumps(hidden)
    # without a key there is nothing to pseudonymise; masking applies to the text, not to the ids
    masked = json.loads(protect_raw_row(json.dumps({UNPARSED_JSON_LINE: line}), None, mask=True))[UNPARSED_JSON_LINE]
    assert masked == '{"user_id": "alice@example.com", "Event_Type": "view", "text": "call [phone]"'


def test_unparsed_csv_lines_keep_only_a_keyed_hash_when_pseudonymising():
    raw = json.dumps({UNPARSED_CSV_LINE: "e1,bob,i1,view"})
    hidden = json.loads(protect_raw_row(raw, KEY, mask=True))
    assert "bob" not in json.dumps(hidden)
    assert hidden[UNPARSED_LINE_HMAC] == json.loads(protect_raw_row(raw, KEY, mask=False))[UNPARSED_LINE_HMAC]
    assert hidden[UNPARSED_LINE_HMAC] != json.loads(protect_raw_row(raw, b"other", mask=True))[UNPARSED_LINE_HMAC]
    assert json.loads(protect_raw_row(raw, None, mask=True)) == {UNPARSED_CSV_LINE: "e1,bob,i1,view"}


def test_protect_events_changes_only_ids_and_text():
    accepted = pl.DataFrame({"user_id": ["u1", "u2"], "text": ["ring 0151 123 4567", None], "item_id": ["i1", "i2"]})
    rejected = pl.DataFrame({"raw_row": [json.dumps({"user_id": "u3"})], "reason": ["x"]})
    out_accepted, out_rejected = protect_events(accepted, rejected, KEY, mask=True)
    assert out_accepted["user_id"].to_list() == [pseudonym("u1", KEY), pseudonym("u2", KEY)]
    assert out_accepted["text"].to_list() == ["ring [phone]", None]
    assert out_accepted["item_id"].to_list() == ["i1", "i2"]
    assert json.loads(out_rejected["raw_row"][0])["user_id"] == pseudonym("u3", KEY)
    unchanged, _ = protect_events(accepted, rejected, None, mask=False)
    assert unchanged.equals(accepted)


def test_masking_corpus_confusion_counts():
    """Every kind of the corpus, both ways: contacts masked exactly, other numbers left alone."""
    cases = corpus()
    counts = confusion_counts(cases)
    print("\n".join(f"{kind}: {row}" for kind, row in counts.items()))
    contact_kinds = {c.kind for c in cases if c.is_contact}
    assert all(sum(row.values()) >= 100 for row in counts.values())
    assert {kind: row["masked"] for kind, row in counts.items()} == {
        kind: sum(row.values()) if kind in contact_kinds else 0 for kind, row in counts.items()
    }
    assert contact_kinds == {"phone", "phone with label", "email"} and len(counts) == 10


@pytest.mark.parametrize("name, text, masked", LIMITS, ids=[limit[0] for limit in LIMITS])
def test_known_limits_of_the_masking_stay_as_documented(name, text, masked):
    assert (mask_contact_details(text) != text) is masked


def test_stored_ids_are_never_rewritten():
    ids = identifiers()
    assert len(ids) >= 100
    for event_id in ids:
        row = {
            "event_id": event_id,
            "item_id": event_id,
            "user_id": event_id,
            "text": f"id {event_id}, call 0170 1234567",
        }
        protected = json.loads(protect_raw_row(json.dumps(row), None, mask=True))
        assert {k: protected[k] for k in ID_FIELDS} == {k: row[k] for k in ID_FIELDS}
        # a JSON line that could not be parsed (no closing brace) keeps its id fields too
        line = json.dumps(row)[:-1]
        kept = json.loads(protect_raw_row(json.dumps({UNPARSED_JSON_LINE: line}), None, mask=True))[UNPARSED_JSON_LINE]
        assert kept.startswith(
            json.dumps({k: row[k] for k in ("event_id", "item_id", "user_id")})[:-1]
        ) and kept.endswith('call [phone]"')


def test_a_reason_quotes_the_event_id_as_read():
    event_id = "0170/1234567"  # an id that reads as a phone number when taken for text
    raw = pl.DataFrame({c: ["x"] * 2 for c in INPUT_COLUMNS}).with_columns(
        event_id=pl.lit(event_id),
        user_id=pl.Series(["u1", "u2"]),
        item_id=pl.lit("i1"),
        event_type=pl.lit("view"),
        timestamp=pl.lit("2026-10-05T10:00:00Z"),
        rating=pl.lit(None, pl.String),
        text=pl.Series(["a", "call 0170 1234567"]),
        source_file=pl.lit("f.csv"),
        source_row=pl.Series([2, 3], dtype=pl.Int64),
    )
    result = validate_events(raw, dt.date(2026, 10, 5), quote=quote_for_reason(True))
    assert result.rejected["reason"].to_list() == [
        f"event_id '{event_id}' is already used by another row with different content"
    ]


# The search for a written-out "at" before it was made linear: it rescanned a run of spaces or
# brackets from each of its positions once the text held an "at".
FORMER_SPELT_AT = re.compile(r"[\s\[({<][\s\[({<]*+at(?!\w)[\s\])}>]*+", re.IGNORECASE)
SPELT_AT_PIECES = [" ", "\t", "\n", "\u00a0", "\u3000", "[", "(", "{", "<", "]", ")", "}", ">", "at", "AT", "At", "a"]
SPELT_AT_PIECES += ["t", "x", "_", "1", ".", "@", "dot", "ta", "é"]


def test_at_tokens_are_those_the_former_pattern_found():
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choices(SPELT_AT_PIECES, k=rng.randrange(1, 24)))
        assert list(_spelt_at_tokens(text)) == [m.span() for m in FORMER_SPELT_AT.finditer(text)], text


@pytest.mark.parametrize(
    "text, expected",
    [
        # shown as "write jo@example.com today": the override shows the characters after it reversed
        ("write \u202emoc.elpmaxe@oj\u202c today", "write \u202e[email]\u202c today"),
        ("write \u202emoc.elpmaxe@oj", "write \u202e[email]"),  # an override lasts to the paragraph's end
        ("a \u202emoc.elpmaxe\u202d\u202c@oj\u202c", "a \u202e[email]\u202c"),  # an empty embedding inside
        ("call \u202e8590 6497 02 44+\u202c now", "call \u202e[phone]\u202c now"),
        ("\u202ejo@example.com\u202c", "\u202e[email]\u202c"),  # written in order under an override
        ("mail jo\u200e@example.com", "mail [email]"),
        ("mail jo@exam\u200fple.com please", "mail [email] please"),
        ("mail j\u200bo@example\u2060.com", "mail [email]"),
        ("mail \u2067jo\u2069 [at] example [dot] com", "mail \u2067[email]"),  # marks outside stay
        ("call +44 20\u200d 7946 0958", "call [phone]"),
        ("\u202b\u05e9\u05dc\u05d5\u05dd jo@example.com\u202c", "\u202b\u05e9\u05dc\u05d5\u05dd [email]\u202c"),
        # nothing to mask: the marks stay where they are
        ("\u05e9\u05dc\u05d5\u05dd \u200f2026-10-05\u200e, order 1234567890", None),
        ("\u202e\u202dmoc.elpmaxe@oj\u202c\u202c", None),  # a left-to-right override inside: shown as written
        ("\ufeffplain text\u00ad with a soft hyphen", None),
    ],
)
def test_invisible_characters_never_hide_a_contact_detail(text, expected):
    assert mask_contact_details(text) == (text if expected is None else expected)


def test_invisible_characters_outside_contact_details_change_nothing():
    texts = [case.text for case in corpus()] + [limit[1] for limit in LIMITS]
    for text in texts:
        assert mask_contact_details("\u200f" + text + "\u200b") == "\u200f" + mask_contact_details(text) + "\u200b"
        assert mask_contact_details("\u2066" + text + "\u2069") == "\u2066" + mask_contact_details(text) + "\u2069"


def test_a_number_field_loses_an_e_mail_address_shown_reversed():
    raw = json.dumps({"timestamp": "\u202emoc.elpmaxe@oj\u202c", "event_id": "\u202emoc.elpmaxe@oj\u202c"})
    assert json.loads(protect_raw_row(raw, None, mask=True)) == {
        "timestamp": "\u202e[email]\u202c",
        "event_id": "\u202emoc.elpmaxe@oj\u202c",  # ids are kept as read
    }


@pytest.mark.parametrize("value", [" ", "\t", "  \n"])
def test_a_switch_of_only_spaces_fails_loudly(value):
    # set but blank: neither on nor off, so not the default (pseudonymisation off, raw ids stored)
    with pytest.raises(ValueError, match="not an on/off value"):
        parse_switch("INTEREST_PIPELINE_PSEUDONYMISE", value, default=False)
    with pytest.raises(ValueError, match="INTEREST_PIPELINE_PSEUDONYMISE"):
        settings_from_environment({"INTEREST_PIPELINE_PSEUDONYMISE": value, "INTEREST_PIPELINE_PSEUDONYM_KEY": "k"})


@pytest.mark.parametrize("key", ["\u200b", "\ufeff", " \u200c\u200d ", "\u2060\t", "\u200e\u200b"])
def test_a_key_of_invisible_characters_is_refused(key):
    with pytest.raises(ValueError, match="INTEREST_PIPELINE_PSEUDONYM_KEY"):
        settings_from_environment({"INTEREST_PIPELINE_PSEUDONYMISE": "true", "INTEREST_PIPELINE_PSEUDONYM_KEY": key})
    with pytest.raises(ValueError, match="INTEREST_PIPELINE_PSEUDONYM_KEY"):
        pseudonym_key_bytes(key)
    assert pseudonym_key_bytes("s\u200bcret") == "s\u200bcret".encode()


@pytest.mark.parametrize(
    "line",
    [
        '{"\\u0075ser_id": "RAWID", "user_id": "u2", "event_type": "view"}',  # JSON, refused for the repeated key
        '{"user\\u005fid": "RAWID", "USER_ID": "u2"}',
        '{"\\u00a0User_Id ": "RAWID", "user_id": 7}',
        '{"meta": {"\\u0075ser_id": "RAWID"}, "user_id": "u2", "user_id": "u3"}',
        '{"\\u0075ser_id": "RAWID", "event_type": "view"',  # no JSON: no closing brace
        '{"user\\u005fid": "RAWID", "text": "say \\"hi\\"", "event_type": ',
    ],
)
def test_user_ids_under_an_escaped_key_are_pseudonymised(line):
    protected = json.loads(protect_raw_row(json.dumps({UNPARSED_JSON_LINE: line}), KEY, mask=True))
    kept = protected[UNPARSED_JSON_LINE]
    assert "RAWID" not in kept and pseudonym("RAWID", KEY) in kept


@pytest.mark.parametrize(
    "line",
    [
        '["RAWID", "view", "2026-10-05T10:00:00Z"]',  # an array: its values have no names
        '["RAWID", "view"',
        '"RAWID"',
        "e1,RAWID,i1,view,2026-10-05T10:00:00Z",  # a CSV line in a JSON lines file
        '{"user_id": {"id": "RAWID"}, "event_type": "view"}',  # a user id that is an object
        '{"u\\x73er_id": "RAWID"',  # an escape JSON does not know, in a key
        '{"user_id": "u1", "user_id": ["RAWID"]}',
    ],
)
def test_quarantined_json_lines_whose_ids_have_no_name_keep_only_a_keyed_hash(line):
    protected = json.loads(protect_raw_row(json.dumps({UNPARSED_JSON_LINE: line}), KEY, mask=True))
    assert set(protected) == {UNPARSED_LINE_HMAC, "unparsed_line_chars"} and "RAWID" not in json.dumps(protected)
    # without pseudonymisation the line is kept as read, masked
    assert json.loads(protect_raw_row(json.dumps({UNPARSED_JSON_LINE: line}), None, mask=False)) == {
        UNPARSED_JSON_LINE: line
    }


def test_file_names_are_masked_in_the_stored_rows(tmp_path):
    path = tmp_path / "events_2026-10-05 from jo.doe@example.com (app).csv"
    path.write_text(
        "event_id,user_id,item_id,event_type,timestamp\ne1,u1,i1,view,2026-10-05T10:00:00Z\ne2,u2,i1,warp,x\n"
    )
    result = load_log_date([path], dt.date(2026, 10, 5))
    accepted, rejected = protect_events(result.accepted, result.rejected, KEY, mask=True)
    masked = str(tmp_path / "events_2026-10-05 from [email] (app).csv")
    assert accepted["source_file"].to_list() == [masked] and rejected["source_file"].to_list() == [masked]
    plain_accepted, plain_rejected = protect_events(result.accepted, result.rejected, KEY, mask=False)
    assert plain_accepted["source_file"].to_list() == [str(path)] == plain_rejected["source_file"].to_list()
    # an ordinary name is kept as it is: its date and digits are no phone number
    name = "data/events/2026/10/05/events_2026-10-05-app-0170123.jsonl"
    ordinary = pl.DataFrame({"source_file": [name], "raw_row": ['{"text": "x"}']})
    assert [frame["source_file"].to_list() for frame in protect_events(ordinary, ordinary, None, mask=True)] == [
        [name],
        [name],
    ]
