"""Text cleaning and language-aware tokenization for user comments.

All functions are pure: they take strings (or a polars frame) and return new
values without touching the file system or any global pipeline state. The only
side effect is the one-off, lazy initialisation of jieba's dictionary, which is
needed to segment Chinese text into words.
"""

from __future__ import annotations

import functools
import html
import logging
import re
import sys
import unicodedata
from collections.abc import Iterable

import polars as pl
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

__all__ = [
    "CHINESE_STOP_WORDS",
    "ENGLISH_STOP_WORDS_EXTENDED",
    "clean_text",
    "detect_language",
    "tokenize",
    "tokenize_frame",
]

# ---------------------------------------------------------------------------
# Stop words
# ---------------------------------------------------------------------------

# Fillers that are frequent in reviews but say nothing about a topic, plus the
# contracted forms of words that sklearn's list already has in full (its list
# contains no apostrophes, so "it's" would otherwise survive while "it" does not).
_REVIEW_FILLERS = frozenset(
    {
        "also",
        "really",
        "just",
        "get",
        "got",
        "getting",
        "gets",
        "would",
        "could",
        "should",
        "pretty",
        "bit",
        "lot",
        "lots",
        "thing",
        "things",
        "stuff",
        "actually",
        "ok",
        "okay",
        "lol",
        "yeah",
        "yes",
        "oh",
        "im",
        "ive",
        "dont",
        "didnt",
        "doesnt",
        "cant",
        "wont",
        "isnt",
        "wasnt",
        "thats",
        "i'm",
        "i've",
        "i'd",
        "i'll",
        "it's",
        "that's",
        "there's",
        "they're",
        "you're",
        "we're",
        "he's",
        "she's",
        "let's",
        "don't",
        "doesn't",
        "didn't",
        "isn't",
        "wasn't",
        "aren't",
        "weren't",
        "can't",
        "won't",
        "wouldn't",
        "couldn't",
        "shouldn't",
        "haven't",
        "hasn't",
        "hadn't",
    }
)

ENGLISH_STOP_WORDS_EXTENDED: frozenset[str] = frozenset(ENGLISH_STOP_WORDS) | _REVIEW_FILLERS

# Function words, pronouns, particles and intensifiers. Negations (不, 没有, 没)
# are deliberately included: tokens feed topic/interest keywords, not sentiment,
# and a negation says nothing about *what* a comment is about while being among
# the most frequent tokens, so keeping it would crowd real topic words out of the
# labels. This also matches sklearn's English list, which drops "not"/"no".
CHINESE_STOP_WORDS: frozenset[str] = frozenset(
    {
        "的",
        "了",
        "是",
        "在",
        "和",
        "也",
        "都",
        "就",
        "很",
        "我",
        "你",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "他们",
        "这",
        "那",
        "这个",
        "那个",
        "这些",
        "那些",
        "有",
        "与",
        "及",
        "等",
        "吗",
        "呢",
        "啊",
        "吧",
        "呀",
        "哦",
        "嗯",
        "把",
        "被",
        "一个",
        "没有",
        "没",
        "不",
        "还",
        "又",
        "非常",
        "比较",
        "就是",
        "还是",
        "但是",
        "因为",
        "所以",
        "而且",
        "如果",
        "虽然",
        "可以",
        "觉得",
        "什么",
        "一下",
        "一些",
        "个",
        "着",
        "过",
        "得",
        "地",
        "之",
        "给",
        "对",
        "说",
        "会",
        "要",
        "让",
        "真的",
        "挺",
        "太",
        "更",
        "最",
    }
)

# ---------------------------------------------------------------------------
# Regular expressions
# ---------------------------------------------------------------------------

# Tags must start with a letter, "/", "!" or "?" so that comparisons such as
# "a < b > c" survive. [^<>]* stops at the next "<", which keeps matching linear
# on hostile input with many unclosed brackets.
_TAG_RE = re.compile(r"</?[A-Za-z!?][^<>]*>")
_RAW_TEXT_OPEN_RE = re.compile(r"<(script|style)\b[^<>]*>", re.IGNORECASE)

