"""The flags of ``greenai search`` and their checks: the search settings, the search space's
narrowing flags, the training flags fixed across trials, and the trial-count and heartbeat checks."""

from __future__ import annotations

import argparse
from typing import Any

from greenai.cli import _schedule, argtypes, common, training_args
from greenai.cli._runtimes import add_runtime_args

DEFAULT_TRIALS = 30

# Narrowing flags: flag dest -> search-space dimension.
NARROWING = {
    "lr_range": "lr",
    "epochs_range": "epochs",
    "batch_sizes": "batch_size",
    "widths": "width",
    "precisions": "precision",
    "sparsities": "sparsity",
    "quantization": "quantization",
}


def add_search_args(p: argparse.ArgumentParser) -> None:
    """Every flag of ``greenai search``, group by group, in the order ``--help`` shows them."""
    g = p.add_argument_group("search")
    g.add_argument(
        "--trials",
        type=int,
        default=None,
        help=f"trials this process runs (default {DEFAULT_TRIALS})",
    )
    g.add_argument(
        "--total-trials",
        type=int,
        default=None,
        help="stop once the study holds this many finished trials (all workers together)",
    )
    g.add_argument(
        "--heartbeat", type=int, default=None, metavar="S",
        help="seconds between a running trial's heartbeats (default 30)",
    )  # fmt: skip
    g.add_argument(
        "--grace", type=int, default=None, metavar="S",
        help="a trial without a heartbeat for this long is lost with its worker (default 120)",
    )  # fmt: skip
    g.add_argument(
        "--retries", type=argtypes.nonneg_int, default=1, metavar="N",
        help="times a lost trial's parameters are run again by another worker (default 1; 0: never)",
    )  # fmt: skip
    g.add_argument("--objective", choices=("energy", "co2"), default="energy")
    g.add_argument("--sampler", choices=("nsga2", "tpe"), default="nsga2", help="default: NSGA-II")
    g.add_argument(
        "--population", type=int, default=None, help="NSGA-II generation size (default 10)"
    )
    g.add_argument(
        "--seed", type=argtypes.nonneg_int, default=0,
        help="sampler and training seed (default 0); give parallel workers different seeds",
    )  # fmt: skip
    g.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL: SQLite file (default <out>/search.db) or postgresql://... "
        "shared by several processes",
    )
    g.add_argument("--study-name", default=None, help="default: <dataset>_<objective>")
    g.add_argument(
        "--show",
        action="store_true",
        help="run no trials: print the Pareto table and redraw the charts of the stored study",
    )
    common.add_tracking_args(
        g, "a parent run for the search, each trial nested under it, the charts on the parent"
    )
    s = p.add_argument_group("search space (narrows the declared space; flags beat --space)")
    s.add_argument("--space", default=None, metavar="FILE", help="TOML or JSON narrowing file")
    s.add_argument("--lr-range", nargs=2, type=float, metavar=("LOW", "HIGH"))
    s.add_argument("--epochs-range", nargs=2, type=int, metavar=("LOW", "HIGH"))
    s.add_argument("--batch-sizes", nargs="+", type=int, metavar="N")
    s.add_argument("--widths", nargs="+", type=float, metavar="W")
    s.add_argument("--precisions", nargs="+", metavar="P", help="fp32, bf16")
    s.add_argument(
        "--sparsities", nargs="+", type=float, metavar="S",
        help="fractions of conv weights pruned after training, in [0, 0.99] (0: no pruning)",
    )  # fmt: skip
    s.add_argument(
        "--quantization", nargs="+", metavar="off|on",
        help="on: static INT8 post-training quantization of the (pruned) model (needs torchao)",
    )  # fmt: skip
    _add_fixed_training_args(p)
    common.add_data_args(p)
    common.add_carbon_args(p)
    common.add_output_args(p)
    add_runtime_args(p)
    common.add_budget_args(p)
    _schedule.add_schedule_args(p)
    g = p.add_argument_group("search budget and pruning (search/budget.py, search/dominance.py)")
    g.add_argument(
        "--prune-dominated", dest="prune_dominated", action="store_true",
        help="stop a trial after an epoch when another trial had at least its accuracy for at "
        "most its energy at that same epoch",
    )  # fmt: skip
    g.add_argument(
        "--defer-trials", dest="defer_trials", action="store_true",
        help="with --start-within and --forecast: before each trial, wait for the cleanest start "
        "within that window (expected duration: --expected-duration, else the median trial)",
    )  # fmt: skip
    p.add_argument(
        "--inference-images",
        type=argtypes.nonneg_int,
        default=0,
        help="also measure each trial's inference energy on N images (default 0: no; slower, "
        "and not an objective)",
    )


def _add_fixed_training_args(p: argparse.ArgumentParser) -> None:
    """The training flags that stay the same in every trial (the searched ones are in the space)."""
    t = p.add_argument_group("training (the same for every trial)")
    t.add_argument("--model", default="seed_cnn", help="registered model name (default seed_cnn)")
    t.add_argument(
        "--device", choices=("auto", "cpu", "gpu"), default="auto",
        help="auto (default): CUDA if present, else CPU",
    )  # fmt: skip
    t.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam")
    t.add_argument("--weight-decay", dest="weight_decay", type=argtypes.nonneg_float, default=0.0)
    t.add_argument("--schedule", choices=training_args.SCHEDULES, default="constant")
    t.add_argument("--label-smoothing", dest="label_smoothing", type=argtypes.fraction, default=0.0)
    t.add_argument("--no-augment", dest="augment", action="store_false", help="no crop / flip")
    t.add_argument(
        "--prune-finetune-epochs", dest="prune_finetune_epochs", type=argtypes.nonneg_int,
        default=1, help="fine-tuning epochs after pruning, in trials that prune (default 1; 0: none)",
    )  # fmt: skip


def _space_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {dim: getattr(args, dest) for dest, dim in NARROWING.items()}


def _check_counts(args: argparse.Namespace) -> None:
    from greenai.errors import UsageError

    if args.show:
        if args.trials is not None or args.total_trials is not None:
            raise UsageError("--show only summarises a stored study; it takes no --trials")
        return
    if args.trials is None:
        args.trials = DEFAULT_TRIALS
    if args.trials < 1:
        raise UsageError(f"--trials must be at least 1, got {args.trials}")
    if args.total_trials is not None and args.total_trials < 1:
        raise UsageError(f"--total-trials must be at least 1, got {args.total_trials}")
    beat, grace = args.heartbeat, args.grace
    if beat is not None and beat < 1:
        raise UsageError(f"--heartbeat must be at least 1 second, got {beat}")
    if grace is not None and grace <= (beat or 30):
        raise UsageError(f"--grace ({grace} s) must be longer than the heartbeat ({beat or 30} s)")
