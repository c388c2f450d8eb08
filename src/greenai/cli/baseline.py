"""``greenai baseline``: train a model with energy and CO2 measured throughout.

The default ``--recipe green`` is the recommended fast recipe; ``--recipe seed`` is the study's training.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from greenai.cli import _schedule, _torchrun, argtypes, common, training_args
from greenai.cli._runtimes import add_runtime_args
from greenai.ml.evaluation import INFERENCE_IMAGES


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "baseline",
        help="train the baseline model with measured energy and CO2",
        description=__doc__,
    )
    training_args.add_training_args(p)
    common.add_carbon_args(p)
    common.add_output_args(p)
    add_runtime_args(p)
    common.add_budget_args(p)
    _schedule.add_schedule_args(p)
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
        type=argtypes.nonneg_int, default=INFERENCE_IMAGES,
        help=f"images for the inference energy figure (default {INFERENCE_IMAGES}; 0: skip it)",
    )  # fmt: skip
    common.add_tracking_args(p)
    _torchrun.add_launch_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from greenai.lifecycle.budget import BudgetExceeded
    from greenai.lifecycle.steps.baseline import train_run

    if args.resume and args.run_id and args.resume != args.run_id:
        from greenai.errors import UsageError

        raise UsageError("--resume and --run-id name different runs")
    _schedule.check(args)
    cfg = training_args.train_config(args)  # validates flags, model and dataset names
    carbon = common.carbon_config(args)
    budget = common.budget_from_args(args)
    out = Path(args.out)
    from greenai.ml.data import check_dataset_spec, locate_cifar10
    from greenai.ml.training.loop import resolve_device

    resolve_device(cfg.device)
    _check_model_memory(cfg)
    if args.resume:
        _check_resumable(args.resume, args.store, out)
    if cfg.dataset == "cifar10" and not args.resume:
        locate_cifar10(cfg.data_dir, cfg.download)  # missing data: one line, nothing written
    elif not args.resume:
        check_dataset_spec(cfg.dataset, cfg.data_dir, cfg.image_size)

    def history() -> Any:
        return training_history(args, cfg.to_dict(), "baseline")

    if not _torchrun.is_rank() and not _schedule.maybe_wait(args, history):  # launcher decides
        return 0  # --dry-run: the chosen start is printed, nothing runs
    if _torchrun.wants_launch(args):  # checked above; every rank checks again
        from greenai.lifecycle.training_ddp import check_distributable
        from greenai.storage import new_run_id

        check_distributable(cfg, bool(args.resume))

        return _torchrun.launch(args, args.run_id or new_run_id())
    from greenai.integrations.wandb import trackers

    mlflow = trackers(mlflow=args.mlflow, wandb=args.wandb)  # a null logger unless asked for
    opened = []

    def open_store():  # called by train_run once the data has loaded
        opened.append(common.open_output_store(args))
        training_args.print_recipe_note(args)  # input all checked: the note cannot precede an error
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
            budget=budget,
        )
    except BudgetExceeded as exc:  # a graceful stop, not an error: checkpoint kept, resumable
        print(f"greenai: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        for store in opened:
            store.close()
    from greenai.sensors.ranks import rank_info

    if rank_info().rank == 0:  # one summary for a distributed job
        _summary(result)
    return 0


def training_history(args: argparse.Namespace, config: dict, variant: str) -> Any:
    """The median duration of finished runs with these training settings (for --start-within)."""
    from greenai.errors import UsageError
    from greenai.storage import open_store

    try:
        store = open_store(args.store, default_dir=args.out, create=False)
    except UsageError:  # no store yet: no history
        return None
    try:
        runs = store.list_runs(variant=variant)
        return _schedule.median_duration(runs, _schedule.same_settings(config))
    finally:
        store.close()


def _summary(result: dict) -> None:
    from greenai.results.bands import summary_lines
    from greenai.results.runtimes import runtime_lines

    m, step = result["metrics"], result["energy"]["step"]
    note = result["training"].get("data_note")
    lines = [
        f"run {result['run_id']}: test accuracy {m['test_accuracy_pct']:.2f}%"
        + (f" ({note})" if note else "")
        + f" ({accuracy_how(result)})",
        f"  model {result['model']}: {m['params']:,} parameters, "
        f"{m['file_size_bytes']:,} bytes ({m['file_size_mib']:.2f} MiB) as weights",
        f"  energy {step['energy_kwh']:.6f} kWh, CO2 {step['co2_kg']:.6f} kg "
        f"over {step['duration_s']:.1f} s (PUE {result['carbon']['pue']}, "
        f"{result['carbon']['intensity_g_per_kwh']:g} gCO2e/kWh: {result['carbon']['intensity_source']})",
    ]
    lines += summary_lines(result)  # bands and embodied carbon (results/bands.py)
    lines += [f"  {c}: {label}" for c, label in step["methods"].items()]
    inf = result.get("inference")
    if inf:
        lines.append(
            f"  inference ({inf['setting']}, {inf['threads']} threads): "
            f"{inf['latency_ms_b1']:.2f} ms at batch 1, {inf['throughput_img_s_b256']:,.0f} img/s "
            f"at batch 256, {inf['energy_j_per_1000_images']:.3g} J per 1,000 images"
        )
        lines += runtime_lines(inf)
    dist = result.get("distributed")
    if dist:
        lines.append(
            f"  distributed: {dist['world_size']} ranks on {len(dist['nodes'])} node(s), "
            "energy summed over them (node counters read once per node)"
        )
    if len(step["pieces"]) > 2:
        lines.append(
            f"  resumed (with the settings in its checkpoint): energy and CO2 are the sum of "
            f"{len(step['pieces'])} metered pieces"
        )
    print("\n".join(lines), file=sys.stdout)


def accuracy_how(result: dict) -> str:
    """What the summary's accuracy is, next to the per-epoch bars' (which can read lower)."""
    tta = (result.get("metrics") or {}).get("test_accuracy_tta_pct")
    if tta is not None:
        return (
            "final: whole test set, one forward per image as deployed and as its variants are "
            f"judged; {tta:.2f}% with test-time augmentation, flips + 1-pixel shifts, 6 forwards "
            "per image (airbench's convention)"
        )
    return "final: whole test set, no test-time augmentation"


def _check_model_memory(cfg: Any) -> None:
    """Refuse a model too large for this machine's memory (e.g. ``--width 1e7``) before anything
    is created: one line instead of an allocator error or the OOM killer halfway through."""
    from greenai.lifecycle.training_session import model_settings
    from greenai.ml.models.footprint import check_fits_memory

    side = cfg.image_size or 32
    check_fits_memory(cfg.model, model_settings(cfg)[0], input_shape=(3, side, side))


def _check_resumable(run_id: str, store_url: str | None, out: Any) -> None:
    """``--resume ID`` with neither a checkpoint nor a store row to restart from: the checkpoint's
    one line now, before the store is opened (opening it creates an empty one)."""
    from greenai.errors import UsageError
    from greenai.ml.training.checkpoint import load_checkpoint
    from greenai.ml.training.config import paths_for
    from greenai.storage import open_store

    checkpoint = paths_for(out, run_id)["checkpoint"]
    if checkpoint.exists():
        return
    try:
        with open_store(store_url, default_dir=out, create=False, mark_stale=False) as store:
            if store.has_run(run_id):
                return
    except UsageError:  # no store there at all
        pass
    load_checkpoint(checkpoint)  # raises DataError: no such checkpoint
