"""The hold-out evaluation end to end: split, tune on the validation slice, build every method from
the training events, rank, and score the rankings, the next interest and the expansion suggestions.

The split protocol (:mod:`interest_pipeline.core.evaluation.splits`: per-user last fraction by default,
leave-last-one, or a global cutoff) gives each user a boundary. Items are ranked for each user
among all items with an embedding; an item is relevant when the user has a test event of
``relevant_event_types`` on it, and items the user touched (any event, views included) before
their boundary are no candidates. Users are scored in two groups, never mixed: those with
training history (``with_history``) and those without (``cold_start``: every personal method
has nothing to go on; the shipped ranker gives them its popularity fallback). Metrics average
over the users of a group with at least one relevant candidate; per-user nDCG@10 differences to
popularity (and of the shipped ranker to every baseline) come with a paired bootstrap 95%
interval (seeded).

The shipped ranker (``SHIPPED``) is ``layered_collaborative``
(:mod:`interest_pipeline.core.evaluation.layered_collaborative`): a collaborative model reading the
user's history by recency, mixed with and spread over the interest layers; ``blended_layers`` is the layer ranker it mixes in (layers and
popularity alone), scored as a method of its own.

Beside accuracy, every method gets interest coverage@20 and subtopic diversity@20 (definitions in
:mod:`interest_pipeline.core.evaluation.interest_measures`), the shipped ranker's paired coverage
differences to every baseline, and nDCG@10 and coverage@20 for light, medium and heavy users with
history (tertiles of their training events).

The layer ranker's popularity weight and half-lives, the collaborative models' settings, the shipped
ranker's collaborative part (model, setting, recency half-life), layer weight, interest boost and
subtopic decay, and the event half-life of the next-interest view, are
chosen on the validation slice: the same protocol cut from the training
events (:func:`interest_pipeline.core.evaluation.splits.validation_split`), so no test event is read.

Where the test events hold impressions (a user's simultaneous views and clicks, as MIND imports
write them), each method also ranks every impression's candidates
(:mod:`interest_pipeline.core.evaluation.impressions`). Expansion precision scores the suggestions made from
training-period layers (:mod:`interest_pipeline.core.evaluation.expansion_holdout`).

Known leakage, so read the numbers as optimistic for the taxonomy-based methods:

- the taxonomy was clustered on all content, comments written after the split included, so
  subtopic boundaries and centroids have seen test-period texts; item-to-subtopic assignments
  are content-only but come from that same clustering;
- item embeddings depend on the item texts only (no behaviour), so they leak nothing;
- the number of K-Means segments is the number of topics of that same taxonomy;
- under per-user splits, popularity and the segments count other users' training events that
  may be later than a user's test events (the global cutoff has no such overlap).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from interest_pipeline.core.common.phases import PhaseCallback
from interest_pipeline.core.evaluation import blended_ranker as blended
from interest_pipeline.core.evaluation import collaborative, layered_collaborative, splits
from interest_pipeline.core.evaluation import scoring_methods as scoring
from interest_pipeline.core.evaluation.expansion_holdout import holdout_expansion_precision
from interest_pipeline.core.evaluation.impressions import (
    IMPRESSION_METRICS,
    impression_metrics,
    impressions_from_events,
)
from interest_pipeline.core.evaluation.interest_measures import (
    ACTIVITY_GROUPS,
    COVERAGE,
    INTEREST_K,
    INTEREST_MEASURES,
    activity_groups,
    item_subtopics,
    per_user_interest_measures,
)
from interest_pipeline.core.evaluation.metrics import (
    mean_or_nan,
    metric_names,
    paired_bootstrap,
    per_user_metrics_and_top_items,
)
from interest_pipeline.core.evaluation.scoring_methods import EvaluationParams, Taxonomy
from interest_pipeline.core.expansion.interest_expansion import ExpansionParams
from interest_pipeline.core.features.user_features import (
    DEFAULT_EVENT_WEIGHTS,
    Embeddings,
    TextEmbeddings,
    UserFeatureParams,
    UserHistory,
)

BLENDED = "blended_layers"
LAYERED = "layered_collaborative"
SHIPPED = LAYERED
METHODS: tuple[str, ...] = (
    LAYERED,
    BLENDED,
    "interest_layers",
    "mean_embedding",
    "kmeans_segments",
    "ease",
    "item_knn",
    "popularity",
    "random",
)
BASELINES: tuple[str, ...] = tuple(m for m in METHODS if m != SHIPPED)
USER_GROUPS: tuple[str, ...] = ("with_history", "cold_start")
EXPANSION_METHODS: tuple[str, ...] = (
    "interest_expansion",
    "expansion_without_model",
    "popular_subtopics",
    "random_subtopics",
)
EXPANSION_METRIC = "expansion_precision"
IMPRESSION_PREFIX = "impression_"  # impression_auc, impression_mrr, impression_ndcg@5, impression_ndcg@10
PAIRED_METRIC = "ndcg@10"
ACTIVITY_METRICS: tuple[str, ...] = (PAIRED_METRIC, COVERAGE)  # reported per activity group
NEXT_INTEREST_METHODS: dict[str, str] = {
    "recent": "next_interest_recent",
    "previous": "previous_category",
    "majority": "majority_category",
}
NEXT_INTEREST_LEVELS: tuple[str, ...] = ("topic", "subtopic")
TABLE_SCHEMA = {
    "method": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "user_group": pl.String,
    "protocol": pl.String,
    "reference_ts": pl.Datetime("us"),
    "n_users_scored": pl.Int64,
}


@dataclass(frozen=True)
class HoldoutData:
    """Everything the evaluation reads: events (event_id, user_id, item_id, event_type, event_ts),
    the users' texts, the items' embeddings and the taxonomy."""

    events: pl.DataFrame
    texts: TextEmbeddings
    items: Embeddings
    taxonomy: Taxonomy


@dataclass(frozen=True)
class Paired:
    """Mean per-user difference ``method - baseline`` of a metric, its 95% interval, and the users."""

    method: str
    baseline: str
    metric: str
    mean: float
    low: float
    high: float
    n_users: int


@dataclass(frozen=True)
class HoldoutResult:
    protocol: str
    reference_ts: dt.datetime  # the latest user boundary (the cutoff under global_cutoff)
    metrics: list[str]  # metric names, in table order
    rankings: dict[str, dict[str, dict[str, float]]]  # user group -> method -> metric -> value
    n_users: dict[str, int]  # user group -> users scored
    paired: list[Paired]
    tuning: blended.Tuning
    next_interest: dict[str, tuple[dict[str, float], int]]  # level -> (method -> Hit@1, users)
    next_interest_half_life: float
    next_interest_weighting: str  # event_type or equal: how the recent view weighs events
    expansion: dict[str, tuple[float, int]]  # method -> (expansion precision, users)
    takeup: dict[str, object]
    n_test_users: int
    n_impressions: int
    n_items: int
    n_train_events: int
    n_test_events: int
    n_kmeans_segments: int
    expansion_coverage: float  # share of scored users with history who got an expansion suggestion
    extra: dict[str, object] = field(default_factory=dict)
    # activity group (light, medium, heavy) -> method -> metric of ACTIVITY_METRICS -> value, of the users with history
    activity: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    n_activity_users: dict[str, int] = field(default_factory=dict)  # activity group -> users
    # training events (t1, t2) of the groups: light <= t1 < medium <= t2 < heavy
    activity_thresholds: tuple[float, float] = (float("nan"), float("nan"))
    # every setting of the shipped ranker as the validation slice chose it (what item_recommendations applies)
    shipped_settings: layered_collaborative.ShippedRankerSettings = field(
        default_factory=layered_collaborative.ShippedRankerSettings
    )

    @property
    def n_users_scored(self) -> int:
        return sum(self.n_users.values())

    def paired_to(self, baseline: str, method: str = SHIPPED, metric: str = PAIRED_METRIC) -> Paired | None:
        return next(
            (p for p in self.paired if p.method == method and p.baseline == baseline and p.metric == metric), None
        )

    def table(self) -> pl.DataFrame:
        """The long table: method, metric, value, user_group, protocol, reference_ts, n_users_scored (of the row's group)."""
        rows = [
            (m, k, self.rankings[g][m][k], g, self.n_users[g])
            for g in USER_GROUPS
            if self.n_users[g]
            for m in METHODS
            for k in self.metrics
            if k in self.rankings[g][m]
        ]
        for p in self.paired:
            name = f"{p.metric}_vs_{p.baseline}"
            rows += [
                (p.method, name, p.mean, "with_history", p.n_users),
                (p.method, name + "_ci_low", p.low, "with_history", p.n_users),
                (p.method, name + "_ci_high", p.high, "with_history", p.n_users),
            ]
        for level, (hits, n) in self.next_interest.items():
            rows += [(NEXT_INTEREST_METHODS[m], f"hit@1_{level}", v, "with_history", n) for m, v in hits.items()]
        rows += [
            (m, EXPANSION_METRIC, self.expansion[m][0], "with_history", self.expansion[m][1]) for m in EXPANSION_METHODS
        ]
        rows += [
            (m, k, self.activity[a][m][k], activity_group_name(a), self.n_activity_users[a])
            for a in ACTIVITY_GROUPS
            if self.n_activity_users.get(a)
            for m in METHODS
            for k in ACTIVITY_METRICS
        ]
        return pl.DataFrame(
            [(m, k, v, g, self.protocol, self.reference_ts, n) for m, k, v, g, n in rows],
            schema=TABLE_SCHEMA,
            orient="row",
        )

    def wide(self, group: str = "with_history") -> pl.DataFrame:
        """One row per ranking method of ``group``, one column per metric, and the paired nDCG@10
        difference to popularity with its interval, rounded for display."""
        out = []
        for m in METHODS:
            row = {"method": m, **{k: round(v, 4) for k, v in self.rankings[group][m].items()}}
            p = self.paired_to("popularity", m)
            if group == "with_history" and p is not None:
                row[f"{PAIRED_METRIC} vs popularity (95% CI)"] = f"{p.mean:+.4f} [{p.low:+.4f}, {p.high:+.4f}]"
            out.append(row)
        return pl.DataFrame(out)

    def by_activity(self) -> pl.DataFrame:
        """One row per ranking method, nDCG@10 and coverage@20 of each activity group (its users in the
        column name), rounded for display."""
        groups = [a for a in ACTIVITY_GROUPS if self.n_activity_users.get(a)]
        return pl.DataFrame(
            [
                {
                    "method": m,
                    **{
                        f"{k} {a} ({self.n_activity_users[a]} users)": round(self.activity[a][m][k], 4)
                        for a in groups
                        for k in ACTIVITY_METRICS
                    },
                }
                for m in METHODS
            ]
        )


def activity_group_name(group: str) -> str:
    """The user_group of an activity group's rows: light_history, medium_history, heavy_history."""
    return f"{group}_history"


# Users ranked at a time: ranking copies and sorts the users x items matrix several times, so a
# block keeps those copies small (5,000 users x 10,000 items would be 400 MB per copy).
METRIC_BLOCK_USERS = 1_000


def _metrics_in_blocks(
    scores: np.ndarray,
    relevant: np.ndarray,
    exclude: np.ndarray,
    ks,
    rows: np.ndarray,
    block_users: int = METRIC_BLOCK_USERS,
    score_rows: np.ndarray | None = None,
    item_subtopic: np.ndarray | None = None,
    n_subtopics: int = 0,
) -> dict[str, np.ndarray]:
    """``per_user_metrics`` of the ``rows`` (a mask over ``relevant``'s rows), a block of users at a
    time; the values are per user, so the blocks' values in order are the values of the whole.
    ``score_rows`` maps ``relevant``'s rows to ``scores``' rows (the same rows when None). With
    ``item_subtopic`` (each item's subtopic position, -1 for none), the interest measures too, from
    the same top items."""
    index = np.flatnonzero(rows)
    top_k = INTEREST_K if item_subtopic is not None else 0
    parts = []
    for start in range(0, len(index), block_users):
        block = index[start : start + block_users]
        scored = block if score_rows is None else score_rows[block]
        users, values, top_items = per_user_metrics_and_top_items(
            scores[scored], relevant[block], exclude[block], ks, top_k
        )
        if item_subtopic is not None:
            values |= per_user_interest_measures(
                top_items, relevant[block][users], exclude[block][users], item_subtopic, n_subtopics
            )
        parts.append(values)
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _method_metrics(
    scores, relevant, exclude, ks, has_history, score_rows, item_subtopic, n_subtopics
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray] | None]:
    """One method's mean metrics per user group, and the per-user values of the warm users."""
    means, warm_values = {}, None
    for group, rows in (("with_history", has_history), ("cold_start", ~has_history)):
        if not rows.any():
            means[group] = {name: float("nan") for name in metric_names(ks) + list(INTEREST_MEASURES)}
            continue
        values = _metrics_in_blocks(
            scores,
            relevant,
            exclude,
            ks,
            rows,
            score_rows=score_rows,
            item_subtopic=item_subtopic,
            n_subtopics=n_subtopics,
        )
        means[group] = {name: mean_or_nan(v) for name, v in values.items()}
        if group == "with_history":
            warm_values = values
    return means, warm_values


