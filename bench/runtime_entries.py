"""One compression variant made ready on every installed runtime that can run it, each with its
deployable file's size, for ``bench/compression.py`` to time interleaved.

FP32 models: PyTorch eager and compiled (inductor, freezing), each NCHW and channels_last; ONNX
Runtime; OpenVINO (FP32 IR, f32 precision); ExecuTorch XNNPACK (``.pte``) when asked. INT8 from
static post-training quantization: PyTorch PT2E compiled (both layouts); ONNX Runtime QDQ; OpenVINO
from NNCF (its IR) and from the QDQ ONNX model; ExecuTorch XNNPACK INT8 when asked. The runtimes
come from ``greenai.ml.runtimes`` (OpenVINO through its IR writer and reader, so the IR's size is
the file measured). A runtime whose conversion fails is recorded with its reason, not raised.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from greenai.ml.compression import int8_compile, int8_file, quantize
from greenai.ml.evaluation import evaluate
from greenai.ml.runtimes import BACKENDS

Predict = Callable[[torch.Tensor], torch.Tensor]
TORCH_FP32 = "torch state_dict"
PT2E_INT8 = "torch.export INT8, zlib"
ONNX = "ONNX"
OV_IR = "OpenVINO IR"
PTE = "ExecuTorch .pte"


def same(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous()


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


@dataclass
class Entry:
    """A variant on one runtime in one input layout."""

    variant: str
    runtime: str  # the runtime (a same-runtime comparison spans its layouts)
    precision: str
    predict: Predict
    layout: Callable[[torch.Tensor], torch.Tensor]
    nbytes: int
    fmt: str  # the file format whose size ``nbytes`` is
    fp32_fmt: str  # the FP32 format this one's size is compared with (the same, or its source)
    macs: int  # per image
    accuracy_pct: float = float("nan")

    @property
    def key(self) -> str:
        return f"{self.variant}/{self.runtime}" + ("+cl" if self.layout is channels_last else "")


def saved_bytes(obj: object) -> int:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return len(buf.getvalue())


class Builder:
    """Makes entries for the runtimes in ``names``; failures go to ``skipped`` {key: why}."""

    def __init__(self, names: Sequence[str], xb: torch.Tensor, work: Path) -> None:
        self.names, self.xb, self.work = list(names), xb, work
        self.skipped: dict[str, str] = {}

    def _try(self, key: str, make: Callable[[], list[Entry]]) -> list[Entry]:
        try:
            return make()
        except Exception as exc:  # one converter failing leaves the other runtimes' figures
            first = (str(exc).strip().splitlines() or [""])[0][:160]
            self.skipped[key] = f"{type(exc).__name__}: {first}"
            return []

    def fp32(self, variant: str, model: nn.Module, macs: int) -> list[Entry]:
        """The FP32 ``model`` on every runtime asked for."""
        model = model.eval()
        work = self.work / variant
        work.mkdir(parents=True, exist_ok=True)
        size = saved_bytes(model.state_dict())
        out: list[Entry] = []

        def e(runtime: str, predict: Predict, layout, nbytes: int, fmt: str) -> Entry:
            return Entry(variant, runtime, "fp32", predict, layout, nbytes, fmt, fmt, macs)

        cands = evaluate.best_fp32_candidates(model, int8_compile.compile_for_cpu)
        for name, (fn, _) in cands.items():
            runtime = "pytorch_compiled" if "compiled" in name else "pytorch_eager"
            layout = channels_last if name.endswith("channels_last") else same
            out.append(e(runtime, fn, layout, size, TORCH_FP32))
        if "onnxruntime" in self.names:
            out += self._try(f"{variant}/onnxruntime", lambda: [e(
                "onnxruntime", BACKENDS["onnxruntime"].fp32(model, self.xb, work).predict, same,
                (work / "model.onnx").stat().st_size, ONNX)])  # fmt: skip
        if "openvino" in self.names:
            out += self._try(f"{variant}/openvino", lambda: self._ov(variant, model, work, macs))
        if "executorch" in self.names:
            out += self._try(f"{variant}/executorch", lambda: [e(
                "executorch", BACKENDS["executorch"].fp32(model, self.xb, work).predict, same,
                (work / "model.pte").stat().st_size, PTE)])  # fmt: skip
        return out

    def _ov(self, variant: str, model: nn.Module, work: Path, macs: int) -> list[Entry]:
        from greenai.ml.runtimes.openvino import load_ir, save_ir

        nbytes = save_ir(model, self.xb, work / "model.xml")
        predict = load_ir(work / "model.xml")
        return [Entry(variant, "openvino", "fp32", predict, same, nbytes, OV_IR, OV_IR, macs)]

    def int8(
        self, variant: str, model: nn.Module, calib: Sequence[torch.Tensor], macs: int
    ) -> list[Entry]:
        """Static INT8 PTQ of the FP32 ``model`` by each runtime's own quantizer."""
        work = self.work / variant
        work.mkdir(parents=True, exist_ok=True)
        out: list[Entry] = []

        def e(runtime: str, predict: Predict, layout, nbytes: int, fmt: str, src: str) -> Entry:
            return Entry(variant, runtime, "int8", predict, layout, nbytes, fmt, src, macs)

        def pt2e() -> list[Entry]:
            q = quantize.quantize_ptq(copy.deepcopy(model).eval(), list(calib), self.xb[:2])
            nbytes = len(int8_file.quantized_bytes(q, {"model": variant}))  # strips FP32 copies
            fn = int8_compile.compile_for_cpu(q.module)
            return [e("pytorch_compiled", fn, lay, nbytes, PT2E_INT8, TORCH_FP32)
                    for lay in (same, channels_last)]  # fmt: skip

        out += self._try(f"{variant}/pytorch_compiled", pt2e)
        qdq = work / "model.int8.onnx"
        if "onnxruntime" in self.names:
            out += self._try(f"{variant}/onnxruntime", lambda: [e(
                "onnxruntime", BACKENDS["onnxruntime"].int8(model, self.xb, calib, work)[0].predict,
                same, qdq.stat().st_size, "ONNX QDQ", ONNX)])  # fmt: skip
        if "openvino" in self.names:
            from greenai.ml.runtimes.openvino import load_ir, save_ir

            def nncf() -> list[Entry]:
                nbytes = save_ir(model, self.xb, work / "nncf.xml", calib=list(calib))
                fn = load_ir(work / "nncf.xml")
                return [e("openvino", fn, same, nbytes, "OpenVINO IR (NNCF INT8)", OV_IR)]

            out += self._try(f"{variant}/openvino", nncf)
            if qdq.exists():
                out += self._try(f"{variant}/openvino_qdq", lambda: [e(
                    "openvino_qdq", load_ir(qdq), same, qdq.stat().st_size,
                    "ONNX QDQ", ONNX)])  # fmt: skip
        if "executorch" in self.names:
            out += self._try(f"{variant}/executorch", lambda: [e(
                "executorch", BACKENDS["executorch"].int8(model, self.xb, calib, work)[0].predict,
                same, (work / "model.int8.pte").stat().st_size, "ExecuTorch .pte INT8", PTE)])  # fmt: skip
        return out


@torch.no_grad()
def accuracy_pct(entry: Entry, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    """Top-1 accuracy of ``entry`` on (x, y) in batches of ``batch`` in its own layout, the last
    padded to full size (a compiled predictor is then never recompiled for a new batch size)."""
    from greenai.ml.runtimes.measure import padded_accuracy

    return padded_accuracy(lambda xb: entry.predict(entry.layout(xb)), x, y, batch)
