"""Export to a deployment format, measured as a variant on the runtime that runs that format:
ONNX (ONNX Runtime; INT8 = its static QDQ), OpenVINO IR (OpenVINO; INT8 = NNCF post-training
quantization) and ExecuTorch ``.pte`` with the XNNPACK delegate (the edge format; INT8 = XNNPACK's
PT2E quantizer)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenai.lifecycle.registry import FP32, StepKind, register_step


@dataclass(frozen=True)
class Format:
    name: str
    runtime: str  # the greenai.ml.runtimes backend that runs it
    suffix: str  # the model file's suffix (FP32; INT8 inserts ".int8")
    label: str
    fp32_how: str
    int8_how: str


FORMATS = {
    f.name: f
    for f in (
        Format("onnx", "onnxruntime", ".onnx", "ONNX Runtime",
               "onnxruntime fp32 CPU", "onnxruntime static int8 QDQ CPU"),
        Format("openvino", "openvino", ".xml", "OpenVINO",
               "OpenVINO IR fp32, CPU plugin", "OpenVINO IR int8 (NNCF PTQ), CPU plugin"),
        Format("executorch", "executorch", ".pte", "ExecuTorch",
               "ExecuTorch .pte fp32, XNNPACK", "ExecuTorch .pte int8 (XNNPACK PTQ), XNNPACK"),
    )
}  # fmt: skip


def check_format(format: str) -> Format:
    """The format, its runtime installed; one line (exit 2) otherwise, before anything runs."""
    from greenai.errors import UsageError
    from greenai.ml.runtimes import BACKENDS

    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r}; choose {', '.join(FORMATS)}")
    fmt = FORMATS[format]
    BACKENDS[fmt.runtime].require()
    return fmt


def export(
    parent: Any,
    env: Any,
    data: Any,
    *,
    format: str = "onnx",
    int8: bool = False,
    calib_batches: int = 10,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Export ``parent`` (a ``Parent``) and record the exported model as a variant."""
    import torch

    from greenai.lifecycle.variant_run import Built, dense_bytes, run_variant
    from greenai.ml.evaluation.evaluate import param_counts

    fmt = check_format(format)  # missing runtime: one line, before anything
    model = parent.require_fp32("export").eval()
    variant = f"{format}_{'int8' if int8 else 'fp32'}"
    hyper: dict[str, Any] = {"format": format, "int8": int8}
    if int8:
        hyper["calib_batches"] = calib_batches
    work = tempfile.TemporaryDirectory(prefix="greenai-export-")  # removed when the run ends

    def build(tracker: Any, d: Any, rid: str) -> Built:
        counts = param_counts(model)
        calib = [d.x_train[i * 128 : (i + 1) * 128] for i in range(calib_batches)] if int8 else []
        calib = [c for c in calib if len(c)]
        example = d.x_test[:256]
        written, predict = _WRITERS[format](model, example, calib or None, Path(work.name))
        return Built(
            predict=predict, save=_copier(written),
            file_suffix=(".int8" if int8 else "") + fmt.suffix,
            params=counts["params"], nonzero_params=counts["nonzero_params"],
            dense_size_bytes=dense_bytes(model), precision="int8" if int8 else "fp32",
            setting=fmt.int8_how if int8 else fmt.fp32_how,
            details={"format": format, "runtime": fmt.runtime, "files": [p.name for p in written],
                     "threads": torch.get_num_threads()},
        )  # fmt: skip

    with work:
        return run_variant(
            variant=variant, parent=parent, env=env, data=data, hyperparameters=hyper,
            step_name="export", build=build, run_id=run_id,
        )  # fmt: skip


Writer = Callable[[Any, Any, Any, Path], tuple[list[Path], Any]]


def _onnx(model: Any, example: Any, calib: Any, work: Path) -> tuple[list[Path], Any]:
    from greenai.ml.compression import export_onnx
    from greenai.ml.runtimes.base import threads
    from greenai.ml.runtimes.onnxrt import onnx_file, qdq_file

    path = qdq_file(model, example, calib, work) if calib else onnx_file(model, example, work)
    return [path], export_onnx.session(path, threads=threads())


def _openvino(model: Any, example: Any, calib: Any, work: Path) -> tuple[list[Path], Any]:
    from greenai.ml.runtimes import openvino as ov

    xml = work / "model.xml"
    ov.save_ir(model, example, xml, calib=calib)
    return [xml, xml.with_suffix(".bin")], ov.load_ir(xml)


def _executorch(model: Any, example: Any, calib: Any, work: Path) -> tuple[list[Path], Any]:
    from greenai.ml.runtimes import executorch as et

    path = work / "model.pte"
    et.write_pte(model, example, path, calib=calib)
    return [path], et.load(path)


_WRITERS: dict[str, Writer] = {"onnx": _onnx, "openvino": _openvino, "executorch": _executorch}


def _copier(written: list[Path]) -> Callable[[Path], int]:
    """``Built.save`` for exported files: the main file at the run's model path, companions (an
    OpenVINO ``.bin``) beside it with the same stem; returns their bytes together."""

    def save(path: Path) -> int:
        from greenai.fsutil import atomic_write_bytes

        total = 0
        for i, src in enumerate(written):
            dest = path if i == 0 else path.with_suffix(src.suffix)
            blob = src.read_bytes()
            atomic_write_bytes(dest, blob)
            total += len(blob)
        return total

    return save


register_step(StepKind("onnx_fp32", "ONNX Runtime FP32", FP32, 60))
register_step(StepKind("onnx_int8", "ONNX Runtime INT8", FP32, 70))
register_step(StepKind("openvino_fp32", "OpenVINO FP32", FP32, 72))
register_step(StepKind("openvino_int8", "OpenVINO INT8", FP32, 74))
register_step(StepKind("executorch_fp32", "ExecuTorch FP32", FP32, 76))
register_step(StepKind("executorch_int8", "ExecuTorch INT8", FP32, 78))