# URL characters are restricted to ASCII so that a URL glued to Chinese text
# ("见https://x.cn很好") does not swallow the following words.
_URL_RE = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
# The look-behind anchors matches at the start of a local-part run; without it
# a long run of word characters with no "@" would be rescanned from every
# position (quadratic time).
_EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_WHITESPACE_RE = re.compile(r"\s+")
# html.unescape converts decimal references with int(), which refuses strings
# of more than 4300 digits; such references are out of range anyway and decode
# to U+FFFD, so they are resolved here first (after dropping leading zeros).
_DECIMAL_REF_ZEROS_RE = re.compile(r"&#0+(?=[0-9])")
_HUGE_DECIMAL_REF_RE = re.compile(r"&#[1-9][0-9]{7,};?")
# An "&" that html.unescape could still treat as the start of an entity.
_ENTITY_START_RE = re.compile(r"&(?=[#A-Za-z])")

_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_RE = re.compile(f"[{_HAN_CLASS}]")
_HAN_RUN_RE = re.compile(f"[{_HAN_CLASS}]+")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_LETTER_RE = re.compile(r"[^\W\d_]")
_DIGITS_RE = re.compile(r"\d+")
_WORD_CHAR_RE = re.compile(r"[^\W_]")

_MAX_UNESCAPE_PASSES = 4
_MAX_CLEAN_PASSES = 4
_ZH_THRESHOLD = 0.30


