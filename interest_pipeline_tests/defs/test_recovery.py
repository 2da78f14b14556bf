"""The discovered taxonomy and core tiers against the structure the generator planted.

Thresholds: the small sample plants 24 subtopics in 6 topics with deliberately overlapping
text (about half of each text is generic, topic-wide or off-topic words). On it, a random
labelling scores NMI near 0 (checked below). Observed on this sample: subtopic NMI 0.61,
ARI 0.33, topic NMI 0.49, core hit rate 0.75. The bounds sit about 0.1-0.15 below, so
small numeric differences between machines do not flake, yet a broken reduction, a
collapsed clustering or a scrambled assignment falls below them.
"""

import duckdb
import polars as pl

from interest_pipeline.core.recovery import planted_recovery


def recovery(run):
    with duckdb.connect(str(run.warehouse), read_only=True) as conn:
        topics = conn.execute("SELECT content_id, content_kind, subtopic_id, topic_id, is_noise FROM interest_topics").pl()
        core = conn.execute("SELECT user_id, node_id FROM user_interest_layers WHERE level = 'subtopic' AND tier_long = 'core'").pl()
    truth = run.sample_dir / "truth"
    return planted_recovery(topics, core, *(pl.read_csv(truth / n) for n in ("items.csv", "texts.csv", "users.csv")))


def test_subtopics_and_topics_agree_with_the_planted_ones(pipeline_run):
    scores = recovery(pipeline_run)
    assert scores["scored_points"] > 500
    assert scores["subtopic_nmi"] >= 0.45
    assert scores["topic_nmi"] >= 0.35
    assert scores["subtopic_ari"] >= 0.2


def test_most_users_core_tier_holds_a_planted_core_interest(pipeline_run):
    scores = recovery(pipeline_run)
    assert scores["core_hit_rate"] >= 0.6


def test_recovery_scores_fall_for_a_scrambled_assignment(pipeline_run):
    """The measure itself can fail: shuffled subtopics score near zero."""
    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        topics = conn.execute("SELECT content_id, content_kind, subtopic_id, topic_id, is_noise FROM interest_topics").pl()
        core = conn.execute("SELECT user_id, node_id FROM user_interest_layers WHERE level = 'subtopic' AND tier_long = 'core'").pl()
    shuffled = topics.with_columns(pl.col("subtopic_id").shuffle(seed=1), pl.col("topic_id").shuffle(seed=2))
    truth = pipeline_run.sample_dir / "truth"
    scores = planted_recovery(shuffled, core.with_columns(pl.col("node_id").shuffle(seed=3)), *(pl.read_csv(truth / n) for n in ("items.csv", "texts.csv", "users.csv")))
    assert scores["subtopic_nmi"] < 0.2 and scores["topic_nmi"] < 0.1


def test_users_planted_with_a_new_interest_drift_more(pipeline_run):
    from interest_pipeline.core.recovery import drift_separation

    with duckdb.connect(str(pipeline_run.warehouse), read_only=True) as conn:
        layers = conn.execute("SELECT user_id, level, drift_score FROM user_interest_layers").pl()
    scores = drift_separation(layers, pl.read_csv(pipeline_run.sample_dir / "truth" / "users.csv"))
    assert scores["drift_score_drifters"] > scores["drift_score_others"] + 0.02, scores
