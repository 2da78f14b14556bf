"""Embedding backends (float32, bf16, int8 ONNX), the automatic choice, length-sorted batches, progress."""

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest

from interest_pipeline.core.common import vectors
from interest_pipeline.core.text import encoding, int8_backend
from interest_pipeline.core.text import models as embedding_models
from interest_pipeline.core.text import precision as embedding_precision
from interest_pipeline.defs.resources import SentenceEmbedder

AVX2_CPU = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse sse2 avx fma avx2 bmi2\n"
BF16_CPU = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16\n"


def _real_sentences(sample, n: int = 30) -> list[str]:
    texts = pl.concat(
        [pl.read_csv(p, infer_schema=False).select("text") for p in sorted((sample / "events").glob("*.csv"))]
    )
    return (
        list(embedding_models.GUARD_SENTENCES)
        + texts["text"].drop_nulls().unique(maintain_order=True).head(n).to_list()
    )


@pytest.fixture(scope="module")
def float32_encoder():
    return embedding_models.load_model(embedding_models.PACKAGED_MODEL, "cpu", 256, "float32")


def test_auto_picks_float32_on_a_cpu_without_bf16_units(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(AVX2_CPU)
    flags = embedding_precision.cpu_flags(cpuinfo)
    assert "avx2" in flags and not flags & embedding_precision.BF16_CPU_FLAGS
    assert embedding_precision.choose_precision("auto", "cpu", flags) == "float32"
    cpuinfo.write_text(BF16_CPU)
    assert embedding_precision.choose_precision("auto", "cpu", embedding_precision.cpu_flags(cpuinfo)) == "bfloat16"
    assert embedding_precision.choose_precision("auto", "cuda", frozenset()) == "bfloat16"
    # an explicit precision is taken as asked, whatever the hardware
    assert embedding_precision.choose_precision("float32", "cpu", embedding_precision.cpu_flags(cpuinfo)) == "float32"
    assert embedding_precision.choose_precision("int8", "cpu", flags) == "int8"
    assert embedding_precision.cpu_flags(tmp_path / "absent") == frozenset()
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        embedding_precision.choose_precision("fp16", "cpu", flags)


def test_int8_vectors_stay_close_to_float32_on_real_sentences(small_sample, float32_encoder):
    """The quality guard of the int8 backend: every cosine to float32 at least 0.98."""
    texts = _real_sentences(small_sample)
    reference = encoding.encode_texts(float32_encoder, texts)
    int8 = encoding.encode_texts(
        embedding_models.load_model(embedding_models.PACKAGED_MODEL, "cpu", 256, "int8"), texts
    )
    assert int8.shape == reference.shape == (len(texts), 384) and int8.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, rtol=1e-5)
    lowest, mean = vectors.min_and_mean_cosine(reference, int8)
    assert len(texts) >= 40 and lowest >= embedding_models.MIN_COSINE_TO_FLOAT32 and mean >= 0.99, (lowest, mean)
    # int8 is approximate: vectors are close, not equal (a silent float32 fallback would give 1.0)
    assert mean < 0.99999


def test_int8_runs_short_texts_in_its_float32_graph_and_longer_ones_quantized(float32_encoder):
    int8 = embedding_models.load_model(embedding_models.PACKAGED_MODEL, "cpu", 256, "int8")
    short = ["Ok", "Excellent, thank you!", "great value", "tea"]
    long = [s for s in embedding_models.GUARD_SENTENCES if len(s) > 60]
    lengths = encoding.token_lengths(int8.tokenizer, short + long, 256)
    assert (lengths[: len(short)] < int8.float32_below_tokens).all() and (
        lengths[len(short) :] >= int8.float32_below_tokens
    ).all()
    mixed = encoding.encode_texts(
        int8, short + long, batch_size=64, max_batch_tokens=None
    )  # one batch holding both kinds
    reference = encoding.encode_texts(float32_encoder, short + long)
    cosine = (mixed * reference).sum(axis=1)
    assert (cosine[: len(short)] > 0.99999).all(), cosine  # float32: torch's vectors to rounding
    assert (cosine[len(short) :] < 0.99999).all() and (
        cosine[len(short) :] >= embedding_models.MIN_COSINE_TO_FLOAT32
    ).all(), cosine
    # a text's vector does not depend on what it is batched with
    alone = np.vstack([encoding.encode_texts(int8, [t]) for t in short + long])
    np.testing.assert_allclose(mixed, alone, atol=2e-5)


