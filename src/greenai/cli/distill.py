"""``greenai distill``: Hinton knowledge distillation from a trained teacher into a registry student."""

from __future__ import annotations

import argparse

from greenai.cli import _compression, common


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "distill", help="distil a trained teacher into a smaller student", description=__doc__
    )
    _compression.add_parent_args(p, flag="--teacher")
    p.add_argument("--student", required=True, help="registered model name of the student")
    p.add_argument(
        "--student-width", "--student_width", dest="student_width", type=common.positive_float,
        default=1.0, help="student channel-width multiplier (default 1.0)",
    )  # fmt: skip
    p.add_argument("--temperature", type=common.positive_float, default=4.0, help="default 4")
    p.add_argument("--alpha", type=float, default=0.9, help="weight of the soft term, in [0, 1]")
    p.add_argument("--epochs", type=common.positive_int, default=5, help="default 5")
    p.add_argument("--lr", type=common.positive_float, default=1e-3, help="Adam lr (default 1e-3)")
    p.add_argument("--batch-size", dest="batch_size", type=common.positive_int, default=128)
    p.add_argument("--seed", type=common.nonneg_int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from greenai.errors import UsageError
    from greenai.lifecycle import variants
    from greenai.ml.compression.distill import check_distill_args, fit, hinton_loss_fn
    from greenai.ml.evaluation.evaluate import param_counts
    from greenai.ml.models import check_model_name, create_model

    check_distill_args(args.temperature, args.alpha)
    check_model_name(args.student)
    kwargs = {"width": args.student_width} if args.student_width != 1.0 else {}
    ctx, parent = _compression.open_parent(args)
    try:
        if parent.quantized:
            raise UsageError(
                f"{args.source}: an INT8 teacher is not supported; use its FP32 parent"
            )
        torch.manual_seed(args.seed)
        student = create_model(args.student, num_classes=parent.num_classes, **kwargs)
        hyper = {
            "student": args.student, "student_kwargs": kwargs, "temperature": args.temperature,
            "alpha": args.alpha, "epochs": args.epochs, "lr": args.lr,
            "batch_size": args.batch_size, "seed": args.seed, "optimizer": "adam",
            "teacher_model": parent.model_name,
        }  # fmt: skip

        def build(tracker, data, run_id):
            with tracker.phase("train"):
                student.to(ctx.device)
                teacher = parent.model.to(ctx.device)
                stats = fit(
                    student, data.batches(args.batch_size, args.seed, device=ctx.device),
                    args.epochs, lr=args.lr, loss_fn=hinton_loss_fn(args.temperature, args.alpha),
                    teacher=teacher,
                )  # fmt: skip
            student.to("cpu").eval()
            teacher.to("cpu")
            counts = param_counts(student)
            dense = sum(t.numel() * t.element_size() for t in student.state_dict().values())

            def save(path):
                from greenai.fsutil import atomic_write_bytes

                blob = variants.variant_file_bytes(
                    student, parent, "distilled", run_id, args.student, kwargs
                )
                atomic_write_bytes(path, blob)
                return len(blob)

            return variants.Built(
                predict=student, save=save, file_suffix=".pt", params=counts["params"],
                nonzero_params=counts["nonzero_params"], dense_size_bytes=dense,
                details={"losses": list(stats.epoch_losses), "teacher_run_id": parent.run_id},
            )  # fmt: skip

        result = variants.run_variant(
            variant="distilled", parent=parent, ctx=ctx, hyperparameters=hyper,
            step_name="distill", build=build, model_name=args.student, device=ctx.device,
        )  # fmt: skip
    finally:
        _compression.close(ctx)
    print(variants.summary(result))
    return 0
