"""The int8 backend: the model exported once to ONNX (``torch.onnx.export``), quantized with
``onnxruntime.quantization.quantize_dynamic`` (per-channel int8 weights) and run by onnxruntime;
short texts run through the exported float32 graph (see :data:`INT8_QUANTIZATION`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

# How the int8 model is made; part of its cache folder's key and of the vectors' cache key.
# - Weights per channel, 7-bit (reduce_range: AVX2 without VNNI saturates u8 x s8 products).
# - The feed-forward down-projections (BERT's ``output.dense``, not ``attention.output.dense``) stay
#   float32: their inputs, after GELU, carry the outliers that per-tensor activation scales lose.
#   On 4,000 comments of the large benchmark this lifted the mean cosine to float32 from 0.9934
#   (the old rule, layer 0 in float32) to 0.9952.
# - Texts under ``float32_below_tokens`` word pieces run through the exported float32 graph: the
#   lowest cosines of int8 were all on such texts ("Ok", "Excellent, thank you!": 0.966-0.973),
#   which are a few percent of the work. With the whole recipe (and one text per int8 call, see
#   ``OnnxInt8Encoder.embed_batch``) the lowest cosine on 4,600 texts of the large benchmark is 0.9898.
INT8_QUANTIZATION = {
    "weight_type": "QInt8",
    "per_channel": True,
    "reduce_range": True,
    "op_types_to_quantize": ["MatMul"],
    "float32_matmuls": r"(?<!attention)/output/dense/MatMul$",
    "float32_below_tokens": 12,
    "opset": 17,
}


ONNX_CACHE_VARIABLE = "INTEREST_PIPELINE_ONNX_CACHE"


def onnxruntime_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


@dataclasses.dataclass
class OnnxInt8Encoder:
    """The int8-quantized ONNX export of a mean-pooling sentence-transformers model; texts shorter
    than ``float32_below_tokens`` word pieces go through the exported float32 graph instead."""

    session: object  # onnxruntime.InferenceSession of the int8 graph
    float32_session: object  # the same export before quantization
    tokenizer: object
    max_seq_length: int
    input_names: tuple[str, ...]
    dim: int
    float32_below_tokens: int = INT8_QUANTIZATION["float32_below_tokens"]
    precision: str = "int8"

    def dimension(self) -> int:
        return self.dim

    def parallel_batches(self) -> int:
        return 1  # onnxruntime spreads one batch over the cores itself

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        features = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np"
        )
        inputs = {name: features[name].astype(np.int64) for name in self.input_names}
        lengths = features["attention_mask"].sum(axis=1)
        short = np.flatnonzero(lengths < self.float32_below_tokens)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if short.size:
            width = int(lengths[short].max())  # padding is on the right: drop the columns these rows do not use
            out[short] = self.float32_session.run(
                None, {name: values[short, :width] for name, values in inputs.items()}
            )[0]
        # One text per int8 call: dynamic quantization scales the activations of the whole input
        # tensor, so in a batch a text's vector would depend on its neighbours (cosine to the same
        # text alone down to 0.984 on the large benchmark's comments), and the cache would keep
        # whichever batch a text happened to be in.
        for row in np.flatnonzero(lengths >= self.float32_below_tokens):
            width = int(lengths[row])
            out[row] = self.session.run(None, {name: values[row : row + 1, :width] for name, values in inputs.items()})[
                0
            ][0]
        return out


def _check_mean_pooling(model_dir: Path) -> None:
    """The ONNX graph does the mean pooling itself: refuse models whose modules say otherwise."""
    modules = json.loads((model_dir / "modules.json").read_text()) if (model_dir / "modules.json").exists() else []
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
        raise ValueError(
            f"{model_dir}/modules.json: the int8 backend supports Transformer + mean Pooling (+ Normalize), found {kinds}"
        )
    pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
    pooling = json.loads((model_dir / pooling_dir / "config.json").read_text())
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True)
    if modes != ["pooling_mode_mean_tokens"]:
        raise ValueError(
            f"{model_dir / pooling_dir}/config.json: the int8 backend supports mean pooling only, found {modes}"
        )


def int8_cache_folder(model_dir: Path, cache_root: Path | None = None) -> Path:
    """Where the int8 model of ``model_dir`` is kept: keyed by the model folder (path, file sizes and
    times), the versions of the exporting and running libraries, and the quantization settings."""
    import onnx
    import onnxruntime
    import torch
    import transformers

    files = sorted(
        (p.relative_to(model_dir).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
        for p in model_dir.rglob("*")
        if p.is_file()
    )
    key = {
        "model": str(model_dir.resolve()),
        "files": files,
        "quantization": INT8_QUANTIZATION,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    root = cache_root or Path(
        os.environ.get(ONNX_CACHE_VARIABLE) or Path.home() / ".cache" / "interest_pipeline" / "onnx"
    )
    return root / f"{model_dir.parent.name}-{model_dir.name}-{digest}"


def export_int8_model(model_dir: Path, folder: Path) -> Path:
    """Export the model (transformer + mean pooling) to ONNX and quantize it; returns the model file.

    Written to a temporary folder first and renamed into place, so concurrent runs never read a
    half-written model; re-running finds the folder and does nothing.
    """
    target = folder / "model_int8.onnx"
    if target.exists():  # the folder is renamed into place whole: its float32 graph is there too
        return target
    _check_mean_pooling(model_dir)
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    transformer = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    names = tuple(tokenizer.model_input_names)

    class MeanPooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            features = dict(zip(names, inputs))
            tokens = self.inner(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    example = tokenizer(["an example sentence", "a second, longer example sentence"], padding=True, return_tensors="pt")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on the transformer's Python branches
            # The TorchScript exporter: the dynamo one needs onnxscript and took far longer here.
            torch.onnx.export(
                MeanPooled(transformer),
                tuple(example[n] for n in names),
                str(staging / "model.onnx"),
                input_names=list(names),
                output_names=["mean_pooled"],
                opset_version=INT8_QUANTIZATION["opset"],
                dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "mean_pooled": {0: "batch"}},
                dynamo=False,
            )
        import onnx

        graph = onnx.load(str(staging / "model.onnx"), load_external_data=False).graph
        kept = [
            node.name
            for node in graph.node
            if node.op_type == "MatMul" and re.search(INT8_QUANTIZATION["float32_matmuls"], node.name)
        ]
        settings = {k: INT8_QUANTIZATION[k] for k in ("per_channel", "reduce_range", "op_types_to_quantize")}
        quantize_dynamic(
            str(staging / "model.onnx"),
            str(staging / target.name),
            weight_type=QuantType.QInt8,
            nodes_to_exclude=kept,
            **settings,
        )
        (staging / "model.onnx").rename(staging / "model_float32.onnx")
        (staging / "input_names.json").write_text(json.dumps(list(names)))
        try:
            os.rename(staging, folder)
        except OSError:  # another process got there first: its folder is as good
            if not target.exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@functools.lru_cache(maxsize=4)
def load_int8_model(model_path: str, max_seq_length: int | None, cache_root: str | None = None) -> OnnxInt8Encoder:
    model_dir = Path(model_path)
    if not (model_dir / "config.json").exists():
        raise ValueError(
            f"precision int8 needs a local model folder (with config.json) to export; {model_path!r} is not one"
        )
    if not onnxruntime_available():
        raise ImportError("precision int8 needs onnxruntime and onnx (pip install onnxruntime onnx)")
    import onnxruntime
    import torch
    from transformers import AutoTokenizer

    folder = int8_cache_folder(model_dir, Path(cache_root) if cache_root else None)
    model_file = export_int8_model(model_dir, folder)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # as many as torch uses (OMP_NUM_THREADS)
    session, float32_session = (
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for path in (model_file, folder / "model_float32.onnx")
    )
    limit = max_seq_length or json.loads((model_dir / "sentence_bert_config.json").read_text()).get(
        "max_seq_length", 512
    )
    return OnnxInt8Encoder(
        session=session,
        float32_session=float32_session,
        tokenizer=AutoTokenizer.from_pretrained(str(model_dir)),
        max_seq_length=int(limit),
        input_names=tuple(json.loads((folder / "input_names.json").read_text())),
        dim=int(session.get_outputs()[0].shape[-1]),
    )
