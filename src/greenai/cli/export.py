"""``greenai export --format onnx|openvino|executorch``: a deployable model file (ONNX, OpenVINO IR,
ExecuTorch .pte for edge devices), optionally INT8, measured as a variant on its runtime."""

from __future__ import annotations

import argparse

from greenai.cli import _compression, argtypes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export a trained model to ONNX, OpenVINO IR or ExecuTorch (optionally INT8)",
        description=__doc__,
    )  # fmt: skip
    _compression.add_parent_args(p)
    p.add_argument(
        "--format", choices=("onnx", "openvino", "executorch"), default="onnx",
        help="onnx (ONNX Runtime), openvino (IR .xml + .bin; pip install 'greenai[openvino]') or "
        "executorch (.pte, XNNPACK delegate, for phones and edge boards; 'greenai[edge]')",
    )  # fmt: skip
    p.add_argument(
        "--int8", action="store_true",
        help="quantize with the format's own static INT8 (ONNX Runtime QDQ, NNCF, XNNPACK PT2E) "
        "and measure that as the variant",
    )  # fmt: skip
    p.add_argument(
        "--calib-batches", "--calib_batches", dest="calib_batches", type=argtypes.positive_int,
        default=10, help="INT8: calibration batches of 128 training images (default 10)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenai.lifecycle.steps.export import check_format, export
    from greenai.lifecycle.variant_run import summary

    check_format(args.format)  # a runtime not installed: one line, before anything
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
