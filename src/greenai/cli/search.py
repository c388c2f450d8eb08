"""``greenai search``: multi-objective (accuracy vs energy or CO2) hyperparameter search with Optuna.

Cheap to import: optuna, torch and matplotlib are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
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


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "search",
        help="energy-aware multi-objective hyperparameter search (Optuna)",
        description=(
            "Maximise test accuracy and minimise lifecycle energy (or CO2) over the search space; "
            "every trial is a measured greenai run. A trial that samples sparsity > 0 and/or "
            "quantization on then prunes (unstructured magnitude) and/or INT8-quantizes (static "
            "PTQ) its trained model as child runs, like greenai prune / quantize; its objectives "
            "are the final model's test accuracy and the energy of training plus those steps. "
            "Prints the Pareto-optimal trials and the hypervolume, and draws "
            "results/search_<study>_pareto.png and _hypervolume.png."
        ),
    )
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
    g.add_argument(
        "--mlflow", action="store_true",
        help="also log to MLflow ($MLFLOW_TRACKING_URI, else ./mlflow.db): a parent run for the "
        "search, each trial nested under it, the charts on the parent",
    )  # fmt: skip
    common.add_wandb_arg(g)
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
    p.set_defaults(func=run)


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
    t.add_argument("--schedule", choices=("constant", "onecycle", "cosine"), default="constant")
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


def _base_config(args: argparse.Namespace) -> Any:
    """The fixed part of every trial's TrainConfig (the searched fields are replaced per trial)."""
    cfg = training_args.train_config(args)
    from greenai.ml.training.loop import resolve_device

    resolve_device(cfg.device)  # "gpu" without CUDA: one line now
    if cfg.dataset == "cifar10":
        from greenai.ml.data import locate_cifar10

        locate_cifar10(cfg.data_dir, cfg.download)  # missing data: one line now, not every trial
    return cfg


def _run_store_url(args: argparse.Namespace, storage: str) -> str | None:
    if args.store:
        return args.store
    if os.environ.get("GREENAI_STORE"):
        return None
    return storage if storage.startswith("postgresql") else None


