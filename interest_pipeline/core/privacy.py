"""Privacy at ingestion: keyed pseudonyms for user ids, and masking of contact details in text.

Masking runs in linear time: every pattern is anchored so that no position is scanned more
than a bounded number of times (possessive quantifiers, bounded repetitions), so a long run of
letters or digits cannot stall ingestion.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping

import polars as pl

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"

# '@' and its full-width and small forms, which render the same.
_AT = "@\uff20\ufe6b"
_LOCAL_CHAR = r"[\w.+%!#$&'*/=?^`{|}~-]"
# The local part starts where a run of local-part characters starts (the look-behind), and the
# possessive quantifiers never give characters back: each position is tried at most once.
EMAIL = re.compile(rf"(?<!{_LOCAL_CHAR}){_LOCAL_CHAR}++[{_AT}][\w-]++(?:[.\uff0e][\w-]++)++")

# Seven to fifteen digits, optionally with a leading + or ( and the usual separators (space,
# brackets, dot, hyphen, slash). Bounded repetitions keep the work per position constant.
# A candidate never starts inside a number or a date (the look-behinds).
PHONE_CANDIDATE = re.compile(r"(?<![\w+(])(?<!\d[-./,])\+?\(?\d(?:[\s()./-]{0,2}\d){6,14}(?!\d)")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_YEAR_RANGE = re.compile(r"(?:1[89]|2\d)\d\d\s?-\s?(?:1[89]|2\d)\d\d")
_DECIMAL = re.compile(r"\d+[.,]\d+")
_CURRENCY_BEFORE = re.compile(r"[$€£¥₹]\s?$")
_UNIT_AFTER = re.compile(
    r"\s?(?:mg|g|kg|t|ml|l|mm|cm|m|km|mah|wh|kwh|w|kw|v|hz|khz|mhz|ghz|rpm|ft|in|lbs?|oz|kb|mb|gb|tb|k|px|dpi|%)\b",
    re.IGNORECASE,
)

# Fields of an event row by what masking may do to them: identifiers and numbers are kept
# exactly as read (only e-mail addresses, which are never a valid id or number, are masked in
# the number fields); everything else is user text.
ID_FIELDS = frozenset({"event_id", "item_id", "user_id"})
NUMBER_FIELDS = frozenset({"timestamp", "rating"})
# Accepted rows: the free-text fields masking applies to.
MASKED_ACCEPTED_COLUMNS = ("text", "device", "location")

# Markers of quarantined input that could not be split into fields (see ``protect_raw_row``).
UNPARSED_JSON_LINE = "unparsed_json_line"
UNPARSED_CSV_LINE = "unparsed_csv_line"
UNPARSED_LINE_HMAC = "unparsed_line_hmac"

_JSON_USER_ID = re.compile(r'("\s*user_id\s*"\s*:\s*)("(?:[^"\\\n]|\\.)*+"|[^\s,}\]]++)', re.IGNORECASE)
_USER_ID_KEY = re.compile(r"user_id", re.IGNORECASE)

SWITCH_VALUES = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def parse_switch(name: str, value: str | None, default: bool) -> bool:
    """An on/off setting: true/false, 1/0, yes/no, on/off (any case); unset or empty gives the default.

    Anything else raises, so that a typo never silently turns a protection off.
    """
    if value is None or not value.strip():
        return default
    try:
        return SWITCH_VALUES[value.strip().lower()]
    except KeyError:
        raise ValueError(
            f"{name}={value!r} is not an on/off value: use one of true/false, 1/0, yes/no, on/off"
        ) from None


def pseudonym_key_bytes(key: str | None) -> bytes:
    """The pseudonym key as bytes; an empty or whitespace-only key is refused."""
    if key is None or not key.strip():
        raise ValueError(
            "pseudonymisation is on (INTEREST_PIPELINE_PSEUDONYMISE) but the key is empty or only whitespace: "
            "set INTEREST_PIPELINE_PSEUDONYM_KEY to a secret, or turn pseudonymisation off"
        )
    return key.encode("utf-8")


def pseudonym(user_id: str, key: bytes) -> str:
    """HMAC-SHA256 of the id under a secret key: stable across partitions and runs, not reversible without the key."""
    return "p_" + hmac.new(key, user_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:24]


def _keeps_number(match: re.Match) -> bool:
    """Digit runs that are dates, year ranges, decimals, prices or measurements, not phone numbers."""
    found = match.group()
    text = match.string
    if _DATE.fullmatch(found) or _YEAR_RANGE.fullmatch(found) or _DECIMAL.fullmatch(found):
        return True
    if _CURRENCY_BEFORE.search(text[max(0, match.start() - 2) : match.start()]):
        return True
    return bool(_UNIT_AFTER.match(text, match.end()))


def _mask_phone(match: re.Match) -> str:
    return match.group() if _keeps_number(match) else PHONE_MASK


def mask_emails(text: str | None) -> str | None:
    if text is None or not any(c in text for c in _AT):
        return text
    return EMAIL.sub(EMAIL_MASK, text)


def mask_contact_details(text: str | None) -> str | None:
    """Replace e-mail addresses by [email] and phone-number-like digit runs by [phone]."""
    text = mask_emails(text)
    if text is None:
        return None
    return PHONE_CANDIDATE.sub(_mask_phone, text)


def pseudonymise_column(frame: pl.DataFrame, column: str, key: bytes) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).map_elements(lambda v: pseudonym(v, key), return_dtype=pl.String))


def mask_column(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).map_elements(mask_contact_details, return_dtype=pl.String))


def _line_hash(line: str, key: bytes) -> str:
    return hmac.new(key, line.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:24]


def _pseudonymise_json_user_ids(line: str, key: bytes) -> str | None:
    """The line with every ``"user_id": value`` replaced by its pseudonym, or None when some
    mention of user_id could not be resolved to a value (then nothing of the line may be kept)."""
    replaced = 0

    def replace(match: re.Match) -> str:
        nonlocal replaced
        value = match.group(2)
        try:
            decoded = json.loads(value)
            user_id = decoded if isinstance(decoded, str) else json.dumps(decoded)
        except json.JSONDecodeError:
            user_id = value
        replaced += 1
        return match.group(1) + json.dumps(pseudonym(user_id.strip(), key))

    protected = _JSON_USER_ID.sub(replace, line)
    if len(_USER_ID_KEY.findall(line)) != replaced:
        return None
    return protected


def _protect_unparsed(kind: str, line: str, key: bytes | None, mask: bool) -> dict:
    """A line that could not be split into fields: its user id cannot always be located.

    JSON lines: every ``"user_id": value`` found is pseudonymised; CSV lines, or JSON lines
    that mention user_id in a way that cannot be resolved: with pseudonymisation on only a keyed
    hash of the line is kept (the line itself stays in the source file, at source_row).
    Masking applies to the whole line, since its fields cannot be told apart.
    """
    if key is not None:
        protected = _pseudonymise_json_user_ids(line, key) if kind == UNPARSED_JSON_LINE else None
        if protected is None:
            return {UNPARSED_LINE_HMAC: _line_hash(line, key), "unparsed_line_chars": len(line)}
        line = protected
    return {kind: mask_contact_details(line) if mask else line}


def protect_raw_row(raw_row: str, key: bytes | None, mask: bool) -> str:
    """The same protection inside a quarantined row's JSON.

    ``user_id`` is pseudonymised (with a key); masking rewrites user-text fields only: ids are
    kept as read, and number fields (timestamp, rating) lose only e-mail addresses.
    """
    try:
        fields = json.loads(raw_row)
    except (json.JSONDecodeError, TypeError):
        fields = None
    if not isinstance(fields, dict):
        # Not a JSON object: plain text, e.g. a row stored before the markers existed.
        return _protect_plain_text(raw_row, key, mask)
    for kind in (UNPARSED_JSON_LINE, UNPARSED_CSV_LINE):
        if isinstance(fields.get(kind), str) and len(fields) == 1:
            return json.dumps(_protect_unparsed(kind, fields[kind], key, mask), ensure_ascii=False)
    protected: dict = {}
    for name, value in fields.items():
        if name == "user_id" and key is not None and isinstance(value, str) and value.strip():
            value = pseudonym(value.strip(), key)
        elif mask and isinstance(value, str) and name not in ID_FIELDS:
            value = mask_emails(value) if name in NUMBER_FIELDS else mask_contact_details(value)
        protected[name] = value
    return json.dumps(protected, ensure_ascii=False)


def _protect_plain_text(raw_row: str, key: bytes | None, mask: bool) -> str:
    """A raw row that is not a JSON object: treated as an unparsed JSON line."""
    protected = _protect_unparsed(UNPARSED_JSON_LINE, raw_row, key, mask)
    if UNPARSED_JSON_LINE in protected:
        return protected[UNPARSED_JSON_LINE]
    return json.dumps(protected)


def protect_events(accepted: pl.DataFrame, rejected: pl.DataFrame, key: bytes | None, mask: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply pseudonyms (when a key is given) and masking to accepted and rejected events."""
    if key is not None and accepted.height:
        accepted = pseudonymise_column(accepted, "user_id", key)
    if mask and accepted.height:
        for column in MASKED_ACCEPTED_COLUMNS:
            if column in accepted.columns:
                accepted = mask_column(accepted, column)
    if (key is not None or mask) and rejected.height:
        rejected = rejected.with_columns(
            pl.col("raw_row").map_elements(lambda r: protect_raw_row(r, key, mask), return_dtype=pl.String)
        )
    return accepted, rejected


def quote_for_reason(mask: bool):
    """How input values are quoted in rejection reasons: masked when masking is on."""
    return mask_contact_details if mask else None


def settings_from_environment(environ: Mapping[str, str]) -> tuple[bool, str, bool]:
    """(pseudonymise, key, mask) from INTEREST_PIPELINE_PSEUDONYMISE / _PSEUDONYM_KEY / _MASK_CONTACT_DETAILS.

    Refuses undocumented switch values and, with pseudonymisation on, an empty or blank key.
    """
    pseudonymise = parse_switch("INTEREST_PIPELINE_PSEUDONYMISE", environ.get("INTEREST_PIPELINE_PSEUDONYMISE"), False)
    mask = parse_switch("INTEREST_PIPELINE_MASK_CONTACT_DETAILS", environ.get("INTEREST_PIPELINE_MASK_CONTACT_DETAILS"), True)
    key = environ.get("INTEREST_PIPELINE_PSEUDONYM_KEY", "")
    if pseudonymise:
        pseudonym_key_bytes(key)
    return pseudonymise, key, mask
