"""Privacy at ingestion: keyed pseudonyms for user ids, and masking of contact details in text.

Masking runs in linear time: every pattern over user text is anchored so that no position is
scanned more than a bounded number of times (possessive quantifiers, bounded repetitions,
look-behinds that let only the start of a run begin a match), and the run of spaces or brackets
before a written-out "at" is walked back once instead of searched for, so no run of letters,
digits, spaces or brackets can stall ingestion. Contact details are looked for in the text as it
is shown: invisible characters that break them apart are ignored, and a right-to-left override
that shows them reversed is read in display order.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import re
import unicodedata
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
# An "at" with a space or an opening bracket right before it; the run of spaces and brackets
# before it is found by walking back (see ``_spelt_at_tokens``), and which of the two forms it
# is, is checked after the match.
_SPELT_AT = re.compile(r"(?<=[\s\[({<])at(?!\w)", re.IGNORECASE)
_SPELT_AT_AFTER = re.compile(r"[\s\])}>]*+")
_OPEN_BRACKETS = frozenset("[({<")
_SPELT_DOT_RE = re.compile(_SPELT_DOT, re.IGNORECASE)
_LOCAL_BEFORE = re.compile(rf"(?<![\w.%+'-])[\w.%+'-]{{1,64}}(?:{_SPELT_DOT}[\w%+-]{{1,64}}){{0,3}}$", re.IGNORECASE)
_DOMAIN_AFTER = re.compile(rf"[\w-]{{1,63}}(?:(?:{_SPELT_DOT}|\.)[\w-]{{1,63}}){{1,6}}(?![\w-])", re.IGNORECASE)
_LOCAL_WINDOW = 64 * 4 + 3 * 12
_LOCAL_END = re.compile(r"[\w.%+'-]|\n")


def _spelt_at_tokens(text: str):
    """(start, end) of every "at" token: a run of spaces and opening brackets, "at", then any spaces
    and closing brackets, as ``re.finditer`` gives ``[\\s\\[({<]++at(?!\\w)[\\s\\])}>]*+``.

    That pattern, searched directly, rescans a run of spaces from each of its positions (quadratic
    time). Here each "at" walks back over the run right before it, which ends at the "t" of the
    previous one, so each character is visited at most twice. As in ``finditer``, a token never
    starts before the end of the previous one: a run consumed by the previous token's tail is cut
    there, and an "at" with nothing of its run left is no token. (Python's ``\\s`` is ``str.isspace``.)
    """
    previous_end = 0
    for word in _SPELT_AT.finditer(text):
        at = start = word.start()
        while start > previous_end and (text[start - 1].isspace() or text[start - 1] in _OPEN_BRACKETS):
            start -= 1
        if start == at:
            continue
        previous_end = _SPELT_AT_AFTER.match(text, at + 2).end()
        yield start, previous_end


def _spelt_email_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every written-out address ("jo [at] example [dot] com")."""
    if "at" not in text.lower():  # the cheap test first: most text spells no address
        return []
    spans: list[tuple[int, int]] = []
    kept_until = 0
    for start, end in _spelt_at_tokens(text):
        if start < kept_until:
            continue
        token = text[start:end]
        core = token.strip()
        bracketed = core[0] in "[({<" and core[-1] in "])}>"
        if not (bracketed or (core.lower() == "at" and token[0].isspace() and token[-1].isspace())):
            continue
        domain = _DOMAIN_AFTER.match(text, end)
        if domain is None or not (bracketed or _SPELT_DOT_RE.search(domain.group())):
            continue
        # The local part ends right before the token (or before a line end there, as "$" does): a
        # look at that character spares the search of the window in most text.
        if start == 0 or not _LOCAL_END.match(text, start - 1):
            continue
        local = _LOCAL_BEFORE.search(text, max(kept_until, start - _LOCAL_WINDOW), start)
        if local is None:
            continue
        spans.append((local.start(), domain.end()))
        kept_until = domain.end()
    return spans


def _replaced(text: str, spans: list[tuple[int, int]], mask: str) -> str:
    """The text with each of the (sorted, disjoint) spans replaced by the mask."""
    if not spans:
        return text
    pieces, kept_until = [], 0
    for start, end in spans:
        pieces += [text[kept_until:start], mask]
        kept_until = end
    return "".join(pieces) + text[kept_until:]


def _email_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in EMAIL.finditer(text)] if any(c in text for c in _AT) else []


