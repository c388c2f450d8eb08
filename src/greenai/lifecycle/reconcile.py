"""Make the run store and an output folder's result JSON files agree after a kill (issue #19).

The order of writes (``run.MeteredRun``): the run's result is stored with status "done" in one
store transaction (the commit point), then ``results/<dataset>_<variant>_<run_id>.json`` is written
from that same dict. A kill before the commit leaves an unfinished run (no JSON); a kill after it
leaves a finished run whose JSON may be missing (or a ``.tmp`` of it). ``reconcile`` repairs the
folder from the store: it is run before every step's run starts, before a training run is resumed
and before a study runs its steps, i.e. by the next write or resume in that folder.

It only touches runs whose owning process is gone (same host: no live process with the run's pid;
another host: no heartbeat for the store's ``stale_after_s``), so a live run mid-write is left alone:
- a finished run (store "done" with a result) whose JSON in this folder is missing, or older than
  the commit and different, is written from the store. "In this folder" means the run left its own
  files here (a model or log named with its id, or a ``.tmp`` of the JSON): a shared store holds
  runs of many folders, and runs recorded by ``greenai.track``/``greenai measure`` have no JSON;
- a run the store calls "interrupted" or "failed" whose complete JSON is here (the order of writes
  before issue #19: JSON first) is marked "done" with that result;
- ``.tmp`` files named with a dead run's id in ``results/`` and ``models/`` are removed.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenai.errors import GreenAIError
from greenai.results import resultfile
from greenai.storage.liveness import pid_alive

RUN_ID = r"\d{8}-\d{6}-[0-9a-f]+"
STALE_S = 2.0  # a result file older than its run's commit by more than this predates the commit


@dataclass
class Reconciled:
    """What ``reconcile`` repaired (run ids, and the ``.tmp`` files removed)."""

    json_written: list[str] = field(default_factory=list)
    marked_done: list[str] = field(default_factory=list)
    tmp_removed: list[Path] = field(default_factory=list)


def owner_gone(store: Any, rec: Any, now: float | None = None) -> bool:
    """Whether the process that last owned run ``rec`` (a ``RunRecord``) can no longer write it."""
    if rec.host == store.host:
        return not pid_alive(rec.pid, since=rec.heartbeat_at)
    return (time.time() if now is None else now) - rec.heartbeat_at > store.stale_after_s


def reconcile(store: Any, out_dir: Path | str) -> Reconciled:
    """Repair ``out_dir``'s result files and the store's statuses so that they agree (see above)."""
    out_dir = Path(out_dir)
    done = Reconciled()
    results_dir = out_dir / "results"
    files = _result_files(results_dir)
    tmps = _tmp_files(out_dir)
    for rec in store.list_runs():
        path, tmp_here = files.get(rec.run_id), rec.run_id in tmps
        finished = rec.status == "done" and bool(rec.result)
        if finished:  # its JSON is missing, or older than the commit (cheap: no file is read)
            need = path is None or path.stat().st_mtime < (rec.finished_at or 0) - STALE_S
        else:  # a complete JSON of a run the store calls unfinished
            need = path is not None and rec.status != "running"
        if not (need or tmp_here) or rec.status == "running" or not owner_gone(store, rec):
            continue
        if finished and need:
            if path is None and not (tmp_here or _left_files(out_dir, rec)):
                continue  # a run of another folder sharing this store
            if path is None or _load(path) != rec.result:
                variant = rec.result.get("variant") or rec.variant
                resultfile.write_result(out_dir, variant, rec.run_id, rec.result)
                done.json_written.append(rec.run_id)
        elif need:
            result = _load(path)
            if result is not None and result.get("variant") == rec.variant:
                store.finish_run(rec.run_id, status="done", result=result)
                done.marked_done.append(rec.run_id)
        for tmp in tmps.get(rec.run_id, []):
            tmp.unlink(missing_ok=True)
            done.tmp_removed.append(tmp)
    return done


def reconcile_quietly(store: Any, out_dir: Path | str) -> Reconciled | None:
    """``reconcile``, a failure of which (an unwritable folder, a store error) is one warning line:
    the step about to run must not fail because an earlier one left something to repair."""
    try:
        return reconcile(store, out_dir)
    except (OSError, GreenAIError, KeyError, TypeError, ValueError) as exc:
        print(
            f"greenai: warning: could not reconcile {out_dir} with the store: {exc}",
            file=sys.stderr,
        )
        return None


def find_rerun(store: Any, spec: Any, group: str | None) -> str | None:
    """The newest "interrupted" run of the same step (variant, parent, model, data, device, settings
    and group) as ``spec`` (a ``RunSpec``): a rerun of the same command takes it over."""
    config = spec.hyperparameters if spec.config is None else spec.config
    wanted = json.loads(json.dumps(config, default=str))
    for rec in reversed(store.list_runs(group=group, variant=spec.variant, status="interrupted")):
        same = (rec.parent_run_id, rec.model, rec.dataset, rec.device, rec.group) == (
            spec.parent_run_id, spec.model, spec.dataset, spec.device, group,
        )  # fmt: skip
        if same and rec.config == wanted:
            return rec.run_id
    return None


def _result_files(results_dir: Path) -> dict[str, Path]:
    import re

    pattern = re.compile(rf"^[A-Za-z0-9]+_[a-z0-9_]+_({RUN_ID})\.json$")
    found = {}
    for path in results_dir.glob("*.json") if results_dir.is_dir() else ():
        if match := pattern.match(path.name):
            found[match.group(1)] = path
    return found


def _tmp_files(out_dir: Path) -> dict[str, list[Path]]:
    """``.tmp`` files ``fsutil`` leaves beside a target when killed, by the run id in their name."""
    import re

    pattern = re.compile(rf"^\..*?({RUN_ID}).*\.tmp$")
    found: dict[str, list[Path]] = {}
    for folder in (out_dir / "results", out_dir / "models"):
        for path in folder.glob(".*.tmp") if folder.is_dir() else ():
            if match := pattern.match(path.name):
                found.setdefault(match.group(1), []).append(path)
    return found


def _left_files(out_dir: Path, rec: Any) -> bool:
    """Did run ``rec`` work in ``out_dir``: is a file of its own (a model or log named with its id,
    as every lifecycle step writes) there? Runs recorded without one (``greenai.track``, ``greenai
    measure``) write no result JSON, and are left alone."""
    artifacts = (rec.result or {}).get("artifacts") or {}
    return any(
        isinstance(rel, str) and rec.run_id in rel and (out_dir / rel).exists()
        for rel in artifacts.values()
    )


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return resultfile.load_result(path)
    except GreenAIError:
        return None