def test_length_sorted_batches_give_each_text_its_own_vector_in_input_order(float32_encoder):
    texts = [
        "ok",
        "a fairly long review about the blender, which crushes ice but is loud",
        "tea",
        "running shoes for trails",
        "",
    ]
    lengths = encoding.token_lengths(float32_encoder.tokenizer, texts)
    batches = encoding.length_sorted_batches(lengths, batch_size=2)
    assert [len(b) for b in batches] == [2, 2, 1] and sorted(np.concatenate(batches).tolist()) == list(
        range(len(texts))
    )
    assert lengths[batches[0][0]] == lengths.max() and lengths[batches[-1][0]] == lengths.min()
    together = encoding.encode_texts(float32_encoder, texts, batch_size=2)
    alone = np.vstack([encoding.encode_texts(float32_encoder, [t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-5)
    assert np.argmax(together @ alone[3]) == 3


def test_batches_hold_at_most_the_token_budget_and_short_texts_fill_them():
    lengths = np.array([256, 10, 256, 40, 12, 300, 9] + [20] * 100)
    batches = encoding.length_sorted_batches(lengths, batch_size=64, max_batch_tokens=512)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    widths = [int(lengths[b].max()) * len(b) for b in batches]
    assert [len(b) for b in batches][:3] == [
        1,
        2,
        12,
    ]  # 300 alone (over the budget: still one text), 2 x 256, then 12 padded to 40
    assert all(w <= 512 for w in widths[1:]) and max(len(b) for b in batches) <= 64
    assert encoding.length_sorted_batches(lengths, batch_size=64, max_batch_tokens=None)[0].size == 64


def test_progress_is_reported_after_each_batch(float32_encoder):
    calls = []
    texts = [f"sentence number {i} about shoes" for i in range(7)]
    encoding.encode_texts(
        float32_encoder, texts, batch_size=3, progress=lambda done, total, s: calls.append((done, total))
    )
    assert calls == [(3, 7), (6, 7), (7, 7)]
    assert encoding.format_progress(2048, 5601, 2048 / 210) == "2,048 / 5,601 texts, 210/s"


def _torch_threads_of_a_new_thread() -> int:
    """torch's thread count as a thread started now gets it (the workers' setting of one thread
    would leak there, not into the calling thread)."""
    import torch

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(torch.get_num_threads).result()


def test_parallel_batches_give_the_same_vectors_in_order_and_leave_torch_threads_as_they_were(
    small_sample, float32_encoder
):
    import torch

    class RecordsItsThreads:
        """The real encoder; notes the thread each batch runs in and that thread's torch threads."""

        tokenizer, max_seq_length, dimension = (
            float32_encoder.tokenizer,
            float32_encoder.max_seq_length,
            float32_encoder.dimension,
        )
        seen = set()

        def embed_batch(self, texts):
            self.seen.add((threading.current_thread().name, torch.get_num_threads()))
            return float32_encoder.embed_batch(texts)

    texts = _real_sentences(small_sample, n=60)
    threads = torch.get_num_threads()
    calls = []
    one_at_a_time = encoding.encode_texts(float32_encoder, texts, batch_size=8, parallel=1)
    encoder = RecordsItsThreads()
    three_at_once = encoding.encode_texts(
        encoder, texts, batch_size=8, parallel=3, progress=lambda done, total, s: calls.append(done)
    )
    names = {name for name, _ in encoder.seen}
    assert len(names) == 3 and all(name.startswith("encode") for name in names), (
        encoder.seen
    )  # three workers ran batches
    assert {n for _, n in encoder.seen} == {1}  # each on one torch thread
    # a batch on one torch thread gives the numbers of the same batch on several, up to float32
    # rounding (the BLAS may order its sums by the thread count): the vectors do not depend on it
    np.testing.assert_allclose(three_at_once, one_at_a_time, atol=1e-6)
    assert calls == sorted(calls) and calls[-1] == len(texts) and len(calls) == -(-len(texts) // 8)
    assert torch.get_num_threads() == threads and _torch_threads_of_a_new_thread() == threads
    assert float32_encoder.parallel_batches() == threads  # on the CPU: one batch per torch thread


def test_a_failing_batch_stops_a_parallel_encode_and_restores_torch_threads(float32_encoder):
    import torch

    class FailsOnOneText:
        """The real encoder, with a fault that real texts do not produce (a batch that raises)."""

        tokenizer, max_seq_length, dimension, parallel_batches = (
            float32_encoder.tokenizer,
            float32_encoder.max_seq_length,
            float32_encoder.dimension,
            float32_encoder.parallel_batches,
        )
        batches = []

        def embed_batch(self, texts):
            self.batches.append(len(texts))
            if any(t.startswith("broken") for t in texts):
                raise RuntimeError("out of memory in this batch")
            return float32_encoder.embed_batch(texts)

    threads = torch.get_num_threads()
    # the longest text, so its batch is the first (batches run longest first)
    texts = [f"review number {i} of a pair of shoes, comfortable and light" for i in range(200)] + [
        "broken " + "very " * 40 + "long"
    ]
    encoder = FailsOnOneText()
    with pytest.raises(RuntimeError, match="out of memory in this batch"):
        encoding.encode_texts(encoder, texts, batch_size=4, parallel=2)
    assert torch.get_num_threads() == threads and _torch_threads_of_a_new_thread() == threads
    assert sum(encoder.batches) < len(texts)  # the batches not yet started were dropped


def test_embed_batch_equals_the_models_encode_with_its_default_prompt(small_sample):
    """``embed_batch`` runs the model's own preprocessing and forward pass: the vectors of
    ``SentenceTransformer.encode``, a configured default prompt included."""
    from sentence_transformers import SentenceTransformer

    texts = _real_sentences(small_sample, n=10)
    path = embedding_models.resolve_model_path(embedding_models.PACKAGED_MODEL)
    for prompts in ({}, {"query": "query: "}):
        model = SentenceTransformer(path, device="cpu", prompts=prompts, default_prompt_name=next(iter(prompts), None))
        encoder = embedding_models.TorchEncoder(model, "float32")
        np.testing.assert_allclose(encoder.embed_batch(texts), model.encode(texts, batch_size=len(texts)), atol=2e-6)
    plain = embedding_models.TorchEncoder(SentenceTransformer(path, device="cpu"), "float32").embed_batch(texts)
    assert np.abs(plain - encoder.embed_batch(texts)).max() > 1e-3  # the prompt made a difference
    shortened = SentenceTransformer(path, device="cpu", truncate_dim=128)
    vectors = encoding.encode_texts(embedding_models.TorchEncoder(shortened, "float32"), texts)
    assert vectors.shape == (len(texts), 128)
    np.testing.assert_allclose(vectors, shortened.encode(texts, normalize_embeddings=True), atol=2e-6)


def test_progress_logger_writes_the_first_and_last_batch_and_at_most_one_line_per_interval():
    lines, now = [], [0.0]
    report = encoding.progress_logger(lines.append, min_interval_s=5.0, clock=lambda: now[0])
    for done, at in [(64, 1.0), (128, 2.0), (192, 6.5), (256, 7.0), (300, 7.5)]:
        now[0] = at
        report(done, 300, at)
    assert lines == ["64 / 300 texts, 64/s", "192 / 300 texts, 30/s", "300 / 300 texts, 40/s"]


def test_cache_keys_keep_backends_apart():
    keys = {
        p: SentenceEmbedder(model=embedding_models.PACKAGED_MODEL, device="cpu", precision=p).cache_key()
        for p in ("float32", "bfloat16", "int8")
    }
    assert len(set(keys.values())) == 3, keys
    assert "precision" not in keys["float32"]  # float32 keeps the key caches were written with
    # int8's key names its quantization recipe: another recipe never reuses its vectors
    recipe = embedding_precision.precision_key("int8")
    assert (
        keys["int8"].endswith(recipe)
        and recipe.startswith("|precision=int8-")
        and len(recipe) == len("|precision=int8-") + 8
    )
    auto = SentenceEmbedder(model=embedding_models.PACKAGED_MODEL, device="cpu", precision="auto")
    assert auto.cache_key() == keys[auto.resolved_precision()]


def test_int8_cache_folder_follows_the_model_files(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    first = int8_backend.int8_cache_folder(model, tmp_path / "cache")
    assert first == int8_backend.int8_cache_folder(model, tmp_path / "cache")
    (model / "config.json").write_text('{"hidden_size": 8}')
    os.utime(model / "config.json", ns=(1, 1))
    assert int8_backend.int8_cache_folder(model, tmp_path / "cache") != first
    assert first.parent == tmp_path / "cache"


def test_int8_refuses_a_model_without_mean_pooling(tmp_path):
    model = tmp_path / "cls-model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            ]
        )
    )
    (model / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    with pytest.raises(ValueError, match="1_Pooling/config.json: the int8 backend supports mean pooling only"):
        int8_backend.load_int8_model(str(model), 256, str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="needs a local model folder"):
        int8_backend.load_int8_model(str(tmp_path / "nowhere"), 256, str(tmp_path / "cache"))