@functools.cache
def _unicode_classes() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Build (control, format/surrogate, word-token) patterns from the Unicode database.

    Built lazily, on first use, because scanning every code point takes about
    0.2 s and importing the module should stay cheap.
    """
    control: list[int] = []
    invisible: list[int] = []
    marks: list[int] = []
    category = unicodedata.category
    for cp in range(sys.maxunicode + 1):
        cat = category(chr(cp))
        if cat == "Cc":
            control.append(cp)
        elif cat in ("Cf", "Cs"):
            invisible.append(cp)
        elif cat[0] == "M":
            marks.append(cp)

    def char_class(points: list[int]) -> str:
        parts: list[str] = []
        start = prev = points[0]
        for cp in points[1:] + [-2]:
            if cp == prev + 1:
                prev = cp
                continue
            parts.append(re.escape(chr(start)) if start == prev else f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
            start = prev = cp
        return "[" + "".join(parts) + "]"

    marks_class = char_class(marks)[1:-1]
    # A word starts with a letter/digit, may carry combining marks (Devanagari
    # vowel signs, etc.), and may contain single inner apostrophes or hyphens.
    word = f"[^\\W_](?:[^\\W_]|[{marks_class}])*"
    word_re = re.compile(f"{word}(?:['\u2019\\-]{word})*")
    return re.compile(char_class(control)), re.compile(char_class(invisible)), word_re


def _word_re() -> re.Pattern[str]:
    return _unicode_classes()[2]


def _remove_controls(text: str) -> str:
    # isprintable() is False for every Cc/Cf/Cs character, so True means there
    # is nothing to remove (it is also False for non-ASCII spaces, which only
    # costs the slower regex path).
    if text.isprintable():
        return text
    control_re, invisible_re, _ = _unicode_classes()
    # Control characters (tabs, newlines, NUL, ...) become spaces so that lines
    # do not glue together; format characters (zero-width, bidi marks, BOM)
    # and lone surrogates are dropped outright.
    return invisible_re.sub("", control_re.sub(" ", text))


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", _remove_controls(text))


def _safe_unescape(text: str) -> str:
    if "&#" in text:
        text = _HUGE_DECIMAL_REF_RE.sub("\ufffd", _DECIMAL_REF_ZEROS_RE.sub("&#", text))
    return html.unescape(text)


def _unescape(text: str) -> str:
    # Repeated because scraped text is often escaped more than once
    # ("&amp;lt;b&amp;gt;"). The pass limit bounds the cost on hostile input;
    # anything still entity-like afterwards is defused so the result is stable.
    for _ in range(_MAX_UNESCAPE_PASSES):
        if "&" not in text:
            return text
        unescaped = _safe_unescape(text)
        if unescaped == text:
            return text
        text = _normalise(unescaped)
    if "&" in text and _safe_unescape(text) != text:
        text = _ENTITY_START_RE.sub("& ", text)
    return text


def _strip_raw_text_elements(text: str) -> str:
    """Remove <script>/<style> elements including their content.

    A hand-written scan instead of a lazy ".*?" regex: with many unclosed
    opening tags the regex would rescan to the end of the text for each one.
    An unclosed element keeps its content; only its opening tag is removed by
    the generic tag pass.
    """
    if "<" not in text:
        return text
    lowered = text.lower()
    if "<script" not in lowered and "<style" not in lowered:
        return text
    pieces: list[str] = []
    pos = 0
    unclosed: set[str] = set()
    for match in _RAW_TEXT_OPEN_RE.finditer(text):
        if match.start() < pos:
            continue  # inside an element that was already removed
        name = match.group(1).lower()
        if name in unclosed:
            continue
        close_start = lowered.find(f"</{name}", match.end())
        if close_start == -1:
            unclosed.add(name)  # no later element of this kind can be closed either
            continue
        close_end = lowered.find(">", close_start)
        close_end = len(text) if close_end == -1 else close_end + 1
        pieces.append(text[pos : match.start()])
        pieces.append(" ")
        pos = close_end
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


def _clean_once(text: str) -> str:
    text = _normalise(text)
    text = _unescape(text)
    text = _strip_raw_text_elements(text)
    # Everything removed from here on is replaced by a space, which can never
    # join neighbouring characters into a new tag, entity or URL.
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    if "://" in text or "www." in text.lower():
        text = _URL_RE.sub(" ", text)
    if "@" in text:
        text = _EMAIL_RE.sub(" ", text)
    return _WHITESPACE_RE.sub(" ", text).strip()


def clean_text(text: str | None) -> str:
    """Return ``text`` as plain, normalised, single-line text.

    Steps: remove control and format characters (control characters such as
    newlines and tabs become spaces; zero-width characters, bidi marks, BOM and
    lone surrogates are dropped), NFKC-normalise, unescape HTML entities
    (repeatedly, for double-escaped input), remove ``<script>``/``<style>``
    elements with their content and all other tags, remove URLs and e-mail
    addresses, collapse white space and strip. Emoji and other symbols are kept.

    ``None`` gives ``""``; other non-string values are converted with ``str``.
    The function never raises on string input and is idempotent:
    ``clean_text(clean_text(x)) == clean_text(x)``.
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    # Some steps can expose new work for earlier ones (an entity decoding to a
    # tag or a fullwidth "＜"), so run to a fixed point; in practice this takes
    # one or two passes.
    for _ in range(_MAX_CLEAN_PASSES):
        cleaned = _clean_once(text)
        if cleaned == text:
            break
        text = cleaned
    return text


def detect_language(text: str) -> str:
    """Classify ``text`` by script: ``"zh"``, ``"en"``, ``"other"`` or ``""``.

    ``"zh"`` when Han characters are at least 30% of the letters (Chinese
    comments often contain Latin brand names), ``"en"`` when more than half of
    the letters are Latin (this includes other Latin-script languages), and
    ``"other"`` otherwise. Text without any letters (empty, digits or
    punctuation only) gives ``""``.
    """
    if not text:
        return ""
    n_letters = len(_LETTER_RE.findall(text))
    if n_letters == 0:
        return ""
    n_han = len(_HAN_RE.findall(text))
    if n_han >= _ZH_THRESHOLD * n_letters:
        return "zh"
    if len(_LATIN_RE.findall(text)) > 0.5 * n_letters:
        return "en"
    return "other"


