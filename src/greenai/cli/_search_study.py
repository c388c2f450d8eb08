"""The steps of a ``greenai search`` run around its study: the fixed training config, the run
store's URL, the MLflow parent run, per-trial deferral, the optimize loop and the final summary."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from greenai.cli import _schedule, training_args


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
    from greenai.search.trial import VARIANT

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
