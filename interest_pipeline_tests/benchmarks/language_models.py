"""The two packaged models side by side: texts/s on the same texts, English and Chinese.

    python -m interest_pipeline_tests.benchmarks.language_models [--devdata DIR] [--texts 1000] [--rounds 3]

Texts: the cleaned English reviews and item texts of the bundled sample's generator and the
Chinese reviews of the bilingual sample (``chinese_comment_share`` 0.4), both generated once under
``data/benchmarks/language_models/`` (``--out``; ``--scale`` takes the users, items and days of a
benchmark scale instead of 1,000 / 600 / 20); with ``--devdata`` also the first texts of the English
(``news20``) and Chinese (``tnews_zh``, ``csl_zh``) development corpora, cut at 512 characters.
Every model encodes every set with the project's ``encode_texts`` once per round, the models in
alternating order round after round (a busy machine slows them alike); printed: the median texts/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from interest_pipeline.core.common.tokenize import tokenize_frame
from interest_pipeline.core.text import encoding
from interest_pipeline.core.text import models as embedding_models
from interest_pipeline.core.text.use_backend import PACKAGED_MULTILINGUAL_MODEL
from interest_pipeline.sample_data import SampleSpec, generate_sample
from interest_pipeline_tests.benchmarks.scales import SCALES

ROOT = Path("data/benchmarks/language_models")
MODELS = (embedding_models.PACKAGED_MODEL, PACKAGED_MULTILINGUAL_MODEL)
CORPORA = {"news20": "English posts", "tnews_zh": "Chinese headlines", "csl_zh": "Chinese abstracts"}


BILINGUAL_SPEC = SampleSpec(n_users=1000, n_items=600, n_days=20, chinese_comment_share=0.4)


def sample_sets(n: int, out: Path = ROOT, scale: str | None = None) -> dict[str, list[str]]:
    if scale is None:
        folder, spec = out / "bilingual_sample", BILINGUAL_SPEC
    else:
        folder = out / f"bilingual_{scale}"
        spec = dataclasses.replace(SCALES[scale].spec, chinese_comment_share=BILINGUAL_SPEC.chinese_comment_share)
    if not (folder / "truth").is_dir():
        generate_sample(folder, spec)
    events = pl.concat(
        [pl.read_csv(p, infer_schema=False) for p in sorted((folder / "events").glob("*.csv"))], how="diagonal"
    ).filter(pl.col("text").is_not_null())
    texts = tokenize_frame(events.unique("text", maintain_order=True), text_column="text")
    return {
        f"sample {language} reviews": texts.filter(pl.col("language") == language)["text_clean"].head(n).to_list()
        for language in ("en", "zh")
    }


def corpus_sets(devdata: Path, n: int) -> dict[str, list[str]]:
    sets = {}
    for name, what in CORPORA.items():
        path = devdata / name / "docs.jsonl"
        if path.exists():
            with path.open(encoding="utf-8") as lines:
                sets[f"{name} ({what})"] = [json.loads(line)["text"][:512] for _, line in zip(range(n), lines)]
    return sets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devdata", type=Path, help="folder of the converted development sets (optional)")
    parser.add_argument("--texts", type=int, default=1000, help="texts per set")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", choices=list(SCALES), help="generate the bilingual sample at a benchmark scale")
    parser.add_argument("--out", type=Path, default=ROOT, help="where the bilingual sample is generated (once)")
    args = parser.parse_args(argv)
    sets = sample_sets(args.texts, args.out, args.scale) | (
        corpus_sets(args.devdata, args.texts) if args.devdata else {}
    )
    encoders = {
        model: embedding_models.load_model(
            model, "cpu", 256, embedding_models.guarded_precision(model, "cpu", 256, "auto")
        )
        for model in MODELS
    }
    for encoder in encoders.values():
        encoding.encode_texts(encoder, ["warm up", "预热"])
    rates: dict[tuple[str, str], list[float]] = {}
    for round_number in range(args.rounds):
        order = MODELS if round_number % 2 == 0 else MODELS[::-1]
        for name, texts in sets.items():
            for model in order:
                start = time.perf_counter()
                encoding.encode_texts(encoders[model], texts)
                rates.setdefault((name, model), []).append(len(texts) / (time.perf_counter() - start))
    header = " | ".join(f"{m} ({encoders[m].precision}) texts/s" for m in MODELS)
    lines = [f"| set | texts | {header} | ratio |", "| --- | --- |" + " --- |" * (len(MODELS) + 1)]
    for name, texts in sets.items():
        medians = [float(np.median(rates[(name, m)])) for m in MODELS]
        lines.append(
            f"| {name} | {len(texts):,} | "
            + " | ".join(f"{r:,.0f}" for r in medians)
            + f" | {medians[1] / medians[0]:.2f} |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
