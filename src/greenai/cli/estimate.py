"""``greenai estimate``: predict a training job's energy, duration and CO2 before running it.

Takes baseline's training and carbon flags, runs a handful of profiled batches (see
``lifecycle/estimate.py``) and prints the prediction with its 90% interval. Writes nothing.
"""

from __future__ import annotations

import argparse

from greenai.cli import argtypes, common, training_args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "estimate",
        help="predict a training job's energy and CO2 from a few profiled batches",
        description=__doc__,
    )
    training_args.add_training_args(p)
    common.add_carbon_args(p)
    g = p.add_argument_group("profiling")
    g.add_argument(
        "--warmup-batches", dest="warmup_batches", type=argtypes.positive_int, default=3,
        help="batches run first and excluded (default 3)",
    )  # fmt: skip
    g.add_argument(
        "--profile-groups", dest="profile_groups", type=argtypes.positive_int, default=5,
        help="groups of profiled batches, one figure each for the interval (default 5, >= 2)",
    )  # fmt: skip
    g.add_argument(
        "--group-batches", dest="group_batches", type=argtypes.positive_int, default=4,
        help="batches per group (default 4)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenai.errors import UsageError
    from greenai.lifecycle.estimate import estimate_job

    if args.profile_groups < 2:
        raise UsageError("--profile-groups must be >= 2 (an interval needs two figures)")
    cfg = training_args.train_config(args)
    carbon = common.carbon_config(args)
    if cfg.dataset == "cifar10":
        from greenai.ml.data import locate_cifar10

        locate_cifar10(cfg.data_dir, cfg.download)  # missing data: one line, nothing run
    training_args.print_recipe_note(args)
    est = estimate_job(
        cfg, carbon, warmup=args.warmup_batches, groups=args.profile_groups,
        per_group=args.group_batches,
    )  # fmt: skip
    print("\n".join(est.lines()))
    return 0
