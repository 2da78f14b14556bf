"""Which languages a model reads, and the share of a corpus it cannot."""

import pytest

from interest_pipeline.core.text.languages import ALL_LANGUAGES, language_coverage, model_languages
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
