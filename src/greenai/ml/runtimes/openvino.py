"""OpenVINO: the PyTorch model converted in memory (``ov.convert_model``), compiled for the CPU
with FP32 inference precision (OpenVINO would otherwise run BF16 where the CPU has it, which is a
different model); INT8 from NNCF post-training quantization, and from ONNX Runtime's QDQ model
read as it is (both measured: they are two routes to an INT8 OpenVINO model)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from greenai.ml.runtimes.base import Backend, Prepared, as_torch, quiet_fds, threads


class OpenVino(Backend):
    name = "openvino"
    label = "OpenVINO"
    modules = ("openvino",)
    extra = "openvino"

    def fp32(self, model: nn.Module, example: torch.Tensor, work: Path) -> Prepared:
        start = time.perf_counter()
        predict = _compiled(convert(model, example))
        how = f"ov.convert_model, CPU plugin, f32 precision, {threads()} threads, latency hint"
        return Prepared(self.name, "fp32", predict, how, time.perf_counter() - start)

    def int8(
        self, model: nn.Module, example: torch.Tensor, calib: Sequence[torch.Tensor], work: Path
    ) -> list[Prepared]:
        out = []
        if self._nncf_missing() is None:
            start = time.perf_counter()
            predict = _compiled(nncf_int8(convert(model, example), calib))
            how = "NNCF post-training quantization (nncf.quantize) of the converted model"
            out.append(Prepared(self.name, "int8", predict, how, time.perf_counter() - start))
        from greenai.ml.runtimes.onnxrt import OnnxRuntime, qdq_file

        if OnnxRuntime().missing() is None:
            import openvino as ov

            start = time.perf_counter()
            path = qdq_file(model, example, calib, work)
            predict = _compiled(ov.Core().read_model(str(path)))
            how = "ONNX Runtime's static QDQ INT8 model read by OpenVINO"
            out.append(Prepared("openvino_qdq", "int8", predict, how, time.perf_counter() - start))
        return out

    @staticmethod
    def _nncf_missing() -> str | None:
        import importlib.util

        return None if importlib.util.find_spec("nncf") else "nncf is not installed"


def convert(model: nn.Module, example: torch.Tensor) -> Any:
    """The model as an OpenVINO model with a dynamic batch dimension."""
    import openvino as ov

    shape = [-1, *example.shape[1:]]
    with torch.no_grad(), quiet_fds():
        return ov.convert_model(model.eval(), example_input=example[:1], input=[shape])


def nncf_int8(ov_model: Any, calib: Sequence[torch.Tensor]) -> Any:
    import nncf

    batches = [b for b in calib if len(b)]
    if not batches:
        raise ValueError("INT8 quantization needs at least one calibration batch")
    data = nncf.Dataset(batches, lambda b: b.numpy())
    with quiet_fds():
        return nncf.quantize(ov_model, data, subset_size=len(batches))


def _compiled(ov_model: Any) -> Any:
    import openvino as ov

    # f32 for INT8 models too: their layers left unquantized would otherwise run in BF16 on CPUs
    # that have it (a third precision nobody asked for); quantized layers still run INT8
    config: dict[str, Any] = {
        "INFERENCE_NUM_THREADS": threads(), "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }  # fmt: skip
    compiled = ov.Core().compile_model(ov_model, "CPU", config)
    request = compiled.create_infer_request()

    def call(x: torch.Tensor) -> Any:
        return request.infer([x.numpy()])[0].copy()

    return as_torch(call)


def save_ir(
    model: nn.Module,
    example: torch.Tensor,
    xml_path: Path,
    calib: Sequence[torch.Tensor] | None = None,
) -> int:
    """Write a deployable OpenVINO IR (``.xml`` with its ``.bin`` beside it; FP32 weights, or INT8
    from NNCF when ``calib`` is given); returns the two files' size in bytes."""
    import openvino as ov

    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov_model = convert(model, example)
    if calib:
        ov_model = nncf_int8(ov_model, calib)
    ov.save_model(ov_model, str(xml_path), compress_to_fp16=False)
    return xml_path.stat().st_size + xml_path.with_suffix(".bin").stat().st_size


def load_ir(xml_path: Path) -> Any:
    """A predictor over a saved IR (non-quantized layers in FP32)."""
    import openvino as ov

    return _compiled(ov.Core().read_model(str(xml_path)))
