"""INT8 quantization for x86 CPUs through PT2E (torchao), the route torch 2.13 does not deprecate.

torch.ao's eager and FX quantization are deprecated; PT2E now lives in ``torchao.quantization.pt2e``.
The flow: ``torch.export`` the FP32 model (batch dimension dynamic) -> ``prepare_pt2e`` with
``X86InductorQuantizer`` (per-channel symmetric INT8 weights, per-tensor UINT8 activations) ->
calibration forward passes -> ``convert_pt2e`` -> ``torch.compile`` (inductor, freezing) which lowers
the quantize/dequantize patterns to oneDNN INT8 kernels (VNNI where the CPU has it).

- ``quantize_ptq``: static post-training quantization with calibration batches.
- ``prepare_qat`` / ``convert_qat``: quantization-aware fine-tuning through ``prepare_qat_pt2e``.
- ``quantize_dynamic``: dynamic INT8 for ``nn.Linear`` only (activations quantized at run time).

Saving and loading a converted program (the INT8 file format) is ``int8_file``; compiling it to run
fast is ``int8_compile``.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from greenai.errors import MissingExtraError, UsageError

METHODS = ("ptq", "qat", "dynamic")
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
def quiet_torchao() -> Iterator[None]:
    """torchao's and pytree's log lines and warnings silenced for the block (they fire per call)."""
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


def pt2e_modules() -> Any:
    """(torchao's pt2e package, quantize_pt2e, x86_inductor_quantizer), or MissingExtraError."""
    try:
        with quiet_torchao():
            from torchao.quantization import pt2e
            from torchao.quantization.pt2e import quantize_pt2e
            from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    except ImportError:
        raise MissingExtraError("torchao", "quant") from None
    return pt2e, quantize_pt2e, xiq


def check_available() -> None:
    """Raise MissingExtraError when torchao (the ``quant`` extra) is not installed."""
    pt2e_modules()


def _export(model: nn.Module, example_input: torch.Tensor) -> torch.fx.GraphModule:
    example = example_input[:2].clone()
    if example.shape[0] < 2:
        example = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=65536)
    with quiet_torchao():
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
    _, qp, xiq = pt2e_modules()
    model = model.eval()
    quantizer = xiq.X86InductorQuantizer().set_global(
        xiq.get_default_x86_inductor_quantization_config()
    )
    with quiet_torchao():
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
    pt2e, qp, xiq = pt2e_modules()
    quantizer = xiq.X86InductorQuantizer().set_global(
        xiq.get_default_x86_inductor_quantization_config(is_qat=True)
    )
    model = model.train()
    with quiet_torchao():
        prepared = qp.prepare_qat_pt2e(_export(model, example_input), quantizer)
        pt2e.move_exported_model_to_train(prepared)
    return prepared


def set_qat_mode(prepared: torch.fx.GraphModule, train: bool) -> None:
    """Switch a QAT program between training and eval (``.train()`` does not work on exports)."""
    pt2e, _, _ = pt2e_modules()
    with quiet_torchao():
        if train:
            pt2e.move_exported_model_to_train(prepared)
        else:
            pt2e.move_exported_model_to_eval(prepared)


@torch.no_grad()
def convert_qat(prepared: torch.fx.GraphModule, example_input: torch.Tensor) -> Quantized:
    """Convert a QAT-trained program to a real INT8 program."""
    from greenai.ml.compression.qat_fold import folding_present_convs

    _, qp, _ = pt2e_modules()
    set_qat_mode(prepared, train=False)
    with quiet_torchao(), folding_present_convs():  # the same program, ~4x less pattern search
        converted = qp.convert_pt2e(prepared)
    return Quantized(converted, "qat", ROUTE, example_input[:1].clone())


@torch.no_grad()
def quantize_dynamic(model: nn.Module, example_input: torch.Tensor) -> Quantized:
    """Dynamic INT8 for the linear layers (weights int8 ahead of time, activations at run time)."""
    _reject_quantized(model)
    _, qp, xiq = pt2e_modules()
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise UsageError("dynamic quantization needs a model with nn.Linear layers")
    model = model.eval()
    quantizer = xiq.X86InductorQuantizer().set_module_type_qconfig(
        nn.Linear, xiq.get_default_x86_inductor_quantization_config(is_dynamic=True)
    )
    with quiet_torchao():
        prepared = qp.prepare_pt2e(_export(model, example_input), quantizer)
        prepared(example_input[:2])
        converted = qp.convert_pt2e(prepared)
    return Quantized(converted, "dynamic", ROUTE_DYNAMIC, example_input[:1].clone())
