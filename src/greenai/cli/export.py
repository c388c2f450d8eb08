"""``greenai export --format onnx``: ONNX export, plus ONNX Runtime static INT8 as a deployment variant."""

from __future__ import annotations

import argparse

from greenai.cli import _compression, common


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export a trained model to ONNX (optionally ORT static INT8)",
        description=__doc__,
    )  # fmt: skip
    _compression.add_parent_args(p)
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument(
        "--int8", action="store_true",
        help="also quantize with ONNX Runtime (static INT8, QDQ) and measure that as the variant",
    )  # fmt: skip
    p.add_argument(
        "--calib-batches", "--calib_batches", dest="calib_batches", type=common.positive_int,
        default=10, help="INT8: calibration batches of 128 training images (default 10)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenai.lifecycle.steps.export import export
    from greenai.lifecycle.variant_run import summary
    from greenai.ml.compression import export_onnx

    export_onnx.check_available()  # missing extra: one line, before anything
    env, parent, data, _device = _compression.open_parent(args)
    try:
        result = export(
            parent, env, data, format=args.format, int8=args.int8,
            calib_batches=args.calib_batches,
        )  # fmt: skip
    finally:
        _compression.close(env)
    print(summary(result))
    return 0
