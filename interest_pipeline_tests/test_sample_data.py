import collections
import csv
import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest

from interest_pipeline.sample_data import EVENT_TYPES, GENERIC, SUBTOPICS, TOPICS, SampleSpec, generate_sample, main
from interest_pipeline.sample_vocabulary import FLOOD_COMMENTS

EVENT_COLUMNS = ["event_id", "user_id", "item_id", "event_type", "timestamp", "device", "location", "rating", "text"]
FILE_RE = re.compile(r"^events_(\d{4}-\d{2}-\d{2})\.(csv|jsonl|parquet)$")
HAN = re.compile(r"[\u4e00-\u9fff]")

SPEC = SampleSpec(
    n_users=150, n_items=60, n_days=8, seed=3, bad_row_share=0.05, duplicate_share=0.05, chinese_comment_share=0.2
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    summary = generate_sample(out, SPEC)
    return out, summary


def read_events(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return pl.DataFrame(rows, schema={c: pl.String for c in EVENT_COLUMNS})
    return pl.read_parquet(path)


@pytest.fixture(scope="module")
def events(sample):
    out, _ = sample
    frames = [read_events(p).with_columns(pl.lit(p.name).alias("file")) for p in sorted((out / "events").iterdir())]
    return pl.concat(frames)


@pytest.fixture(scope="module")
def truth(sample):
    out, _ = sample
    return {
        name: pl.read_csv(out / "truth" / f"{name}.csv", infer_schema=False)
        for name in ("items", "users", "texts", "defects")
    }


def clean_events(events: pl.DataFrame, truth) -> pl.DataFrame:
    """Events without planted defects, one row per event id."""
    bad = truth["defects"].filter(pl.col("defect") != "duplicate")["event_id"]
    return events.filter(~pl.col("event_id").is_in(bad.implode())).unique("event_id", keep="first", maintain_order=True)


def parse_ts(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path):
    spec = SampleSpec(n_users=80, n_items=40, n_days=8, seed=11)
    generate_sample(tmp_path / "a", spec)
    generate_sample(tmp_path / "b", spec)
    generate_sample(tmp_path / "c", SampleSpec(n_users=80, n_items=40, n_days=8, seed=12))
    a, b, c = (tree_bytes(tmp_path / x) for x in "abc")
    assert a == b
    assert set(a) == set(c)
    assert a["items.csv"] != c["items.csv"]
    assert sum(a[k] != c[k] for k in a if k.startswith("events")) == 8


def test_rerun_replaces_previous_output(tmp_path):
    generate_sample(tmp_path, SampleSpec(n_users=40, n_items=30, n_days=8))
    generate_sample(tmp_path, SampleSpec(n_users=40, n_items=30, n_days=3))
    assert len(list((tmp_path / "events").iterdir())) == 3


def test_one_file_per_day_with_the_documented_format(sample):
    out, summary = sample
    names = sorted(p.name for p in (out / "events").iterdir())
    assert len(names) == SPEC.n_days == summary["files"]
    formats = {}
    for name in names:
        m = FILE_RE.match(name)
        assert m, name
        day = (dt.date.fromisoformat(m.group(1)) - SPEC.start_date).days + 1
        formats[day] = m.group(2)
    assert sorted(formats) == list(range(1, SPEC.n_days + 1))
    assert formats[5] == "jsonl" and formats[7] == "parquet"
    assert all(f == "csv" for d, f in formats.items() if d not in (5, 7))
    assert summary["csv_files"] == 6 and summary["jsonl_files"] == 1 and summary["parquet_files"] == 1


def test_columns_as_documented(sample):
    out, _ = sample
    for path in (out / "events").iterdir():
        if path.suffix == ".csv":
            assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(EVENT_COLUMNS)
        elif path.suffix == ".jsonl":
            first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
            assert list(first) == EVENT_COLUMNS
        else:
            schema = pl.read_parquet_schema(path)
            assert list(schema) == EVENT_COLUMNS
            assert all(t == pl.String for t in schema.values())
    assert pl.read_csv(out / "items.csv").columns == [
        "item_id",
        "title",
        "description",
        "category",
        "subcategory",
        "category_path",
        "brand",
        "price",
    ]
    assert pl.read_csv(out / "items.csv")["price"].dtype == pl.Float64
    expected = {
        "items": ["item_id", "subtopic_id", "subtopic_name", "topic_id", "topic_name"],
        "users": ["user_id", "subtopic_id", "topic_id", "role"],
        "texts": ["event_id", "subtopic_id", "topic_id", "kind"],
        "defects": ["event_id", "defect"],
    }
    for name, columns in expected.items():
        assert pl.read_csv(out / "truth" / f"{name}.csv").columns == columns


def test_csv_files_read_the_same_with_the_csv_module(sample):
    out, _ = sample
    tricky = 0
    for path in sorted((out / "events").glob("*.csv")):
        frame = pl.read_csv(path, infer_schema=False)
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == frame.height
        assert [r["text"] or None for r in rows] == [t or None for t in frame["text"].to_list()]
        tricky += sum(1 for r in rows if any(ch in r["text"] for ch in ',"\n'))
    assert tricky > 0  # quoting is exercised


def test_vocabulary_of_event_fields(events, truth):
    assert set(EVENT_TYPES) == {"view", "click", "favorite", "add_to_cart", "purchase", "rate", "review", "search"}
    clean = clean_events(events, truth)
    counts = clean["event_type"].value_counts().to_dict(as_series=False)
    share = dict(zip(counts["event_type"], (c / clean.height for c in counts["count"])))
    assert set(share) == set(EVENT_TYPES)
    assert 0.40 < share["view"] < 0.56 and 0.05 < share["search"] < 0.12
    assert set(clean["device"]) == {"mobile", "desktop", "tablet"}
    assert clean["location"].n_unique() >= 6
    search = clean.filter(pl.col("event_type") == "search")
    assert search["item_id"].null_count() == search.height
    assert search["text"].null_count() == 0
    assert all(1 <= len(q.split()) <= 4 for q in search["text"])
    rated = clean.filter(pl.col("event_type").is_in(["rate", "review"]))
    assert set(rated["rating"].cast(pl.Int64)) <= {1, 2, 3, 4, 5}
    assert (
        clean.filter(~pl.col("event_type").is_in(["rate", "review"]))["rating"].null_count()
        == clean.height - rated.height
    )
    assert clean.filter(pl.col("event_type") != "search")["item_id"].null_count() == 0


def test_timestamps_fall_on_the_file_day_and_use_local_offsets(events, truth):
    clean = clean_events(events, truth)
    offsets = collections.Counter()
    for ts, name in zip(clean["timestamp"], clean["file"]):
        parsed = parse_ts(ts)
        assert parsed is not None and parsed.tzinfo is not None, ts
        assert parsed.astimezone(dt.UTC).date().isoformat() == FILE_RE.match(name).group(1)
        offsets[ts[19:]] += 1
    assert "Z" in offsets and len(offsets) >= 5
    assert any(o.startswith("-") for o in offsets) and any(o.startswith("+") for o in offsets)


def test_items_and_truth_are_consistent(sample, events, truth):
    out, summary = sample
    items = pl.read_csv(out / "items.csv", infer_schema=False)
    t_items = truth["items"]
    assert items.height == SPEC.n_items == summary["items"]
    assert items["item_id"].is_unique().all()
    assert t_items["item_id"].to_list() == items["item_id"].to_list()  # exactly one subtopic per item
    # A catalogue too small for every subtopic plants n_items // 2 of them, each topic kept.
    planted = t_items["subtopic_id"].value_counts()
    assert planted.height == summary["subtopics"] == min(len(SUBTOPICS), SPEC.n_items // 2) < len(SUBTOPICS)
    assert planted["count"].min() >= 2 and set(planted["subtopic_id"]) <= set(SUBTOPICS)
    assert set(t_items["topic_id"]) == set(TOPICS) and summary["topics"] == len(TOPICS)
    assert all(s.split("/")[0] == t for s, t in zip(t_items["subtopic_id"], t_items["topic_id"]))
    joined = items.join(t_items, on="item_id")
    assert (joined["category"] == joined["topic_name"]).all()  # label noise stays within the topic
    assert (joined["category_path"] == joined["category"] + " > " + joined["subcategory"]).all()
    assert all(3 <= len(t.split()) <= 8 for t in items["title"])

    clean = clean_events(events, truth)
    assert set(clean["item_id"].drop_nulls()) <= set(items["item_id"])
    texts = truth["texts"]
    assert texts["event_id"].is_unique().all()
    with_text = clean.filter(pl.col("event_type").is_in(["review", "search"]))
    assert set(with_text["event_id"]) <= set(texts["event_id"])
    reviews = (
        with_text.filter(pl.col("event_type") == "review")
        .join(texts, on="event_id")
        .join(t_items.select("item_id", pl.col("subtopic_id").alias("item_subtopic")), on="item_id")
    )
    on_interest = reviews.filter(pl.col("kind") == "interest")
    assert on_interest.height > 0 and (on_interest["subtopic_id"] == on_interest["item_subtopic"]).all()
    assert set(texts["kind"]) == {"interest", "generic", "flood"}
    no_interest = texts.filter(pl.col("kind") != "interest")
    assert no_interest["subtopic_id"].null_count() == no_interest["topic_id"].null_count() == no_interest.height
    assert texts.filter(pl.col("kind") == "interest")["subtopic_id"].null_count() == 0

    users = truth["users"]
    assert users["user_id"].n_unique() == SPEC.n_users
    per_user = users.group_by("user_id").agg(
        (pl.col("role") == "core").sum().alias("core"),
        (pl.col("role") == "peripheral").sum().alias("peripheral"),
        pl.col("subtopic_id").n_unique().alias("distinct"),
        pl.len().alias("n"),
    )
    assert per_user["core"].is_between(1, 3).all() and per_user["peripheral"].is_between(2, 4).all()
    assert (per_user["distinct"] == per_user["n"]).all()


def test_planted_defects_and_duplicates(sample, events, truth):
    _, summary = sample
    n_events = summary["events"]
    assert summary["bad_rows"] == round(SPEC.bad_row_share * n_events)
    assert summary["duplicates"] == round(SPEC.duplicate_share * n_events)
    assert events.height == n_events + summary["duplicates"] == summary["rows"]

    repeated = events.filter(pl.col("event_id").is_duplicated())
    assert repeated.height == 2 * summary["duplicates"]
    assert repeated.unique().height == summary["duplicates"]  # copies are identical rows
    assert repeated["user_id"].str.len_chars().min() > 0 and set(repeated["event_type"]) <= set(EVENT_TYPES)
    assert all(parse_ts(ts) is not None for ts in repeated["timestamp"])  # never a defective row
    assert (repeated.group_by("event_id").agg(pl.col("file").n_unique())["file"] == 1).all()
    for path in sorted((sample[0] / "events").glob("*.csv")):
        lines = path.read_text(encoding="utf-8").splitlines()
        n_dup_ids = events.filter(pl.col("file") == path.name)["event_id"].is_duplicated().sum() // 2
        assert len(lines) - len(set(lines)) >= n_dup_ids

    found = collections.Counter()
    for row in events.unique("event_id").iter_rows(named=True):
        if not row["user_id"]:
            found["empty_user_id"] += 1
        elif parse_ts(row["timestamp"]) is None:
            found["bad_timestamp"] += 1
        elif row["event_type"] not in EVENT_TYPES:
            found["unknown_event_type"] += 1
        elif row["rating"] is not None and not row["rating"].isdigit():
            found["bad_rating"] += 1
    assert sum(found.values()) == summary["bad_rows"]
    assert len(found) == 4
    planted = collections.Counter(truth["defects"]["defect"])
    assert planted == {**found, "duplicate": summary["duplicates"]}


def test_drifters_have_an_emerging_subtopic_late_in_the_period(sample, events, truth):
    _, summary = sample
    users = truth["users"]
    emerging = users.filter(pl.col("role") == "emerging")
    assert emerging["user_id"].is_unique().all()
    assert emerging.height == summary["drifters"]
    assert 0.05 * SPEC.n_users <= emerging.height <= 0.2 * SPEC.n_users
    others = users.filter(pl.col("role") != "emerging").select("user_id", "subtopic_id")
    assert emerging.join(others, on=["user_id", "subtopic_id"]).height == 0  # a new subtopic

    drift_start = SPEC.start_date + dt.timedelta(days=(2 * SPEC.n_days) // 3)
    item_sub = truth["items"].select("item_id", "subtopic_id")
    acts = (
        clean_events(events, truth)
        .filter(pl.col("event_type") != "search")
        .join(item_sub, on="item_id")
        .join(emerging.select("user_id", pl.col("subtopic_id").alias("emerging")), on="user_id")
        .with_columns(
            (pl.col("file").str.extract(r"(\d{4}-\d{2}-\d{2})").str.to_date() >= drift_start).alias("late"),
            (pl.col("subtopic_id") == pl.col("emerging")).alias("hit"),
        )
    )
    late = acts.filter("late")["hit"].mean()
    early = acts.filter(~pl.col("late"))["hit"].mean()
    assert late > 0.4 and early < 0.15


def test_chinese_comments_come_from_cn_users(sample, events, truth, tmp_path):
    _, summary = sample
    reviews = clean_events(events, truth).filter(pl.col("event_type") == "review")
    chinese = reviews.filter(pl.col("text").str.contains(HAN.pattern))
    assert chinese.height > 0
    assert set(chinese["location"]) == {"CN"}
    assert abs(chinese.height - SPEC.chinese_comment_share * summary["comments"]) <= 0.05 * summary["comments"]
    assert not events.filter(pl.col("event_type") == "search")["text"].str.contains(HAN.pattern).any()

    generate_sample(tmp_path, SampleSpec(n_users=60, n_items=30, n_days=3, chinese_comment_share=0.0))
    frames = [pl.read_csv(p, infer_schema=False) for p in (tmp_path / "events").glob("*.csv")]
    assert not pl.concat(frames)["text"].drop_nulls().str.contains(HAN.pattern).any()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z\-]*", text.lower()))


def test_text_overlaps_across_topics_but_stays_on_subtopic(events, truth):
    reviews = (
        clean_events(events, truth)
        .filter((pl.col("event_type") == "review") & ~pl.col("text").str.contains(HAN.pattern))
        .join(truth["texts"], on="event_id")
        .filter(pl.col("kind") == "interest")
    )
    assert all(4 <= len(t.split()) <= 60 or 80 <= len(t.split()) <= 200 for t in reviews["text"])
    generic = {w for v in (GENERIC["aspect"], GENERIC["adj"], GENERIC["pos"]) for p in v.split("|") for w in p.split()}
    topics_of_word = collections.defaultdict(set)
    for text, topic in zip(reviews["text"], reviews["topic_id"]):
        for w in words(text) & generic:
            topics_of_word[w].add(topic)
    assert sum(len(t) >= 4 for t in topics_of_word.values()) >= 5

    def phrases(sub_id: str) -> list[str]:
        return [p.lower() for k in ("product", "feature", "use") for p in str(SUBTOPICS[sub_id][k]).split("|")]

    def topic_phrases(topic_id: str) -> list[str]:
        return [p.lower() for k in ("product", "feature", "use") for p in TOPICS[topic_id][k].split("|")]

    def any_of(phrases_: list[str]) -> re.Pattern:
        return re.compile("|".join(rf"\b{re.escape(p)}\b" for p in sorted(set(phrases_), key=len, reverse=True)))

    topic_re = {t: any_of(topic_phrases(t)) for t in TOPICS}
    foreign_re = {t: any_of([p for s in SUBTOPICS if s.split("/")[0] != t for p in phrases(s)]) for t in TOPICS}
    own = topic = foreign = 0
    for text, sub in zip(reviews["text"], reviews["subtopic_id"]):
        lower = text.lower()
        own += any(p in lower for p in phrases(sub))
        topic += bool(topic_re[sub.split("/")[0]].search(lower))
        foreign += bool(foreign_re[sub.split("/")[0]].search(lower))
    assert own > 0.5 * reviews.height
    assert topic > 0.1 * reviews.height  # topic-level words, not only subtopic ones
    assert 0.02 * reviews.height < foreign < 0.5 * reviews.height
    assert set(TOPICS) == {s.split("/")[0] for s in SUBTOPICS}


def test_item_events_concentrate_on_core_interests(events, truth):
    users = truth["users"]
    focus = users.filter(pl.col("role").is_in(["core", "emerging"])).select(
        "user_id", "subtopic_id", pl.lit(True).alias("focus")
    )
    acts = (
        clean_events(events, truth)
        .filter(pl.col("event_type") != "search")
        .join(truth["items"].select("item_id", "subtopic_id"), on="item_id")
        .join(focus, on=["user_id", "subtopic_id"], how="left")
    )
    per_user = acts.group_by("user_id").agg(pl.col("focus").fill_null(False).mean())
    assert per_user["focus"].mean() > 0.5


WIDE_SPEC = SampleSpec(n_users=600, n_items=300, n_days=3, mean_events_per_user=15, seed=2)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A sample whose catalogue holds every subtopic, with its reviews joined to their truth."""
    out = tmp_path_factory.mktemp("wide")
    summary = generate_sample(out, WIDE_SPEC)
    events = pl.concat([read_events(p) for p in sorted((out / "events").iterdir())]).unique(
        "event_id", keep="first", maintain_order=True
    )
    truth = {name: pl.read_csv(out / "truth" / f"{name}.csv", infer_schema=False) for name in ("items", "texts")}
    # Generic and flood texts are all reviews, also where a planted defect broke the event type.
    reviews = events.join(truth["texts"], on="event_id").filter(
        (pl.col("kind") != "interest") | (pl.col("event_type") == "review")
    )
    return out, summary, events, truth, reviews


def test_vocabulary_is_large_uneven_and_shares_words_between_siblings():
    assert len(TOPICS) >= 14 and len(SUBTOPICS) >= 110
    per_topic = collections.Counter(s.split("/")[0] for s in SUBTOPICS)
    assert set(per_topic) == set(TOPICS)
    assert min(per_topic.values()) >= 4 and max(per_topic.values()) <= 12 and len(set(per_topic.values())) >= 4
    minimum = {"product": 5, "adj": 4, "feature": 3, "use": 3, "aspect": 3, "zh": 2}
    for sub_id, sub in SUBTOPICS.items():
        assert set(sub) == {"name", "price", *minimum}, sub_id
        for kind, least in minimum.items():
            values = str(sub[kind]).split("|")
            assert len(values) >= least and len(set(values)) == len(values), (sub_id, kind)
        assert HAN.search(str(sub["zh"])), sub_id
    for topic_id, topic in TOPICS.items():
        assert set(topic) == {"name", "product", "adj", "feature", "use", "aspect", "zh", "zh_use"}, topic_id
    # Sibling categories share words ("running shoes", "trail running shoes").
    sharing = 0
    for topic_id in TOPICS:
        seen = collections.Counter(
            w
            for s, sub in SUBTOPICS.items()
            if s.split("/")[0] == topic_id
            for w in {w for p in str(sub["product"]).lower().split("|") for w in p.split()}
        )
        sharing += any(n >= 2 for n in seen.values())
    assert sharing >= 0.8 * len(TOPICS)
    assert (
        "running" in SUBTOPICS["sports/trail_running"]["product"]
        and "running" in SUBTOPICS["sports/running_watches"]["product"]
    )


def test_subtopic_popularity_is_long_tailed(wide, tmp_path):
    out, summary, events, truth, _ = wide
    assert summary["subtopics"] == len(SUBTOPICS)
    item_sub = truth["items"].select("item_id", "subtopic_id")
    assert item_sub["subtopic_id"].value_counts()["count"].min() >= 2  # every subtopic keeps two items

    def tail_ratio(counts: pl.Series) -> float:
        ordered = counts.sort()
        return ordered.tail(5).mean() / ordered.head(5).mean()

    def interested_users(sample_dir: Path) -> pl.Series:
        users = pl.read_csv(sample_dir / "truth" / "users.csv").filter(pl.col("role") != "emerging")
        return users["subtopic_id"].value_counts()["count"]

    # 116 ** 0.8 ~ 45 between the most and the least popular subtopic; uniform gives ~ 2.
    assert tail_ratio(interested_users(out)) >= 15
    assert tail_ratio(events.join(item_sub, on="item_id")["subtopic_id"].value_counts()["count"]) >= 15
    generate_sample(tmp_path, SampleSpec(**{**WIDE_SPEC.__dict__, "subtopic_zipf": 0.0}))
    assert tail_ratio(interested_users(tmp_path)) < 4


def test_activity_is_sparse_with_a_heavy_tail(sample, events, truth):
    per_user = clean_events(events, truth).group_by("user_id").len()["len"]
    assert per_user.min() <= 3
    assert per_user.max() >= 3 * SPEC.mean_events_per_user
    assert (per_user <= 5).mean() >= 0.25  # sparse users
    assert abs(sample[1]["events"] / SPEC.n_users - SPEC.mean_events_per_user) <= 0.05 * SPEC.mean_events_per_user


def test_cli_writes_a_sample(tmp_path, capsys):
    assert (
        main(
            [
                "--out",
                str(tmp_path / "cli"),
                "--users",
                "30",
                "--items",
                "30",
                "--days",
                "2",
                "--seed",
                "5",
                "--events-per-user",
                "4",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["users"] == 30 and summary["files"] == 2
    assert sorted(p.name for p in (tmp_path / "cli" / "events").iterdir()) == [
        "events_2026-10-01.csv",
        "events_2026-10-02.csv",
    ]


def test_rejects_too_few_items_and_plants_fewer_subtopics_in_a_small_catalogue(tmp_path):
    with pytest.raises(ValueError, match="n_items must be at least"):
        generate_sample(tmp_path, SampleSpec(n_items=2 * len(TOPICS) - 1))
    summary = generate_sample(tmp_path, SampleSpec(n_users=30, n_items=2 * len(TOPICS), n_days=2))
    assert summary["subtopics"] == summary["topics"] == len(TOPICS)
    t_items = pl.read_csv(tmp_path / "truth" / "items.csv")
    assert t_items.group_by("topic_id").agg(pl.col("subtopic_id").n_unique())["subtopic_id"].to_list() == [1] * len(
        TOPICS
    )
    for bad in (
        {"generic_comment_share": 1.5},
        {"catalogue_label_noise": -0.1},
        {"subtopic_zipf": -1.0},
        {"generic_comment_share": 0.6, "flood_comment_share": 0.6},
    ):
        with pytest.raises(ValueError):
            generate_sample(tmp_path, SampleSpec(n_items=60, **bad))


def normalised(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def subtopic_phrase_re() -> re.Pattern:
    phrases = {
        p.lower() for sub in SUBTOPICS.values() for k in ("product", "feature", "use") for p in str(sub[k]).split("|")
    }
    return re.compile("|".join(rf"\b{re.escape(p)}\b" for p in sorted(phrases, key=len, reverse=True)))


def test_generic_comments_belong_to_no_interest(wide):
    _, summary, _, _, reviews = wide
    generic = reviews.filter(pl.col("kind") == "generic")
    assert generic.height == summary["generic_comments"] == round(WIDE_SPEC.generic_comment_share * summary["comments"])
    assert generic["subtopic_id"].null_count() == generic["topic_id"].null_count() == generic.height
    assert generic["item_id"].null_count() == 0  # still a review of an item
    interest_words = subtopic_phrase_re()
    assert not any(interest_words.search(t.lower()) for t in generic["text"])
    service = re.compile(
        r"\b(delivery|price|packag\w*|seller|shop|refund|value|customer service|dispatch|parcel|arrived)\b"
    )
    assert sum(bool(service.search(t.lower())) for t in generic["text"]) >= 0.6 * generic.height
    interest = reviews.filter(pl.col("kind") == "interest")
    assert sum(bool(interest_words.search(t.lower())) for t in interest["text"]) >= 0.5 * interest.height


def test_flood_comments_repeat_templates_with_near_duplicates(wide, tmp_path):
    _, summary, _, _, reviews = wide
    flood = reviews.filter(pl.col("kind") == "flood")
    assert flood.height == summary["flood_comments"] == round(WIDE_SPEC.flood_comment_share * summary["comments"])
    assert flood["subtopic_id"].null_count() == flood.height and (flood["rating"] == "5").all()
    raw = collections.Counter(flood["text"])
    folded = collections.Counter(normalised(t) for t in flood["text"])
    assert len(folded) <= 2 * len(FLOOD_COMMENTS) and max(folded.values()) >= 3  # a few templates, repeated
    assert max(raw.values()) >= 2  # exact repeats
    assert len(raw) > len(folded)  # and variants that differ in case, punctuation or an emoji only
    assert flood["user_id"].n_unique() >= 0.5 * flood.height  # posted by many users

    # Every kind of variant, on a sample flooded enough to show them all.
    generate_sample(
        tmp_path, SampleSpec(n_users=150, n_items=60, n_days=8, flood_comment_share=0.6, generic_comment_share=0.0)
    )
    texts = (
        pl.read_csv(tmp_path / "truth" / "texts.csv")
        .filter(pl.col("kind") == "flood")
        .join(pl.concat([read_events(p) for p in (tmp_path / "events").iterdir()]).unique("event_id"), on="event_id")[
            "text"
        ]
    )
    templates = set(FLOOD_COMMENTS)
    assert templates & set(texts)
    assert any(
        t.lower() == t and t.lower() in {x.lower() for x in templates} and t not in templates for t in texts
    )  # case
    assert any(not t.isascii() for t in texts)  # an emoji
    assert {normalised(t) for t in texts} - {normalised(t) for t in templates}  # a word swapped


def test_copied_interest_comments_keep_the_truth_of_the_copied_one(wide):
    _, summary, _, _, reviews = wide
    interest = reviews.filter(pl.col("kind") == "interest")
    # Texts this long that name an interest do not repeat by chance: a repeat is a copy.
    interest_words = subtopic_phrase_re()
    repeated = interest.filter(
        pl.col("text").is_duplicated()
        & (pl.col("text").str.split(" ").list.len() >= 12)
        & pl.col("text").map_elements(lambda t: bool(interest_words.search(t.lower())), return_dtype=pl.Boolean)
    )
    groups = repeated.group_by("text").agg(
        pl.col("subtopic_id").n_unique().alias("subs"), pl.col("user_id").n_unique().alias("users"), pl.len()
    )
    assert summary["copied_comments"] == round(WIDE_SPEC.duplicate_comment_share * summary["comments"])
    assert (groups["len"] - 1).sum() >= 0.25 * summary["copied_comments"] > 0
    assert (groups["subs"] == 1).all() and (groups["users"] == groups["len"]).all()


def test_long_comments_drift_into_a_sibling_subtopic(wide):
    _, summary, _, _, reviews = wide
    interest = reviews.filter(pl.col("kind") == "interest").with_columns(
        pl.col("text").str.split(" ").list.len().alias("words")
    )
    long = interest.filter(pl.col("words") >= 80)
    assert long.height >= summary["long_comments"] == round(WIDE_SPEC.long_comment_share * summary["comments"])
    assert long["words"].max() <= 200 and interest.filter(pl.col("words") < 80)["words"].max() <= 60
    assert interest["words"].min() <= 6  # short texts too

    def phrases(sub_id: str) -> list[str]:
        return [p.lower() for k in ("product", "use") for p in str(SUBTOPICS[sub_id][k]).split("|")]

    drifting = 0
    for text, sub in zip(long["text"], long["subtopic_id"]):
        siblings = [s for s in SUBTOPICS if s != sub and s.split("/")[0] == sub.split("/")[0]]
        drifting += any(re.search(rf"\b{re.escape(p)}\b", text.lower()) for s in siblings for p in phrases(s))
    assert drifting >= 0.6 * long.height


def test_catalogue_subcategory_carries_label_noise(wide, tmp_path):
    out, summary, _, truth, _ = wide
    items = pl.read_csv(out / "items.csv").join(truth["items"], on="item_id")
    wrong = items.filter(pl.col("subcategory") != pl.col("subtopic_name"))
    assert wrong.height == summary["mislabelled_items"] == round(WIDE_SPEC.catalogue_label_noise * WIDE_SPEC.n_items)
    assert (wrong["category"] == wrong["topic_name"]).all()  # a wrong sibling, never a wrong topic
    sibling_names = {(s.split("/")[0], str(sub["name"])) for s, sub in SUBTOPICS.items()}
    assert all((t, n) in sibling_names for t, n in zip(wrong["topic_id"], wrong["subcategory"]))
    assert items["category_path"].str.contains(" > ").all()


def test_new_shares_can_be_switched_off(tmp_path):
    spec = SampleSpec(
        n_users=200,
        n_items=120,
        n_days=4,
        generic_comment_share=0.0,
        flood_comment_share=0.0,
        duplicate_comment_share=0.0,
        long_comment_share=0.0,
        catalogue_label_noise=0.0,
    )
    summary = generate_sample(tmp_path, spec)
    assert summary["generic_comments"] == summary["flood_comments"] == summary["copied_comments"] == 0
    assert summary["long_comments"] == summary["mislabelled_items"] == 0
    assert set(pl.read_csv(tmp_path / "truth" / "texts.csv")["kind"]) == {"interest"}
    items = pl.read_csv(tmp_path / "items.csv").join(pl.read_csv(tmp_path / "truth" / "items.csv"), on="item_id")
    assert (items["subcategory"] == items["subtopic_name"]).all()
    texts = pl.concat([read_events(p) for p in (tmp_path / "events").iterdir()])["text"].drop_nulls()
    assert texts.str.split(" ").list.len().max() <= 60


def test_the_bilingual_sample_writes_chinese_reviews_of_every_kind(tmp_path, capsys):
    from interest_pipeline.core.common.tokenize import detect_language
    from interest_pipeline.sample_vocabulary import ZH_FLOOD_COMMENTS

    out = tmp_path / "bilingual"
    assert main(["--out", str(out), "--users", "400", "--items", "200", "--days", "10", "--chinese-share", "0.4"]) == 0
    summary = json.loads(capsys.readouterr().out)
    events = pl.concat([read_events(p) for p in sorted((out / "events").iterdir())], how="diagonal")
    truth = pl.read_csv(out / "truth/texts.csv", infer_schema=False)
    reviews = (
        events.filter(pl.col("event_type") == "review")
        .unique("event_id")
        .join(truth, on="event_id")
        .with_columns(pl.col("text").map_elements(detect_language, return_dtype=pl.String).alias("language"))
    )
    chinese = reviews.filter(pl.col("language") == "zh")
    assert abs(summary["chinese_comments"] - chinese.height) <= 0.01 * chinese.height
    assert abs(chinese.height / reviews.height - 0.4) < 0.02
    assert (events.filter(pl.col("event_id").is_in(chinese["event_id"].to_list()))["location"] == "CN").all()
    kinds = dict(chinese["kind"].value_counts().iter_rows())
    assert kinds["generic"] >= 0.1 * chinese.height and kinds["flood"] >= 0.03 * chinese.height
    flood = chinese.filter(pl.col("kind") == "flood")["text"]
    assert flood.is_in(list(ZH_FLOOD_COMMENTS)).mean() > 0.3 and not flood.is_in(list(ZH_FLOOD_COMMENTS)).all()
    interest = chinese.filter(pl.col("kind") == "interest")
    assert interest["text"].is_duplicated().any()  # copies, in Chinese
    assert interest["text"].str.len_chars().max() > 150  # long reviews
    generic = chinese.filter(pl.col("kind") == "generic")["text"]
    assert generic.str.contains("物流|客服|包装|发货|快递|价格").mean() > 0.5
