"""Export to ONNX, optionally ONNX Runtime static INT8 (QDQ), measured as a deployment variant."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from greenai.lifecycle.registry import FP32, StepKind, register_step

FORMATS = ("onnx",)


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

    from greenai.lifecycle.variant_run import Built, blob_saver, dense_bytes, run_variant
    from greenai.ml.compression import export_onnx
    from greenai.ml.evaluation.evaluate import param_counts

    export_onnx.check_available()  # missing extra: one line, before anything
    model = parent.require_fp32("export").eval()
    if format not in FORMATS:
        from greenai.errors import UsageError

        raise UsageError(f"unknown export format {format!r}; choose {', '.join(FORMATS)}")
    variant = "onnx_int8" if int8 else "onnx_fp32"
    hyper: dict[str, Any] = {"format": format, "int8": int8}
    if int8:
        hyper["calib_batches"] = calib_batches
    work = tempfile.TemporaryDirectory(prefix="greenai-onnx-")  # removed when the run ends

    def build(tracker: Any, d: Any, rid: str) -> Built:
        counts = param_counts(model)
        fp32 = Path(work.name) / "model.onnx"
        export_onnx.export(model, fp32, d.x_test[:1])
        final = fp32
        if int8:
            calib = [d.x_train[i * 128 : (i + 1) * 128] for i in range(calib_batches)]
            final = Path(work.name) / "model.int8.onnx"
            export_onnx.quantize_static_int8(fp32, final, [c for c in calib if len(c)])
        blob = final.read_bytes()
        predict = export_onnx.session(final, threads=torch.get_num_threads())

        return Built(
            predict=predict, save=blob_saver(lambda: blob), file_suffix=".int8.onnx" if int8 else ".onnx",
            params=counts["params"], nonzero_params=counts["nonzero_params"],
            dense_size_bytes=dense_bytes(model), precision="int8" if int8 else "fp32",
            setting=f"onnxruntime {'static int8 QDQ' if int8 else 'fp32'} CPU",
            details={"exporter": "torch.onnx.export(dynamo=False), opset 17"},
        )  # fmt: skip

    with work:
        return run_variant(
            variant=variant, parent=parent, env=env, data=data, hyperparameters=hyper,
            step_name="export", build=build, run_id=run_id,
        )  # fmt: skip


register_step(StepKind("onnx_fp32", "ONNX Runtime FP32", FP32, 60))
register_step(StepKind("onnx_int8", "ONNX Runtime INT8", FP32, 70))
