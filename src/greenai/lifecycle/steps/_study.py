"""What a study step needs from the study's ``StepContext`` (duck-typed: the study sits above)."""

from __future__ import annotations

from typing import Any

from greenai.lifecycle.run import RunEnv


def env(ctx: Any) -> RunEnv:
    return RunEnv(
        out_dir=ctx.out_dir, store=ctx.store, carbon=ctx.carbon, group=ctx.group,
        mlflow=ctx.mlflow, progress=ctx.progress, inference_images=ctx.inference_images,
    )  # fmt: skip


def data(ctx: Any) -> Any:
    from greenai.lifecycle.variant_data import DataSpec

    train = ctx.step.config["train"]
    return DataSpec(
        dataset=train.get("dataset", "cifar10"), data_dir=train.get("data_dir"),
        limit_train=train.get("limit_train"), limit_test=train.get("limit_test"),
        image_size=train.get("image_size"),
    )  # fmt: skip


def parent(ctx: Any) -> Any:
    from greenai.lifecycle.parents import resolve_parent

    return resolve_parent(str(ctx.parent_result["run_id"]), ctx.out_dir, ctx.store)


def device(ctx: Any) -> str:
    from greenai.ml.training.loop import resolve_device

    return resolve_device(ctx.step.device).type


def settings(ctx: Any) -> dict[str, Any]:
    return dict(ctx.step.config["settings"])


def batch_size(ctx: Any, default: int = 128) -> int:
    return int(ctx.step.config["train"].get("batch_size") or default)
