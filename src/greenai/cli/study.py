"""``greenai study``: baseline -> pruned -> quantized -> distilled with energy measured, then the report.

Steps whose results already exist for the same configuration are reused, so an interrupted study
continues where it stopped; a failed step is reported as failed and the others go on.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from greenai.cli import _schedule, _torchrun, argtypes, common, training_args
from greenai.cli._runtimes import add_runtime_args
from greenai.cli.report import add_report_args
from greenai.lifecycle.registry import study_variants
from greenai.ml.evaluation import INFERENCE_IMAGES

VARIANTS = study_variants()  # the registered study steps (torch-free: read for --help)


def variant_list(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    for name in names:
        if name not in VARIANTS:
            raise argparse.ArgumentTypeError(
                f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}"
            )
    return names


def _allow_both_devices(p: argparse.ArgumentParser) -> None:
    """``add_training_args`` offers auto|cpu|gpu; a study can also run the set on both."""
    for action in p._actions:
        if "--device" in action.option_strings:
            action.choices = ("auto", "cpu", "gpu", "both")
            action.help = "auto (default): CUDA if present, else CPU; both: the set on CPU and GPU"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "study", help="run the whole lifecycle study and write its report", description=__doc__
    )
    # the study keeps the study's recipe: its compression steps are tuned for seed_cnn (measured on
    # the green recipe's airbench net: structured pruning lost 6.8 points after one Adam epoch and
    # the 2-epoch distillation reached 53.66%), so `--recipe green` is there to choose
    training_args.add_training_args(p, recipe="seed")
    _allow_both_devices(p)
    g = p.add_argument_group("study")
    g.add_argument(
        "--variants", type=variant_list, nargs="+", default=None, metavar="VARIANT",
        help=f"subset to run, space or comma separated (default: all of {', '.join(VARIANTS)})",
    )  # fmt: skip
    g.add_argument(
        "--name", default="study", help="study name: the runs' group in the store (default study)"
    )
    g.add_argument("--sparsity", type=argtypes.fraction, default=0.3, help="pruning (default 0.3)")
    g.add_argument(
        "--finetune-epochs", "--finetune_epochs", dest="finetune_epochs",
        type=argtypes.nonneg_int, default=1, help="fine-tuning after pruning (default 1)",
    )  # fmt: skip
    g.add_argument(
        "--calib-batches", "--calib_batches", dest="calib_batches",
        type=argtypes.positive_int, default=10, help="PTQ calibration batches (default 10)",
    )  # fmt: skip
    g.add_argument(
        "--qat-epochs", "--qat_epochs", dest="qat_epochs",
        type=argtypes.positive_int, default=1, help="quantization-aware fine-tuning (default 1)",
    )  # fmt: skip
    g.add_argument(
        "--student", default="auto",
        help="distillation student model (default auto: the teacher's own net, at "
        "--student-width x the teacher's width)",
    )  # fmt: skip
    g.add_argument(
        "--student-width", "--student_width", dest="student_width",
        type=argtypes.positive_float, default=0.5,
        help="student width multiplier (default 0.5; with --student auto, of the teacher's width)",
    )  # fmt: skip
    g.add_argument(
        "--distill-epochs", "--distill_epochs", dest="distill_epochs",
        type=argtypes.positive_int, default=None, help="default: --epochs",
    )  # fmt: skip
    g.add_argument(
        "--temperature", type=argtypes.positive_float, default=4.0, help="distillation (default 4)"
    )
    g.add_argument(
        "--alpha", type=argtypes.fraction, default=0.9, help="weight of the soft loss (default 0.9)"
    )
    g.add_argument(
        "--inference-images", "--inference_images", dest="inference_images",
        type=argtypes.positive_int, default=INFERENCE_IMAGES,
        help=f"images each variant's inference energy is measured on, on each runtime (default "
        f"{INFERENCE_IMAGES}, in batches of 256; fewer: a quicker, rougher figure; a reused step "
        "keeps its own)",
    )  # fmt: skip
    add_report_args(p)
    common.add_tracking_args(
        p, "a parent run for the study, one nested run per step, the report's charts on the parent"
    )
    common.add_carbon_args(p)
    common.add_output_args(p)
    add_runtime_args(p)
    common.add_budget_args(p)
    _schedule.add_schedule_args(p)
    _torchrun.add_launch_args(p)  # the baseline under DDP; the other steps in this process
    p.set_defaults(func=run)


def _ddp_launch(args: argparse.Namespace, cfg: object) -> object:
    """``study.ddp.DdpLaunch`` from the launch flags (None without them); refusals in one line."""
    from greenai.errors import UsageError

    if not any(
        getattr(args, k, None) is not None
        for k in ("nproc_per_node", "nnodes", "node_rank", "rdzv_endpoint")
    ):
        return None
    if _torchrun.is_rank():
        raise UsageError(
            "greenai study starts the baseline's ranks itself: run it without torchrun"
        )
    if (args.nnodes or 1) > 1:
        raise UsageError(
            "greenai study runs on one machine (--nnodes 1): train across machines with "
            "greenai baseline --nnodes, then prune/quantize/distill --from its run"
        )
    if args.mlflow or args.wandb:
        raise UsageError(
            "--mlflow/--wandb cannot follow a distributed baseline's ranks yet: drop them or "
            "--nproc-per-node"
        )
    from greenai.lifecycle.training_ddp import check_distributable
    from greenai.ml.training.config import TrainConfig
    from greenai.study.ddp import DdpLaunch

    check_distributable(TrainConfig(**cfg.train), resume=False)  # type: ignore[attr-defined]
    return DdpLaunch(args.nproc_per_node or 1, 1, args.node_rank, args.rdzv_endpoint)


def _devices(choice: str) -> tuple[str, ...]:
    from greenai.errors import UsageError
    from greenai.ml.training.loop import resolve_device

    if choice == "both":
        try:
            resolve_device("gpu")
        except UsageError:
            raise UsageError("--device both: no CUDA GPU is available here") from None
        return ("cpu", "gpu")
    return ("gpu" if resolve_device(choice).type == "cuda" else "cpu",)


def build_config(args: argparse.Namespace) -> object:
    """A validated ``StudyConfig`` from the flags; raises one UsageError line for bad input."""
    from greenai.ml.training.config import TrainConfig
    from greenai.study.plan import StudyConfig

    train = {k: v for k, v in training_args.train_config_kwargs(args).items() if k != "device"}
    TrainConfig(**train, device="cpu").validate()
    variants = tuple(v for group in (args.variants or [list(VARIANTS)]) for v in group)
    if args.student != "auto":
        from greenai.ml.models import check_model_name

        check_model_name(args.student)  # a bad student: one line before any step runs
    settings = {
        "sparsity": args.sparsity,
        "finetune_epochs": args.finetune_epochs,
        "calib_batches": args.calib_batches,
        "qat_epochs": args.qat_epochs,
        "student": {"model": args.student, "width": args.student_width},
        "distill_epochs": args.distill_epochs or args.epochs,
        "temperature": args.temperature,
        "alpha": args.alpha,
    }
    carbon = {"country": args.country, "pue": args.pue, "intensity": args.intensity}
    watts = getattr(args, "cpu_watts", None) or os.environ.get("GREENAI_CPU_WATTS", "").strip()
    if watts:  # a user-given CPU power changes the figures: steps are redone (absent: same hash)
        carbon["cpu_watts"] = watts
    return StudyConfig(
        name=args.name,
        devices=_devices(args.device),
        variants=variants,
        train=train,
        variant_settings=settings,
        carbon=carbon,
    ).validate()


def run(args: argparse.Namespace) -> int:
    from greenai.sensors import check_sensors
    from greenai.study.pipeline import run_and_report
    from greenai.study.steps import default_steps

    _schedule.check(args)
    cfg = build_config(args)
    ddp = _ddp_launch(args, cfg)
    carbon = common.carbon_config(args)
    budget = common.budget_from_args(args)
    check_sensors()  # a garbage powercap counter: one line, nothing written
    if args.dataset == "cifar10":
        from greenai.ml.data import locate_cifar10

        locate_cifar10(args.data_dir, args.download)  # missing data: one line, nothing written
    from greenai.integrations.wandb import trackers

    mlflow = trackers(mlflow=args.mlflow, wandb=args.wandb)  # a null logger unless asked for
    out = Path(args.out)
    from greenai.study.state import load_state, state_path

    load_state(state_path(out, cfg.name))  # a corrupt state file: one line, before the store opens
    if not _schedule.maybe_wait(args, lambda: _schedule.group_history(args, cfg.name)):
        return 0  # --dry-run: the chosen start is printed, nothing runs
    with common.open_output_store(args) as store:
        training_args.print_recipe_note(args)  # input all checked: the note cannot precede an error
        _print_plan(cfg, timed=args.progress)
        if ddp is not None:
            print(ddp.describe(), file=sys.stderr)  # type: ignore[attr-defined]
        outcome, files = run_and_report(
            cfg,
            out,
            default_steps(ddp),
            store=store,
            carbon=carbon,
            inferences=args.inferences,
            inference_images=args.inference_images,
            log=lambda m: print(m, file=sys.stderr),
            progress=args.progress,
            store_url=args.store,
            mlflow=mlflow,
            budget=budget,
        )
    print(files.terminal_text)
    print(f"wrote {files.markdown}, {files.html}")
    for path in files.charts.values():
        print(f"wrote {path}")
    failed = outcome.failed
    if failed:
        print(
            f"greenai study: {len(failed)} of {len(outcome.records)} steps did not finish: "
            + ", ".join(f"{r.key} ({r.status})" for r in failed),
            file=sys.stderr,
        )
        return 1
    return 0


def _print_plan(cfg: object, timed: bool) -> None:
    """The plan (steps, epochs) on stderr before the study starts; with ``timed``, a rough duration
    from a few training steps timed here now (a few seconds; skipped with --no-progress)."""
    from greenai.study.estimate import plan_lines, time_epoch
    from greenai.study.plan import plan

    steps = plan(cfg)  # type: ignore[arg-type]
    timing, why = None, None
    if timed:
        try:  # best effort: an estimate that cannot be made must not stop the study
            timing = time_epoch(cfg.train)  # type: ignore[attr-defined]
        except Exception as exc:  # said on the plan line; the study goes on
            why = f"the model could not be timed here: {type(exc).__name__}: {str(exc)[:120]}"
    lines = plan_lines(steps, timing, why)
    print("\n".join(lines if timed else lines[:1]), file=sys.stderr)