def run(args: argparse.Namespace) -> int:
    from greenai.search import space as space_mod
    from greenai.search import study as study_mod
    from greenai.search import summary as summary_mod

    _check_counts(args)
    _schedule.check(args)
    budget = common.budget_from_args(args)
    if args.defer_trials and args.start_within is None:
        from greenai.errors import UsageError

        raise UsageError("--defer-trials needs --start-within and --forecast")
    out_dir = Path(args.out)
    url = study_mod.storage_url(args.storage, out_dir)
    name = args.study_name or f"{args.dataset}_{args.objective}"
    results_dir = out_dir / "results"

    if args.show:
        study = study_mod.open_study(name, url, objective=None, space=None, create=False)
        objective = study.user_attrs.get(study_mod.ATTR_OBJECTIVE, args.objective)
        return _finish(study, objective, results_dir, summary_mod)

    # Validate everything before writing anything.
    space = space_mod.build_space(args.space, _space_flags(args))
    base = _base_config(args)
    if "on" in space["quantization"].choices:
        from greenai.ml.compression.quantize import check_available

        check_available()  # a missing torchao: one line now, not a failure in every trial
    carbon = common.carbon_config(args)
    from greenai.sensors import check_sensors

    check_sensors()  # a garbage powercap counter: one line, nothing written
    study_mod.check_storage(url)
    once = args.dry_run or not args.defer_trials  # else each trial waits (--defer-trials)
    if not once:  # a bad or stale forecast: one line now, not a failure in every trial
        from greenai.carbon.series import load_series

        args.forecast = load_series(args.forecast)
        args.forecast.check_span(time.time(), args.start_within)
    if once and not _schedule.maybe_wait(args, lambda: _schedule.group_history(args, name)):
        return 0  # --dry-run: the chosen start is printed, nothing runs
    population = args.population or study_mod.DEFAULT_POPULATION
    study_mod.make_sampler(args.sampler, args.seed, population)  # bad settings fail before writing
    from greenai.integrations.wandb import trackers
    from greenai.search.objective import TrialObjective, close_stale_run
    from greenai.storage import open_store

    mlflow, mlflow_parent = trackers(mlflow=args.mlflow, wandb=args.wandb), None
    store = open_store(_run_store_url(args, url), default_dir=out_dir)
    try:
        study = study_mod.open_study(
            name,
            url,
            objective=args.objective,
            space=space,
            on_stale=close_stale_run(store, carbon=carbon, retries=args.retries),
            **{k: v for k, v in (("heartbeat_s", args.heartbeat), ("grace_s", args.grace)) if v},
        )
        before = len(study.trials)
        # Seeded with --seed plus the trials already there, so a resumed search does not replay
        # the suggestions it has already tried (its first generation, for NSGA-II).
        study.sampler = study_mod.make_sampler(args.sampler, args.seed + before, population)
        if mlflow.active:
            mlflow_parent = _mlflow_start(mlflow, name, args, space)
        objective = TrialObjective(
            space,
            base,
            objective=args.objective,
            store=store,
            carbon=carbon,
            out_dir=out_dir,
            study_name=name,
            progress=args.progress,
            inference_images=args.inference_images,
            mlflow=mlflow.under(mlflow_parent) if mlflow_parent else None,
            finetune_epochs=args.prune_finetune_epochs,
            prune_dominated=args.prune_dominated,
            before_trial=_deferral(args, store, name) if args.defer_trials else None,
        )
        print(
            f"search {name!r} in {study_mod.display_url(url)} ({before} trials so far; run store "
            f"{store.url}): maximise accuracy, minimise {args.objective}; sampler {args.sampler}, "
            f"seed {args.seed}; {args.trials} trials here"
        )
        print(f"space: {space.describe()}", flush=True)
        callbacks = []
        if budget is not None:
            from greenai.search.budget import BudgetCallback

            callbacks.append(BudgetCallback(store, name, budget))
            if (why := callbacks[-1].exhausted()) is not None:
                print(f"search: budget already spent ({why}): no trial launched")
                args.trials = 0
        if args.trials:
            _optimize(study, objective, args, callbacks)
        from greenai.search.spent import format_spent, spent

        print(format_spent(spent(store, name)))  # every run of the study, lost trials included
    except BaseException as exc:
        if mlflow_parent:
            with contextlib.suppress(Exception):  # the original failure matters more
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                mlflow.end(status, run_id=mlflow_parent)
        raise
    finally:
        store.close()
    code = _finish(study, args.objective, results_dir, summary_mod)
    if mlflow_parent:
        charts = [p for p in summary_mod.chart_paths(results_dir, name) if p.is_file()]
        mlflow.log_artifacts(charts, run_id=mlflow_parent)
        mlflow.end("done", run_id=mlflow_parent)
    mine = [t for t in study.trials if t.number in objective.started]
    if mine and not any(t.state.name == "COMPLETE" for t in mine):
        print(f"greenai: error: all {len(mine)} trials of this process failed", file=sys.stderr)
        return 1
    return code


def _mlflow_start(mlflow: Any, name: str, args: argparse.Namespace, space: Any) -> str:
    """Start the search's parent MLflow run; returns its greenai id."""
    import re

    from greenai.storage import new_run_id

    parent = f"search-{re.sub(r'[^0-9A-Za-z_.-]', '_', name)}-{new_run_id()}"
    params = {
        "study_name": name, "objective": args.objective, "sampler": args.sampler,
        "seed": args.seed, "trials": args.trials, "total_trials": args.total_trials,
        "space": space.describe(),
    }  # fmt: skip
    mlflow.start_run(parent, f"search {name}", params=params, tags={"greenai.group": name})
    return parent


def _deferral(args: argparse.Namespace, store: Any, name: str) -> Any:
    """``before_trial`` for --defer-trials: wait for the cleanest start of each trial."""
    from greenai.search.defer import TrialDeferral
    from greenai.search.objective import VARIANT

    def history() -> Any:
        runs = store.list_runs(group=name, variant=VARIANT)
        return _schedule.median_duration(runs, lambda r: True)

    return TrialDeferral(
        args.forecast, args.start_within, expected_s=args.expected_duration, history=history
    )


def _optimize(study: Any, objective: Any, args: argparse.Namespace, extra: Any = ()) -> None:
    import optuna

    callbacks = list(extra)
    if args.total_trials is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(args.total_trials, states=None))
    study.optimize(objective, n_trials=args.trials, catch=(Exception,), callbacks=callbacks)


def _finish(study: Any, objective: str, results_dir: Path, summary_mod: Any) -> int:
    summary = summary_mod.summarise(study, objective)
    print(summary_mod.format_summary(summary))
    paths = summary_mod.write_charts(summary, results_dir)
    if paths:
        print(f"charts: {paths[0]}  {paths[1]}")
    sys.stdout.flush()
    return 0
