"""Flags and setup shared by ``prune``, ``quantize``, ``distill`` and ``export`` (no torch here)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from greenai.cli import argtypes, common
from greenai.cli._runtimes import add_runtime_args


def add_parent_args(
    p: argparse.ArgumentParser, flag: str = "--from", required: bool = True
) -> None:
    p.add_argument(
        flag, dest="source", required=required, metavar="RUN_OR_CKPT",
        help="parent run id (store or <out>/results) or a greenai model file",
    )  # fmt: skip
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset", default=None, metavar="SPEC",
        help="the data to evaluate (and fine-tune) on; default: the parent's",
    )  # fmt: skip
    g.add_argument("--data-dir", "--data_dir", dest="data_dir", default=None)
    g.add_argument(
        "--image-size", "--image_size", dest="image_size", type=argtypes.positive_int, default=None
    )
    g.add_argument("--limit-train", dest="limit_train", type=argtypes.positive_int, default=None)
    g.add_argument("--limit-test", dest="limit_test", type=argtypes.positive_int, default=None)
    p.add_argument(
        "--device", choices=("auto", "cpu", "gpu"), default="auto",
        help="where fine-tuning and distillation run (auto: CUDA if present, else CPU); INT8 "
        "quantization, evaluation and the inference figures run on the CPU for every variant",
    )  # fmt: skip
    p.add_argument("--group", default=None, help="group name (a study) for the store")
    common.add_tracking_args(p)
    common.add_carbon_args(p)
    common.add_output_args(p)
    add_runtime_args(p)


def add_finetune_arg(p: argparse.ArgumentParser, recipe_how: str) -> None:
    """``--finetune auto|adam|recipe`` (``ml.compression.finetune``); ``recipe_how``: how the
    recipe trains in this command."""
    p.add_argument(
        "--finetune", choices=("auto", "adam", "recipe"), default="auto",
        help=f"how it trains: adam (at --lr), recipe (the parent's airbench recipe: SGD groups, "
        f"bf16, crops; {recipe_how}), auto (default: recipe for a parent trained by green, "
        "green_long or green_long_sgd, else adam)",
    )  # fmt: skip


def open_parent(args: argparse.Namespace) -> tuple[Any, Any, Any, str]:
    """Validate and load everything before anything is written: (RunEnv, Parent, DataSpec, device).

    The parent's dataset (recorded in its run or file) is the step's unless ``--dataset`` says
    otherwise; the store is opened only once the parent and the data are known."""
    from pathlib import Path

    from greenai.lifecycle.parents import resolve_parent
    from greenai.lifecycle.run import RunEnv
    from greenai.lifecycle.variant_data import DataSpec
    from greenai.ml.training.loop import resolve_device
    from greenai.sensors import check_sensors

    out = Path(args.out)
    device = resolve_device(getattr(args, "device", "cpu")).type  # --device gpu without CUDA: 2
    carbon = common.carbon_config(args)
    check_sensors()  # a garbage powercap counter: one line before the run row is created
    store = _existing_store(args)
    try:
        parent = resolve_parent(args.source, out, store)
        if parent.quantized:
            from greenai.errors import UsageError

            raise UsageError(
                f"{args.source} is already quantized (INT8); start from its FP32 parent instead"
            )
        dataset = args.dataset or parent.dataset or "cifar10"
        data = DataSpec(
            dataset=dataset, data_dir=args.data_dir, limit_train=args.limit_train,
            limit_test=args.limit_test, image_size=args.image_size or _parent_size(parent, dataset),
        )  # fmt: skip
        data.check()
        mlflow = _mlflow_logger(args)
    except BaseException:
        if store is not None:
            store.close()
        raise
    env = RunEnv(
        out_dir=out, store=store if store is not None else common.open_output_store(args),
        carbon=carbon, group=args.group, mlflow=mlflow,
    )  # fmt: skip
    return env, parent, data, device


def _parent_size(parent: Any, dataset: str) -> int | None:
    """A parent trained on resized images: the same size (None for CIFAR-10 and the like)."""
    if not dataset.startswith("imagefolder:"):
        return None
    return int(parent.input_shape[1])


def _mlflow_logger(args: argparse.Namespace) -> Any:
    """The MLflow logger: one handed over by a study (``args.mlflow_logger``, nesting the run
    under the study's), else one for ``--mlflow`` / ``$MLFLOW_TRACKING_URI``, else a null one."""
    given = getattr(args, "mlflow_logger", None)
    if given is not None:
        return given
    from greenai.integrations.wandb import trackers

    return trackers(mlflow=getattr(args, "mlflow", False), wandb=getattr(args, "wandb", False))


def _existing_store(args: argparse.Namespace) -> Any:
    """The store, opened only if it already exists (a bad --from must not create one)."""
    from greenai.errors import UsageError
    from greenai.storage import open_store

    try:
        return open_store(args.store, default_dir=args.out, create=False)
    except UsageError:
        return None


def run_step(args: argparse.Namespace, step: Callable[..., dict[str, Any]]) -> int:
    """Check and load the parent and data, then ``step(env, parent, data, device)`` and its summary.

    With ``--nproc-per-node`` (and the other launch flags) the command, once checked, starts itself
    again under torchrun: every rank fine-tunes its shard, rank 0 records the one run and prints it."""
    from greenai.cli import _torchrun
    from greenai.lifecycle.variant_run import summary
    from greenai.sensors.ranks import rank_info

    env, parent, data, device = open_parent(args)
    if _torchrun.wants_launch(args):
        close(env)
        return _torchrun.launch(args)
    try:
        result = step(env, parent, data, device)
    finally:
        close(env)
    if rank_info().rank == 0:  # one summary for a distributed job
        print(summary(result))
    return 0


def close(env: Any) -> None:
    if env is not None and env.store is not None:
        env.store.close()
