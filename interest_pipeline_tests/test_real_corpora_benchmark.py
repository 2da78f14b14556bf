"""The real-corpora benchmark's entry point runs end to end on a tiny corpus in the development-set format."""

import json

import numpy as np
import polars as pl

from interest_pipeline_tests.benchmarks import real_corpora

# Three topics of two subtopics each, every subtopic with a vocabulary of its own.
VOCABULARY = {
    ("cooking", "baking"): "bread dough oven flour yeast crust loaf knead bake sourdough",
    ("cooking", "soups"): "soup broth stock simmer ladle noodle lentil onion celery bowl",
    ("football", "matches"): "goal striker referee penalty keeper stadium kickoff halftime offside corner",
    ("football", "transfers"): "transfer contract signing fee agent loan clause window bid midfielder",
    ("astronomy", "planets"): "planet orbit jupiter saturn mars ring moon crater atmosphere rover",
    ("astronomy", "telescopes"): "telescope lens mirror aperture eyepiece mount tripod focus magnification observatory",
}


def write_devdata(folder):
    rng = np.random.default_rng(0)
    docs = []
    for (topic, subtopic), words in VOCABULARY.items():
        words = words.split()
        for i in range(10):
            text = " ".join(rng.choice(words, size=12)).capitalize() + "."
            docs.append({"id": f"{subtopic}-{i}", "text": text, "label_l1": topic, "label_l2": subtopic})
    (folder / "news20").mkdir(parents=True)
    (folder / "news20" / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    items = [
        {
            "item_id": str(n),
            "title": f"{topic.title()} film {n}",
            "description": " ".join(rng.choice(words.split(), size=8)),
            "category": topic,
        }
        for n, ((topic, _), words) in enumerate(list(VOCABULARY.items()) * 5)
    ]
    (folder / "movielens100k").mkdir()
    pl.DataFrame(items).write_csv(folder / "movielens100k" / "items.csv")


def test_the_entry_point_scores_every_method_and_candidate(tmp_path, capsys):
    devdata, out = tmp_path / "devdata", tmp_path / "out"
    write_devdata(devdata)
    args = ["--devdata", str(devdata), "--seeds", "1", "--out", str(out), "--coarse-candidates"]
    assert real_corpora.main([*args, "--sets", "news20,movielens100k,taobao_ub_sample"]) == 0

    printed = capsys.readouterr().out
    assert "taobao_ub_sample: skipped" in printed and "Mean over corpora" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["corpora"]) == {"news20", "movielens100k"}
    news = results["corpora"]["news20"]
    assert news["info"]["points"] == 60 and set(news["levels"]) == {"subtopics", "topics"}
    assert set(results["corpora"]["movielens100k"]["levels"]) == {"topics"}
    for level in news["levels"].values():
        assert set(level) == {
            "labels",
            real_corpora.PROJECT,
            real_corpora.FORMER,
            real_corpora.RECIPE,
            real_corpora.KMEANS,
        }
    # Distinct vocabularies: K-Means at the true k finds the labels.
    assert news["levels"]["topics"][real_corpora.KMEANS]["nmi"][0] > 0.8
    assert set(results["candidate_mean"]) == set(real_corpora.CANDIDATES)
    assert (out / "results.md").read_text().startswith("## Taxonomy on real corpora")
    assert list((out / "embeddings").glob("news20-*.npz"))


def test_stratified_rows_keep_each_labels_share():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    rows = real_corpora.stratified_rows(labels, 10)
    assert len(rows) == 10 and sorted(rows.tolist()) == rows.tolist()
    assert [np.asarray(labels)[rows].tolist().count(x) for x in "abc"] == [5, 3, 2]
