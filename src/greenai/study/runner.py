"""Run a study's steps in order: reuse what is done, record what fails, go on where possible.

The step functions are passed in (``steps.default_steps()`` wires the real training, pruning,
quantization and distillation); this module only decides what runs, and keeps the state file.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from greenai.errors import GreenAIError
from greenai.fsutil import atomic_write_text
from greenai.ml.evaluation import INFERENCE_IMAGES
from greenai.ml.training.progress import overall_line
from greenai.study.budget import unaffordable
from greenai.study.plan import Step, StudyConfig, plan
from greenai.study.state import (
    DONE,
    FAILED,
    INTERRUPTED,
    RUNNING,
    SKIPPED,
    StepRecord,
    load_state,
    save_state,
    state_path,
)


@dataclass
class StepContext:
    """What a step function gets. It returns the result dict (and has written the result JSON)."""

    step: Step
    out_dir: Path
    run_id: str
    resume: bool  # the step was interrupted before with this run id: continue it if possible
    parent_result: Mapping[str, Any] | None
    group: str
    store: Any = None
    carbon: Any = None
    progress: bool = True
    store_url: str | None = None  # as the user gave it (None: $GREENAI_STORE or <out>/greenai.db)
    mlflow: Any = None  # an MLflow logger nesting the step's run under the study's; None: off
    inference_images: int = INFERENCE_IMAGES  # images a variant's inference energy is measured on


StepFn = Callable[[StepContext], Mapping[str, Any]]


@dataclass
class StudyOutcome:
    records: list[StepRecord]  # in plan order
    results: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # key -> result dict

    @property
    def failed(self) -> list[StepRecord]:
        return [r for r in self.records if r.status != DONE]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return msg if len(msg) <= 300 else msg[:297] + "..."


def _load(out_dir: Path, rec: StepRecord) -> Mapping[str, Any] | None:
    """The recorded result, or None when its file is gone or unreadable."""
    from greenai.results.resultfile import load_result

    if not rec.result_path:
        return None
    try:
        return load_result(out_dir / rec.result_path)
    except GreenAIError:
        return None


def _result_path(out_dir: Path, result: Mapping[str, Any]) -> str:
    from greenai.results.resultfile import result_path

    path = result_path(out_dir, str(result["variant"]), str(result["run_id"]), result["dataset"])
    return str(path.relative_to(out_dir))


def _finished_before_kill(out_dir: Path, rec: StepRecord, store: Any) -> None:
    """A step killed after its run finished (store "done", its result file written) but before
    the state file said so: record it as done, so that it is reused instead of rerun."""
    from greenai.results.resultfile import result_path

    if rec.run_id is None or store is None or not store.has_run(rec.run_id):
        return
    run = store.get_run(rec.run_id)
    if run.status != DONE or not run.result:
        return
    path = result_path(out_dir, rec.variant, rec.run_id, run.result.get("dataset", "cifar10"))
    if path.is_file():
        rec.status, rec.result_path = DONE, str(path.relative_to(out_dir))


def _units(step: Step) -> int:
    """A step's weight in the time-left line: its epochs, plus one for its evaluation and timing."""
    from greenai.study.estimate import step_epochs

    return step_epochs(step) + 1


def run_study(
    cfg: StudyConfig,
    out_dir: Path,
    steps: Mapping[str, StepFn],
    *,
    store: Any = None,
    carbon: Any = None,
    new_run_id: Callable[[], str] | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    store_url: str | None = None,
    mlflow: Any = None,
    budget: Any = None,
    inference_images: int = INFERENCE_IMAGES,
) -> StudyOutcome:
    """Run (or reuse) every planned step; a failed step is recorded and its children skipped.
    ``budget`` (a ``lifecycle.budget.Budget``): steps it cannot afford are skipped and said so
    (``study/budget.py``)."""
    if new_run_id is None:
        from greenai.storage import new_run_id
    out_dir = Path(out_dir)
    path = state_path(out_dir, cfg.name)
    state = load_state(path)
    planned = plan(cfg)
    outcome = StudyOutcome([])
    if store is not None:
        from greenai.lifecycle.reconcile import reconcile_quietly

        reconcile_quietly(store, out_dir)  # a step killed after it finished has its JSON again
    started, done_units = time.monotonic(), 0
    for number, step in enumerate(planned, 1):
        old = state.get(step.key)
        same = old is not None and old.config_hash == step.config_hash
        if same and old.status in (RUNNING, INTERRUPTED):
            _finished_before_kill(out_dir, old, store)
            if old.status == DONE:
                save_state(path, cfg.name, state)
        if same and old.status == DONE and (result := _load(out_dir, old)) is not None:
            old.reused = True
            outcome.records.append(old)
            outcome.results[step.key] = result
            log(f"study: {step.key}: reusing run {old.run_id} (same configuration)")
            continue
        rec = StepRecord(step.key, step.variant, step.device, step.config_hash)
        state[step.key] = rec
        outcome.records.append(rec)
        parent = outcome.results.get(step.parent) if step.parent else None
        if step.parent and parent is None:
            p = state[step.parent]
            rec.status, rec.error = SKIPPED, f"not run: its parent {p.key} {p.status}"
            save_state(path, cfg.name, state)
            log(f"study: {step.key}: skipped ({rec.error})")
            continue
        why = unaffordable(budget, step, outcome.results)
        if why is not None:
            rec.status, rec.error = SKIPPED, why
            save_state(path, cfg.name, state)
            log(f"study: {step.key}: skipped ({why})")
            continue
        resume = same and old.status in (RUNNING, INTERRUPTED) and old.run_id is not None
        rec.run_id = old.run_id if resume else new_run_id()
        rec.status, rec.started_at = RUNNING, _now()
        save_state(path, cfg.name, state)
        todo = done_units + sum(_units(s) for s in planned[number - 1 :])
        elapsed = time.monotonic() - started
        log(
            overall_line(f"study: step {number} of {len(planned)}", done_units, todo, elapsed,
                         "steps' epochs")
        )  # fmt: skip
        log(f"study: {step.key}: " + (f"resuming run {rec.run_id}" if resume else "running"))
        done_units += _units(step)
        ctx = StepContext(
            step, out_dir, rec.run_id, resume, parent, cfg.name, store, carbon, progress, store_url,
            mlflow=mlflow, inference_images=inference_images,
        )  # fmt: skip
        try:
            result = steps[step.variant](ctx)
        except KeyboardInterrupt:
            rec.status, rec.finished_at, rec.error = INTERRUPTED, _now(), "interrupted"
            save_state(path, cfg.name, state)
            raise
        except Exception as exc:  # a failed step is reported, and the study goes on
            rec.status, rec.finished_at, rec.error = FAILED, _now(), _one_line(exc)
            err = out_dir / "logs" / f"study_{cfg.name}_{step.device}_{step.variant}.err"
            atomic_write_text(err, "".join(traceback.format_exception(exc)))
            save_state(path, cfg.name, state)
            log(f"study: {step.key}: FAILED: {rec.error} (traceback in {err})")
            continue
        rec.run_id = str(result.get("run_id", rec.run_id))
        rec.result_path = _result_path(out_dir, result)
        rec.status, rec.finished_at = DONE, _now()
        outcome.results[step.key] = result
        save_state(path, cfg.name, state)
        log(f"study: {step.key}: done, run {rec.run_id}")
    return outcome
