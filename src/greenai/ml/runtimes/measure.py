"""A variant measured on every runtime that can run it, and the fastest named.

Per runtime: accuracy on the test split (a conversion can change it), top-1 agreement with the
variant as its step built it, latency at batch 1 and throughput at batch 256 (all runtimes timed
round-robin, so the machine's drift hits them alike), and energy per 1,000 images from the meter.
The variant's figures are then its fastest runtime's at batch 256 among those whose accuracy stayed
within ``ACCURACY_TOLERANCE_PTS`` of the step's own (or the runtime the user pinned).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from greenai.ml.evaluation import INFERENCE_IMAGES
from greenai.ml.runtimes.base import Predict, Prepared
from greenai.ml.runtimes.registry import BACKENDS

ACCURACY_TOLERANCE_PTS = 0.5  # a runtime that moves accuracy more than this is not chosen
# 9 rounds of 5 calls: with 5 of 3 a quiet machine still read IQR > 25 % for most variants of
# the default study (30 ms calls), and every break-even read "not judged"
ROUNDS, CALLS_B256, CALLS_B1 = 9, 5, 20


@dataclass
class RuntimeSource:
    """What a variant hands the runtime layer: the FP32 model (for an INT8 variant, the FP32 model
    each runtime quantizes itself with ``calib``), and which runtime its own predictor is."""

    model: nn.Module
    precision: str = "fp32"
    calib: Sequence[torch.Tensor] = field(default_factory=list)
    own: str = "pytorch_eager"  # the runtime the step's own predictor counts as


def prepare_all(
    source: RuntimeSource, own: Prepared, example: torch.Tensor, names: Sequence[str]
) -> tuple[list[Prepared], dict[str, str]]:
    """The variant on each runtime in ``names`` (its own predictor first); failures are recorded
    per runtime, never raised: one runtime's converter failing leaves the others' figures."""
    ready, skipped = [own], {}
    with tempfile.TemporaryDirectory(prefix="greenai-runtimes-") as tmp:
        work = Path(tmp)
        for name in names:
            if name == own.runtime:
                continue
            backend = BACKENDS[name]
            try:
                if source.precision == "int8":
                    got = backend.int8(source.model, example, source.calib, work)
                    if not got:
                        skipped[name] = "has no INT8 route for this model"
                    ready.extend(got)
                else:
                    ready.append(backend.fp32(source.model, example, work))
            except Exception as exc:  # a converter's failure is a recorded fact
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                skipped[name] = f"conversion failed: {type(exc).__name__}: {first}"
    return ready, skipped


def _padded(predict: Predict, xb: torch.Tensor, batch: int) -> torch.Tensor:
    """``predict`` on ``xb`` padded with zero images to ``batch`` rows, the padding's rows dropped:
    a compiled predictor sees only the shape it was compiled for (a new shape, a new compile)."""
    n = len(xb)
    if n < batch:
        xb = torch.cat([xb, xb.new_zeros(batch - n, *xb.shape[1:])])
    return predict(xb)[:n]


@torch.no_grad()
def padded_accuracy(predict: Predict, x: Any, y: torch.Tensor, batch: int = 256) -> float:
    """Top-1 accuracy (percent) of ``predict`` over (x, y) in batches of ``batch``."""
    correct = 0
    for i in range(0, len(y), batch):
        out = _padded(predict, x[i : i + batch], batch)
        correct += int((out.argmax(1) == y[i : i + len(out)]).sum())
    return 100.0 * correct / max(len(y), 1)


@torch.no_grad()
def agreement_pct(a: Predict, b: Predict, x: Any, n: int = 1024, batch: int = 256) -> float:
    """Share of the first ``n`` images on which ``a`` and ``b`` predict the same class, percent."""
    same = total = 0
    for i in range(0, min(n, len(x)), batch):
        xb = x[i : min(i + batch, n)]
        same += int((_padded(a, xb, batch).argmax(1) == _padded(b, xb, batch).argmax(1)).sum())
        total += len(xb)
    return 100.0 * same / max(total, 1)


def measure_runtimes(
    ready: Sequence[Prepared],
    sample: torch.Tensor,
    x_test: Any,
    y_test: torch.Tensor,
    *,
    carbon: Any = None,
    run_id: str = "inference",
    pin: str | None = None,
    energy_images: int = INFERENCE_IMAGES,
) -> dict[str, Any]:
    """Figures per runtime (``ready[0]`` is the step's own predictor) and the chosen one.

    Returns ``{"runtime", "runtime_choice", "runtimes": {name: {...}}, "machine_load",
    "timing_doubt"}``."""
    from greenai.ml.evaluation import evaluate
    from greenai.sensors.machine_load import LoadWindow

    own = ready[0]
    rows: dict[str, dict[str, Any]] = {}
    for p in ready:
        acc = padded_accuracy(p.predict, x_test, y_test)
        rows[p.runtime] = {
            "label": _label(p.runtime), "precision": p.precision, "how": p.how,
            "prepare_s": round(p.prepare_s, 3), "test_accuracy_pct": acc,
            "agreement_pct": 100.0 if p is own else agreement_pct(p.predict, own.predict, x_test),
        }  # fmt: skip
    xb = evaluate._batch(sample, 256)
    window = LoadWindow(own_threads=torch.get_num_threads()).start()
    big = evaluate.interleaved_throughput(
        {p.runtime: (p.predict, xb) for p in ready}, rounds=ROUNDS, calls=CALLS_B256
    )
    one = evaluate.interleaved_throughput(
        {p.runtime: (p.predict, xb[:1]) for p in ready}, rounds=ROUNDS, calls=CALLS_B1
    )
    load = window.stop()
    for p in ready:
        row = rows[p.runtime]
        row.update(
            throughput_img_s_b256=big[p.runtime]["median_img_s"],
            throughput_iqr_pct=big[p.runtime]["iqr_pct"],
            latency_ms_b1=1000.0 / one[p.runtime]["median_img_s"],
            latency_iqr_pct=one[p.runtime]["iqr_pct"],
        )
        energy = evaluate.inference_energy(
            p.predict, sample, carbon=carbon, n_images=energy_images,
            run_id=f"{run_id}-{p.runtime}",
        )  # fmt: skip
        row.update(energy)
        row["timing_doubt"] = evaluate.timing_doubt(row)
    chosen, why = choose(rows, own.runtime, pin)
    return {
        "runtime": chosen,
        "runtime_choice": why,
        "runtimes": rows,
        "machine_load": load.to_dict(),
        "timing_doubt": load.busy,
    }


def choose(rows: dict[str, dict[str, Any]], own: str, pin: str | None) -> tuple[str, str]:
    """The runtime whose figures the variant takes, and why."""
    if pin is not None:
        if pin in rows:
            return pin, "pinned by --runtime"
        return own, f"--runtime {pin} could not run this variant; its own runtime is used"
    base = rows[own]["test_accuracy_pct"]
    fair = {n: r for n, r in rows.items()
            if abs(r["test_accuracy_pct"] - base) <= ACCURACY_TOLERANCE_PTS}  # fmt: skip
    best = max(fair, key=lambda n: fair[n]["throughput_img_s_b256"])
    left = sorted(set(rows) - set(fair))
    why = f"fastest at batch 256 of {len(rows)} runtime(s) timed interleaved"
    if left:
        why += (
            f"; not chosen because accuracy moved more than {ACCURACY_TOLERANCE_PTS} points: "
            + ", ".join(left)
        )
    return best, why


def _label(name: str) -> str:
    if name in BACKENDS:
        return BACKENDS[name].label
    return {"openvino_qdq": "OpenVINO (ONNX QDQ model)"}.get(name, name)
