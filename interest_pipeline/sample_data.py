"""Deterministic generator of realistic sample inputs, with the planted truth kept apart.

The sample imitates a shop's behaviour logs and user comments, with the traits of real
corpora: 116 subtopics in 15 topics (4 to 12 per topic, vocabulary in
``interest_pipeline.sample_vocabulary``) whose popularity is Zipf-like (``subtopic_zipf``:
about 45x between the most and the least popular) and drives both item counts and
interest; sibling subtopics share words and texts overlap across topics; users are sparse
(a heavy-tailed number of events: many with 1-5, a few heavy users) with core, peripheral
and (for drifters) emerging interests; daily event files in three formats with a few planted
defects and duplicates.

Reviews are of several kinds (``kind`` in truth/texts.csv):

- ``interest``: about the reviewed item's subtopic, mostly 4-60 words; ``long_comment_share``
  of the reviews run 80-200 words and drift into a sibling subtopic; ``duplicate_comment_share``
  are word-for-word copies of another user's earlier review of the same subtopic (same truth).
- ``generic``: ``generic_comment_share`` of the reviews speak only of service, price,
  delivery or build ("Fast delivery, great price.") and belong to no interest.
- ``flood``: ``flood_comment_share`` of the reviews are template comments ("Five stars") or
  near-duplicates of one (case, punctuation, an emoji, a word swapped), rated 5.

Generic and flood texts have an empty subtopic_id and topic_id in the truth.

The catalogue carries ``category`` (topic name), ``subcategory`` (subtopic name) and
``category_path`` ("Topic > Subtopic") as importers write them; ``catalogue_label_noise``
of the items name a wrong sibling subcategory, as editorial catalogues do; truth/items.csv
keeps the exact truth.  Every planted subtopic has at least 2 items: a catalogue smaller
than twice the number of subtopics plants ``n_items // 2`` of them (the most popular of each
topic first, then by popularity), and fewer than 2 items per topic is an error.

Layout written under ``out_dir``::

    items.csv                      item_id, title, description, category, subcategory,
                                   category_path, brand, price
    events/events_YYYY-MM-DD.csv   one file per UTC day of the period (.csv, .jsonl or .parquet)
    truth/items.csv                item_id, subtopic_id, subtopic_name, topic_id, topic_name
    truth/users.csv                user_id, subtopic_id, topic_id, role (core|peripheral|emerging)
    truth/texts.csv                event_id, subtopic_id, topic_id, kind (interest|generic|flood)
                                   (review and search texts; searches are interest texts)
    truth/defects.csv              event_id, defect  (planted problems, one row per planted row)

Event columns: event_id, user_id, item_id, event_type, timestamp, device, location, rating,
text.  The file of a day holds the events whose UTC timestamp falls on that day; the
timestamp itself is written in the user's local offset (``+02:00``, ``-05:00``, ``Z``, ...).

Format per day: with ``n`` the 1-based day number within the period (the start date is day 1),
a day is Parquet when ``n % 7 == 0``, JSONL when ``n % 5 == 0``, and CSV otherwise; when both
rules hit (day 35, 70, ...) the day is CSV.  JSONL and Parquet hold every column as a string
(JSON ``null`` / Parquet null for missing values), like the CSV files read without inference.

Planted defects (one per affected row, ``bad_row_share`` of the events): empty user_id,
unparseable timestamp, unknown event_type, non-numeric rating.  Planted duplicates
(``duplicate_share`` of the events, never a defective row) are exact copies of a row written
to the same file a little later in the day.

Review comments in Chinese (``chinese_comment_share`` of the reviews) are only written by
users located in ``CN``, and are of every kind above (generic remarks such as "物流很快", template
praise such as "五星好评" and its variants, copies, long reviews); when the share asks for more,
the share of ``CN`` users grows.

Same spec (seed included) gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from interest_pipeline.sample_vocabulary import (
    DESC_FIRST,
    DESC_MORE,
    FLOOD_COMMENTS,
    FLOOD_EMOJI,
    FLOOD_SWAPS,
    GENERIC,
    GENERIC_REVIEW_TEMPLATES,
    KINDS,
    QUERY_TEMPLATES,
    REVIEW_TEMPLATES,
    STOCK_SENTENCES,
    SUBTOPICS,
    TITLE_TEMPLATES,
    TOPICS,
    ZH_FLOOD_COMMENTS,
    ZH_FLOOD_SWAPS,
    ZH_GENERIC,
    ZH_GENERIC_REVIEW_TEMPLATES,
    ZH_TEMPLATES,
)

__all__ = ["SampleSpec", "generate_sample", "main", "EVENT_TYPES", "TOPICS", "SUBTOPICS", "GENERIC"]


@dataclass(frozen=True)
class SampleSpec:
    n_users: int = 2000
    n_items: int = 1200
    n_days: int = 30
    start_date: dt.date = dt.date(2026, 10, 1)
    mean_events_per_user: float = 30.0
    seed: int = 7
    bad_row_share: float = 0.003  # rows planted with validation problems
    duplicate_share: float = 0.005  # exact duplicate rows planted
    chinese_comment_share: float = 0.01
    subtopic_zipf: float = 0.8  # popularity ~ 1 / rank**zipf: 116 subtopics give most / least ~ 45x
    generic_comment_share: float = 0.15  # reviews of service / price / delivery only, of no interest
    flood_comment_share: float = 0.05  # template comments ("Five stars") and their near-duplicates
    duplicate_comment_share: float = 0.03  # interest reviews copied word for word by another user
    long_comment_share: float = 0.03  # reviews of 80-200 words that drift into a sibling subtopic
    catalogue_label_noise: float = 0.05  # items whose catalogue subcategory names a wrong sibling


# Region code, IANA zone, standard UTC offset in hours (for the daily rhythm) and user share.
_LOCATIONS = [
    ("DE", "Europe/Berlin", 1.0, 0.14),
    ("GB", "Europe/London", 0.0, 0.12),
    ("FR", "Europe/Paris", 1.0, 0.07),
    ("ES", "Europe/Madrid", 1.0, 0.05),
    ("PT", "Europe/Lisbon", 0.0, 0.02),
    ("US-CA", "America/Los_Angeles", -8.0, 0.10),
    ("US-NY", "America/New_York", -5.0, 0.11),
    ("US-TX", "America/Chicago", -6.0, 0.07),
    ("BR", "America/Sao_Paulo", -3.0, 0.07),
    ("IN", "Asia/Kolkata", 5.5, 0.09),
    ("CN", "Asia/Shanghai", 8.0, 0.07),
    ("JP", "Asia/Tokyo", 9.0, 0.05),
    ("AU-NSW", "Australia/Sydney", 10.0, 0.04),
]
_CN = 10  # index of CN in _LOCATIONS
_UTC_CLIENT_SHARE = 0.08  # clients that log in UTC ("Z") whatever their location
_HOUR_WEIGHTS = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2, 2.5, 2.6, 2.7, 3, 3.4, 3.2, 2.8, 2.7, 2.8, 3.2, 3.8, 4.5, 5, 4.6, 3.5, 2],
    dtype=float,
)

EVENT_TYPES = ("view", "click", "favorite", "add_to_cart", "purchase", "rate", "review", "search")
_EVENT_TYPE_P = np.array([48, 20, 5, 5, 4, 5, 5, 8], dtype=float) / 100
_RATE, _REVIEW_T, _SEARCH = 5, 6, 7
_DEVICES = ("mobile", "desktop", "tablet")
_DEVICE_P = np.array([0.6, 0.3, 0.1])
_SENTIMENTS = ("pos", "neu", "neg")

_CORE_SHARE, _PERIPHERAL_SHARE = 0.70, 0.22  # the rest (~8%) goes to any subtopic
_DRIFTER_SHARE, _EMERGING_SHARE = 0.15, 0.60
_ACTIVITY_SIGMA = 1.5  # log-normal spread of events per user: many with 1-5 events, a few heavy users
_MIN_ITEMS_PER_SUBTOPIC = 2
_INTEREST, _GENERIC, _FLOOD = 0, 1, 2  # kinds of text, as truth/texts.csv names them
_TEXT_KINDS = ("interest", "generic", "flood")
_LONG_WORDS = (80, 200)  # word range of long reviews
_GENERIC_SLOTS = {"gS": "aspect", "gP": "product", "gA": "adj"}
_LONG_SIBLING_SHARE = 0.25  # sentences of a long review that speak of a sibling subtopic

_DEFECTS = ("empty_user_id", "bad_timestamp", "unknown_event_type", "bad_rating")
_BAD_TIMESTAMPS = ("not-a-date", "2026-13-45T99:00", "2026-10-32T10:00:00Z", "yesterday 14:00")
_BAD_EVENT_TYPES = ("teleport", "scroll_up", "unknown_event")
_BAD_RATINGS = ("five", "n/a", "4 stars", "good")

_SLOT_RE = re.compile(r"\{(\w+)\}")
_ARTICLE_RE = re.compile(r"\b([Aa]) (?=[aeioAEIO]|u[^s])")
_SMALL_WORDS = {"with", "for", "and", "by", "of", "the", "a", "an", "on", "to", "in"}

_SUB_IDS = list(SUBTOPICS)
_TOPIC_IDS = list(TOPICS)


def _split(value) -> list[str]:
    return str(value).split("|")


def _is_plural(phrase: str) -> bool:
    last = phrase.split()[-1]
    return last.endswith("s") and not last.endswith(("ss", "us", "lens")) and last[0].islower()


def _parse(template: str) -> list[tuple[bool, str]]:
    """Pre-split a template into (is_slot, text) parts so filling is a cheap loop."""
    parts, pos = [], 0
    for m in _SLOT_RE.finditer(template):
        if m.start() > pos:
            parts.append((False, template[pos : m.start()]))
        parts.append((True, m.group(1)))
        pos = m.end()
    if pos < len(template):
        parts.append((False, template[pos:]))
    return parts


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:] if sentence else sentence


class _Writer:
    """Fills sentence templates from a subtopic's, its topic's and the generic vocabulary.

    A slot's weights ``w`` are cumulative: it draws from the subtopic below ``w[0]``, the
    topic below ``w[1]``, the generic pool below ``w[2]`` and another subtopic (a sibling half
    of the time) otherwise, so texts overlap across topics the way real product text does.
    """

    BODY_WEIGHTS = (0.5, 0.72, 0.9)
    TITLE_WEIGHTS = (0.75, 0.9, 0.97)
    QUERY_WEIGHTS = (0.75, 1.0, 1.0)
    # The thing a text is about is nearly always the subtopic's own product; titles never
    # name a generic "item".  Other subtopics come in through the {X} slot and other words.
    PRODUCT_WEIGHTS = (0.8, 0.93, 0.97)
    TITLE_PRODUCT_WEIGHTS = (0.85, 1.0, 1.0)

    def __init__(self, brands: list[list[str]]):
        self.sub = [{k: _split(SUBTOPICS[s][k]) for k in (*KINDS, "zh")} for s in _SUB_IDS]
        self.topic_of = [_TOPIC_IDS.index(s.split("/")[0]) for s in _SUB_IDS]
        self.topic = [{k: _split(TOPICS[t][k]) for k in (*KINDS, "zh", "zh_use")} for t in _TOPIC_IDS]
        self.generic = {k: _split(v) for k, v in GENERIC.items()}
        self.siblings = [
            [o for o in range(len(_SUB_IDS)) if o != s and self.topic_of[o] == self.topic_of[s]]
            for s in range(len(_SUB_IDS))
        ]
        self.brands = brands
        self.item_brand: str | None = None
        self.zh_generic = {k: _split(v) for k, v in ZH_GENERIC.items()}
        parse = lambda ts: [_parse(t) for t in ts]  # noqa: E731
        self.t_title, self.t_first, self.t_more = parse(TITLE_TEMPLATES), parse(DESC_FIRST), parse(DESC_MORE)
        self.t_review = {k: parse(v) for k, v in REVIEW_TEMPLATES.items()}
        self.t_query = parse(QUERY_TEMPLATES)
        self.t_zh = {k: parse(v) for k, v in ZH_TEMPLATES.items()}
        self.t_zh_generic = {k: parse(v) for k, v in ZH_GENERIC_REVIEW_TEMPLATES.items()}
        self.t_generic = {k: parse(v) for k, v in GENERIC_REVIEW_TEMPLATES.items()}
        self.flood_weights = [1.0 / (k + 1) ** 1.5 for k in range(len(FLOOD_COMMENTS))]  # one template dominates

    def _other(self, s: int, rnd: random.Random) -> int:
        if self.siblings[s] and rnd.random() < 0.5:
            return rnd.choice(self.siblings[s])
        o = rnd.randrange(len(_SUB_IDS) - 1)
        return o + 1 if o >= s else o

    def _word(self, kind: str, s: int, rnd: random.Random, w: tuple[float, float, float]) -> str:
        r = rnd.random()
        if r < w[0]:
            pool = self.sub[s][kind]
        elif r < w[1]:
            pool = self.topic[self.topic_of[s]][kind]
        elif r < w[2]:
            pool = self.generic[kind]
        else:
            pool = self.sub[self._other(s, rnd)][kind]
        return rnd.choice(pool)

    def _product(self, s: int, rnd: random.Random, w) -> str:
        if w is self.QUERY_WEIGHTS:
            return self._word("product", s, rnd, w)
        return self._word(
            "product", s, rnd, self.TITLE_PRODUCT_WEIGHTS if w is self.TITLE_WEIGHTS else self.PRODUCT_WEIGHTS
        )

    def _slot(self, name: str, s: int, rnd: random.Random, w, section: str) -> str:
        if name == "P":
            return self._product(s, rnd, w)
        if name == "A":
            return self._word("adj", s, rnd, w)
        if name == "F":
            return self._word("feature", s, rnd, w)
        if name == "U":
            return self._word("use", s, rnd, w)
        if name == "S":
            return self._word("aspect", s, rnd, w)
        if name == "thisP":
            p = self._product(s, rnd, w)
            return ("these " if _is_plural(p) else "this ") + p
        if name in ("Pis", "Sis"):
            p = self._product(s, rnd, w) if name == "Pis" else self._word("aspect", s, rnd, w)
            return p + (" are" if _is_plural(p) else " is")
        if name == "X":
            return rnd.choice(self.sub[self._other(s, rnd)]["product"])
        if name == "B":
            return self.item_brand or rnd.choice(self.brands[self.topic_of[s]])
        if name == "n":
            return str(rnd.randint(2, 12))
        if name == "G":
            return rnd.choice(STOCK_SENTENCES[section])
        return rnd.choice(self.generic[name])  # pos, neu, neg, adv, model

    def _fill(self, parts, s: int, rnd: random.Random, w, section: str = "desc") -> str:
        out = [self._slot(text, s, rnd, w, section) if is_slot else text for is_slot, text in parts]
        return _capitalise(_ARTICLE_RE.sub(r"\1n ", "".join(out)))

    def title(self, s: int, rnd: random.Random, brand: str) -> str:
        self.item_brand = brand  # titles name the item's own brand
        for _ in range(20):
            text = self._fill(rnd.choice(self.t_title), s, rnd, self.TITLE_WEIGHTS)
            words = text.split()
            if 3 <= len(words) <= 8 and len({w.lower() for w in words}) == len(words):
                break
        self.item_brand = None
        return " ".join(w if i and w in _SMALL_WORDS else _capitalise(w) for i, w in enumerate(words))

    def description(self, s: int, rnd: random.Random) -> str:
        sentences = [self._fill(rnd.choice(self.t_first), s, rnd, self.BODY_WEIGHTS)]
        for _ in range(rnd.choice((0, 1, 1, 2, 2))):
            sentences.append(self._fill(rnd.choice(self.t_more), s, rnd, self.BODY_WEIGHTS))
        return " ".join(sentences)

    def review(self, s: int, sentiment: str, rnd: random.Random, brand: str | None = None) -> str:
        self.item_brand = brand  # a review names the reviewed item's brand
        n = rnd.choices((1, 2, 3, 4, 5, 6, 8), weights=(20, 28, 22, 13, 8, 6, 3))[0]
        sentences, used = [], set()
        for i in range(n):
            # Real reviews mix in a remark of another tone now and then.
            tone = sentiment if i == 0 or rnd.random() < 0.85 else "neu"
            k = rnd.randrange(len(self.t_review[tone]))
            if (tone, k) in used:
                continue
            used.add((tone, k))
            sentence = self._fill(self.t_review[tone][k], s, rnd, self.BODY_WEIGHTS, tone)
            if sentence not in sentences:
                sentences.append(sentence)
        while sum(len(x.split()) for x in sentences) < 4:
            sentences.append(rnd.choice(STOCK_SENTENCES[sentiment]))
        words = " ".join(sentences).split(" ")
        if len(words) > 60:
            sentences = [" ".join(words[:60]).rstrip(",") + "."]
        self.item_brand = None
        sep = "\n" if rnd.random() < 0.05 else " "
        return sep.join(sentences)

    def review_long(self, s: int, sentiment: str, rnd: random.Random, brand: str | None = None) -> str:
        """A review of 80-200 words; a share of its sentences speak of a sibling subtopic."""
        self.item_brand = brand
        low, high = _LONG_WORDS
        target = rnd.randint(low, high)
        sentences: list[str] = []
        n_words = 0
        for _ in range(2000):
            about = s
            if self.siblings[s] and rnd.random() < _LONG_SIBLING_SHARE:
                about = rnd.choice(self.siblings[s])
            tone = sentiment if rnd.random() < 0.8 else rnd.choice(_SENTIMENTS)
            sentence = self._fill(rnd.choice(self.t_review[tone]), about, rnd, self.BODY_WEIGHTS, tone)
            size = len(sentence.split())
            if sentence in sentences or n_words + size > high:
                continue
            sentences.append(sentence)
            n_words += size
            if n_words >= target:
                break
        self.item_brand = None
        if rnd.random() < 0.3:  # a paragraph break
            cut = len(sentences) // 2
            return " ".join(sentences[:cut]) + "\n\n" + " ".join(sentences[cut:])
        return " ".join(sentences)

    def _generic_slot(self, name: str, rnd: random.Random, tone: str) -> str:
        if name == "n":
            return str(rnd.randint(2, 12))
        if name == "G":
            return rnd.choice(STOCK_SENTENCES[tone])
        if name in _GENERIC_SLOTS:
            return rnd.choice(self.generic[_GENERIC_SLOTS[name]])
        return rnd.choice(self.generic[name])  # pos, neu, neg

    def review_generic(self, sentiment: str, rnd: random.Random) -> str:
        """A review of the shop, the price or the delivery only: no interest words."""
        n = rnd.choices((1, 2, 3), weights=(45, 40, 15))[0]
        sentences: list[str] = []
        for _ in range(n):
            tone = sentiment if rnd.random() < 0.85 else "neu"
            parts = rnd.choice(self.t_generic[tone])
            text = "".join(self._generic_slot(t, rnd, tone) if is_slot else t for is_slot, t in parts)
            sentence = _capitalise(_ARTICLE_RE.sub(r"\1n ", text))
            if sentence not in sentences:
                sentences.append(sentence)
        return " ".join(sentences)

    def flood(self, rnd: random.Random) -> str:
        """A template comment, as is half of the time, else a near-duplicate of it."""
        text = rnd.choices(FLOOD_COMMENTS, weights=self.flood_weights)[0]
        r = rnd.random()
        if r < 0.5:
            return text
        if r < 0.6:
            return text.lower()
        if r < 0.65:
            return text.upper()
        if r < 0.75:
            return text.rstrip("!.") + rnd.choice(("", "!", "!!!", ".", " :)"))
        words = text.split(" ")
        swappable = [i for i, w in enumerate(words) if w.strip(",!.") in FLOOD_SWAPS]
        if r < 0.88 or not swappable:
            return text + rnd.choice(("", " ")) + rnd.choice(FLOOD_EMOJI)
        i = rnd.choice(swappable)
        core = words[i].strip(",!.")
        words[i] = words[i].replace(core, FLOOD_SWAPS[core])
        return " ".join(words)

    def review_zh(self, s: int, sentiment: str, rnd: random.Random) -> str:
        n = rnd.choices((1, 2, 3), weights=(50, 35, 15))[0]
        return "".join(self._zh_sentence(s, sentiment, rnd, self.t_zh) for _ in range(n))

    def review_long_zh(self, s: int, sentiment: str, rnd: random.Random) -> str:
        """A Chinese review of 8-20 sentences; a share of them speak of a sibling subtopic."""
        sentences: list[str] = []
        target = rnd.randint(8, 20)
        for _ in range(200):
            about = rnd.choice(self.siblings[s]) if self.siblings[s] and rnd.random() < _LONG_SIBLING_SHARE else s
            tone = sentiment if rnd.random() < 0.8 else rnd.choice(_SENTIMENTS)
            sentence = self._zh_sentence(about, tone, rnd, self.t_zh)
            if sentence not in sentences:
                sentences.append(sentence)
            if len(sentences) >= target:
                break
        return "".join(sentences)

    def review_generic_zh(self, sentiment: str, rnd: random.Random) -> str:
        """A Chinese review of the shop, the price or the delivery only."""
        n = rnd.choices((1, 2), weights=(70, 30))[0]
        return "".join(self._zh_sentence(0, sentiment, rnd, self.t_zh_generic) for _ in range(n))

    def flood_zh(self, rnd: random.Random) -> str:
        """A Chinese template comment, as is half of the time, else a near-duplicate of it."""
        text = rnd.choices(ZH_FLOOD_COMMENTS, weights=self.flood_weights)[0]
        r = rnd.random()
        if r < 0.5:
            return text
        if r < 0.7:
            return text.rstrip("！。") + rnd.choice(("！", "！！！", "。", "~", " "))
        swappable = [word for word in ZH_FLOOD_SWAPS if word in text]
        if r < 0.85 or not swappable:
            return text + rnd.choice(FLOOD_EMOJI)
        word = rnd.choice(swappable)
        return text.replace(word, ZH_FLOOD_SWAPS[word], 1)

    def _zh_sentence(self, s: int, sentiment: str, rnd: random.Random, templates) -> str:
        parts = rnd.choice(templates[sentiment])
        out = []
        for is_slot, text in parts:
            if not is_slot:
                out.append(text)
            elif text == "zn":
                r = rnd.random()
                pool = (
                    self.sub[s]["zh"]
                    if r < 0.7
                    else self.topic[self.topic_of[s]]["zh"]
                    if r < 0.88
                    else self.sub[self._other(s, rnd)]["zh"]
                )
                out.append(rnd.choice(pool))
            elif text == "zt":
                out.append(rnd.choice(self.topic[self.topic_of[s]]["zh_use"]))
            elif text == "zg":
                out.append(rnd.choice(self.zh_generic["g" + sentiment]))
            elif text == "n":
                out.append(str(rnd.randint(2, 12)))
            else:  # zpos, zneu, zneg
                out.append(rnd.choice(self.zh_generic[text[1:]]))
        return "".join(out)

    def query(self, s: int, rnd: random.Random) -> str:
        for _ in range(5):
            words = self._fill(rnd.choice(self.t_query), s, rnd, self.QUERY_WEIGHTS).lower().split()
            if len(words) <= 4:
                break
        words = words[:4]
        while len(words) > 1 and words[-1] in _SMALL_WORDS:  # a cut "... for" reads wrong
            words.pop()
        return " ".join(words)


def _make_brands(rng: np.random.Generator, n_topics: int, per_topic: int = 8) -> list[list[str]]:
    heads = [
        "Vel",
        "Nor",
        "Tre",
        "Kal",
        "Zen",
        "Ori",
        "Lum",
        "Bri",
        "Ast",
        "Mar",
        "Fen",
        "Quo",
        "Sol",
        "Dra",
        "Ivo",
        "Tal",
        "Brook",
        "Pax",
    ]
    tails = ["ora", "vik", "kko", "ix", "ano", "eto", "lux", "wyn", "dal", "ter", "ena", "forge", "ly", "mont"]
    names = [h + t for h in heads for t in tails]
    picked = rng.choice(len(names), size=n_topics * per_topic, replace=False)
    return [[names[i] for i in picked[t * per_topic : (t + 1) * per_topic]] for t in range(n_topics)]


def _id_series(prefix: str, values: np.ndarray, width: int) -> pl.Series:
    return pl.select(
        (pl.lit(prefix) + pl.Series("v", values, dtype=pl.Int64).cast(pl.String).str.zfill(width)).alias("v")
    ).to_series()


def _format_timestamps(epoch: np.ndarray, zone_of_row: np.ndarray, zones: list[str]) -> pl.Series:
    """ISO 8601 with the local offset of each row's zone; UTC is written as ``Z``."""
    row = np.arange(len(epoch))
    parts = []
    for k, zone in enumerate(zones):
        sel = zone_of_row == k
        if not sel.any():
            continue
        ts = pl.Series("ts", epoch[sel] * 1000, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC"))
        text = ts.dt.convert_time_zone(zone).dt.strftime("%Y-%m-%dT%H:%M:%S%:z").str.replace(r"\+00:00$", "Z")
        parts.append(pl.DataFrame({"row": row[sel], "ts": text}))
    if not parts:
        return pl.Series("timestamp", [], dtype=pl.String)
    return pl.concat(parts).sort("row")["ts"].alias("timestamp")


def _day_format(day_number: int) -> str:
    """Parquet every 7th day, JSONL every 5th, CSV otherwise and when both hit."""
    if day_number % 7 == 0 and day_number % 5 != 0:
        return "parquet"
    if day_number % 5 == 0 and day_number % 7 != 0:
        return "jsonl"
    return "csv"


_SHARES = (
    "bad_row_share",
    "duplicate_share",
    "chinese_comment_share",
    "generic_comment_share",
    "flood_comment_share",
    "duplicate_comment_share",
    "long_comment_share",
    "catalogue_label_noise",
)


def _check(spec: SampleSpec) -> None:
    if spec.n_users < 1 or spec.n_days < 1 or spec.mean_events_per_user <= 0:
        raise ValueError("n_users, n_days and mean_events_per_user must be positive")
    if spec.n_items < _MIN_ITEMS_PER_SUBTOPIC * len(TOPICS):
        raise ValueError(
            f"n_items must be at least {_MIN_ITEMS_PER_SUBTOPIC * len(TOPICS)} "
            f"({_MIN_ITEMS_PER_SUBTOPIC} items for a subtopic of each of the {len(TOPICS)} topics)"
        )
    if spec.subtopic_zipf < 0:
        raise ValueError("subtopic_zipf must not be negative")
    for name in _SHARES:
        if not 0.0 <= getattr(spec, name) <= 1.0:
            raise ValueError(f"{name} must be within 0..1")
    if spec.generic_comment_share + spec.flood_comment_share > 1.0:
        raise ValueError("generic_comment_share + flood_comment_share must not exceed 1")


def _planted_subtopics(n_items: int, rng: np.random.Generator) -> np.ndarray:
    """Vocabulary indices of the subtopics the sample plants, most popular first.

    Every subtopic needs ``_MIN_ITEMS_PER_SUBTOPIC`` items, so a small catalogue plants
    fewer: the most popular subtopic of each topic, then the next most popular overall.
    """
    order = rng.permutation(len(_SUB_IDS))  # popularity rank -> subtopic
    n_planted = min(len(_SUB_IDS), n_items // _MIN_ITEMS_PER_SUBTOPIC)
    topic = np.array([_TOPIC_IDS.index(_SUB_IDS[s].split("/")[0]) for s in order])
    _, first_of_topic = np.unique(topic, return_index=True)
    keep = np.zeros(len(order), dtype=bool)
    keep[first_of_topic] = True
    keep[np.flatnonzero(~keep)[: n_planted - keep.sum()]] = True
    return order[keep]


def _scale_to_total(weights: np.ndarray, total: float, cap: float) -> np.ndarray:
    """``min(c * weights, cap)`` with the factor ``c`` that makes it sum to ``total`` (bisection).

    The cap on heavy users takes events away, so the others make up for it; where even
    all at the cap falls short, all are at the cap.
    """

    def capped_sum(c: float) -> float:
        return float(np.minimum(c * weights, cap).sum())

    lo = hi = total / weights.sum()  # capped_sum(lo) <= total
    while capped_sum(hi) < total and hi < lo * 1e9:
        hi *= 2.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if capped_sum(mid) < total else (lo, mid)
    return np.minimum(hi * weights, cap)


def _copied_reviews(
    rows: np.ndarray, ev_sub: np.ndarray, ev_user: np.ndarray, n_copies: int, rng: np.random.Generator
) -> np.ndarray:
    """For each event row, the earlier row whose review it copies word for word, or -1.

    ``rows`` (ascending, time order) are the interest reviews that may copy or be copied;
    a copy takes an earlier original review of the same subtopic by another user (never a
    copy, and one user copies an original once), so its planted truth is the copied
    review's.  Fewer than ``n_copies`` when too few sources exist.
    """
    copy_of = np.full(len(ev_sub), -1, dtype=np.int64)
    if n_copies <= 0 or len(rows) < 2:
        return copy_of
    by_sub: dict[int, np.ndarray] = {}
    order = np.argsort(ev_sub[rows], kind="stable")
    subs, starts = np.unique(ev_sub[rows][order], return_index=True)
    for sub, part in zip(subs.tolist(), np.split(rows[order], starts[1:])):
        by_sub[sub] = part
    sources: set[int] = set()
    copied_by: set[tuple[int, int]] = set()  # (source row, user)
    found = 0
    for row in rng.permutation(rows).tolist():
        if row in sources:
            continue
        user = int(ev_user[row])
        pool = by_sub[int(ev_sub[row])]
        earlier = int(np.searchsorted(pool, row))
        for _ in range(4):
            if not earlier:
                break
            source = int(pool[rng.integers(0, earlier)])
            if copy_of[source] < 0 and int(ev_user[source]) != user and (source, user) not in copied_by:
                copy_of[row] = source
                sources.add(source)
                copied_by.add((source, user))
                found += 1
                break
        if found == n_copies:
            break
    return copy_of


def generate_sample(out_dir: Path, spec: SampleSpec = SampleSpec()) -> dict:
    """Write a sample under ``out_dir`` (see the module docstring) and return summary counts."""
    _check(spec)
    out_dir = Path(out_dir)
    n_topics = len(_TOPIC_IDS)
    streams = np.random.SeedSequence(spec.seed).spawn(8)
    rng_cat, rng_user, rng_event, rng_bad, rng_kind = (np.random.default_rng(s) for s in streams[:5])
    item_rnd = random.Random(int(streams[5].generate_state(1)[0]))
    text_rnd = random.Random(int(streams[6].generate_state(1)[0]))
    flood_rnd = random.Random(int(streams[7].generate_state(1)[0]))

    # ---- catalogue: Zipf-like subtopic popularity drives both item counts and interest ----
    # Arrays indexed by subtopic use the planted subtopics' positions 0..n_sub-1 in
    # vocabulary order; ``planted`` maps them to the vocabulary (the writer's index).
    by_rank = _planted_subtopics(spec.n_items, rng_cat)
    planted = np.sort(by_rank)
    n_sub = len(planted)
    popularity = np.empty(n_sub)
    popularity[np.searchsorted(planted, by_rank)] = 1.0 / np.arange(1, n_sub + 1) ** spec.subtopic_zipf
    popularity /= popularity.sum()
    topic_of_sub = np.array([_TOPIC_IDS.index(_SUB_IDS[s].split("/")[0]) for s in planted])
    counts = _MIN_ITEMS_PER_SUBTOPIC + rng_cat.multinomial(spec.n_items - _MIN_ITEMS_PER_SUBTOPIC * n_sub, popularity)
    item_sub = rng_cat.permutation(np.repeat(np.arange(n_sub), counts))
    brands = _make_brands(rng_cat, n_topics)
    base_price = np.array([float(SUBTOPICS[_SUB_IDS[s]]["price"]) for s in planted])
    price = base_price[item_sub] * rng_cat.lognormal(0.0, 0.45, spec.n_items)
    price = np.where(price > 10, np.round(price) - 0.01, np.round(price, 2)).clip(1.99)

    # Popularity of items inside their subtopic (Zipf on a random rank, with noise).
    by_sub = np.argsort(item_sub, kind="stable")
    sorted_sub = item_sub[by_sub]
    starts = np.searchsorted(sorted_sub, np.arange(n_sub))
    rank = np.arange(spec.n_items) - starts[sorted_sub]
    weight = rng_cat.lognormal(0.0, 0.3, spec.n_items) / (rank + 1.0) ** 0.9
    group_total = np.bincount(sorted_sub, weights=weight, minlength=n_sub)
    cum = np.cumsum(weight) - np.concatenate([[0.0], np.cumsum(group_total)])[sorted_sub]
    item_key = sorted_sub + cum / group_total[sorted_sub]
    item_key[np.append(starts[1:], spec.n_items) - 1] = np.arange(n_sub) + 1.0  # exact group ends

    writer = _Writer(brands)
    item_brand = [item_rnd.choice(brands[topic_of_sub[s]]) for s in item_sub.tolist()]
    titles, descriptions = [], []
    for s, brand in zip(planted[item_sub].tolist(), item_brand):
        titles.append(writer.title(s, item_rnd, brand))
        descriptions.append(writer.description(s, item_rnd))
    # Editorial catalogues file a few items under a wrong sibling subcategory.
    item_label = planted[item_sub].copy()
    n_mislabelled = int(round(spec.catalogue_label_noise * spec.n_items))
    mislabelled = np.sort(rng_kind.choice(spec.n_items, size=n_mislabelled, replace=False))
    for i in mislabelled.tolist():
        item_label[i] = rng_kind.choice(writer.siblings[item_label[i]])
    item_width = max(4, len(str(spec.n_items - 1)))
    item_ids = _id_series("i", np.arange(spec.n_items), item_width)

    # ---- users ----
    n_users = spec.n_users
    user_width = max(5, len(str(n_users - 1)))
    user_ids = _id_series("u", np.arange(n_users), user_width)
    loc_p = np.array([l[3] for l in _LOCATIONS])
    cn_share = min(0.95, max(loc_p[_CN], 1.5 * spec.chinese_comment_share))
    loc_p = np.delete(loc_p, _CN)
    loc_p = np.insert(loc_p / loc_p.sum() * (1 - cn_share), _CN, cn_share)
    user_loc = rng_user.choice(len(_LOCATIONS), size=n_users, p=loc_p)
    user_utc = rng_user.random(n_users) < _UTC_CLIENT_SHARE
    user_device = rng_user.choice(3, size=n_users, p=_DEVICE_P)
    # Sparse users: a heavy-tailed log-normal scaled so that its sample mean is the spec's.
    cap = max(1.0, float(int(40 * spec.mean_events_per_user)))
    activity = _scale_to_total(
        rng_user.lognormal(0.0, _ACTIVITY_SIGMA, n_users), spec.mean_events_per_user * n_users, cap
    )
    n_events = np.clip(np.rint(activity), 1, cap).astype(np.int64)
    k_core = rng_user.integers(1, 4, n_users)
    k_per = rng_user.integers(2, 5, n_users)
    # Popularity-weighted order of subtopics per user, without replacement (Gumbel top-k):
    # the first k_core are core, the next k_per peripheral, the next one emerging.
    # Only the first 8 columns (3 core + 4 peripheral + 1 emerging at most) are ever used.
    gumbel = np.log(popularity)[None, :] - np.log(-np.log(rng_user.random((n_users, n_sub))))
    n_cols = min(n_sub, 8)
    top = (
        np.argpartition(-gumbel, n_cols - 1, axis=1)[:, :n_cols]
        if n_sub > n_cols
        else np.tile(np.arange(n_sub), (n_users, 1))
    )
    top_order = np.argsort(-np.take_along_axis(gumbel, top, axis=1), axis=1, kind="stable")
    interest = np.take_along_axis(top, top_order, axis=1).astype(np.int16)

    # ---- events: when ----
    n_total = int(n_events.sum())
    ev_user = np.repeat(np.arange(n_users), n_events)
    weekday = np.array([(spec.start_date + dt.timedelta(days=d)).weekday() for d in range(spec.n_days)])
    day_p = np.where(weekday >= 5, 1.15, 1.0)
    day = rng_event.choice(spec.n_days, size=n_total, p=day_p / day_p.sum())
    local_sec = rng_event.choice(24, size=n_total, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()) * 3600 + rng_event.integers(
        0, 3600, n_total
    )
    std_offset = np.array([int(l[2] * 3600) for l in _LOCATIONS])
    utc_sec = (local_sec - std_offset[user_loc[ev_user]]) % 86400
    start_epoch = int(dt.datetime.combine(spec.start_date, dt.time(), dt.UTC).timestamp())
    epoch = start_epoch + day.astype(np.int64) * 86400 + utc_sec

    # ---- drifters: users with some activity in the last third get an emerging subtopic ----
    drift_start = (2 * spec.n_days) // 3
    late = day >= drift_start
    late_count = np.bincount(ev_user[late], minlength=n_users)
    eligible = np.flatnonzero(late_count >= 3)
    n_drift = min(len(eligible), int(round(_DRIFTER_SHARE * n_users)))
    drifters = (
        np.sort(rng_user.choice(eligible, size=n_drift, replace=False)) if n_drift else np.array([], dtype=np.int64)
    )
    is_drifter = np.zeros(n_users, dtype=bool)
    is_drifter[drifters] = True

    # ---- events: which subtopic, which item, what kind ----
    mode = rng_event.random(n_total)
    ev_core, ev_per = k_core[ev_user], k_per[ev_user]
    # Columns of the user's interest order; the first core subtopic is favoured a little.
    core_col = np.minimum((ev_core * rng_event.random(n_total) ** 1.3).astype(np.int64), ev_core - 1)
    per_col = ev_core + (ev_per * rng_event.random(n_total)).astype(np.int64)
    col = np.where(mode < _CORE_SHARE, core_col, per_col)
    emerging_col = k_core + k_per
    drifting = is_drifter[ev_user] & late & (rng_event.random(n_total) < _EMERGING_SHARE)
    # Every drifter shows its new interest at least once.
    late_drift_rows = np.flatnonzero(is_drifter[ev_user] & late)
    if len(late_drift_rows):
        _, first = np.unique(ev_user[late_drift_rows], return_index=True)
        drifting[late_drift_rows[first]] = True
    col = np.where(drifting, emerging_col[ev_user], col)
    ev_sub = interest[ev_user, col].astype(np.int64)
    anywhere = (mode >= _CORE_SHARE + _PERIPHERAL_SHARE) & ~drifting
    ev_sub[anywhere] = rng_event.integers(0, n_sub, int(anywhere.sum()))

    ev_type = rng_event.choice(len(EVENT_TYPES), size=n_total, p=_EVENT_TYPE_P)
    pick = np.searchsorted(item_key, ev_sub + rng_event.random(n_total), side="right").clip(0, spec.n_items - 1)
    ev_item = np.where(ev_type == _SEARCH, -1, by_sub[pick])
    sentiment = rng_event.choice(3, size=n_total, p=[0.6, 0.2, 0.2])
    review_rating = np.select(
        [sentiment == 0, sentiment == 1],
        [4 + (rng_event.random(n_total) < 0.6), rng_event.choice([2, 3, 3, 3, 4], n_total)],
        1 + (rng_event.random(n_total) < 0.35),
    )
    rate_rating = rng_event.choice([1, 2, 3, 4, 5], size=n_total, p=[0.05, 0.07, 0.15, 0.33, 0.40])
    rating = np.where(ev_type == _REVIEW_T, review_rating, np.where(ev_type == _RATE, rate_rating, 0))
    ev_device = np.where(
        rng_event.random(n_total) < 0.85, user_device[ev_user], rng_event.choice(3, size=n_total, p=_DEVICE_P)
    )

    # Time order; event ids follow it.
    order = np.lexsort((ev_user, epoch))
    ev_user, epoch, day, ev_sub, ev_type, ev_item = (
        ev_user[order],
        epoch[order],
        day[order],
        ev_sub[order],
        ev_type[order],
        ev_item[order],
    )
    sentiment, rating, ev_device = sentiment[order], rating[order], ev_device[order]
    event_width = max(7, len(str(n_total)))
    event_ids = _id_series("e", np.arange(1, n_total + 1), event_width)

    # ---- texts: what each review is ----
    # Chinese reviews are written by CN users.  Reviews in either language are drawn, without
    # overlap, as generic (service / price / delivery only), flood (a template comment or a
    # near-duplicate of one), copied (another user's earlier review of the same subtopic in the
    # same language, word for word) or long; the rest are ordinary interest reviews.
    ev_loc = user_loc[ev_user]
    text_rows = np.flatnonzero((ev_type == _REVIEW_T) | (ev_type == _SEARCH))
    review_rows = np.flatnonzero(ev_type == _REVIEW_T)
    n_reviews = len(review_rows)
    cn_reviews = review_rows[ev_loc[review_rows] == _CN]
    n_zh = min(len(cn_reviews), int(round(spec.chinese_comment_share * n_reviews)))
    is_zh = np.zeros(n_total, dtype=bool)
    if n_zh:
        is_zh[rng_event.choice(cn_reviews, size=n_zh, replace=False)] = True
    drawn_reviews = rng_kind.permutation(review_rows)
    n_generic = min(len(drawn_reviews), int(round(spec.generic_comment_share * n_reviews)))
    n_flood = min(len(drawn_reviews) - n_generic, int(round(spec.flood_comment_share * n_reviews)))
    text_kind = np.zeros(n_total, dtype=np.int8)
    text_kind[drawn_reviews[:n_generic]] = _GENERIC
    text_kind[drawn_reviews[n_generic : n_generic + n_flood]] = _FLOOD
    rating[text_kind == _FLOOD] = 5  # template praise comes with full marks
    interest_reviews = drawn_reviews[n_generic + n_flood :]
    copy_of = np.full(n_total, -1, dtype=np.int64)
    n_copies = int(round(spec.duplicate_comment_share * n_reviews))
    zh_interest = interest_reviews[is_zh[interest_reviews]]
    n_zh_copies = int(round(n_copies * len(zh_interest) / max(1, len(interest_reviews))))
    for in_language, n in (
        (interest_reviews[~is_zh[interest_reviews]], n_copies - n_zh_copies),
        (zh_interest, n_zh_copies),
    ):
        copy_of = np.maximum(copy_of, _copied_reviews(np.sort(in_language), ev_sub, ev_user, n, rng_kind))
    not_copied = interest_reviews[copy_of[interest_reviews] < 0]
    n_long = min(len(not_copied), int(round(spec.long_comment_share * n_reviews)))
    is_long = np.zeros(n_total, dtype=bool)
    is_long[not_copied[:n_long]] = True

    texts: list[str] = []
    text_pos = np.full(n_total, -1, dtype=np.int64)
    text_pos[text_rows] = np.arange(len(text_rows))
    text_fields = (
        text_rows,
        ev_type[text_rows],
        planted[ev_sub[text_rows]],
        sentiment[text_rows],
        is_zh[text_rows],
        ev_item[text_rows],
        text_kind[text_rows],
        copy_of[text_rows],
        is_long[text_rows],
    )
    for _row, t, s, sent, zh, item, kind, source, long in zip(*(a.tolist() for a in text_fields)):
        if t == _SEARCH:
            texts.append(writer.query(s, text_rnd))
        elif kind == _GENERIC:
            tone = _SENTIMENTS[sent]
            texts.append(writer.review_generic_zh(tone, text_rnd) if zh else writer.review_generic(tone, text_rnd))
        elif kind == _FLOOD:
            texts.append(writer.flood_zh(flood_rnd) if zh else writer.flood(flood_rnd))
        elif source >= 0:
            texts.append(texts[text_pos[source]])  # sources are earlier rows, already written
        elif long:
            texts.append(
                writer.review_long_zh(s, _SENTIMENTS[sent], text_rnd)
                if zh
                else writer.review_long(s, _SENTIMENTS[sent], text_rnd, item_brand[item])
            )
        elif zh:
            texts.append(writer.review_zh(s, _SENTIMENTS[sent], text_rnd))
        else:
            texts.append(writer.review(s, _SENTIMENTS[sent], text_rnd, item_brand[item]))

    zone_names = [l[1] for l in _LOCATIONS] + ["UTC"]
    zone = np.where(user_utc[ev_user], len(_LOCATIONS), ev_loc)
    columns = {
        "event_id": event_ids,
        "user_id": user_ids.gather(ev_user),
        "item_id": pl.select(
            pl.when(pl.Series(ev_item >= 0)).then(item_ids.gather(np.maximum(ev_item, 0)))
        ).to_series(),
        "event_type": pl.Series(EVENT_TYPES).gather(ev_type),
        "timestamp": _format_timestamps(epoch, zone, zone_names),
        "device": pl.Series(_DEVICES).gather(ev_device),
        "location": pl.Series([l[0] for l in _LOCATIONS]).gather(ev_loc),
        "rating": pl.select(pl.when(pl.Series(rating > 0)).then(pl.Series(rating).cast(pl.String))).to_series(),
        "text": pl.Series("text", [None] * n_total, dtype=pl.String).scatter(
            text_rows, pl.Series(texts, dtype=pl.String)
        ),
    }

    # ---- planted defects and duplicates ----
    n_bad = int(round(spec.bad_row_share * n_total))
    bad_rows = np.sort(rng_bad.choice(n_total, size=n_bad, replace=False))
    bad_kind = rng_bad.integers(0, len(_DEFECTS), n_bad)
    for k, (column, values) in enumerate(
        [("user_id", ("",)), ("timestamp", _BAD_TIMESTAMPS), ("event_type", _BAD_EVENT_TYPES), ("rating", _BAD_RATINGS)]
    ):
        rows = bad_rows[bad_kind == k]
        if len(rows):
            chosen = rng_bad.integers(0, len(values), len(rows))
            columns[column] = columns[column].scatter(
                rows, pl.Series([values[i] for i in chosen.tolist()], dtype=pl.String)
            )
    events = pl.DataFrame({name: s.alias(name) for name, s in columns.items()})

    is_bad = np.zeros(n_total, dtype=bool)
    is_bad[bad_rows] = True
    clean = np.flatnonzero(~is_bad)
    n_dup = min(len(clean), int(round(spec.duplicate_share * n_total)))
    dup_rows = np.sort(rng_bad.choice(clean, size=n_dup, replace=False))
    # A re-sent row lands a little later, but in the same day's file.
    day_end = start_epoch + (day[dup_rows].astype(np.int64) + 1) * 86400 - 1
    dup_key = np.minimum(epoch[dup_rows] + rng_bad.integers(1, 900, n_dup), day_end)
    all_rows = np.concatenate([np.arange(n_total), dup_rows])
    all_key = np.concatenate([epoch, dup_key])
    final = np.lexsort((np.concatenate([np.zeros(n_total), np.ones(n_dup)]), all_rows, all_key))
    final_rows = all_rows[final]
    final_day = day[final_rows]
    events = events[final_rows]

    # ---- write ----
    events_dir, truth_dir = out_dir / "events", out_dir / "truth"
    for d in (events_dir, truth_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    bounds = np.searchsorted(final_day, np.arange(spec.n_days + 1))
    formats = {"csv": 0, "jsonl": 0, "parquet": 0}
    for d in range(spec.n_days):
        part = events.slice(int(bounds[d]), int(bounds[d + 1] - bounds[d]))
        fmt = _day_format(d + 1)
        path = events_dir / f"events_{(spec.start_date + dt.timedelta(days=d)).isoformat()}.{fmt}"
        if fmt == "csv":
            part.write_csv(path)
        elif fmt == "jsonl":
            part.write_ndjson(path)
        else:
            part.write_parquet(path)
        formats[fmt] += 1

    # Series over the vocabulary: gather with vocabulary indices (planted[...]).
    sub_names = pl.Series([str(SUBTOPICS[s]["name"]) for s in _SUB_IDS])
    sub_ids = pl.Series(_SUB_IDS)
    vocab_topic = np.array([_TOPIC_IDS.index(s.split("/")[0]) for s in _SUB_IDS])
    topic_names, topic_ids = pl.Series([TOPICS[t]["name"] for t in _TOPIC_IDS]), pl.Series(_TOPIC_IDS)
    item_vocab = planted[item_sub]
    category = topic_names.gather(vocab_topic[item_label])
    subcategory = sub_names.gather(item_label)
    pl.DataFrame(
        {
            "item_id": item_ids,
            "title": titles,
            "description": descriptions,
            "category": category,
            "subcategory": subcategory,
            "category_path": pl.select(pl.concat_str([category, subcategory], separator=" > ")).to_series(),
            "brand": item_brand,
            "price": price,
        }
    ).write_csv(out_dir / "items.csv")
    pl.DataFrame(
        {
            "item_id": item_ids,
            "subtopic_id": sub_ids.gather(item_vocab),
            "subtopic_name": sub_names.gather(item_vocab),
            "topic_id": topic_ids.gather(vocab_topic[item_vocab]),
            "topic_name": topic_names.gather(vocab_topic[item_vocab]),
        }
    ).write_csv(truth_dir / "items.csv")

    # Users in long format: core, then peripheral, then (drifters only) emerging.
    n_roles = k_core + k_per + is_drifter
    role_user = np.repeat(np.arange(n_users), n_roles)
    role_col = np.arange(len(role_user)) - np.repeat(np.cumsum(n_roles) - n_roles, n_roles)
    role = np.where(role_col < k_core[role_user], 0, np.where(role_col < (k_core + k_per)[role_user], 1, 2))
    role_sub = planted[interest[role_user, role_col].astype(np.int64)]
    pl.DataFrame(
        {
            "user_id": user_ids.gather(role_user),
            "subtopic_id": sub_ids.gather(role_sub),
            "topic_id": topic_ids.gather(vocab_topic[role_sub]),
            "role": pl.Series(["core", "peripheral", "emerging"]).gather(role),
        }
    ).write_csv(truth_dir / "users.csv")
    # Generic and flood comments belong to no interest: empty subtopic and topic.
    text_sub = planted[ev_sub[text_rows]]
    on_interest = pl.Series(text_kind[text_rows] == _INTEREST)
    pl.DataFrame(
        {
            "event_id": event_ids.gather(text_rows),
            "subtopic_id": pl.select(pl.when(on_interest).then(sub_ids.gather(text_sub))).to_series(),
            "topic_id": pl.select(pl.when(on_interest).then(topic_ids.gather(vocab_topic[text_sub]))).to_series(),
            "kind": pl.Series(_TEXT_KINDS).gather(text_kind[text_rows]),
        }
    ).write_csv(truth_dir / "texts.csv")
    defect_rows = np.concatenate([bad_rows, dup_rows])
    defect_kind = np.concatenate([bad_kind, np.full(n_dup, len(_DEFECTS))])
    defect_order = np.lexsort((defect_kind, defect_rows))
    pl.DataFrame(
        {
            "event_id": event_ids.gather(defect_rows[defect_order]),
            "defect": pl.Series([*_DEFECTS, "duplicate"]).gather(defect_kind[defect_order]),
        }
    ).write_csv(truth_dir / "defects.csv")

    return {
        "users": n_users,
        "items": spec.n_items,
        "topics": n_topics,
        "subtopics": n_sub,
        "events": n_total,
        "rows": n_total + n_dup,
        "comments": len(review_rows),
        "chinese_comments": n_zh,
        "generic_comments": n_generic,
        "flood_comments": n_flood,
        "copied_comments": int((copy_of >= 0).sum()),
        "long_comments": n_long,
        "mislabelled_items": n_mislabelled,
        "searches": len(text_rows) - len(review_rows),
        "files": spec.n_days,
        "csv_files": formats["csv"],
        "jsonl_files": formats["jsonl"],
        "parquet_files": formats["parquet"],
        "bad_rows": n_bad,
        "duplicates": n_dup,
        "drifters": n_drift,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a deterministic sample of behaviour logs, comments and planted truth."
    )
    parser.add_argument("--out", type=Path, default=Path("data/sample"), help="output folder (default: data/sample)")
    defaults = SampleSpec()
    parser.add_argument("--users", type=int, default=defaults.n_users)
    parser.add_argument("--items", type=int, default=defaults.n_items)
    parser.add_argument("--days", type=int, default=defaults.n_days)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--events-per-user", type=float, default=defaults.mean_events_per_user)
    parser.add_argument("--start-date", type=dt.date.fromisoformat, default=defaults.start_date)
    parser.add_argument(
        "--chinese-share",
        type=float,
        default=defaults.chinese_comment_share,
        help="share of the reviews written in Chinese (0.4 gives the bilingual sample; default %(default)s)",
    )
    args = parser.parse_args(argv)
    spec = SampleSpec(
        n_users=args.users,
        n_items=args.items,
        n_days=args.days,
        seed=args.seed,
        mean_events_per_user=args.events_per_user,
        start_date=args.start_date,
        chinese_comment_share=args.chinese_share,
    )
    try:
        summary = generate_sample(args.out, spec)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spec_json = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(spec).items()}
    print(json.dumps({"out": str(args.out), "spec": spec_json, **summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
