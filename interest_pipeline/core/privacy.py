"""Privacy at ingestion: keyed pseudonyms for user ids, and masking of contact details in text."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import polars as pl

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Seven to fifteen digits, optionally with a leading + or ( and the usual separators: phone
# numbers, but not years, prices, ratings or ISO dates. Long order numbers are masked too:
# masking too much is the safe side.
PHONE = re.compile(r"(?<![\w+(])(?!\d{4}-\d{2}-\d{2})\+?\(?\d(?:[\s().-]{0,2}\d){6,14}(?!\d)")
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"


def pseudonym(user_id: str, key: bytes) -> str:
    """HMAC-SHA256 of the id under a secret key: stable across partitions and runs, not reversible without the key."""
    return "p_" + hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def mask_contact_details(text: str | None) -> str | None:
    if text is None:
        return None
    return PHONE.sub(PHONE_MASK, EMAIL.sub(EMAIL_MASK, text))


def pseudonymise_column(frame: pl.DataFrame, column: str, key: bytes) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).map_elements(lambda v: pseudonym(v, key), return_dtype=pl.String))


def mask_column(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).map_elements(mask_contact_details, return_dtype=pl.String))


def protect_raw_row(raw_row: str, key: bytes | None, mask: bool) -> str:
    """The same protection inside a quarantined row's JSON (user_id and text fields)."""
    try:
        fields = json.loads(raw_row)
    except (json.JSONDecodeError, TypeError):
        # Unparseable input (e.g. a broken JSON line): only masking can be applied.
        return mask_contact_details(raw_row) if mask else raw_row
    if not isinstance(fields, dict):
        return mask_contact_details(raw_row) if mask else raw_row
    if key is not None and isinstance(fields.get("user_id"), str) and fields["user_id"].strip():
        fields["user_id"] = pseudonym(fields["user_id"].strip(), key)
    if mask:
        fields = {k: mask_contact_details(v) if isinstance(v, str) and k != "user_id" else v for k, v in fields.items()}
    return json.dumps(fields, ensure_ascii=False)


def protect_events(accepted: pl.DataFrame, rejected: pl.DataFrame, key: bytes | None, mask: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply pseudonyms (when a key is given) and masking to accepted and rejected events."""
    if key is not None and accepted.height:
        accepted = pseudonymise_column(accepted, "user_id", key)
    if mask and accepted.height:
        accepted = mask_column(accepted, "text")
    if (key is not None or mask) and rejected.height:
        rejected = rejected.with_columns(
            pl.col("raw_row").map_elements(lambda r: protect_raw_row(r, key, mask), return_dtype=pl.String)
        )
    return accepted, rejected
