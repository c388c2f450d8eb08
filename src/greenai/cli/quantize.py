"""``greenai quantize``: INT8 for x86 CPUs (PT2E via torchao): static PTQ, QAT or dynamic."""

from __future__ import annotations

import argparse

from greenai.cli import _compression, common


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quantize", help="INT8-quantize a trained model for the CPU", description=__doc__
    )
    _compression.add_parent_args(p)
    p.add_argument("--method", choices=("ptq", "qat", "dynamic"), default="ptq")
    p.add_argument(
        "--calib-batches", "--calib_batches", dest="calib_batches", type=common.positive_int,
        default=10, help="PTQ: training batches used for calibration (default 10)",
    )  # fmt: skip
    p.add_argument("--batch-size", dest="batch_size", type=common.positive_int, default=128)
    p.add_argument(
        "--epochs", type=common.positive_int, default=1, help="QAT: fine-tuning epochs (default 1)"
    )
    p.add_argument("--lr", type=common.positive_float, default=1e-4, help="QAT: Adam lr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenai.lifecycle.steps.quantize import quantize
    from greenai.lifecycle.variant_run import summary
    from greenai.ml.compression import quantize as q

    q.check_available()  # a missing torchao: one line, before anything
    env, parent, data, _device = _compression.open_parent(args)
    try:
        result = quantize(
            parent, env, data, method=args.method, calib_batches=args.calib_batches,
            batch_size=args.batch_size, epochs=args.epochs, lr=args.lr,
        )  # fmt: skip
    finally:
        _compression.close(env)
    print(summary(result))
    return 0
