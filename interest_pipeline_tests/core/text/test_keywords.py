import math
import time

import numpy as np
import pytest

from interest_pipeline.core.text.keywords import class_tfidf_keywords, format_label, is_filler


def _expected_scores(class_docs: dict) -> dict:
    """c-TF-IDF written out directly from the formula, for comparison."""
    counts = {}
    for label, docs in class_docs.items():
        class_counts = {}
        for doc in docs:
            for term in doc:
                class_counts[term] = class_counts.get(term, 0) + 1
        counts[label] = class_counts
    totals = {label: sum(c.values()) for label, c in counts.items()}
    average = sum(totals.values()) / len(totals)
    frequency = {}
    for class_counts in counts.values():
        for term, n in class_counts.items():
            frequency[term] = frequency.get(term, 0) + n
    return {
        label: {term: (n / totals[label]) * math.log(1 + average / frequency[term]) for term, n in class_counts.items()}
        for label, class_counts in counts.items()
    }


def test_matches_hand_computed_example():
    tokens = [["a", "a"], ["b"], ["b", "c"]]
    labels = [0, 0, 1]
    result = class_tfidf_keywords(tokens, labels, top_n=10)

    # Class 0: a=2, b=1 (3 terms); class 1: b=1, c=1 (2 terms).
    # A = (3 + 2) / 2 = 2.5; f_a = 2, f_b = 2, f_c = 1.
    average = 2.5
    score_0a = 2 / 3 * math.log(1 + average / 2)
    score_0b = 1 / 3 * math.log(1 + average / 2)
    score_1c = 1 / 2 * math.log(1 + average / 1)
    score_1b = 1 / 2 * math.log(1 + average / 2)

    assert [t for t, _ in result[0]] == ["a", "b"]
    assert [t for t, _ in result[1]] == ["c", "b"]
    assert result[0][0][1] == pytest.approx(score_0a)
    assert result[0][1][1] == pytest.approx(score_0b)
    assert result[1][0][1] == pytest.approx(score_1c)
    assert result[1][1][1] == pytest.approx(score_1b)


def test_matches_formula_on_random_corpus():
    rng = np.random.default_rng(3)
    vocab = [f"t{i}" for i in range(30)]
    tokens = [list(rng.choice(vocab, size=rng.integers(0, 8))) for _ in range(200)]
    labels = list(rng.integers(0, 5, size=200))
    expected = _expected_scores(
        {label: [doc for doc, lab in zip(tokens, labels) if lab == label] for label in set(labels)}
    )
    result = class_tfidf_keywords(tokens, labels, top_n=100, exclude_labels=())
    assert set(result) == set(expected)
    for label, keywords in result.items():
        assert dict(keywords) == pytest.approx(expected[label])


def test_distinct_vocabularies_get_their_own_words():
    tokens = [
        ["running", "trail", "shoes", "good"],
        ["running", "marathon", "shoes", "good"],
        ["coffee", "espresso", "beans", "good"],
        ["coffee", "latte", "beans", "good"],
        ["camera", "lens", "photo", "good"],
        ["camera", "lens", "zoom", "good"],
    ]
    labels = ["sport", "sport", "coffee", "coffee", "photo", "photo"]
    result = class_tfidf_keywords(tokens, labels, top_n=2)
    assert {t for t, _ in result["sport"]} == {"running", "shoes"}
    assert {t for t, _ in result["coffee"]} == {"coffee", "beans"}
    assert {t for t, _ in result["photo"]} == {"camera", "lens"}


def test_shared_word_scores_lower_than_class_specific_word():
    # "good" occurs as often as "running" inside class 0 but also everywhere else.
    tokens = [["running", "good"], ["running", "good"], ["coffee", "good"], ["camera", "good"]]
    labels = [0, 0, 1, 2]
    scores = dict(class_tfidf_keywords(tokens, labels, top_n=10)[0])
    assert scores["running"] > scores["good"]
    assert [t for t, _ in class_tfidf_keywords(tokens, labels, top_n=1)[0]] == ["running"]


def test_noise_label_excluded_from_output_and_statistics():
    clean_tokens = [["running", "shoes"], ["coffee", "beans"], ["coffee", "shoes"]]
    clean_labels = [0, 1, 1]
    noise_tokens = [["shoes", "shoes", "noise"], ["coffee", "spam"]]
    with_noise = class_tfidf_keywords(clean_tokens + noise_tokens, clean_labels + [-1, -1], top_n=10)
    without_noise = class_tfidf_keywords(clean_tokens, clean_labels, top_n=10)

    assert -1 not in with_noise
    assert with_noise == without_noise
    assert all(t not in ("noise", "spam") for kws in with_noise.values() for t, _ in kws)


def test_custom_exclude_labels_and_including_noise():
    tokens = [["a", "b"], ["c", "d"], ["e", "f"]]
    labels = ["x", "y", "-1"]
    assert set(class_tfidf_keywords(tokens, labels, exclude_labels={"x"})) == {"y", "-1"}
    assert set(class_tfidf_keywords(tokens, [0, 1, -1], exclude_labels=())) == {-1, 0, 1}


