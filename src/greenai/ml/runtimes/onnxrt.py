"""ONNX Runtime: the model exported to ONNX (opset 17, dynamic batch); INT8 is ONNX Runtime's
static QDQ quantization (per-channel weights, MinMax calibration)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from greenai.ml.runtimes.base import Backend, Prepared, threads


class OnnxRuntime(Backend):
    name = "onnxruntime"
    label = "ONNX Runtime"
    modules = ("onnx", "onnxruntime")
    extra = "onnx"

    def fp32(self, model: nn.Module, example: torch.Tensor, work: Path) -> Prepared:
        from greenai.ml.compression import export_onnx

        start = time.perf_counter()
        path = onnx_file(model, example, work)
        predict = export_onnx.session(path, threads=threads())
        how = "torch.onnx.export opset 17, CPUExecutionProvider"
        return Prepared(self.name, "fp32", predict, how, time.perf_counter() - start)

    def int8(
        self, model: nn.Module, example: torch.Tensor, calib: Sequence[torch.Tensor], work: Path
    ) -> list[Prepared]:
        from greenai.ml.compression import export_onnx

        start = time.perf_counter()
        path = qdq_file(model, example, calib, work)
        predict = export_onnx.session(path, threads=threads())
        how = "ONNX Runtime static QDQ INT8 (per-channel weights, MinMax), CPUExecutionProvider"
        return [Prepared(self.name, "int8", predict, how, time.perf_counter() - start)]


def onnx_file(model: nn.Module, example: torch.Tensor, work: Path) -> Path:
    """The FP32 ONNX export in ``work`` (written once, shared by the runtimes that read ONNX: one
    ``work`` folder per model, or the first model's file is returned)."""
    from greenai.ml.compression import export_onnx

    path = work / "model.onnx"
    if not path.exists():
        export_onnx.export(model.eval(), path, example[:1])
    return path


def qdq_file(
    model: nn.Module, example: torch.Tensor, calib: Sequence[torch.Tensor], work: Path
) -> Path:
    """The ONNX Runtime QDQ INT8 model in ``work`` (written once, one ``work`` folder per model;
    OpenVINO can read it too)."""
    from greenai.ml.compression import export_onnx

    path = work / "model.int8.onnx"
    if not path.exists():
        export_onnx.quantize_static_int8(onnx_file(model, example, work), path, list(calib))
    return path
