"""How a training run starts: fresh, resumed from its last checkpoint, or (killed before its first
checkpoint) redone from scratch under its own id with the killed attempts' energy counted.

``start_of`` decides it for ``TrainingSession.prepare`` before anything is loaded or written: the
run id is checked, a resume reconciles the folder first (a run that finished just before the kill is
"done" and refused), a resumed run takes its settings from the checkpoint (or a restarted one from
its store row), and a new run with a given id must not exist yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenai.errors import UsageError
from greenai.ml.training import checkpoint as ckpt_mod
from greenai.ml.training.config import TrainConfig, check_run_id, paths_for
from greenai.results import resultfile as results


@dataclass(frozen=True)
class Start:
    """A run's settings as it starts (from the checkpoint or store row when it continues one)."""

    cfg: TrainConfig
    store: Any  # the store, opened when a resume needed it (else as given: maybe a callable)
    variant: str
    parent_run_id: str | None
    group: str | None
    resume_from: dict[str, Any] | None = None  # the checkpoint resumed from
    restart: list[dict[str, Any]] | None = None  # redone from scratch: the killed attempts' pieces


def start_of(
    cfg: TrainConfig,
    *,
    out_dir: Path,
    store: Any,
    carbon: Any,
    variant: str,
    run_id: str | None,
    parent_run_id: str | None,
    group: str | None,
    resume: bool,
) -> Start:
    """How the run starts (nothing is written here); ``UsageError`` for a resume without a run id,
    a resume of a finished run, or a new run whose id exists already."""
    resume_from = None
    restart: list[dict[str, Any]] | None = None  # a killed run without a checkpoint: redone
    if run_id is not None:
        check_run_id(run_id)
    if resume:
        if not run_id:
            raise UsageError("--resume needs the id of the run to continue")
        if callable(store):  # (cli.baseline checked first that there is a checkpoint or row)
            store = store()
        if store is not None:
            from greenai.lifecycle.reconcile import reconcile_quietly

            reconcile_quietly(store, out_dir)  # a run finished before the kill: "done"
        restart = _restart(out_dir, store, run_id, carbon)
    if restart is not None:  # killed before its first checkpoint: redone from scratch
        rec = store.get_run(run_id)
        cfg = TrainConfig.from_dict(dict(rec.config)) if rec.config else cfg
        variant, parent_run_id, group = rec.variant or variant, rec.parent_run_id, rec.group
    elif resume:
        if store is not None and not callable(store) and _is_done(store, run_id):
            raise UsageError(f"run {run_id} is already finished; nothing to resume")
        resume_from = ckpt_mod.load_checkpoint(paths_for(out_dir, run_id)["checkpoint"])
        cfg = TrainConfig.from_dict(dict(resume_from["config"]))
        variant = resume_from.get("variant") or variant
        parent_run_id = resume_from.get("parent_run_id")
        group = resume_from.get("group")
        if store is not None and store.has_run(run_id) and _is_done(store, run_id):
            raise UsageError(f"run {run_id} is already finished; nothing to resume")
    elif run_id is not None and _exists(out_dir, store, run_id):
        raise UsageError(f"run {run_id} already exists; use --resume {run_id} to continue it")
    return Start(cfg, store, variant, parent_run_id, group, resume_from, restart)


def _restart(out_dir: Path, store: Any, run_id: str, carbon: Any) -> list[dict[str, Any]] | None:
    """For a resume of a run that has no checkpoint yet but an unfinished row in the store: the
    killed attempts' energy pieces (from their samples), so it is redone from scratch under its own
    id. None when there is a checkpoint to resume from (or nothing to restart)."""
    if paths_for(out_dir, run_id)["checkpoint"].exists() or store is None:
        return None
    if not store.has_run(run_id) or store.get_run(run_id).status != "interrupted":
        return None
    return results.attempt_pieces(store.samples(run_id), carbon)


def _is_done(store: Any, run_id: str) -> bool:
    return store.has_run(run_id) and store.get_run(run_id).status == "done"


def _exists(out_dir: Path, store: Any, run_id: str) -> bool:
    if paths_for(out_dir, run_id)["checkpoint"].exists():
        return True
    return store is not None and not callable(store) and store.has_run(run_id)
