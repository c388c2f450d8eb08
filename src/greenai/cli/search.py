"""``greenai search``: multi-objective (accuracy vs energy or CO2) hyperparameter search with Optuna.

Cheap to import: optuna, torch and matplotlib are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from greenai.cli import _schedule, common
from greenai.cli._search_args import _check_counts, _space_flags, add_search_args
from greenai.cli._search_study import (
    _base_config,
    _deferral,
    _finish,
    _mlflow_start,
    _optimize,
    _run_store_url,
)


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
    add_search_args(p)
    p.set_defaults(func=run)


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
    from greenai.search.objective import TrialObjective
    from greenai.search.stale import close_stale_run
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
