"""PyTorch as a runtime: eager (the model as trained) and compiled (inductor with freezing, the
oneDNN kernels; INT8 from PT2E's X86 inductor quantizer)."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from greenai.ml.runtimes.base import Backend, Prepared


class Eager(Backend):
    name = "pytorch_eager"
    label = "PyTorch eager"
    modules = ("torch",)
    extra = "train"

    def fp32(self, model: nn.Module, example: torch.Tensor, work: Path) -> Prepared:
        model = model.eval()

        @torch.no_grad()
        def predict(x: torch.Tensor) -> torch.Tensor:
            return model(x)

        return Prepared(self.name, "fp32", predict, "eager, NCHW")


class Compiled(Backend):
    name = "pytorch_compiled"
    label = "PyTorch compiled"
    modules = ("torch",)
    extra = "train"

    def fp32(self, model: nn.Module, example: torch.Tensor, work: Path) -> Prepared:
        from greenai.ml.compression.int8_compile import compile_for_cpu

        start = time.perf_counter()
        predict = compile_for_cpu(copy.deepcopy(model).eval())
        _warm(predict, example)
        return Prepared(
            self.name, "fp32", predict, "torch.compile(inductor, freezing)",
            time.perf_counter() - start,
        )  # fmt: skip

    def int8(
        self, model: nn.Module, example: torch.Tensor, calib: Sequence[torch.Tensor], work: Path
    ) -> list[Prepared]:
        from greenai.ml.compression import quantize as q
        from greenai.ml.compression.int8_compile import compile_for_cpu

        if q.is_quantized_module(model) or importlib_missing("torchao"):
            return []
        start = time.perf_counter()
        result = q.quantize_ptq(copy.deepcopy(model).eval(), list(calib), example[:2])
        predict = compile_for_cpu(result.module)
        _warm(predict, example)
        how = "PT2E X86InductorQuantizer static PTQ, torch.compile(inductor, freezing)"
        return [Prepared(self.name, "int8", predict, how, time.perf_counter() - start)]


def importlib_missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def _warm(predict: object, example: torch.Tensor) -> None:
    """Compile the shapes that will be timed (batch 1 and the example's) before any clock runs."""
    with torch.no_grad():
        predict(example)  # type: ignore[operator]
        predict(example[:1])  # type: ignore[operator]
