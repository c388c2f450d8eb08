"""INT8 quantization for x86 CPUs through PT2E (torchao), the route torch 2.13 does not deprecate.

torch.ao's eager and FX quantization are deprecated; PT2E now lives in ``torchao.quantization.pt2e``.
The flow: ``torch.export`` the FP32 model (batch dimension dynamic) -> ``prepare_pt2e`` with
``X86InductorQuantizer`` (per-channel symmetric INT8 weights, per-tensor UINT8 activations) ->
calibration forward passes -> ``convert_pt2e`` -> ``torch.compile`` (inductor, freezing) which lowers
the quantize/dequantize patterns to oneDNN INT8 kernels (VNNI where the CPU has it).

- ``quantize_ptq``: static post-training quantization with calibration batches.
- ``prepare_qat`` / ``convert_qat``: quantization-aware fine-tuning through ``prepare_qat_pt2e``.
- ``quantize_dynamic``: dynamic INT8 for ``nn.Linear`` only (activations quantized at run time).

Saving: the converted program is re-exported without the stale FP32 copies of its weights (convert
keeps them as unused attributes), saved with ``torch.export.save`` and zlib-compressed, so the file
holds INT8 weights, their scales, the FP32 biases and the graph. ``load_quantized`` returns a module
that computes exactly what the saved one did (eagerly: slower than FP32); ``load_for_inference``
returns it compiled, ready to run fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from greenai.errors import DataError, MissingExtraError, UsageError
from greenai.fsutil import atomic_write_bytes
from greenai.ml.compression.int8_compile import compile_for_cpu, recall, remember

METHODS = ("ptq", "qat", "dynamic")
MAGIC = b"GREENAI-INT8-PT2E-1\n"
ROUTE = (
    "torchao.quantization.pt2e (torch.export + X86InductorQuantizer, per-channel int8 weights, "
    "uint8 activations) run with torch.compile(inductor, freezing=True)"
)
ROUTE_DYNAMIC = (
    "torchao.quantization.pt2e (torch.export + X86InductorQuantizer dynamic config on nn.Linear) "
    "run with torch.compile(inductor, freezing=True)"
)


@dataclass
class Quantized:
    """A converted INT8 program plus what produced it."""

    module: torch.fx.GraphModule
    method: str
    route: str
    example_input: torch.Tensor


# Loggers that print import-time noise on a CPU-only machine: torchao's optional CUDA kernels
# ("Failed to load ..._C_cutlass_90a.so") and torch's pytree deprecation notice.
_NOISY_LOGGERS = ("torchao", "torch.utils._pytree")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _pt2e() -> Any:
    try:
        with _quiet():
            from torchao.quantization import pt2e
            from torchao.quantization.pt2e import quantize_pt2e
            from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    except ImportError:
        raise MissingExtraError("torchao", "quant") from None
    return pt2e, quantize_pt2e, xiq


def check_available() -> None:
    """Raise MissingExtraError when torchao (the ``quant`` extra) is not installed."""
    _pt2e()


def _export(model: nn.Module, example_input: torch.Tensor) -> torch.fx.GraphModule:
    example = example_input[:2].clone()
    if example.shape[0] < 2:
        example = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=65536)
    with _quiet():
        return torch.export.export(model, (example,), dynamic_shapes=({0: batch},)).module()


def is_quantized_module(model: nn.Module) -> bool:
    """True for a converted PT2E program or a module holding int8/quantized tensors."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.dtype in (torch.int8, torch.uint8, torch.qint8, torch.quint8):
            return True
    return False


def _reject_quantized(model: nn.Module) -> None:
    if is_quantized_module(model):
        raise UsageError("the model is already quantized; quantize its FP32 parent instead")