# Characters that are not shown but can break an address or a number apart (bidirectional marks,
# embeddings, overrides and isolates, zero-width characters, the soft hyphen), or, for a
# right-to-left override, show the characters after it in reverse: "\u202emoc.elpmaxe@oj\u202c"
# shows as jo@example.com. Masking looks for contact details in the text as shown.
_INVISIBLE_CHARS = frozenset(
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u2060\ufeff\u00ad"
)
_INVISIBLE = re.compile("[" + "".join(sorted(_INVISIBLE_CHARS)) + "]")
_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")  # LRE, RLE, LRO, RLO
_ISOLATES = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI
# What changes the order characters are shown in, taken a run at a time: embeddings, overrides,
# isolates and their ends; or the ends of paragraphs.
_DIRECTION_CHANGE = re.compile("(?P<codes>[\u202a-\u202e\u2066-\u2069]+)|[\n\r\x1c-\x1e\x85\u2029]+")


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

# A key of a JSON line that could not be parsed as a whole: a string, not opened right after a
# backslash (so each string is scanned once), and a colon; its value: a string, or a bare word
# (a number, true, a broken value) up to the next separator. An object or array is no value here.
_JSON_STRING = r'"(?:[^"\\\n]|\\.)*+"'
_JSON_KEY = re.compile(rf"(?<!\\)({_JSON_STRING})\s*:\s*")
_JSON_VALUE = re.compile(rf"{_JSON_STRING}|[^\s,}}\]{{\[]++")
_USER_ID_KEY = re.compile(r"user_id", re.IGNORECASE)
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
# An escape JSON does not know ("\\x73"), taking backslashes in pairs from the start of their run;
# the reader's own \\x80 to \\xff (bytes that are not UTF-8, shown) spell no letter and may stay.
_UNKNOWN_ESCAPE = re.compile(r'(?<!\\)(?:\\\\)*+\\(?!["\\/bfnrt]|u[0-9a-fA-F]{4}|x[89a-fA-F][0-9a-fA-F])')
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

    Anything else raises, so that a typo never silently turns a protection off: a value of only
    spaces too, which is set, not empty (``INTEREST_PIPELINE_PSEUDONYMISE=" "`` must not store raw ids).
    """
    if value is None or value == "":
        return default
    try:
        return SWITCH_VALUES[value.strip().lower()]
    except KeyError:
        raise ValueError(
            f"{name}={value!r} is not an on/off value: use one of true/false, 1/0, yes/no, on/off"
        ) from None


def pseudonym_key_bytes(key: str | None) -> bytes:
    """The pseudonym key as bytes; a key with nothing but whitespace and invisible characters
    (zero-width spaces and joiners, the byte order mark, bidirectional marks) is refused."""
    if key is None or all(c.isspace() or unicodedata.category(c) == "Cf" for c in key):
        raise ValueError(
            "pseudonymisation is on (INTEREST_PIPELINE_PSEUDONYMISE) but the key is empty or only whitespace "
            "and invisible characters: set INTEREST_PIPELINE_PSEUDONYM_KEY to a secret, or turn pseudonymisation off"
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


def _phone_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in PHONE_CANDIDATE.finditer(text) if _is_phone(m)] if _DIGIT.search(text) else []


def mask_emails(text: str | None) -> str | None:
    """E-mail addresses, also written out ("jo [at] example [dot] com"), replaced by [email]."""
    if text is None:
        return None
    if _INVISIBLE.search(text):
        return _mask_as_shown(text, phones=False)
    text = _replaced(text, _email_spans(text), EMAIL_MASK)
    return _replaced(text, _spelt_email_spans(text), EMAIL_MASK)


def mask_contact_details(text: str | None) -> str | None:
    """Replace e-mail addresses by [email] and phone numbers by [phone]; other numbers stay."""
    if text is None:
        return None
    if _INVISIBLE.search(text):
        return _mask_as_shown(text, phones=True)
    text = mask_emails(text)
    if not _DIGIT.search(text):
        return text
    return PHONE_CANDIDATE.sub(_mask_phone, text)


def _contact_spans(text: str, phones: bool) -> list[tuple[int, int, str]]:
    """(start, end, mask) of what masking replaces, in the text's own positions: e-mail addresses,
    then written-out ones in the text with those masked, then phone numbers in the text with both
    masked (each step sees the masks of the steps before, as ``mask_contact_details`` does)."""
    steps = [(_email_spans, EMAIL_MASK), (_spelt_email_spans, EMAIL_MASK)]
    if phones:
        steps.append((_phone_spans, PHONE_MASK))
    found: list[tuple[int, int, str]] = []  # sorted, disjoint, in the text's positions
    current = text
    for finder, mask in steps:
        spans = finder(current)
        if spans:
            found = _outermost(found + [(start, end, mask) for start, end in _before_masking(found, spans)])
            current = _replaced(current, spans, mask)
    return found


def _before_masking(placed: list[tuple[int, int, str]], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans of the text with the ``placed`` masks in it, in the positions of the text without
    them (a span reaching into a mask takes all it replaced)."""
    starts, ends, shift = [], [], 0
    for start, end, mask in placed:
        starts.append(start + shift)
        shift += len(mask) - (end - start)
        ends.append(end + shift)

    def original(position: int, is_end: bool) -> int:
        k = bisect.bisect_right(starts, position) - 1
        if k < 0:
            return position
        if position >= ends[k]:
            return placed[k][1] + position - ends[k]
        return placed[k][1] if is_end and position > starts[k] else placed[k][0]

    return [(original(start, False), original(end, True)) for start, end in spans]


