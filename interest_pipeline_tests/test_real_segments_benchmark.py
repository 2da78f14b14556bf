"""The real-segments benchmark's entry point runs end to end on a tiny set in the development-set format,
and its yardsticks give the hand-computed labels."""

import datetime as dt
import json

import numpy as np
import polars as pl

from interest_pipeline_tests.benchmarks import real_segments

# Four categories, each with a vocabulary of its own.
VOCABULARY = {
    "baking": "bread dough oven flour yeast crust loaf knead bake sourdough",
    "football": "goal striker referee penalty keeper stadium kickoff halftime offside corner",
    "astronomy": "planet orbit jupiter saturn mars ring moon crater atmosphere rover",
    "gardening": "soil compost seedling prune hedge mulch trowel bulb greenhouse shrub",
}


def write_set(folder, n_users: int = 60) -> None:
    rng = np.random.default_rng(0)
    categories = list(VOCABULARY)
    items = [
        {
            "item_id": f"{category}-{n}",
            "title": f"{category.title()} guide {n}",
            "description": " ".join(rng.choice(VOCABULARY[category].split(), size=8)),
            "category": category,
        }
        for category in categories
        for n in range(8)
    ]
    events = []
    start = dt.datetime(2024, 1, 1)
    for user in range(n_users):
        favourite = categories[user % len(categories)]
        for n in range(12):
            # Mostly the favourite category, now and then another one.
            category = favourite if n % 4 else categories[int(rng.integers(len(categories)))]
            events.append(
                {
                    "event_id": f"e{user}-{n}",
                    "user_id": f"u{user:03d}",
                    "item_id": f"{category}-{int(rng.integers(8))}",
                    "event_type": "view",
                    "timestamp": (start + dt.timedelta(hours=user + n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "rating": None,
                    "text": None,
                }
            )
    folder.mkdir(parents=True)
    pl.DataFrame(items).write_csv(folder / "items.csv")
    pl.DataFrame(events).write_csv(folder / "events.csv")


def test_the_entry_point_scores_the_segments_beside_k_means(tmp_path, capsys):
    devdata, out = tmp_path / "devdata", tmp_path / "out"
    write_set(devdata / "movielens100k")
    args = ["--devdata", str(devdata), "--seeds", "1", "--out", str(out), "--variants"]
    assert real_segments.main([*args, "--sets", "movielens100k,taobao_ub_sample"]) == 0

    printed = capsys.readouterr().out
    assert "taobao_ub_sample: skipped" in printed and "Mean over sets" in printed
    results = json.loads((out / "results.json").read_text())
    levels = results["sets"]["movielens100k"]["levels"]
    assert results["sets"]["movielens100k"]["info"]["users"] == 60
    assert levels["fine"]["labels"]["clusters"] == 4
    expected = {
        "labels",
        real_segments.PROJECT,
        real_segments.KMEANS_SILHOUETTE,
        real_segments.KMEANS_SAME_K,
        real_segments.KMEANS_TRUE_K,
        *(f"{real_segments.PROJECT}, {v}" for v in real_segments.VARIANTS),
    }
    assert set(levels["fine"]) == expected and set(levels["coarse"]) == expected
    # Users whose histories follow four vocabularies: the segments and K-Means at the true k find them.
    assert levels["fine"][real_segments.KMEANS_TRUE_K]["ami"][0] > 0.8
    assert levels["fine"][real_segments.PROJECT]["ami"][0] > 0.5
    assert (out / "results.md").read_text().startswith("## User segments on real development sets")


def test_the_yardsticks_name_each_users_category():
    events = pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "b", "b", "c", "c"],
            "item_id": ["d1", "d2", "h1", "d1", "d2", "d3", "h1", "d1", "h1"],
            "event_type": ["view", "view", "purchase", "view", "view", "view", "view", "view", "view"],
        }
    )
    items = pl.DataFrame({"item_id": ["d1", "d2", "d3", "h1"], "category": ["drama", "drama", "drama", "horror"]})
    dominant = dict(real_segments.dominant_categories(events, items).iter_rows())
    # a: drama 2 (two views) < horror 6 (a purchase); b: drama 3 > horror 1; c: a tie goes to the smaller name.
    assert dominant == {"a": "horror", "b": "drama", "c": "drama"}
    distinctive = dict(real_segments.distinctive_categories(events, items).iter_rows())
    # Overall, horror holds 8 of the 14 weight units and drama 6. a: horror's 0.75 / (8/14) = 1.31 beats
    # drama's 0.25 / (6/14) = 0.58; b: drama 0.75 / (6/14) = 1.75 beats horror 0.25 / (8/14) = 0.44;
    # c, half and half: the rarer drama is the more over-represented (1.17 against 0.88).
    assert distinctive == {"a": "horror", "b": "drama", "c": "drama"}