@torch.no_grad()
def quantize_ptq(
    model: nn.Module, calib_batches: Iterable[torch.Tensor], example_input: torch.Tensor
) -> Quantized:
    """Static INT8 post-training quantization calibrated on ``calib_batches`` (float NCHW)."""
    _reject_quantized(model)
    _, qp, xiq = _pt2e()
    model = model.eval()
    quantizer = xiq.X86InductorQuantizer().set_global(
        xiq.get_default_x86_inductor_quantization_config()
    )
    with _quiet():
        prepared = qp.prepare_pt2e(_export(model, example_input), quantizer)
        n = 0
        for batch in calib_batches:
            prepared(batch)
            n += 1
        if n == 0:
            raise UsageError("PTQ needs at least one calibration batch")
        converted = qp.convert_pt2e(prepared)
    return Quantized(converted, "ptq", ROUTE, example_input[:1].clone())


def prepare_qat(model: nn.Module, example_input: torch.Tensor) -> torch.fx.GraphModule:
    """Export and insert fake-quantization for QAT; train the returned module, then ``convert_qat``."""
    _reject_quantized(model)
    pt2e, qp, xiq = _pt2e()
    quantizer = xiq.X86InductorQuantizer().set_global(
        xiq.get_default_x86_inductor_quantization_config(is_qat=True)
    )
    model = model.train()
    with _quiet():
        prepared = qp.prepare_qat_pt2e(_export(model, example_input), quantizer)
        pt2e.move_exported_model_to_train(prepared)
    return prepared


def set_qat_mode(prepared: torch.fx.GraphModule, train: bool) -> None:
    """Switch a QAT program between training and eval (``.train()`` does not work on exports)."""
    pt2e, _, _ = _pt2e()
    with _quiet():
        if train:
            pt2e.move_exported_model_to_train(prepared)
        else:
            pt2e.move_exported_model_to_eval(prepared)


@torch.no_grad()
def convert_qat(prepared: torch.fx.GraphModule, example_input: torch.Tensor) -> Quantized:
    """Convert a QAT-trained program to a real INT8 program."""
    from greenai.ml.compression.qat_fold import folding_present_convs

    _, qp, _ = _pt2e()
    set_qat_mode(prepared, train=False)
    with _quiet(), folding_present_convs():  # the same program, ~4x less pattern search
        converted = qp.convert_pt2e(prepared)
    return Quantized(converted, "qat", ROUTE, example_input[:1].clone())


@torch.no_grad()
def quantize_dynamic(model: nn.Module, example_input: torch.Tensor) -> Quantized:
    """Dynamic INT8 for the linear layers (weights int8 ahead of time, activations at run time)."""
    _reject_quantized(model)
    _, qp, xiq = _pt2e()
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise UsageError("dynamic quantization needs a model with nn.Linear layers")
    model = model.eval()
    quantizer = xiq.X86InductorQuantizer().set_module_type_qconfig(
        nn.Linear, xiq.get_default_x86_inductor_quantization_config(is_dynamic=True)
    )
    with _quiet():
        prepared = qp.prepare_pt2e(_export(model, example_input), quantizer)
        prepared(example_input[:2])
        converted = qp.convert_pt2e(prepared)
    return Quantized(converted, "dynamic", ROUTE_DYNAMIC, example_input[:1].clone())


# --- storage -----------------------------------------------------------------------------------


def _strip_unused(gm: torch.fx.GraphModule) -> None:
    """Delete parameters/buffers the graph no longer reads (convert leaves FP32 weight copies)."""
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    names = [n for n, _ in gm.named_parameters()] + [n for n, _ in gm.named_buffers()]
    for name in names:
        if name in used:
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = gm.get_submodule(owner_name) if owner_name else gm
        delattr(owner, attr)


def quantized_bytes(q: Quantized, meta: dict[str, Any] | None = None) -> bytes:
    """The on-disk encoding of a converted program: magic, JSON meta line, zlib(export archive)."""
    gm = q.module
    _strip_unused(gm)
    batch = torch.export.Dim("batch", min=1, max=65536)
    example = torch.cat([q.example_input[:1], q.example_input[:1]]).clone()
    with _quiet():
        program = torch.export.export(gm, (example,), dynamic_shapes=({0: batch},))
    buf = io.BytesIO()
    torch.export.save(program, buf)
    head = dict(
        meta or {}, method=q.method, route=q.route, format="torch.export archive, zlib",
        how_to_run=HOW_TO_RUN,
    )  # fmt: skip
    return MAGIC + json.dumps(head).encode() + b"\n" + zlib.compress(buf.getvalue(), 9)


