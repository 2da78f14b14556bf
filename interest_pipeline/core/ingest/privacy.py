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
# Written-out addresses: "jo [at] example [dot] com", "jo(at)example.com", "jo dot doe at example
# dot com". A bracketed "at" is enough; a bare " at " also needs a spelt " dot " after it, since
# "looked at example.com" is ordinary prose. Each "at" is checked in a bounded window (a local
# part has at most 64 characters, a domain label 63), so the work stays linear.
_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"
_SPELT_DOT = rf"(?:\s*+{_OPEN}\s*+dot\s*+{_CLOSE}\s*+|\s++dot\s++)"
# An "at" between spaces or brackets; which of the two it is, is checked after the match (a
# pattern that starts with a character class is searched much faster).
_SPELT_AT = re.compile(r"[\s\[({<][\s\[({<]*+at(?!\w)[\s\])}>]*+", re.IGNORECASE)
_SPELT_DOT_RE = re.compile(_SPELT_DOT, re.IGNORECASE)
_LOCAL_BEFORE = re.compile(rf"(?<![\w.%+'-])[\w.%+'-]{{1,64}}(?:{_SPELT_DOT}[\w%+-]{{1,64}}){{0,3}}$", re.IGNORECASE)
_DOMAIN_AFTER = re.compile(rf"[\w-]{{1,63}}(?:(?:{_SPELT_DOT}|\.)[\w-]{{1,63}}){{1,6}}(?![\w-])", re.IGNORECASE)
_LOCAL_WINDOW = 64 * 4 + 3 * 12


def _mask_spelt_emails(text: str) -> str:
    if "at" not in text.lower():  # the cheap test first: most text spells no address
        return text
    pieces, kept_until = [], 0
    for at in _SPELT_AT.finditer(text):
        if at.start() < kept_until:
            continue
        token = at.group()
        core = token.strip()
        bracketed = core[0] in "[({<" and core[-1] in "])}>"
        if not (bracketed or (core.lower() == "at" and token[0].isspace() and token[-1].isspace())):
            continue
        domain = _DOMAIN_AFTER.match(text, at.end())
        if domain is None or not (bracketed or _SPELT_DOT_RE.search(domain.group())):
            continue
        local = _LOCAL_BEFORE.search(text, max(kept_until, at.start() - _LOCAL_WINDOW), at.start())
        if local is None:
            continue
        pieces += [text[kept_until : local.start()], EMAIL_MASK]
        kept_until = domain.end()
    return "".join(pieces) + text[kept_until:] if pieces else text


# Phone numbers by the forms they are written in. Each form is a bounded run of digits (at most
# fifteen, the ITU limit), so the work per position is constant; which match is a phone number
# is then decided from its form and a bounded window around it (see ``_is_phone``).
# A candidate never starts or ends inside a word or a number, nor starts after a joiner glued to
# one: the digits of "ev-20261003-123456", "SKU_12345678", "1,234,567" or "3000-5000mg" are not
# numbers of their own. (Letters of other scripts may touch a number: "电话13800138000".)
_LETTER = r"A-Za-z_\u00c0-\u024f"
PHONE_CANDIDATE = re.compile(
    rf"(?=[\d+(])(?<![0-9{_LETTER}+(])(?<!\d[-./,])(?<![{_LETTER}][-_/])"
    r"(?:"
    r"(?P<international>(?:\+|00)\s?\(?[1-9](?:[\s()./-]{0,3}\d){6,13})"
    r"|(?P<area_in_brackets>(?:[18][\s.-]?)?\(\d{1,5}\)[\s.-]?\d(?:[\s./-]?\d){4,10})"
    r"|(?P<trunk_prefix>0[1-9](?:[\s()./-]{0,2}\d){7,10})"
    r"|(?P<north_american>(?:1[\s.-]?)?[2-9]\d\d[\s.-]?\d{3}[\s.-]?\d{4})"
    r"|(?P<grouped>[1-9]\d{1,3}(?:[\s.-]\d{2,4}){2,4})"
    r"|(?P<two_groups>[2-9]\d{3}\s\d{4}|[6-9]\d{4}[\s-]\d{5})"
    r"|(?P<eleven_digits>1[2-9]\d{9})"
    r"|(?P<labelled_only>\d(?:[\s()./-]{0,2}\d){6,14})"
    rf")(?![0-9{_LETTER}])"
)

