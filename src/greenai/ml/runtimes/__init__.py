"""Deployment runtimes: one interface over PyTorch (eager, compiled), ONNX Runtime, OpenVINO and
ExecuTorch, so every variant is measured on every runtime that can run it and compared on its
fastest (``measure.measure_runtimes``)."""

from greenai.ml.runtimes.base import Backend, Prepared
from greenai.ml.runtimes.registry import BACKENDS, resolve_runtimes

__all__ = ["BACKENDS", "Backend", "Prepared", "resolve_runtimes"]
