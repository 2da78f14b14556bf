import json

import polars as pl
import pytest

from interest_pipeline.core.privacy import mask_contact_details, protect_events, protect_raw_row, pseudonym

KEY = b"test-secret"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("write to jo.doe+shop@mail.example.com please", "write to [email] please"),
        ("call +44 20 7946 0958 today", "call [phone] today"),
        ("or (555) 123-4567.", "or [phone]."),
        ("bought on 2026-10-03 for 129.99, 4/5 stars", "bought on 2026-10-03 for 129.99, 4/5 stars"),
        ("size 42, 10 days, model X1000", "size 42, 10 days, model X1000"),
        (None, None),
    ],
)
def test_contact_details_are_masked_and_ordinary_numbers_kept(text, expected):
    assert mask_contact_details(text) == expected


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
