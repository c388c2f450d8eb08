"""``greenai baseline``: train a model with energy and CO2 measured throughout.

The default ``--recipe green`` is the recommended fast recipe; ``--recipe seed`` is the study's training.
"""

from __future__ import annotations

import argparse
import sys

from greenai.cli import common


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "baseline",
        help="train the baseline model with measured energy and CO2",
        description=__doc__,
    )
    common.add_training_args(p)
    common.add_carbon_args(p)
    common.add_output_args(p)
    p.add_argument(
        "--resume", metavar="RUN_ID", default=None,
        help="continue an interrupted run from its last checkpoint in <out>/models",
    )  # fmt: skip
    p.add_argument(
        "--run-id", "--run_id", dest="run_id", default=None,
        help="id for the new run (default: generated)",
    )  # fmt: skip
    p.add_argument("--group", default=None, help="group name (a study or search) for the store")
    p.add_argument(
        "--inference-images", "--inference_images", dest="inference_images",
        type=common.nonneg_int, default=2048,
        help="images for the inference energy figure (default 2048; 0: skip it)",
    )  # fmt: skip
    p.add_argument(
        "--mlflow", action="store_true",
        help="also log the run to MLflow ($MLFLOW_TRACKING_URI, else ./mlflow.db)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from greenai.lifecycle.steps.baseline import train_run

    if args.resume and args.run_id and args.resume != args.run_id:
        from greenai.errors import UsageError

        raise UsageError("--resume and --run-id name different runs")
    cfg = common.train_config(args)  # validates flags, model and dataset names
    carbon = common.carbon_config(args)
    out = Path(args.out)
    from greenai.ml.data import check_dataset_spec, locate_cifar10
    from greenai.ml.training.loop import resolve_device

    resolve_device(cfg.device)
    if cfg.dataset == "cifar10" and not args.resume:
        locate_cifar10(cfg.data_dir, cfg.download)  # missing data: one line, nothing written
    elif not args.resume:
        check_dataset_spec(cfg.dataset, cfg.data_dir, cfg.image_size)
    from greenai.integrations.mlflow import MlflowLogger

    mlflow = MlflowLogger.maybe_create(args.mlflow)  # a null logger unless asked for
    opened = []

    def open_store():  # called by train_run once the data has loaded
        opened.append(common.open_output_store(args))
        common.print_recipe_note(args)  # input all checked: the note cannot precede an error
        return opened[0]

    try:
        result = train_run(
            cfg,
            out_dir=out,
            store=open_store,
            carbon=carbon,
            variant="baseline",
            run_id=args.resume or args.run_id,
            group=args.group,
            resume=bool(args.resume),
            progress=args.progress,
            inference_images=args.inference_images,
            mlflow=mlflow,
        )
    finally:
        for store in opened:
            store.close()
    _summary(result)
    return 0


def _summary(result: dict) -> None:
    m, step = result["metrics"], result["energy"]["step"]
    note = result["training"].get("data_note")
    lines = [
        f"run {result['run_id']}: test accuracy {m['test_accuracy_pct']:.2f}%"
        + (f" ({note})" if note else ""),
        f"  model {result['model']}: {m['params']:,} parameters, "
        f"{m['file_size_bytes']:,} bytes ({m['file_size_mib']:.2f} MiB) as weights",
        f"  energy {step['energy_kwh']:.6f} kWh, CO2 {step['co2_kg']:.6f} kg "
        f"over {step['duration_s']:.1f} s (PUE {result['carbon']['pue']}, "
        f"{result['carbon']['intensity_g_per_kwh']:g} gCO2e/kWh: {result['carbon']['intensity_source']})",
    ]
    lines += [f"  {c}: {label}" for c, label in step["methods"].items()]
    if len(step["pieces"]) > 2:
        lines.append(
            f"  resumed (with the settings in its checkpoint): energy and CO2 are the sum of "
            f"{len(step['pieces'])} metered pieces"
        )
    print("\n".join(lines), file=sys.stdout)
