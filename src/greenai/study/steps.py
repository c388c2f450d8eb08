"""The real step functions: each calls another layer's Python function (never a subprocess).

Every function takes a ``StepContext`` and returns the result dict, which the called function has
already written as ``results/<dataset>_<variant>_<run_id>.json`` and recorded in the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from greenai.study.runner import StepContext, StepFn


def _train_config(ctx: StepContext) -> Any:
    from greenai.experiments.train import TrainConfig

    return TrainConfig(**{**ctx.step.config["train"], "device": ctx.step.device}).validate()


def baseline(ctx: StepContext) -> Mapping[str, Any]:
    """Train the baseline (continuing an interrupted run from its checkpoint when there is one)."""
    from greenai.experiments.train import paths_for, train_run

    resume = ctx.resume and paths_for(ctx.out_dir, ctx.run_id)["checkpoint"].is_file()
    return train_run(
        _train_config(ctx),
        out_dir=ctx.out_dir,
        store=ctx.store,
        carbon=ctx.carbon,
        variant="baseline",
        run_id=ctx.run_id,
        group=ctx.group,
        resume=resume,
        progress=ctx.progress,
    )


class StepUnavailable(RuntimeError):
    """The function this step needs is not in this build of greenai."""


def _unavailable(variant: str) -> StepFn:
    def step(ctx: StepContext) -> Mapping[str, Any]:
        raise StepUnavailable(f"the {variant} step is not available in this build of greenai")

    return step


def default_steps() -> dict[str, StepFn]:
    """Variant name -> step function, for every variant this build can run."""
    steps: dict[str, StepFn] = {
        "baseline": baseline,
        "pruned_unstructured": _unavailable("pruned_unstructured"),
        "pruned_structured": _unavailable("pruned_structured"),
        "quantized_ptq": _unavailable("quantized_ptq"),
        "quantized_qat": _unavailable("quantized_qat"),
        "distilled": _unavailable("distilled"),
    }
    return steps