def test_ties_are_broken_alphabetically_and_order_is_deterministic():
    tokens = [["zeta", "alpha", "mid"], ["other"]]
    labels = [0, 1]
    first = class_tfidf_keywords(tokens, labels)
    assert [t for t, _ in first[0]] == ["alpha", "mid", "zeta"]
    # Input order of tokens or documents must not change the result.
    shuffled = class_tfidf_keywords([["other"], ["mid", "zeta", "alpha"]], [1, 0])
    assert shuffled == first
    scores = [s for _, s in first[0]]
    assert scores == sorted(scores, reverse=True)


def test_results_sorted_by_score_descending():
    tokens = [["a"] * 5 + ["b"] * 3 + ["c"], ["d"]]
    result = class_tfidf_keywords(tokens, [0, 1], top_n=3)
    assert [t for t, _ in result[0]] == ["a", "b", "c"]
    assert result[0][0][1] > result[0][1][1] > result[0][2][1]


def test_top_n_limits_output():
    tokens = [["a", "b", "c", "d", "e", "f", "g"]]
    assert len(class_tfidf_keywords(tokens, [0], top_n=3)[0]) == 3
    assert class_tfidf_keywords(tokens, [0], top_n=0) == {0: []}
    with pytest.raises(ValueError):
        class_tfidf_keywords(tokens, [0], top_n=-1)


def test_empty_inputs_and_classes_without_tokens():
    assert class_tfidf_keywords([], []) == {}
    assert class_tfidf_keywords([[], []], [0, 1]) == {0: [], 1: []}
    assert class_tfidf_keywords([["x"]], [-1]) == {}
    result = class_tfidf_keywords([["shoes"], [], None], [0, 1, 1])
    assert result[1] == []
    assert [t for t, _ in result[0]] == ["shoes"]


def test_length_mismatch_and_plain_strings_rejected():
    with pytest.raises(ValueError):
        class_tfidf_keywords([["a"]], [0, 1])
    with pytest.raises(TypeError):
        class_tfidf_keywords(["not tokenized"], [0])


def test_numpy_labels_become_python_keys():
    result = class_tfidf_keywords([["a"], ["b"]], np.array([3, 5]))
    assert list(result) == [3, 5]
    assert all(type(k) is int for k in result)
    assert all(type(s) is float and type(t) is str for kws in result.values() for t, s in kws)


def test_scales_to_200k_documents():
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(5000)])
    n_docs = 200_000
    labels = rng.integers(-1, 50, n_docs)
    ids = rng.integers(0, 5000, size=(n_docs, 10))
    tokens = [list(row) for row in vocab[ids]]
    start = time.perf_counter()
    result = class_tfidf_keywords(tokens, labels, top_n=5)
    elapsed = time.perf_counter() - start
    assert len(result) == 50
    assert all(len(kws) == 5 for kws in result.values())
    assert elapsed < 30.0


@pytest.mark.parametrize(
    ("keywords", "n", "expected"),
    [
        ([("running", 0.5), ("trail", 0.4), ("shoes", 0.3), ("socks", 0.1)], 3, "running / trail / shoes"),
        ([("running", 0.5), ("trail", 0.4)], 3, "running / trail"),
        ([("running", 0.5), ("trail", 0.4)], 1, "running"),
        ([], 3, ""),
        ([("running", 0.5)], 0, ""),
    ],
)
def test_format_label(keywords, n, expected):
    assert format_label(keywords, n=n) == expected


def test_filler_numbers_and_words_common_to_most_classes_are_never_keywords():
    tokens = [
        ["genres", "said", "2009", "trail", "shoes", "common"],
        ["genres", "said", "150", "espresso", "grinder", "common"],
        ["genres", "new", "10", "tent", "pegs", "common"],
        ["genres", "new", "3000", "yoga", "mat", "rare"],
    ]
    labels = [0, 1, 2, 3]
    plain = class_tfidf_keywords(tokens, labels, top_n=6)
    assert any(term in ("genres", "said", "common") for term, _ in plain[0])  # without the filters they surface
    filtered = class_tfidf_keywords(tokens, labels, top_n=6, max_class_share=0.5, drop_filler=True)
    for label, keywords in filtered.items():
        terms = {term for term, _ in keywords}
        assert not terms & {"genres", "said", "new", "common", "2009", "150", "10", "3000"}, (label, terms)
    assert {t for t, _ in filtered[0]} == {"trail", "shoes"}
    assert "rare" in {t for t, _ in filtered[3]}  # in one class of four: kept


@pytest.mark.parametrize(
    "term, filler",
    [("said", True), ("Genres", True), ("2009-2013", True), ("4.5", True), ("10k", False), ("tennis", False)],
)
def test_is_filler(term, filler):
    assert is_filler(term) is filler


def test_chinese_filler_is_never_a_keyword():
    # Reviews of two product kinds: the praise and buying words are the most frequent in both.
    tokens = [
        ["好", "不错", "买", "手机", "屏幕"],
        ["好", "不错", "商品", "手机", "电池"],
        ["好", "降价", "刚买", "洗发水", "头发"],
        ["不错", "买", "物流", "洗发水", "香味"],
    ]
    labels = [0, 0, 1, 1]
    plain = class_tfidf_keywords(tokens, labels, top_n=3)
    assert any(term in ("好", "不错", "买") for keywords in plain.values() for term, _ in keywords)
    filtered = class_tfidf_keywords(tokens, labels, top_n=3, drop_filler=True)
    terms = {term for keywords in filtered.values() for term, _ in keywords}
    assert not terms & {"好", "不错", "买", "商品", "降价", "刚买", "物流"}
    assert {"手机", "洗发水"} <= terms