def _paired_intervals(
    warm_values: dict[str, np.ndarray],
    seed: int,
    resamples: int,
    metric: str = PAIRED_METRIC,
    pairs: list[tuple[str, str]] | None = None,
) -> list[Paired]:
    """Paired bootstrap intervals of a per-user metric (users where either value is NaN left out); by
    default every method against popularity and the shipped one against every other baseline."""
    if not warm_values:
        return []
    if pairs is None:
        pairs = [(m, "popularity") for m in METHODS if m != "popularity"] + [
            (SHIPPED, b) for b in BASELINES if b != "popularity"
        ]
    paired = []
    for method, baseline in pairs:
        a, b = warm_values[method], warm_values[baseline]
        mean, low, high = paired_bootstrap(a, b, resamples, seed)
        n_users = int((np.isfinite(a) & np.isfinite(b)).sum())
        paired.append(Paired(method, baseline, metric, mean, low, high, n_users))
    return paired


def _activity_means(
    warm_values: dict[str, dict[str, np.ndarray]], groups: np.ndarray
) -> dict[str, dict[str, dict[str, float]]]:
    """activity group -> method -> mean of each of ACTIVITY_METRICS over the group's warm users."""
    return {
        name: {
            m: {k: mean_or_nan(values[k][groups == g]) for k in ACTIVITY_METRICS} for m, values in warm_values.items()
        }
        for g, name in enumerate(ACTIVITY_GROUPS)
    }


