"""The packaged model, loaded offline, and the DuckDB embedding cache."""

import duckdb
import numpy as np
import pytest

from interest_pipeline.core.text.models import PACKAGED_MODEL
from interest_pipeline.defs.resources import SentenceEmbedder
from interest_pipeline.defs.warehouse import embed_with_cache, embedding_model_key


@pytest.fixture(scope="module")
def embedder():
    return SentenceEmbedder(model=PACKAGED_MODEL, device="cpu")


def test_packaged_model_gives_unit_vectors_that_reflect_meaning(embedder):
    vectors = embedder.encode(["trail running shoes", "lightweight shoes for running", "espresso coffee machine"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_each_distinct_text_is_embedded_once_ever(tmp_path, embedder):
    calls = []

    def counting_encode(texts):
        calls.append(list(texts))
        return embedder.encode(texts)

    texts = ["red tennis racket", "blue yoga mat", "red tennis racket", "", "我很喜欢这款跑步鞋"]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        first = embed_with_cache(conn, texts, embedder.cache_key(), counting_encode)
        assert first.n_distinct == 4 and first.n_embedded == 4 and first.n_from_cache == 0
        assert first.vectors.shape == (5, 384)
        np.testing.assert_array_equal(first.vectors[0], first.vectors[2])

        second = embed_with_cache(
            conn, ["blue yoga mat", "green kettle", "red tennis racket"], embedder.cache_key(), counting_encode
        )
        assert second.n_embedded == 1 and second.n_from_cache == 2
        np.testing.assert_allclose(second.vectors[0], first.vectors[1], rtol=1e-6)
        assert calls[-1] == ["green kettle"]

        other_model = embed_with_cache(conn, ["blue yoga mat"], "another-model", counting_encode)
        assert other_model.n_embedded == 1  # the cache is keyed by model too
        assert conn.execute("SELECT count(*) FROM embedding_cache").fetchone()[0] == 6


def test_cache_key_changes_with_truncation():
    assert (
        SentenceEmbedder(model=PACKAGED_MODEL, max_seq_length=128).cache_key()
        != SentenceEmbedder(model=PACKAGED_MODEL, max_seq_length=256).cache_key()
    )


def test_no_texts_gives_an_empty_result(tmp_path, embedder):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        outcome = embed_with_cache(conn, [], embedder.cache_key(), embedder.encode)
    assert outcome.vectors.shape[0] == 0 and outcome.n_embedded == 0 and outcome.n_distinct == 0


def test_bfloat16_embeddings_stay_close_to_float32(small_sample):
    """The quality guard of the faster precision: mean cosine to float32 at least 0.98."""
    import polars as pl

    texts = (
        pl.concat(
            [pl.read_csv(p, infer_schema=False).select("text") for p in sorted((small_sample / "events").glob("*.csv"))]
        )["text"]
        .drop_nulls()
        .unique(maintain_order=True)
        .head(48)
        .to_list()
    )  # bf16 is emulated (slow) on CPUs without bf16 units
    reference = SentenceEmbedder(model=PACKAGED_MODEL, device="cpu", precision="float32").encode(
        texts
    )  # auto is bf16 on a CPU with bf16 units
    fast = SentenceEmbedder(model=PACKAGED_MODEL, device="cpu", precision="bfloat16").encode(texts)
    cosine = (reference * fast).sum(axis=1)
    assert len(texts) >= 40
    assert cosine.mean() >= 0.98 and cosine.min() >= 0.9, (cosine.mean(), cosine.min())
    assert (
        SentenceEmbedder(model=PACKAGED_MODEL, precision="bfloat16").cache_key()
        != SentenceEmbedder(model=PACKAGED_MODEL, precision="float32").cache_key()
    )


def test_embeddings_of_two_models_are_never_clustered_together(tmp_path):
    import polars as pl

    from interest_pipeline.defs.incremental import find_changes, store_changes

    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        for table, model in (
            ("item_embeddings", "packaged:all-MiniLM-L6-v2|max_seq_length=256"),
            ("comment_embeddings", "packaged:multilingual-use-v3|max_seq_length=256"),
        ):
            rows = pl.DataFrame({"key": ["a"], "embedding": [[1.0]]})
            fingerprints = pl.DataFrame({"key": ["a"], "fingerprint": [1]})
            store_changes(conn, find_changes(conn, table, fingerprints, {}), rows, "key", parameters={"model": model})
        with pytest.raises(
            ValueError,
            match="two models .*item_embeddings with packaged:all-MiniLM.*comment_embeddings with packaged:multilingual",
        ):
            embedding_model_key(conn)
        store_changes(
            conn, find_changes(conn, "item_embeddings", fingerprints, {}), rows, "key", parameters={"model": model}
        )
        assert embedding_model_key(conn) == model
