"""MIND import: expectations are worked out from the fixture text, independently of the adapter."""

import collections
import datetime as dt
import re

import polars as pl
import pytest

from interest_pipeline.core.ingest.catalogue import read_item_file, validate_items
from interest_pipeline.importers import import_dataset
from interest_pipeline_tests.importers.helpers import (
    FIXTURES,
    assert_conserved,
    tree_bytes,
    validate_import,
    written_events,
)

BEHAVIORS = FIXTURES / "mind" / "behaviors.tsv"
NEWS = FIXTURES / "mind" / "news.tsv"
TOKEN = re.compile(r"^(.+)-([01])$")


def parse_behaviors():
    """What the fixture holds, read with plain Python."""
    expected = {
        "impressions": [],  # (impression id, user, news, type, time, line)
        "history": {},  # (user key, news) -> user id
        "first": {},  # user key -> earliest time
        "rejects": collections.Counter(),
        "lines": [],
    }
    for line in BEHAVIORS.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) != 5:
            expected["rejects"]["wrong number of fields"] += 1
            continue
        impression_id, user, time, history, impressions = fields
        try:
            when = dt.datetime.strptime(time, "%m/%d/%Y %I:%M:%S %p")
        except ValueError:
            expected["rejects"]["unparseable time"] += 1
            continue
        if not history.strip() and not impressions.strip():
            expected["rejects"]["no history and no impressions"] += 1
        key = user or f"@{impression_id}"
        expected["first"][key] = min(when, expected["first"].get(key, when))
        for news in history.split():
            expected["history"].setdefault((key, news), user)
        for token in impressions.split():
            match = TOKEN.match(token)
            if match is None:
                expected["rejects"]["impression token without -0/-1 label"] += 1
                continue
            kind = "click" if match.group(2) == "1" else "view"
            expected["impressions"].append((impression_id, user, match.group(1), kind, when, line))
        expected["lines"].append(line)
    return expected


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("mind")
    report = import_dataset("mind", [BEHAVIORS, NEWS], out)
    return out, report


def test_every_behaviour_row_is_written_or_rejected(imported):
    out, report = imported
    expected = parse_behaviors()
    n_lines = len(BEHAVIORS.read_text(encoding="utf-8").splitlines())
    assert report.rows_read[str(BEHAVIORS)] == n_lines
    assert report.events_written == len(expected["impressions"]) + len(expected["history"])
    news_rejects = sum(1 for line in NEWS.read_text(encoding="utf-8").splitlines() if len(line.split("\t")) != 8)
    expected_rejects = expected["rejects"] + collections.Counter({"wrong number of fields": news_rejects})
    assert report.skipped == dict(expected_rejects)
    rejects = pl.read_csv(out / "import_rejects.csv", infer_schema=False)
    assert rejects.height == sum(expected_rejects.values())
    assert set(rejects["source_file"]) == {str(BEHAVIORS), str(NEWS)}
    # The raw line in the rejects is the input line itself.
    source_lines = {
        str(BEHAVIORS): BEHAVIORS.read_text(encoding="utf-8").splitlines(),
        str(NEWS): NEWS.read_text(encoding="utf-8").splitlines(),
    }
    for row in rejects.iter_rows(named=True):
        assert source_lines[row["source_file"]][int(row["line"]) - 1] == row["raw_line"]


def test_event_types_and_counts_follow_the_labels(imported):
    out, report = imported
    expected = parse_behaviors()
    kinds = collections.Counter(kind for *_, kind, _, _ in expected["impressions"])
    events = written_events(out)
    counts = collections.Counter(events["event_type"].to_list())
    assert counts["view"] == kinds["view"]
    assert counts["click"] == kinds["click"] + len(expected["history"])
    assert report.events_by_type == dict(counts)


def test_validator_accepts_rejects_and_deduplicates_as_the_fixture_implies(imported):
    out, report = imported
    expected = parse_behaviors()
    validated = validate_import(out)
    assert_conserved(report, validated)
    # An exact duplicate behaviour line yields the same events again: counted as duplicates.
    seen, duplicate_events = set(), 0
    for impression_id, _user, news, kind, _when, line in expected["impressions"]:
        key = (impression_id, news, kind, line)
        duplicate_events += key in seen
        seen.add(key)
    assert validated.duplicates == duplicate_events > 0
    # A row without user id keeps its events, which validation rejects for the missing user.
    anonymous = sum(1 for _, user, *_ in expected["impressions"] if not user) + sum(
        1 for user in expected["history"].values() if not user
    )
    assert anonymous > 0
    assert validated.reasons == {"missing user_id": anonymous}
    assert validated.accepted.height == report.events_written - anonymous - duplicate_events