def evaluate_holdout(
    data: HoldoutData,
    params: EvaluationParams = EvaluationParams(),
    expansion: ExpansionParams = ExpansionParams(),
    features: UserFeatureParams = UserFeatureParams(),
    grid: blended.BlendGrid = blended.BlendGrid(),
    on_phase: PhaseCallback | None = None,
) -> HoldoutResult:
    """Every method and metric on one hold-out (rules in the module docstring).

    ``expansion`` and ``features`` are the settings the expansion's suggestions and take-up
    models are built with (those of ``interest_expansion`` and ``fused_user_features``);
    ``grid`` the blended ranker's settings tried on the validation slice; ``on_phase`` hears of each
    finished phase (name, seconds, counts) as it ends.
    """
    phase_start = [time.perf_counter()]

    def phase_done(name: str, detail: str = "") -> None:
        now = time.perf_counter()
        if on_phase is not None:
            on_phase(name, now - phase_start[0], detail)
        phase_start[0] = now

    events, items = data.events, data.items
    if events.height == 0 or len(items.ids) == 0:
        raise ValueError("nothing to evaluate: no events or no item embeddings")
    ks = sorted({int(k) for k in params.ks} | {10})
    relevant_types = list(params.relevant_event_types)
    split = splits.split_events(events, params.split, relevant_types)
    train, test, reference_ts = split.train, split.test, split.reference_ts
    if test.height == 0:
        raise ValueError(f"the {params.protocol} split leaves no test events")
    test_users = set(
        test.filter(pl.col("event_type").is_in(relevant_types) & pl.col("item_id").is_not_null())["user_id"].to_list()
    )
    candidate_users = scoring.sample_users(test_users, params.max_users, params.seed)
    relevant = scoring.interaction_matrix(test, candidate_users, items.ids, relevant_types)
    exclude = scoring.interaction_matrix(train, candidate_users, items.ids)
    keep = (relevant & ~exclude).any(axis=1)
    user_ids = [u for u, k in zip(candidate_users, keep) if k]
    relevant, exclude = relevant[keep], exclude[keep]
    if not user_ids:
        raise ValueError(f"no user has a relevant new item in the test events of the {params.protocol} split")
    has_history = np.array(split.users_with_history(user_ids), dtype=bool)
    phase_done(
        "split",
        f"{params.protocol}: {train.height:,d} training and {test.height:,d} test events, {len(user_ids):,d} users to score",
    )

    # Tuning reads the training events only: the validation slice is cut from them.
    validation = splits.validation_split(train, params.split, relevant_types)
    weights = DEFAULT_EVENT_WEIGHTS
    tuning = blended.tune_blended_ranker(
        validation.train,
        validation.test,
        data.taxonomy,
        items,
        relevant_types,
        validation.reference_ts,
        grid,
        params.validation_max_users,
        params.seed,
        weights,
    )
    next_half_life, next_weighting, _ = blended.tune_event_half_life(
        validation.train,
        validation.test,
        data.taxonomy,
        relevant_types,
        validation.reference_ts,
        "topic",
        grid.event_half_lives,
        weights,
    )

    collaborative_tuning = collaborative.tune_on_validation(
        validation.train,
        validation.test,
        items.ids,
        relevant_types,
        blended.mean_ndcg,
        params.validation_max_users,
        params.seed,
    )

    layered_tuning = layered_collaborative.tune_on_validation(
        validation.train,
        validation.test,
        validation.reference_ts,
        blended.RankerInputs(validation.train, data.taxonomy, items, weights),
        tuning.best,
        collaborative_tuning,
        relevant_types,
        params.validation_max_users,
        params.seed,
    )

    shipped_choice = layered_tuning.collaborative_choice
    phase_done(
        "tuning on the validation slice",
        f"{tuning.n_validation_users:,d} validation users; EASE l2 {collaborative_tuning.ease_l2:g}, "
        f"item-kNN k {collaborative_tuning.knn_neighbours}; layered: {shipped_choice.model} ({shipped_choice.setting:g}, "
        f"recency half-life {shipped_choice.recency_half_life:g}), layer weight "
        f"{layered_tuning.best.layer_weight:g}, interest boost {layered_tuning.best.interest_boost:g}, subtopic decay "
        f"{layered_tuning.best.subtopic_decay:g}",
    )

    # Impressions are ranked for the users with history only, as the warm figures they join.
    impressions = impressions_from_events(test.filter(pl.col("item_id").is_in(items.ids)), relevant_types)
    impressions = impressions.join(train.select("user_id").unique(), on="user_id", how="semi")
    impression_users = scoring.sample_users(set(impressions["user_id"].to_list()), params.max_users, params.seed)
    impressions = impressions.filter(pl.col("user_id").is_in(impression_users))
    scored_users = sorted(set(user_ids) | set(impression_users))

    history = UserHistory(train, data.texts.before(reference_ts), items)
    centroids = data.taxonomy.centroids(items.dim)
    n_topics = data.taxonomy.n_topics
    # Segments are fitted on every training-period user (as the method would be in production) and
    # their popularity counts everyone's training events; only the evaluated users' rows are kept.
    segment_users = sorted(set(train["user_id"].to_list()) | set(scored_users))
    fitted_segments: list[np.ndarray] = []  # filled when the K-Means method is scored; the expansion's peers

    def kmeans_scores() -> np.ndarray:
        scores, segments = scoring.kmeans_segment_scores(
            history,
            segment_users,
            max(1, n_topics),
            params.train_behavior(weights),
            seed=params.seed,
            score_user_ids=scored_users,
            restarts=params.kmeans_restarts,
        )
        fitted_segments.append(segments)
        return scores

    # The collaborative baselines are fitted on every training-period user, like the segments.
    train_interactions = collaborative.implicit_matrix(train, segment_users, items.ids)
    segment_row = {u: i for i, u in enumerate(segment_users)}
    scored_interactions = train_interactions[[segment_row[u] for u in scored_users]]
    # One fitted model kept at a time (EASE's weights are items x items): the shipped ranker's
    # collaborative part and the baselines share it where their model and setting agree.
    fitted_model: dict[tuple[str, float], object] = {}

    def fitted(model: str, setting: float):
        if (model, setting) not in fitted_model:
            fitted_model.clear()
            fitted_model[(model, setting)] = collaborative.model_weights(model, train_interactions, setting)
        return fitted_model[(model, setting)]

    def collaborative_scores(model: str) -> np.ndarray:
        setting = collaborative_tuning.ease_l2 if model == "ease" else collaborative_tuning.knn_neighbours
        return collaborative.model_scores(model, scored_interactions, fitted(model, setting))

    def shipped_collaborative_scores() -> np.ndarray:
        history = collaborative.recency_weighted_matrix(
            train, scored_users, items.ids, shipped_choice.recency_half_life
        )
        return collaborative.model_scores(
            shipped_choice.model, history, fitted(shipped_choice.model, shipped_choice.setting)
        )

    # The layer ranker's scores serve its own method and the shipped one: computed by the first that
    # asks, handed to the second and then dropped (methods only read them: rows are copied to rank).
    layer_ranker_kept: list[np.ndarray] = []

    def layer_ranker_scores() -> np.ndarray:
        if layer_ranker_kept:
            return layer_ranker_kept.pop()
        scores = blended.blended_scores(
            blended.RankerInputs(train, data.taxonomy, items, weights), scored_users, reference_ts, tuning.best
        )
        layer_ranker_kept.append(scores)
        return scores

    # One method's users x items matrix at a time (each is scored users x 10,000 items at scale).
    score_methods = {
        BLENDED: layer_ranker_scores,
        LAYERED: lambda: layered_collaborative.mix(
            shipped_collaborative_scores(),
            layer_ranker_scores(),
            blended.subtopic_shares(
                blended.RankerInputs(train, data.taxonomy, items, weights), scored_users, reference_ts, tuning.best
            ),
            layered_collaborative.subtopic_columns(data.taxonomy, items.ids),
            layered_tuning.best,
            scored_interactions,
        ),
        "interest_layers": lambda: scoring.interest_layer_scores(
            train,
            data.taxonomy.content_topics,
            centroids,
            scored_users,
            items,
            params.train_layers(weights),
            params.membership_bonus,
        ),
        "mean_embedding": lambda: scoring.mean_embedding_scores(
            train, scored_users, items, params.train_behavior(weights)
        ),
        "kmeans_segments": kmeans_scores,
        "ease": lambda: collaborative_scores("ease"),
        "item_knn": lambda: collaborative_scores("item_knn"),
        "popularity": lambda: scoring.popularity_scores(train, scored_users, items.ids, weights),
        "random": lambda: scoring.random_scores(len(scored_users), len(items.ids), params.seed),
    }
    row_of = {u: i for i, u in enumerate(scored_users)}
    ranking_rows = np.array([row_of[u] for u in user_ids], dtype=np.int64)
    n_impressions = impressions["impression"].n_unique()
    if impressions.height:
        column_of = {item: j for j, item in enumerate(items.ids)}
        impression_rows = np.array([row_of[u] for u in impressions["user_id"]])
        impression_columns = np.array([column_of[i] for i in impressions["item_id"]])
    item_subtopic, subtopic_ids = item_subtopics(data.taxonomy.content_topics, items.ids)
    rankings: dict[str, dict[str, dict[str, float]]] = {group: {} for group in USER_GROUPS}
    warm_values: dict[str, dict[str, np.ndarray]] = {}
    for method in METHODS:
        scores = score_methods[method]()
        means, warm = _method_metrics(
            scores, relevant, exclude, ks, has_history, ranking_rows, item_subtopic, len(subtopic_ids)
        )
        for group in USER_GROUPS:
            rankings[group][method] = means[group]
        if warm is not None:
            warm_values[method] = warm
        if impressions.height:
            per_impression = impression_metrics(impressions, scores[impression_rows, impression_columns])
            rankings["with_history"][method].update({IMPRESSION_PREFIX + k: v for k, v in per_impression.items()})
        del scores
    paired = _paired_intervals(
        {m: v[PAIRED_METRIC] for m, v in warm_values.items()}, params.seed, params.bootstrap_resamples
    ) + _paired_intervals(
        {m: v[COVERAGE] for m, v in warm_values.items()},
        params.seed,
        params.bootstrap_resamples,
        COVERAGE,
        [(SHIPPED, b) for b in BASELINES],
    )
    n_users = {"with_history": int(has_history.sum()), "cold_start": int((~has_history).sum())}
    # The warm values follow the users with history in user_ids' order.
    train_events = dict(train.group_by("user_id").len().iter_rows())
    activity, thresholds = activity_groups(
        np.array([train_events[u] for u, h in zip(user_ids, has_history) if h], dtype=np.int64)
    )
    n_activity_users = {name: int((activity == g).sum()) for g, name in enumerate(ACTIVITY_GROUPS)}

    phase_done("ranking and scoring", f"{len(METHODS)} methods, {len(user_ids):,d} users, {len(items.ids):,d} items")
    warm_users = [u for u, h in zip(user_ids, has_history) if h]
    next_interest = {}
    for level in NEXT_INTEREST_LEVELS:
        predictions = blended.next_interest_predictions(
            train,
            data.taxonomy,
            reference_ts,
            level,
            next_half_life,
            blended.next_interest_weights(next_weighting, weights),
        )
        truth = blended.next_nodes(test, data.taxonomy, relevant_types, level).filter(
            pl.col("user_id").is_in(warm_users)
        )
        next_interest[level] = blended.next_interest_hits(predictions, truth)

    peer_segments = pl.DataFrame(
        {"user_id": segment_users, "segment": fitted_segments[0].astype(np.int64)},
        schema={"user_id": pl.String, "segment": pl.Int64},
    )
    expansion_scores, takeup = holdout_expansion_precision(
        history, test, reference_ts, data.taxonomy, peer_segments, warm_users, params, expansion, features
    )
    coverage = expansion_scores["interest_expansion"][1] / len(warm_users) if warm_users else float("nan")
    phase_done("next interest and expansion", f"{len(warm_users):,d} users with history")
    names = (
        metric_names(ks)
        + ([IMPRESSION_PREFIX + k for k in IMPRESSION_METRICS] if n_impressions else [])
        + list(INTEREST_MEASURES)
    )
    return HoldoutResult(
        protocol=params.protocol,
        reference_ts=reference_ts,
        metrics=names,
        rankings=rankings,
        n_users=n_users,
        paired=paired,
        tuning=tuning,
        next_interest=next_interest,
        next_interest_half_life=next_half_life,
        next_interest_weighting=next_weighting,
        expansion=expansion_scores,
        takeup=takeup,
        n_test_users=len(test_users),
        n_impressions=n_impressions,
        n_items=len(items.ids),
        n_train_events=train.height,
        n_test_events=test.height,
        n_kmeans_segments=n_topics,
        expansion_coverage=coverage,
        extra={
            "ease_l2": collaborative_tuning.ease_l2,
            "ease_validation_ndcg_at_10": collaborative_tuning.ease_validation_ndcg,
            "item_knn_neighbours": collaborative_tuning.knn_neighbours,
            "item_knn_validation_ndcg_at_10": collaborative_tuning.knn_validation_ndcg,
            "layered_model": layered_tuning.model,
            "layered_model_setting": shipped_choice.setting,
            "layered_recency_half_life": shipped_choice.recency_half_life,
            "layered_layer_weight": layered_tuning.best.layer_weight,
            "layered_interest_boost": layered_tuning.best.interest_boost,
            "layered_subtopic_decay": layered_tuning.best.subtopic_decay,
            "layered_validation_ndcg_at_10": layered_tuning.validation_ndcg,
        },
        activity=_activity_means(warm_values, activity),
        n_activity_users=n_activity_users,
        activity_thresholds=thresholds,
        shipped_settings=layered_collaborative.ShippedRankerSettings(tuning.best, shipped_choice, layered_tuning.best),
    )
