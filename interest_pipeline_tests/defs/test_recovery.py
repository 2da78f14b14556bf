"""The discovered taxonomy and core tiers against the structure the generator planted.

Thresholds: the tests' small sample (120 items, 300 users) plants 60 subtopics in 15 topics
with overlapping text, generic and flood comments that belong to no interest, and long-tailed
sizes. On it a scrambled labelling scores ARI near 0 and, because NMI rises with the number
of clusters, subtopic NMI near 0.27 (checked below). Observed on this sample: subtopic NMI
0.61, ARI 0.24, topic NMI 0.47, ARI 0.32, core hit rate 0.53. The bounds sit about 0.1
below, so small numeric differences between machines do not flake, yet a broken reduction,
a collapsed clustering or a scrambled assignment falls below them.
"""

import duckdb
import polars as pl

from interest_pipeline.core.clustering.agreement import planted_recovery


def recovery(run):
    with duckdb.connect(str(run.warehouse), read_only=True) as conn:
        topics = conn.execute(
            "SELECT content_id, content_kind, subtopic_id, topic_id, is_noise FROM interest_topics"
        ).pl()
        core = conn.execute(
            "SELECT user_id, node_id FROM user_interest_layers WHERE level = 'subtopic' AND tier_long = 'core'"
        ).pl()
    truth = run.sample_dir / "truth"
    return planted_recovery(topics, core, *(pl.read_csv(truth / n) for n in ("items.csv", "texts.csv", "users.csv")))


def test_subtopics_and_topics_agree_with_the_planted_ones(pipeline_run):
    scores = recovery(pipeline_run)
    assert scores["scored_points"] > 500
    assert scores["subtopic_nmi"] >= 0.5
    assert scores["topic_nmi"] >= 0.37
    assert scores["subtopic_ari"] >= 0.15
    assert scores["topic_ari"] >= 0.2


def test_most_users_core_tier_holds_a_planted_core_interest(pipeline_run):
    scores = recovery(pipeline_run)
    assert scores["core_hit_rate"] >= 0.42


def test_recovery_scores_fall_for_a_scrambled_assignment(pipeline_run):
    """The measure itself can fail: shuffled subtopics score near zero."""
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        topics = conn.execute(
            "SELECT content_id, content_kind, subtopic_id, topic_id, is_noise FROM interest_topics"
        ).pl()
        core = conn.execute(
            "SELECT user_id, node_id FROM user_interest_layers WHERE level = 'subtopic' AND tier_long = 'core'"
        ).pl()
    shuffled = topics.with_columns(pl.col("subtopic_id").shuffle(seed=1), pl.col("topic_id").shuffle(seed=2))
    truth = pipeline_run.sample_dir / "truth"
    scores = planted_recovery(
        shuffled,
        core.with_columns(pl.col("node_id").shuffle(seed=3)),
        *(pl.read_csv(truth / n) for n in ("items.csv", "texts.csv", "users.csv")),
    )
    assert scores["subtopic_ari"] < 0.02 and scores["topic_ari"] < 0.02 and scores["topic_nmi"] < 0.1
    assert scores["subtopic_nmi"] < recovery(pipeline_run)["subtopic_nmi"] - 0.25


def test_users_planted_with_a_new_interest_drift_more(pipeline_run):
    from interest_pipeline.core.clustering.agreement import drift_separation

    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        layers = conn.execute("SELECT user_id, level, drift_score FROM user_interest_layers").pl()
    scores = drift_separation(layers, pl.read_csv(pipeline_run.sample_dir / "truth" / "users.csv"))
    assert scores["drift_score_drifters"] > scores["drift_score_others"] + 0.02, scores


def _generic_words() -> set[str]:
    from interest_pipeline.sample_vocabulary import GENERIC, STOCK_SENTENCES

    phrases = [p for value in GENERIC.values() for p in str(value).split("|")] + [
        p for sentences in STOCK_SENTENCES.values() for p in sentences
    ]
    return {w.strip(".,!?").lower() for p in phrases for w in p.split()}


def test_interest_labels_are_not_made_of_generic_words(pipeline_run):
    """A subtopic whose content mostly has a planted interest is labelled by words of that
    interest, not by the shop's generic vocabulary ("great / price / delivery")."""
    truth = pipeline_run.sample_dir / "truth"
    planted = pl.concat(
        [
            pl.read_csv(truth / "items.csv").select(pl.col("item_id").alias("content_id"), "subtopic_id"),
            pl.read_csv(truth / "texts.csv").select(pl.col("event_id").alias("content_id"), "subtopic_id"),
        ]
    ).rename({"subtopic_id": "planted"})
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        topics = conn.execute("SELECT content_id, subtopic_id FROM interest_topics").pl()
        labels = conn.execute("SELECT node_id, label FROM interest_hierarchy WHERE level = 'subtopic'").pl()
    interest_share = (
        topics.join(planted, on="content_id")
        .group_by("subtopic_id")
        .agg(pl.col("planted").is_not_null().mean().alias("share"))
    )
    interest_nodes = labels.join(
        interest_share.filter(pl.col("share") > 0.5), left_on="node_id", right_on="subtopic_id"
    )
    generic = _generic_words()
    assert interest_nodes.height >= 10
    offenders = [
        (n, label)
        for n, label in interest_nodes.select("node_id", "label").iter_rows()
        if not label or set(label.split(" / ")) <= generic
    ]
    assert not offenders, offenders
