"""A search trial's inputs and outputs, without running anything: the sampled parameters turned
into a ``TrainConfig`` and a compression choice, ``(accuracy, cost)`` read from a run's result, and
a failure's one-line reason.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from greenai.search.space import COMPRESSION_OFF, SearchSpace
from greenai.search.study import OBJECTIVES

VARIANT = "search_trial"
# Sampled dimensions that are TrainConfig fields; the rest (compression) are handled after training.
TRAIN_FIELDS = ("lr", "batch_size", "epochs", "width", "precision")


class TrialFailed(RuntimeError):
    """A trial finished but its result cannot be used (e.g. a missing or non-finite metric)."""


def compression_choice(params: Mapping[str, Any]) -> tuple[float, bool]:
    """(sparsity, quantize?) sampled for a trial; (0.0, False) means train only."""
    sparsity = float(params.get("sparsity", COMPRESSION_OFF["sparsity"]) or 0.0)
    quantize = str(params.get("quantization", COMPRESSION_OFF["quantization"])).lower() == "on"
    return sparsity, quantize


def failure_reason(exc: BaseException) -> str:
    """``Type: first line of the message`` for a trial's ``fail_reason`` and the run's error."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt)"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def trial_config(base: Any, params: Mapping[str, Any]) -> Any:
    """``base`` (a frozen TrainConfig) with the sampled training fields replaced."""
    names = {f.name for f in dataclasses.fields(base)}
    changes = {k: params[k] for k in TRAIN_FIELDS if k in params and k in names}
    return dataclasses.replace(base, **changes)


def untrainable_dimensions(base: Any, space: SearchSpace) -> list[str]:
    """Training dimensions the space varies but the config has no field for."""
    names = {f.name for f in dataclasses.fields(base)}
    out = []
    for dim in space.dimensions:
        if dim.name in TRAIN_FIELDS and dim.name not in names:
            out.append(dim.name)
    return out


def objective_value(result: Mapping[str, Any], objective: str) -> tuple[float, float]:
    """(test accuracy %, cost) from a result JSON; ``TrialFailed`` if either is missing or not finite."""
    key = OBJECTIVES[objective][0]
    try:
        accuracy = float(result["metrics"]["test_accuracy_pct"])
        energy = result["energy"]
        section = energy.get("lifecycle") or energy["step"]
        cost = float(section[key] if key in section else energy["step"][key])
    except (KeyError, TypeError, ValueError) as exc:
        raise TrialFailed(f"the run's result has no usable {exc}") from None
    if not (math.isfinite(accuracy) and math.isfinite(cost)):
        raise TrialFailed(f"non-finite objective values: accuracy {accuracy}, {key} {cost}")
    return accuracy, cost
