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
    from greenai.errors import UsageError
    from greenai.experiments import quantize as q
    from greenai.experiments.evaluate import param_counts

    q.check_available()  # a missing torchao: one line, before anything
    ctx, parent = _compression.open_parent(args)
    from greenai.experiments import variants

    try:
        if parent.quantized:
            raise UsageError(
                f"{args.source} is already quantized; quantize its FP32 parent instead"
            )
        variant = f"quantized_{args.method}"
        hyper = {"method": args.method, "batch_size": args.batch_size}
        if args.method == "ptq":
            hyper["calib_batches"] = args.calib_batches
        if args.method == "qat":
            hyper.update(epochs=args.epochs, lr=args.lr, optimizer="adam")

        def build(tracker, data, run_id):
            model = parent.model.eval()
            dense = sum(t.numel() * t.element_size() for t in model.state_dict().values())
            example = data.x_test[:2]
            details = {"method": args.method}
            if args.method == "ptq":
                bs = args.batch_size
                calib = [data.x_train[i * bs : (i + 1) * bs] for i in range(args.calib_batches)]
                calib = [c for c in calib if len(c)]
                details["calibration_images"] = sum(len(c) for c in calib)
                result = q.quantize_ptq(model, calib, example)
            elif args.method == "dynamic":
                result = q.quantize_dynamic(model, example)
            else:
                from greenai.experiments.distill import fit

                prepared = q.prepare_qat(model, example)
                with tracker.phase("qat"):
                    stats = fit(
                        prepared, data.batches(args.batch_size), args.epochs, lr=args.lr,
                        train_mode=lambda flag: q.set_qat_mode(prepared, flag),
                    )  # fmt: skip
                details["qat_losses"] = list(stats.epoch_losses)
                result = q.convert_qat(prepared, example)
            details["route"] = result.route
            meta = {"model": parent.model_name, "run_id": run_id, "parent_run_id": parent.run_id}
            blob = q.quantized_bytes(result, meta)  # strips the FP32 copies before compiling
            counts = param_counts(result.module)
            with tracker.phase("compile"):
                compiled = q.compile_for_cpu(result.module)
                compiled(data.x_test[:256])
                compiled(data.x_test[:1])

            def save(path):
                from greenai.fsutil import atomic_write_bytes

                atomic_write_bytes(path, blob)
                return len(blob)

            return variants.Built(
                predict=compiled, save=save, file_suffix=".int8.pt2z", params=counts["params"],
                nonzero_params=counts["nonzero_params"], dense_size_bytes=dense,
                precision="int8", setting="int8 torch.compile(inductor, freezing)", details=details,
            )  # fmt: skip

        result = variants.run_variant(
            variant=variant, parent=parent, ctx=ctx, hyperparameters=hyper,
            step_name=f"quantize_{args.method}", build=build,
        )  # fmt: skip
    finally:
        _compression.close(ctx)
    print(variants.summary(result))
    return 0