def _outermost(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The spans sorted, those overlapping merged into one (with the mask of the first)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, mask in sorted(spans, key=lambda span: (span[0], -span[1])):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), merged[-1][2])
        else:
            merged.append((start, end, mask))
    return merged


def _mask_as_shown(text: str, phones: bool) -> str:
    """Masking of a text that holds invisible characters: contact details are looked for in the
    text without them, in the order of the characters and, where a right-to-left override turns
    characters around, in the order they are shown as well. A detail found either way is replaced
    whole, with the invisible characters inside it; those outside any detail are kept."""
    logical = [i for i, c in enumerate(text) if c not in _INVISIBLE_CHARS]
    spans = []
    for order in (logical, _display_order(text, logical)):
        if order is None:
            continue
        seen = "".join(map(text.__getitem__, order))
        for start, end, mask in _contact_spans(seen, phones):
            covered = order[start:end]
            spans.append((min(covered), max(covered) + 1, mask))
    merged = _outermost(spans)
    pieces, kept_until = [], 0
    for start, end, mask in merged:
        pieces += [text[kept_until:start], mask]
        kept_until = end
    return "".join(pieces) + text[kept_until:]


def _display_order(text: str, logical: list[int]) -> list[int] | None:
    """The visible characters' positions in the order they are shown, where a right-to-left
    override (U+202E) turns them around; None when the text has no such override.

    A simplified reading of the Unicode bidirectional algorithm: the characters under a
    right-to-left override (up to its pop, U+202C, or the end of the paragraph) are shown
    reversed, and embeddings, isolates and left-to-right overrides inside one stop it for their
    extent; the implicit direction of letters of right-to-left scripts is not modelled.
    """
    if "\u202e" not in text:
        return None
    order: list[int] = []
    reversed_run: list[int] = []  # characters under an override, shown right to left
    stack: list[str] = []
    isolates = position = 0

    def take(stop: int) -> None:
        nonlocal position, reversed_run
        segment = logical[position:stop]
        position = stop
        if not segment:
            return
        if stack and stack[-1] == "\u202e":
            reversed_run += segment
        else:
            order.extend(reversed(reversed_run))
            reversed_run = []
            order.extend(segment)

    for change in _DIRECTION_CHANGE.finditer(text):
        take(bisect.bisect_left(logical, change.start(), position))
        if change.group("codes") is None:  # the end of a paragraph ends every embedding
            stack.clear()
            isolates = 0
            continue
        for code in change.group():
            if code in _EMBEDDINGS:
                stack.append(code)
            elif code in _ISOLATES:
                stack.append(code)
                isolates += 1
            elif code == "\u202c":
                if stack and stack[-1] not in _ISOLATES:
                    stack.pop()
            elif isolates:  # U+2069, the end of an isolate, and the embeddings inside it
                while stack.pop() not in _ISOLATES:
                    pass
                isolates -= 1
    take(len(logical))
    order.extend(reversed(reversed_run))
    return order


