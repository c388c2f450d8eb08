"""``greenai distill``: Hinton knowledge distillation from a trained teacher into a registry student."""

from __future__ import annotations

import argparse
from typing import Any

from greenai.cli import _compression, _torchrun, argtypes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "distill", help="distil a trained teacher into a smaller student", description=__doc__
    )
    _compression.add_parent_args(p, flag="--teacher")
    p.add_argument(
        "--student",
        required=True,
        help="the student: a built-in model, MODULE:NAME or path/to/file.py:NAME",
    )
    p.add_argument(
        "--student-width", "--student_width", dest="student_width", type=argtypes.positive_float,
        default=1.0, help="student channel-width multiplier (default 1.0)",
    )  # fmt: skip
    p.add_argument("--temperature", type=argtypes.positive_float, default=4.0, help="default 4")
    p.add_argument("--alpha", type=float, default=0.9, help="weight of the soft term, in [0, 1]")
    p.add_argument("--epochs", type=argtypes.positive_int, default=5, help="default 5")
    p.add_argument(
        "--lr", type=argtypes.positive_float, default=1e-3, help="Adam lr (default 1e-3)"
    )
    _compression.add_finetune_arg(p, "its LR and schedule")
    p.add_argument("--batch-size", dest="batch_size", type=argtypes.positive_int, default=128)
    p.add_argument("--seed", type=argtypes.nonneg_int, default=0)
    _torchrun.add_launch_args(p)  # distillation under DDP
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenai.lifecycle.steps.distill import distill
    from greenai.ml.compression.distill import check_distill_args
    from greenai.ml.models import check_model_name

    check_distill_args(args.temperature, args.alpha)
    check_model_name(args.student)
    kwargs = {"width": args.student_width} if args.student_width != 1.0 else {}

    def step(env: Any, parent: Any, data: Any, device: str) -> dict[str, Any]:
        return distill(
            parent, env, data, student=args.student, student_kwargs=kwargs,
            temperature=args.temperature, alpha=args.alpha, epochs=args.epochs, lr=args.lr,
            batch_size=args.batch_size, seed=args.seed, device=device, finetune=args.finetune,
        )  # fmt: skip

    return _compression.run_step(args, step)
