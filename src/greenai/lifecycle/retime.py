"""The variants of one study timed together: interleaved, in one process, after a warm-up.

Each step times its own model right after building it, alone; on a shared CPU that timing says as
much about what else ran at that moment as about the model (a structured-pruned net once read 71.85
ms against its baseline's 0.46 ms). Here every finished model of the study is loaded again (FP32 as
saved, INT8 compiled as it is meant to run; an INT8 file whose step ran in this process reuses the
predictor that step compiled, ``int8_file.compile_saved``) and timed round-robin by
``evaluate.interleaved_throughput``, so the machine's drift hits all of them alike; the spread
(interquartile range) of each and the machine's load are recorded, and a wide spread or a busy
machine is named instead of letting the figures drive a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

BATCH = 256
ROUNDS = 9  # 5 rounds of 3 calls read IQR > 25 % on a quiet machine (default study, 2026-12-01)
CALLS = 5


def _predictor(path: Path) -> tuple[Any, tuple[int, ...]] | None:
    """(predict, input shape) for a model file this study wrote; None for a kind not timed here."""
    from greenai.lifecycle.parents import load_model_file
    from greenai.ml.compression import int8_file

    if path.suffix not in (".pt", ".pt2z") or not path.is_file():
        return None  # e.g. an ONNX export: timed by its own runtime, not here
    if int8_file.is_quantized_file(path):
        predict, meta = int8_file.load_for_inference(path)  # this study's own file: trusted
        return predict, tuple(meta.get("input_shape") or (3, 32, 32))
    parent = load_model_file(path)
    model = parent.model.eval() if parent.model is not None else None
    if model is None:
        return None

    @torch.no_grad()
    def predict(x: torch.Tensor) -> torch.Tensor:
        return model(x)

    return predict, parent.input_shape


def retime(
    results: Mapping[str, Mapping[str, Any]],
    out_dir: Path,
    rounds: int = ROUNDS,
    calls: int = CALLS,
) -> dict[str, Any] | None:
    """Time the models of ``results`` (step key -> result) interleaved; None when fewer than two.

    Returns ``{"setting": ..., "machine_load": ..., "timing_doubt": ..., "steps": {key: {...}}}``:
    per step the median throughput at batch 256, its spread and its own doubt. The images are
    random (speed does not depend on pixel values); threads as this process has them."""
    from greenai.ml.evaluation.evaluate import interleaved_throughput, timing_doubt
    from greenai.sensors.machine_load import LoadWindow

    candidates: dict[str, tuple[Any, torch.Tensor]] = {}
    gen = torch.Generator().manual_seed(0)
    for key, result in results.items():
        artifact = (result.get("artifacts") or {}).get("model")
        if not artifact:
            continue
        loaded = _predictor(Path(out_dir) / artifact)
        if loaded is not None:
            predict, shape = loaded
            candidates[key] = (predict, torch.randn(BATCH, *shape, generator=gen))
    if len(candidates) < 2:
        return None
    window = LoadWindow(own_threads=torch.get_num_threads()).start()
    stats = interleaved_throughput(candidates, rounds=rounds, warmup=2, calls=calls)
    load = window.stop()
    steps = {
        key: {
            "throughput_img_s_b256": s["median_img_s"],
            "iqr_pct": s["iqr_pct"],
            "timing_doubt": timing_doubt(s),
        }
        for key, s in stats.items()
    }
    doubts = [f"{k}: {v['timing_doubt']}" for k, v in steps.items() if v["timing_doubt"]]
    if load.busy:
        doubts.insert(0, load.busy)
    return {
        "setting": (
            f"PyTorch (FP32 eager as saved, INT8 compiled), interleaved in one process: 2 "
            f"warm-up calls each, then {rounds} rounds of {calls} timed calls per model at batch "
            f"{BATCH}, {torch.get_num_threads()} threads; each variant's other runtimes are in "
            "its result's inference.runtimes and the report's variant x runtime table"
        ),
        "machine_load": load.to_dict(),
        "timing_doubt": "; ".join(doubts) or None,
        "steps": steps,
    }


def report_lines(timing: Mapping[str, Any] | None, names: Mapping[str, str]) -> list[str]:
    """The interleaved timing for the top of the study's report (``names``: key -> display)."""
    if not timing:
        return []
    parts = []
    for key, s in timing["steps"].items():
        spread = "" if s["iqr_pct"] is None else f" (IQR {s['iqr_pct']:.0f}%)"
        parts.append(f"{names.get(key, key)} {s['throughput_img_s_b256']:,.0f} img/s{spread}")
    lines = [f"Inference timed together ({timing['setting']}): " + "; ".join(parts) + "."]
    if timing["timing_doubt"]:
        lines.append(
            f"TIMING UNSURE ({timing['timing_doubt']}): speed comparisons and break-even "
            "verdicts here are not to be relied on; re-run the study on a quiet machine."
        )
    return lines
