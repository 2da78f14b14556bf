import json

import polars as pl
import pytest

from interest_pipeline.core.privacy import (
    UNPARSED_CSV_LINE,
    UNPARSED_JSON_LINE,
    UNPARSED_LINE_HMAC,
    mask_contact_details,
    parse_switch,
    protect_events,
    protect_raw_row,
    pseudonym,
    settings_from_environment,
)

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
        ("@@@ a@b no-domain@localhost", "@@@ a@b no-domain@localhost"),
        (None, None),
    ],
)
def test_contact_details_are_masked_and_ordinary_numbers_kept(text, expected):
    assert mask_contact_details(text) == expected


@pytest.mark.parametrize(
    "unit, phone_like",
    [("a", False), ("a@", False), ("a.", False), ("a%@", False), ("1", False), ("+1", False), ("1-1mg ", False), ("1 ", True)],
)
def test_hostile_runs_are_masked_exactly(unit, phone_like):
    # 200,000 characters took minutes with the former backtracking pattern. No run holds an
    # e-mail address; one unbroken run of more than 15 digits is not a phone number; digits
    # separated by spaces or brackets are masked fifteen at a time.
    text = unit * (200_000 // len(unit))
    masked = mask_contact_details(text)
    if phone_like:
        assert set(masked.replace("[phone]", "")) <= set(unit) and masked.count("[phone]") >= len(text) // (15 * len(unit))
    else:
        assert masked == text


def test_an_e_mail_address_after_a_long_run_is_still_found():
    assert mask_contact_details("a" * 100_000 + " x@example.com") == "a" * 100_000 + " [email]"
    assert mask_contact_details("a" * 100_000 + "@example.com") == "[email]"


@pytest.mark.parametrize(
    "value, expected",
    [("true", True), ("TRUE", True), (" yes ", True), ("1", True), ("On", True), ("false", False), ("0", False), ("no", False), ("off", False), ("", False), (None, False)],
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
    assert settings_from_environment({"INTEREST_PIPELINE_PSEUDONYMISE": "no", "INTEREST_PIPELINE_PSEUDONYM_KEY": key}) == (False, key, True)


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
        {"event_id": "0170/1234567", "user_id": "u7", "item_id": "17914536000", "timestamp": "17914536000",
         "rating": "5.0000001", "text": "call 0170/1234567", "device": "x@example.com"}
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
    # without a key there is nothing to pseudonymise; masking still applies
    assert json.loads(protect_raw_row(json.dumps({UNPARSED_JSON_LINE: line}), None, mask=True))[UNPARSED_JSON_LINE].startswith('{"user_id": "[email]"')


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