def pseudonymise_column(frame: pl.DataFrame, column: str, key: bytes) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).map_elements(lambda v: pseudonym(v, key), return_dtype=pl.String))


def mask_column(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).map_elements(mask_contact_details, return_dtype=pl.String))


def _line_hash(line: str, key: bytes) -> str:
    return hmac.new(key, line.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:24]


class _Members(list):
    """The members of a decoded JSON object, in order, repeated keys included."""


def _user_id_members(value) -> int:
    """How many members of a decoded JSON value, at any depth, are a user id by their key (as the
    reader takes keys: trimmed and lower-cased)."""
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _Members):
            count += sum(name.strip().lower() == "user_id" for name, _ in item)
            pending += [member for _, member in item]
        elif isinstance(item, list):
            pending += item
    return count


def _key_text(token: str) -> str:
    """A JSON string token as text; a token JSON refuses keeps its \\u escapes decoded."""
    try:
        return json.loads(token)
    except ValueError:
        return _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), token[1:-1])


def _user_id_mentions(line: str) -> int:
    """How many times a line that is no JSON names user_id, with its \\u escapes read."""
    return len(_USER_ID_KEY.findall(_UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), line)))


def _pseudonymise_json_user_ids(line: str, key: bytes) -> str | None:
    """The line with the value of every user_id key replaced by its pseudonym, or None when that
    cannot be done for sure (then nothing of the line may be kept).

    Keys are compared as the reader reads them: decoded (``"\\u0075ser_id"`` is user_id), trimmed
    and lower-cased. A line that is JSON (refused for a repeated key, say) must have every user_id
    member replaced, at any depth; JSON that is not an object (an array, a string) is refused
    whole, since its values have no names: ``["u1", "view"]`` holds an id all the same. A line that
    is no JSON must look like an object, hold no escape JSON does not know, and have every mention
    of user_id (its \\u escapes read) resolved to a value.
    """
    try:
        decoded = json.loads(line, object_pairs_hook=_Members)
    except (ValueError, RecursionError):
        if not line.lstrip().startswith("{") or _UNKNOWN_ESCAPE.search(line):
            return None
        expected = _user_id_mentions(line)
    else:
        if not isinstance(decoded, _Members):
            return None
        expected = _user_id_members(decoded)
    pieces, kept_until, position, replaced = [], 0, 0, 0
    while (found := _JSON_KEY.search(line, position)) is not None:
        position = found.end()
        if _key_text(found.group(1)).strip().lower() != "user_id":
            continue
        value = _JSON_VALUE.match(line, position)
        if value is None:
            continue
        try:
            read = json.loads(value.group())
            user_id = read if isinstance(read, str) else json.dumps(read)
        except ValueError:
            user_id = value.group()
        pieces += [line[kept_until:position], json.dumps(pseudonym(user_id.strip(), key))]
        kept_until = position = value.end()
        replaced += 1
    if replaced != expected:
        return None
    return "".join(pieces) + line[kept_until:]


def _protect_unparsed(kind: str, line: str, key: bytes | None, mask: bool) -> dict:
    """A line that could not be split into fields: its user id cannot always be located.

    JSON lines: the value of every user_id key is pseudonymised (see
    ``_pseudonymise_json_user_ids``); CSV lines, or JSON lines whose user ids cannot all be
    located: with pseudonymisation on only a keyed hash of the line is kept (the line itself stays
    in the source file, at source_row).
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
    """Apply pseudonyms (when a key is given) and masking to accepted and rejected events.

    Masking also applies to ``source_file``: a file may be named after a person ("orders of
    jo@example.com.csv").
    """
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
    if mask:
        accepted, rejected = (_mask_file_names(frame) for frame in (accepted, rejected))
    return accepted, rejected


def _mask_file_names(frame: pl.DataFrame) -> pl.DataFrame:
    """``source_file`` masked; each file name is masked once, however many rows it has."""
    if "source_file" not in frame.columns or not frame.height:
        return frame
    names = frame["source_file"].unique().drop_nulls().to_list()
    masked = {name: mask_contact_details(name) for name in names}
    changed = {name: value for name, value in masked.items() if value != name}
    if not changed:
        return frame
    return frame.with_columns(pl.col("source_file").replace(changed))


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