def test_history_is_dated_before_every_impression_once_per_user(imported):
    out, _ = imported
    expected = parse_behaviors()
    history = written_events(out).filter(pl.col("event_id").str.starts_with("mind-hist-"))
    assert history.height == len(expected["history"])
    assert history["event_id"].n_unique() == history.height
    assert history.filter(pl.col("user_id").is_not_null()).select("user_id", "item_id").is_unique().all()
    # undated history lies before the whole log: one second before the import's earliest impression
    earliest = min(expected["first"].values())
    assert set(history["timestamp"]) == {(earliest - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    impressions = written_events(out).filter(~pl.col("event_id").str.starts_with("mind-hist-"))
    assert history["timestamp"].max() < impressions["timestamp"].min()
    for row in history.iter_rows(named=True):
        assert row["file"] == f"events_{row['timestamp'][:10]}.csv"
    # U100's history (4 news) is dated before its own first impression, which is not its first line
    u100 = history.filter(pl.col("user_id") == "mind:U100")
    assert u100.height == 4 and u100["timestamp"].max() < (expected["first"]["U100"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    validated = validate_import(out)
    assert validated.accepted.filter(pl.col("user_id") == "mind:U102").height == 4


def test_items_have_titles_categories_and_unicode(imported):
    out, report = imported
    items = read_item_file(out / "items.csv")
    accepted, rejected = validate_items(items)
    news = [line.split("\t") for line in NEWS.read_text(encoding="utf-8").splitlines()]
    readable = {tuple(f) for f in news if len(f) == 8}
    assert report.items_written == len(readable)
    assert report.item_rows_merged == sum(1 for f in news if len(f) == 8) - len(readable)
    titled = {f[0] for f in readable if f[3].strip()}
    # News without a title are kept, titled by their abstract's first sentence (all have one here).
    assert set(accepted["item_id"]) == {f"mind:{f[0]}" for f in readable} and rejected.height == 0
    derived = accepted.filter(pl.col("title_derived")).select("item_id", "title").rows()
    assert derived == [(f"mind:{f[0]}", f[4].rstrip(".")) for f in sorted(readable) if not f[3].strip()] != []
    by_id = {row["item_id"]: row for row in accepted.iter_rows(named=True)}
    for news_id, category, subcategory, title, abstract, url, *_ in readable:
        if news_id in titled:
            row = by_id[f"mind:{news_id}"]
            assert (row["title"], row["description"] or "", row["category_path"], row["url"]) == (
                title,
                abstract,
                f"{category}/{subcategory}",
                url,
            )
    assert by_id["mind:N1013"]["title"] == "北京冬奥会场馆建设进展顺利"
    assert by_id["mind:N1012"]["title"] == "Café Zürich wins best brunch award"
    assert by_id["mind:N1010"]["title"] == 'Coach says "we\'ll be back" after overtime loss'
    assert by_id["mind:N1011"]["description"] is None  # missing abstract


def test_every_event_refers_to_a_prefixed_user_and_item(imported):
    out, _ = imported
    events = written_events(out)
    assert events.filter(pl.col("user_id").is_not_null())["user_id"].str.starts_with("mind:U").all()
    assert events["item_id"].str.starts_with("mind:N").all()


def test_reimport_is_byte_identical_in_any_input_order(imported, tmp_path):
    out, _ = imported
    before = tree_bytes(out)
    import_dataset("mind", [BEHAVIORS, NEWS], out)
    assert tree_bytes(out) == before
    import_dataset("mind", [NEWS, BEHAVIORS], tmp_path)
    after = tree_bytes(tmp_path)
    assert {k: v for k, v in after.items() if k.startswith("events_") or k == "items.csv"} == {
        k: v for k, v in before.items() if k.startswith("events_") or k == "items.csv"
    }
