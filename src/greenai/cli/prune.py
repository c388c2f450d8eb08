"""``greenai prune``: magnitude pruning made permanent, fine-tuned, measured, with its lineage."""

from __future__ import annotations

import argparse

from greenai.cli import _compression, common


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prune", help="prune a trained model (unstructured or structured)", description=__doc__
    )
    _compression.add_parent_args(p)
    p.add_argument(
        "--sparsity", type=common.fraction, default=0.3,
        help="fraction of conv weights (unstructured) or channels (structured) removed, in [0, 1)",
    )  # fmt: skip
    p.add_argument("--kind", choices=("unstructured", "structured"), default="unstructured")
    p.add_argument(
        "--include-linear", "--include_linear", dest="include_linear", action="store_true",
        help="unstructured: prune linear weights too",
    )  # fmt: skip
    p.add_argument(
        "--norm", type=int, choices=(1, 2), default=1, help="structured: L1 or L2 ranking"
    )
    p.add_argument(
        "--finetune-epochs", "--finetune_epochs", dest="finetune_epochs", type=common.nonneg_int,
        default=1, help="fine-tuning epochs after pruning (default 1)",
    )  # fmt: skip
    p.add_argument("--lr", type=common.positive_float, default=5e-4, help="fine-tuning Adam lr")
    p.add_argument("--batch-size", dest="batch_size", type=common.positive_int, default=128)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenai.experiments import prune, variants
    from greenai.experiments.distill import fit
    from greenai.experiments.evaluate import param_counts

    ctx, parent = _compression.open_parent(args)
    try:
        if parent.quantized:
            from greenai.errors import UsageError

            raise UsageError(
                f"{args.source}: an INT8 model cannot be pruned; prune its FP32 parent"
            )
        variant = f"pruned_{args.kind}"
        hyper = {
            "kind": args.kind, "sparsity": args.sparsity, "include_linear": args.include_linear,
            "norm": args.norm, "finetune_epochs": args.finetune_epochs, "lr": args.lr,
            "batch_size": args.batch_size, "optimizer": "adam",
        }  # fmt: skip

        def build(tracker, data, run_id):
            model = parent.model
            dense = sum(t.numel() * t.element_size() for t in model.state_dict().values())
            details = {"kind": args.kind, "sparsity_requested": args.sparsity}
            after_step = None
            if args.kind == "unstructured":
                achieved = prune.prune_unstructured(model, args.sparsity, args.include_linear)
                masks = prune.zero_masks(model, args.include_linear)
                details["sparsity_achieved"] = achieved

                def after_step():
                    prune.apply_masks(model, masks)
            else:
                details["channels"] = prune.prune_structured(
                    model, args.sparsity, data.x_test[:2], norm=args.norm
                )
                dense = sum(t.numel() * t.element_size() for t in model.state_dict().values())
            with tracker.phase("finetune"):
                stats = fit(
                    model, data.batches(args.batch_size), args.finetune_epochs, lr=args.lr,
                    after_step=after_step,
                )  # fmt: skip
            details["finetune_losses"] = list(stats.epoch_losses)
            model.eval()
            counts = param_counts(model)

            def save(path):
                from greenai.fsutil import atomic_write_bytes

                blob = variants.variant_file_bytes(model, parent, variant, run_id)
                atomic_write_bytes(path, blob)
                return len(blob)

            return variants.Built(
                predict=model, save=save, file_suffix=".pt", params=counts["params"],
                nonzero_params=counts["nonzero_params"], dense_size_bytes=dense,
                details=details,
            )  # fmt: skip

        result = variants.run_variant(
            variant=variant, parent=parent, ctx=ctx, hyperparameters=hyper,
            step_name="prune", build=build,
        )  # fmt: skip
    finally:
        _compression.close(ctx)
    print(variants.summary(result))
    return 0
