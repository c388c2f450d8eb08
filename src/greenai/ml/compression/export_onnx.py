"""ONNX export and ONNX Runtime static INT8 (QDQ, per-channel) as a deployment variant.

Optional extra ``onnx`` (onnx + onnxruntime). The exporter is torch's TorchScript-based one
(``dynamo=False``): the dynamo exporter needs ``onnxscript``, which the extra does not pull in.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from greenai.errors import MissingExtraError


def _ort() -> Any:
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as exc:
        raise MissingExtraError(exc.name or "onnxruntime", "onnx") from None
    return onnxruntime


def check_available() -> None:
    _ort()


def export(model: nn.Module, path: str | Path, example_input: torch.Tensor) -> int:
    """Write ``model`` as ONNX (opset 17, dynamic batch); returns the file size in bytes."""
    _ort()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(), (example_input[:1],), str(tmp), input_names=["x"], output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False,
        )  # fmt: skip
    tmp.replace(path)
    return path.stat().st_size


def quantize_static_int8(
    fp32_path: str | Path, int8_path: str | Path, calib_batches: Iterable[torch.Tensor]
) -> int:
    """ONNX Runtime static INT8 (QDQ, per-channel weights, MinMax calibration); returns bytes."""
    _ort()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": b.numpy().astype(np.float32)} for b in calib_batches])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    int8_path = Path(int8_path)
    pre = int8_path.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32_path), str(pre))
    root = logging.getLogger()
    level = root.level
    # ONNX Runtime warns on the root logger for every 1-D weight (a batch norm's) that per-channel
    # quantization cannot split along axis 1; it quantizes those per tensor, which is what we want
    root.setLevel(max(level, logging.ERROR))
    try:
        quantize_static(
            str(pre), str(int8_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
    finally:
        root.setLevel(level)
        pre.unlink(missing_ok=True)
    return int8_path.stat().st_size


def session_options(threads: int | None = None) -> Any:
    """ORT session options: ``threads`` intra-op threads, and workers that sleep between calls.

    ORT's workers spin-wait after each run by default. On 2 cores (2026-12-02, AMD EPYC, seed_cnn,
    batch 256, interleaved) a compiled PyTorch INT8 model ran 22,261 img/s right after a spinning
    session and 46,314 alone; after a non-spinning one 45,939, while ORT itself ran 17,019 against
    17,321 img/s spinning. Runtimes timed side by side (``runtimes/measure.py``) need quiet ones.
    """
    opts = _ort().SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


def session(path: str | Path, threads: int | None = None) -> Any:
    """An ORT CPU session (``session_options``) whose call takes and returns torch tensors."""
    ort = _ort()
    opts = session_options(threads)
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def predict(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(sess.run(None, {"x": x.numpy().astype(np.float32)})[0])

    return predict
