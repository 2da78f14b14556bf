"""Property-based: random and mutated rows never crash validation, and nothing is lost."""

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interest_pipeline.core.ingest.event_schema import ACCEPTED_SCHEMA, EVENT_TYPES, INPUT_COLUMNS, ValidationRules
from interest_pipeline.core.ingest.validation import validate_events

DAY = dt.date(2026, 10, 5)
RULES = ValidationRules(max_text_chars=200)

valid_row = st.fixed_dictionaries(
    {
        "event_id": st.one_of(st.none(), st.text(max_size=6)),
        "user_id": st.sampled_from(["u1", "u2", "", None, " u3 "]),
        "item_id": st.sampled_from(["i1", "i2", "", None]),
        "event_type": st.sampled_from([*EVENT_TYPES, "VIEW", "add-to-cart", "teleport", "", None]),
        "timestamp": st.one_of(
            st.sampled_from(
                [
                    "2026-10-05T10:00:00Z",
                    "2026-10-05T23:59:59+05:00",
                    "2026-10-04 22:00:00",
                    "1791194400",
                    "not-a-date",
                    "",
                    None,
                ]
            ),
            st.datetimes(min_value=dt.datetime(2026, 10, 1), max_value=dt.datetime(2026, 10, 9)).map(
                lambda d: d.isoformat() + "Z"
            ),
        ),
        "device": st.one_of(st.none(), st.text(max_size=5)),
        "location": st.one_of(st.none(), st.text(max_size=5)),
        "rating": st.sampled_from(["1", "5", "3.5", "0", "9", "five", "", None]),
        "text": st.one_of(st.none(), st.text(max_size=300)),
    }
)
any_row = st.one_of(
    valid_row, st.fixed_dictionaries({c: st.one_of(st.none(), st.text(max_size=40)) for c in INPUT_COLUMNS})
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(any_row, max_size=40), duplicate_every=st.integers(min_value=2, max_value=5))
def test_validation_never_crashes_and_conserves_rows(rows, duplicate_every):
    rows = rows + rows[::duplicate_every]  # exact duplicates too
    raw = pl.DataFrame(
        [{**r, "source_file": "f.csv", "source_row": i + 2} for i, r in enumerate(rows)],
        schema={**{c: pl.String for c in INPUT_COLUMNS}, "source_file": pl.String, "source_row": pl.Int64},
    )
    result = validate_events(raw, DAY, RULES)

    assert result.n_read == len(rows) == result.n_accepted + result.n_rejected + result.n_duplicates
    accepted = result.accepted
    assert dict(accepted.schema) == ACCEPTED_SCHEMA
    assert accepted["event_id"].is_unique().all()
    assert accepted["user_id"].null_count() == 0 and (accepted["user_id"].str.strip_chars() != "").all()
    assert accepted["event_type"].is_in(EVENT_TYPES).all()
    assert accepted["event_ts"].null_count() == 0
    lo, hi = dt.datetime(2026, 10, 4), dt.datetime(2026, 10, 7)
    assert ((accepted["event_ts"] >= lo) & (accepted["event_ts"] < hi)).all()
    non_search = accepted.filter(pl.col("event_type") != "search")
    assert non_search["item_id"].null_count() == 0
    ratings = accepted["rating"].drop_nulls()
    assert ((ratings >= 1) & (ratings <= 5)).all()
    assert (accepted["text"].drop_nulls().str.len_chars() <= RULES.max_text_chars).all()
    assert result.rejected["reason"].null_count() == 0 and (result.rejected["reason"] != "").all()
