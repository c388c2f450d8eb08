"""``greenai quantize``: INT8 for x86 CPUs (PT2E via torchao): static PTQ, QAT or dynamic."""

from __future__ import annotations

import argparse
from typing import Any

from greenai.cli import _compression, _torchrun, argtypes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quantize", help="INT8-quantize a trained model for the CPU", description=__doc__
    )
    _compression.add_parent_args(p)
    p.add_argument("--method", choices=("ptq", "qat", "dynamic"), default="ptq")
    p.add_argument(
        "--calib-batches", "--calib_batches", dest="calib_batches", type=argtypes.positive_int,
        default=10, help="PTQ: training batches used for calibration (default 10)",
    )  # fmt: skip
    p.add_argument("--batch-size", dest="batch_size", type=argtypes.positive_int, default=128)
    p.add_argument(
        "--epochs",
        type=argtypes.positive_int,
        default=1,
        help="QAT: fine-tuning epochs (default 1)",
    )
    p.add_argument("--lr", type=argtypes.positive_float, default=1e-4, help="QAT: Adam lr")
    _torchrun.add_launch_args(p)  # QAT under DDP
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenai.lifecycle.steps.quantize import quantize
    from greenai.ml.compression import quantize as q

    q.check_available()  # a missing torchao: one line, before anything
    if args.method != "qat" and _torchrun.wants_launch(args):
        from greenai.errors import UsageError

        raise UsageError(
            f"--method {args.method} does not train: only QAT runs under --nproc-per-node"
        )

    def step(env: Any, parent: Any, data: Any, _device: str) -> dict[str, Any]:
        return quantize(
            parent, env, data, method=args.method, calib_batches=args.calib_batches,
            batch_size=args.batch_size, epochs=args.epochs, lr=args.lr,
        )  # fmt: skip

    return _compression.run_step(args, step)