@functools.cache
def _jieba():
    """Import and initialise jieba once, without its start-up log messages."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _is_stop_word(token: str) -> bool:
    return token in ENGLISH_STOP_WORDS_EXTENDED or token in CHINESE_STOP_WORDS


def _keep_word(token: str) -> bool:
    # Applies to tokens from the regex tokenizer (non-Han text).
    if len(token) < 2 or _DIGITS_RE.fullmatch(token):
        return False
    return not _is_stop_word(token)


def _word_tokens(text: str) -> list[str]:
    # NFKC keeps the typographic apostrophe, so fold it to keep "don’t" == "don't".
    text = text.replace("\u2019", "'")
    return [t for t in _word_re().findall(text) if _keep_word(t)]


def _han_tokens(run: str) -> list[str]:
    # Single Han characters are real words (鞋, 书), so only stop words and
    # anything without a word character are removed here.
    return [
        t for t in _jieba().lcut(run) if t not in CHINESE_STOP_WORDS and _WORD_CHAR_RE.search(t) and not t.isdigit()
    ]


def _tokenize_clean(text: str) -> list[str]:
    if not text:
        return []
    text = text.lower()
    if not _HAN_RE.search(text):
        return _word_tokens(text)
    # Segment Han runs with jieba and the rest (brand names, English words)
    # with the regex tokenizer, so "wi-fi" stays one token inside Chinese text
    # and Han characters never glue onto Latin words.
    tokens: list[str] = []
    pos = 0
    for match in _HAN_RUN_RE.finditer(text):
        if match.start() > pos:
            tokens.extend(_word_tokens(text[pos : match.start()]))
        tokens.extend(_han_tokens(match.group()))
        pos = match.end()
    if pos < len(text):
        tokens.extend(_word_tokens(text[pos:]))
    return tokens


def tokenize(text: str, language: str | None = None) -> list[str]:
    """Split ``text`` into lowercase content tokens.

    The text is passed through :func:`clean_text` first (a no-op for text that
    is already clean). Runs of Han characters are segmented into words with
    jieba; everything else is split into runs of letters/digits that may
    contain inner apostrophes or hyphens ("don't", "wi-fi"), so Latin words
    inside Chinese text stay whole words. Pure numbers, one-character non-Han
    tokens, punctuation and symbols (including emoji) and English and Chinese
    stop words are dropped.

    ``language`` (a code from :func:`detect_language`) is accepted for callers
    that already know it, but segmentation does not depend on it: Han runs
    need jieba even in a mostly-English comment ("这个iPhone很好" is detected as
    English), and a regex tokenizer would otherwise glue them onto Latin words.
    """
    del language  # see docstring: the script of each run decides
    return _tokenize_clean(clean_text(text))


def _clean_and_tokenize(texts: Iterable[str | None]) -> tuple[list[str], list[str], list[list[str]]]:
    cleaned: list[str] = []
    languages: list[str] = []
    tokens: list[list[str]] = []
    # Comments repeat a lot ("good", "好评"), so work on each distinct text once.
    cache: dict[str | None, tuple[str, str, list[str]]] = {}
    for text in texts:
        if text is not None and not isinstance(text, str):
            text = str(text)
        hit = cache.get(text)
        if hit is None:
            clean = clean_text(text)
            language = detect_language(clean)
            hit = (clean, language, _tokenize_clean(clean))
            cache[text] = hit
        cleaned.append(hit[0])
        languages.append(hit[1])
        tokens.append(hit[2])
    return cleaned, languages, tokens


def tokenize_frame(frame: pl.DataFrame, text_column: str = "text") -> pl.DataFrame:
    """Return ``frame`` with ``text_clean``, ``language``, ``tokens`` and ``n_tokens`` added.

    ``text_clean`` is :func:`clean_text` of ``text_column`` (null becomes
    ``""``), ``language`` is :func:`detect_language` of the cleaned text,
    ``tokens`` is a ``List(String)`` from :func:`tokenize` and ``n_tokens``
    its length as ``UInt32``. Existing columns with these names are replaced.
    """
    if text_column not in frame.columns:
        raise KeyError(f"column {text_column!r} not in frame (columns: {frame.columns})")
    cleaned, languages, tokens = _clean_and_tokenize(frame.get_column(text_column).to_list())
    return frame.with_columns(
        pl.Series("text_clean", cleaned, dtype=pl.String),
        pl.Series("language", languages, dtype=pl.String),
        pl.Series("tokens", tokens, dtype=pl.List(pl.String)),
        pl.Series("n_tokens", [len(t) for t in tokens], dtype=pl.UInt32),
    )