# Words before a number that say what it is; the nearest one wins ("order number", "phone
# number"). Words that say nothing of the kind ("number", "no.") are not listed.
_PHONE_WORDS = (
    "tel",
    "tele",
    "telephone",
    "telefon",
    "telefone",
    "telefono",
    "teléfono",
    "téléphone",
    "tél",
    "tlf",
    "tfn",
    "phone",
    "ph",
    "call",
    "calls",
    "calling",
    "called",
    "ring",
    "dial",
    "mobile",
    "mob",
    "cell",
    "cellphone",
    "handy",
    "móvil",
    "movil",
    "celular",
    "cel",
    "portable",
    "natel",
    "fax",
    "whatsapp",
    "wa",
    "sms",
    "txt",
    "viber",
    "telegram",
    "contact",
    "reach",
    "hotline",
    "helpline",
    "landline",
    "тел",
    "телефон",
    "моб",
    "電話",
    "电话",
    "手机",
    "手機",
    "携帯",
    "전화",
)
_OTHER_WORDS = (
    "order",
    "orders",
    "ord",
    "invoice",
    "inv",
    "tracking",
    "track",
    "shipment",
    "parcel",
    "package",
    "ref",
    "reference",
    "sku",
    "model",
    "part",
    "p/n",
    "pn",
    "serial",
    "s/n",
    "sn",
    "isbn",
    "issn",
    "ean",
    "upc",
    "gtin",
    "asin",
    "item",
    "article",
    "art",
    "product",
    "prod",
    "id",
    "account",
    "acct",
    "customer",
    "member",
    "membership",
    "ticket",
    "case",
    "claim",
    "confirmation",
    "transaction",
    "txn",
    "receipt",
    "booking",
    "reservation",
    "policy",
    "batch",
    "lot",
    "code",
    "zip",
    "postcode",
    "patent",
    "version",
    "firmware",
    "build",
    "bestellung",
    "bestellnummer",
    "auftrag",
    "rechnung",
    "commande",
    "pedido",
    "factura",
    "ordine",
    "订单",
    "注文",
    "#",
)
_LABEL_KIND = {**{w: "phone" for w in _PHONE_WORDS}, **{w: "other" for w in _OTHER_WORDS}}
_LABEL_WORD = re.compile(r"[^\W\d_]+(?:/[^\W\d_]+)?|#")
_LABEL_WINDOW = 32

# A date, alone or followed by the hour of a time ("2026-10-03 12:30"): year first, or day and
# month first with a four-digit year (a two-digit one only with - . or /).
_DATE = re.compile(
    r"(?:(?:19|20)\d\d([-./\s])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])([-./\s])(?:0?[1-9]|[12]\d|3[01])\2(?:19|20)\d\d"
    r"|(?:0?[1-9]|[12]\d|3[01])([-./])(?:0?[1-9]|[12]\d|3[01])\3\d\d)(?:\s\d\d?)?"
)
_YEAR_RANGE = re.compile(r"(?:1[89]|2\d)\d\d\s?[-/]\s?(?:(?:1[89]|2\d)\d\d|\d\d)")
_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3}){2,}")
_CURRENCY_BEFORE = re.compile(
    r"(?:[$€£¥₹₩₽₺¢]|\b(?:usd|eur|gbp|inr|rs|cad|aud|chf|jpy|cny|rmb|sek|nok|dkk|pln|brl|r\$|mxn|kr))\.?\s?$",
    re.IGNORECASE,
)
# Units and currencies after a number, with or without a space. One-letter units ("5000g") only
# count glued, which the candidate's end already refuses: "call 0170 1234567 in the evening".
_UNIT_OR_CURRENCY_AFTER = re.compile(
    r"\s?(?:[$€£¥₹₩₽%]|(?:usd|eur|gbp|inr|rs|yen|yuan|euros?|dollars?|pounds?|rupees?|mg|kg|ml|mm|cm|km|"
    r"mah|wh|kwh|kw|hz|khz|mhz|ghz|rpm|ft|lbs?|oz|kb|mb|gb|tb|px|dpi|words?|pages?|calories|kcal|"
    r"steps|miles|views|people|users|units|pcs|pieces|items)\b)",
    re.IGNORECASE,
)
# After a candidate: a code going on after a joiner, or a time, decimal or thousands group.
_GLUED_AFTER = re.compile(r"[-_/][^\W_]|[:.,]\d")
_SEPARATOR = re.compile(r"[\s()./-]+")
_DIGIT = re.compile(r"\d")
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
# The value of an id or number field inside a JSON line that could not be parsed as a whole.
_JSON_KEPT_VALUE = re.compile(
    r'"\s*(event_id|item_id|user_id|timestamp|rating)\s*"\s*:\s*("(?:[^"\\\n]|\\.)*+"|[^\s,}\]]++)', re.IGNORECASE
)

