"""Which languages a model reads, and the share of a corpus it cannot."""

import numpy as np
import pytest

from interest_pipeline.core.text.languages import ALL_LANGUAGES, center_by_language, language_coverage, model_languages
from interest_pipeline.core.text.models import PACKAGED_MODEL


@pytest.mark.parametrize(
    "model, languages",
    [
        (PACKAGED_MODEL, {"en"}),
        ("", {"en"}),
        ("sentence-transformers/all-mpnet-base-v2", {"en"}),
        ("paraphrase-multilingual-MiniLM-L12-v2", ALL_LANGUAGES),
        ("/models/bge-small-zh-v1.5", ALL_LANGUAGES),
        ("sentence-transformers/LaBSE", ALL_LANGUAGES),
    ],
)
def test_the_languages_a_model_reads(model, languages):
    assert model_languages(model) == languages


def test_texts_without_letters_never_count_against_the_model():
    coverage = language_coverage({"en": 90, "zh": 8, "": 50}, frozenset({"en"}))
    assert coverage.texts == 98 and coverage.unread == {"zh": 8}
    assert coverage.unread_share == pytest.approx(8 / 98) and coverage.too_much_unread()


def test_a_few_percent_is_tolerated():
    assert not language_coverage({"en": 97, "zh": 3}, frozenset({"en"})).too_much_unread()
    assert not language_coverage({"en": 10, "zh": 90}, ALL_LANGUAGES).too_much_unread()
    assert language_coverage({}, frozenset({"en"})).unread_share == 0.0


def _bilingual_vectors(rng, n_per=40):
    """Two topics written in two languages; a strong direction per language, a weaker one per topic."""
    dimension = 32
    language_axis = {"en": rng.normal(size=dimension), "zh": rng.normal(size=dimension)}
    topic_axis = [rng.normal(size=dimension), rng.normal(size=dimension)]
    rows, languages, topics = [], [], []
    for lang in ("en", "zh"):
        for topic in (0, 1):
            for _ in range(n_per):
                rows.append(2.0 * language_axis[lang] + topic_axis[topic] + 0.3 * rng.normal(size=dimension))
                languages.append(lang)
                topics.append(topic)
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), languages, np.array(topics)


def test_centring_each_language_lets_texts_meet_their_topic_across_languages():
    vectors, languages, topics = _bilingual_vectors(np.random.default_rng(0))
    centred, which = center_by_language(vectors, languages)
    assert which == ["en", "zh"]
    np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1.0, rtol=1e-5)
    chinese, english = np.array(languages) == "zh", np.array(languages) == "en"

    def same_topic_share(v):
        nearest = np.argmax(v[chinese] @ v[english].T, axis=1)
        return float((topics[english][nearest] == topics[chinese]).mean())

    assert same_topic_share(centred) > 0.95
    # before, the language direction hides the topic from a clustering of everything
    from sklearn.cluster import KMeans

    before = KMeans(2, n_init=3, random_state=0).fit_predict(vectors)
    after = KMeans(2, n_init=3, random_state=0).fit_predict(centred)
    language_labels = (np.array(languages) == "zh").astype(int)
    assert abs(np.corrcoef(before, language_labels)[0, 1]) > 0.9
    assert abs(np.corrcoef(after, topics)[0, 1]) > 0.9


def test_one_language_or_a_small_second_one_is_left_as_it_is():
    vectors, languages, _ = _bilingual_vectors(np.random.default_rng(1))
    english_only = [lang for lang in languages if lang == "en"]
    english_vectors = vectors[: len(english_only)]
    kept, which = center_by_language(english_vectors, english_only)
    assert which == [] and kept is english_vectors
    few = ["en"] * 150 + ["zh"] * 4 + [""] * 6  # 2.5% Chinese, text without letters never counts
    _, which = center_by_language(vectors[:160], few)
    assert which == []
