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
    import tempfile
    from pathlib import Path

    import torch

    from greenai.lifecycle import variants
    from greenai.ml.compression import export_onnx
    from greenai.ml.evaluation.evaluate import param_counts

    export_onnx.check_available()  # missing extra: one line, before anything
    ctx, parent = _compression.open_parent(args)
    variant = "onnx_int8" if args.int8 else "onnx_fp32"
    try:
        hyper = {"format": args.format, "int8": args.int8}
        if args.int8:
            hyper["calib_batches"] = args.calib_batches

        def build(tracker, data, run_id):
            model = parent.model.eval()
            counts = param_counts(model)
            dense = sum(t.numel() * t.element_size() for t in model.state_dict().values())
            work = Path(tempfile.mkdtemp(prefix="greenai-onnx-"))
            fp32 = work / "model.onnx"
            export_onnx.export(model, fp32, data.x_test[:1])
            final = fp32
            if args.int8:
                calib = [data.x_train[i * 128 : (i + 1) * 128] for i in range(args.calib_batches)]
                final = work / "model.int8.onnx"
                export_onnx.quantize_static_int8(fp32, final, [c for c in calib if len(c)])
            predict = export_onnx.session(final, threads=torch.get_num_threads())

            def save(path):
                from greenai.fsutil import atomic_write_bytes

                blob = final.read_bytes()
                atomic_write_bytes(path, blob)
                return len(blob)

            return variants.Built(
                predict=predict, save=save, file_suffix=".int8.onnx" if args.int8 else ".onnx",
                params=counts["params"], nonzero_params=counts["nonzero_params"],
                dense_size_bytes=dense, precision="int8" if args.int8 else "fp32",
                setting=f"onnxruntime {'static int8 QDQ' if args.int8 else 'fp32'} CPU",
                details={"exporter": "torch.onnx.export(dynamo=False), opset 17"},
            )  # fmt: skip

        result = variants.run_variant(
            variant=variant, parent=parent, ctx=ctx, hyperparameters=hyper,
            step_name="export", build=build,
        )  # fmt: skip
    finally:
        _compression.close(ctx)
    print(variants.summary(result))
    return 0