SWITCH_VALUES = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}


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


def _label_before(text: str, start: int) -> str | None:
    """'phone' or 'other' for the nearest decisive label word before a number, else None."""
    for word in reversed(_LABEL_WORD.findall(text, max(0, start - _LABEL_WINDOW), start)):
        kind = _LABEL_KIND.get(word.lower())
        if kind:
            return kind
    return None


def _is_ascending_range(found: str) -> bool:
    """'1000-2000', '150-174': two numbers joined by a hyphen, the second larger and about as long."""
    parts = found.split("-")
    if len(parts) != 2 or not all(p.isdigit() and not p.startswith("0") for p in parts):
        return False
    low, high = parts
    return int(low) < int(high) and len(high) - len(low) <= 1


def _is_phone(match: re.Match) -> bool:
    """Whether a candidate digit run is a phone number, from its form and its neighbourhood.

    Dates, times, year ranges, prices, measurements and thousands are never phone numbers; then
    the nearest label word before the number decides ("order", "model", "#" against; "tel",
    "call" for), and otherwise the number's form.
    """
    text, found, start, end = match.string, match.group(), match.start(), match.end()
    if (
        _GLUED_AFTER.match(text, end)
        or _DATE.fullmatch(found)
        or _YEAR_RANGE.fullmatch(found)
        or _THOUSANDS.fullmatch(found)
    ):
        return False
    if _CURRENCY_BEFORE.search(text, max(0, start - 5), start) or _UNIT_OR_CURRENCY_AFTER.match(text, end):
        return False
    form = match.lastgroup
    label = _label_before(text, start)
    if label == "other" or (form == "labelled_only" and label is None):
        return False
    digits = sum(map(str.isdigit, found))
    if not found[-2].isdigit():  # a last group of one digit: a check digit (ISBN, part numbers)
        return False
    if label == "phone":
        return 7 <= digits <= 15
    if _is_ascending_range(found):
        return False
    if form == "trunk_prefix" and not _SEPARATOR.search(found):
        return 10 <= digits <= 11
    if form == "grouped":
        return 8 <= digits <= 12
    return True


def _mask_phone(match: re.Match) -> str:
    return PHONE_MASK if _is_phone(match) else match.group()


def mask_emails(text: str | None) -> str | None:
    """E-mail addresses, also written out ("jo [at] example [dot] com"), replaced by [email]."""
    if text is None:
        return None
    if any(c in text for c in _AT):
        text = EMAIL.sub(EMAIL_MASK, text)
    return _mask_spelt_emails(text)


def mask_contact_details(text: str | None) -> str | None:
    """Replace e-mail addresses by [email] and phone numbers by [phone]; other numbers stay."""
    text = mask_emails(text)
    if text is None or not _DIGIT.search(text):
        return text
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
    if not mask:
        return {kind: line}
    return {kind: _mask_json_line(line) if kind == UNPARSED_JSON_LINE else mask_contact_details(line)}


def _mask_json_line(line: str) -> str:
    """Masking of a JSON line that could not be parsed: the values of the id and number fields
    that can be located are kept as the parsed path keeps them (ids as read, numbers losing only
    e-mail addresses); the rest is masked as text. A CSV line has no such markers: its ids keep
    their form only because masking leaves codes and ids (letters, joiners, dates) alone."""
    pieces, kept_until = [], 0
    for field in _JSON_KEPT_VALUE.finditer(line):
        value = field.group(2)
        is_id = field.group(1).lower() in ID_FIELDS
        pieces += [mask_contact_details(line[kept_until : field.start(2)]), value if is_id else mask_emails(value)]
        kept_until = field.end()
    return "".join(pieces) + mask_contact_details(line[kept_until:])


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


def protect_events(
    accepted: pl.DataFrame, rejected: pl.DataFrame, key: bytes | None, mask: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
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
    mask = parse_switch(
        "INTEREST_PIPELINE_MASK_CONTACT_DETAILS", environ.get("INTEREST_PIPELINE_MASK_CONTACT_DETAILS"), True
    )
    key = environ.get("INTEREST_PIPELINE_PSEUDONYM_KEY", "")
    if pseudonymise:
        pseudonym_key_bytes(key)
    return pseudonymise, key, mask