def save_quantized(path: str | Path, q: Quantized, meta: dict[str, Any] | None = None) -> int:
    """Write atomically; returns the file size in bytes."""
    data = quantized_bytes(q, meta)
    atomic_write_bytes(path, data)
    return len(data)


def is_quantized_file(path: str | Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def read_quantized_meta(path: str | Path) -> dict[str, Any]:
    """The JSON meta line of an INT8 file, read without touching its program: safe on any file."""
    with open(path, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise DataError(f"{path} is not a greenai INT8 file")
        head = handle.readline(1 << 20)
    return _meta(path, head)


def _meta(path: str | Path, head: bytes) -> dict[str, Any]:
    """An INT8 file's JSON meta line, checked."""
    try:
        meta = json.loads(head)
    except ValueError as exc:
        raise DataError(f"{path} is corrupt: its header is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path} is corrupt: its header is not a JSON object")
    return meta


HOW_TO_RUN = (
    "load with greenai.ml.compression.quantize.load_for_inference(path): it returns the program "
    "compiled by torch.compile(inductor, freezing), the INT8 oneDNN kernels; the plain "
    "torch.export.load(...).module() runs the quantize/dequantize graph eagerly, slower than FP32"
)


def load_for_inference(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load an INT8 file ready to run fast: (predictor, meta).

    The predictor is ``compile_for_cpu`` of the loaded program (inductor with freezing lowers the
    quantize/dequantize pattern to oneDNN INT8 kernels): its first call per input shape compiles
    (seconds), later calls run INT8. Same trust rule as ``load_quantized``. A file whose bytes
    this process compiled already (``compile_saved``) returns that predictor: no second compile."""
    data = Path(path).read_bytes()
    compiled = recall(data)
    if compiled is not None:
        return compiled, _parse(path, data)[0]
    module, meta = _module(path, data)
    return compile_for_cpu(module), meta


def compile_saved(q: Quantized, data: bytes) -> Any:
    """``compile_for_cpu`` of ``q``'s program, remembered for its file bytes ``data``
    (``quantized_bytes(q, ...)``): ``load_for_inference`` of that file then reuses it."""
    compiled = compile_for_cpu(q.module)
    remember(data, compiled)
    return compiled


def load_quantized(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Load a file written by ``save_quantized``: (runnable module, meta).

    The module runs eagerly: right figures, but slower than its FP32 parent (every quantize and
    dequantize is a separate op). To run it fast, use ``load_for_inference`` (or wrap the module
    with ``compile_for_cpu``); the file's header says so too (``how_to_run``).

    ``torch.export.load`` unpickles parts of the archive (it is not ``weights_only``): only for files
    this process wrote or otherwise trusts. Files named by a user are read with
    ``read_quantized_meta``, which never touches the program."""
    return _module(path, Path(path).read_bytes())


def _parse(path: str | Path, data: bytes) -> tuple[dict[str, Any], bytes]:
    """(meta, compressed program) of an INT8 file's bytes."""
    if not data.startswith(MAGIC):
        raise DataError(f"{path} is not a greenai INT8 file")
    head, _, body = data[len(MAGIC) :].partition(b"\n")
    return _meta(path, head), body


def _module(path: str | Path, data: bytes) -> tuple[nn.Module, dict[str, Any]]:
    meta, body = _parse(path, data)
    try:
        with _quiet():
            _pt2e()  # registers the quantized_decomposed ops the program uses
            program = torch.export.load(io.BytesIO(zlib.decompress(body)))
    except (ValueError, zlib.error, RuntimeError) as exc:
        raise DataError(f"{path} is corrupt: {exc}") from None
    return program.module(), meta
