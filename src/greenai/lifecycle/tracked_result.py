"""The result JSON of a ``greenai.track`` run (energy and carbon only), its ``software`` section
read without importing torch, and the one-line error a failed run is closed with.

Used by ``greenai.lifecycle.recorded`` and, for the ranks of a job, ``greenai.lifecycle.rank_job``.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from greenai.meter.types import Measurement

VARIANT = "tracked"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def software() -> dict[str, Any]:
    """The result's ``software`` section without importing torch: the installed versions, and
    the CUDA version only when the program has loaded torch itself."""
    from greenai import __version__
    from greenai.results.runinfo import git_commit

    torch = sys.modules.get("torch")
    cuda = None
    if torch is not None and torch.cuda.is_available():
        cuda = torch.version.cuda
    return {
        "greenai": __version__,
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": cuda,
        "git_commit": git_commit(),
    }


def build_result(
    m: Measurement,
    *,
    group: str | None,
    model: str | None,
    dataset: str | None,
    device: str,
    emissions_csv: Path | None,
    training: dict[str, Any] | None = None,
    gpus: int = 0,
    variant: str = VARIANT,
) -> dict[str, Any]:
    """The result JSON (schema in docs/ARCHITECTURE.md) of a tracked run: energy and carbon only;
    no accuracy, so ``metrics`` is empty and ``efficiency`` None; no parent, so lifecycle = step.
    Its hardware's embodied carbon (``gpus`` GPUs of this machine for the run's time) is beside the
    operational CO2, as every lifecycle run's (``greenai.carbon.embodied.embodied_section``)."""
    from greenai.carbon.embodied import embodied_section
    from greenai.results import resultfile as results
    from greenai.results.work import work_section

    step = results.sum_pieces([results.piece_from_measurement(m)], m.pue)
    life = results.lifecycle(step, None)
    result = {
        "schema_version": results.SCHEMA_VERSION,
        "run_id": m.run_id,
        "parent_run_id": None,
        "variant": variant,
        "group": group,
        "dataset": dataset,
        "model": model,
        "device": device,
        "precision": None,
        "hyperparameters": {},
        "metrics": {},
        "inference": None,
        "energy": {"step": step, "lifecycle": life},
        "embodied": embodied_section(step["duration_s"], gpus),  # beside, never added into it
        "carbon": results.carbon_section(m),
        "efficiency": {"acc_per_kg_co2_step": None, "acc_per_kg_co2_lifecycle": None},
        "break_even": None,
        "software": software(),
        "artifacts": {} if emissions_csv is None else {"emissions_csv": str(emissions_csv)},
        "created_at": results.utc_now(),
    }
    if training:
        result["training"] = dict(training)
    result["work"] = work_section(result)  # J per training sample when a callback counted them
    return result


def error_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 500 characters) for a run's error field."""
    text = str(exc).strip()
    name = type(exc).__name__
    return (f"{name}: {text.splitlines()[0]}" if text else name)[:500]
