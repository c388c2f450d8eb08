"""``greenai study`` as a function: run the steps, then write the report over exactly those steps."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from greenai.ml.evaluation import INFERENCE_IMAGES
from greenai.reports.build import ReportFiles, write_report
from greenai.reports.inputs import RunInput
from greenai.reports.sources import epochs_from_log, from_store
from greenai.study.plan import StudyConfig
from greenai.study.runner import StepFn, StudyOutcome, run_study
from greenai.study.state import DONE


def study_inputs(outcome: StudyOutcome, out_dir: Path, store: Any = None) -> list[RunInput]:
    """One ``RunInput`` per step: finished ones with their result (plus the store's samples and
    epochs when there is a store), the others with their status and reason."""
    done = [r for r in outcome.records if r.status == DONE]
    stored: dict[str, RunInput] = {}
    if store is not None:
        ids = [r.run_id for r in done if r.run_id and store.has_run(r.run_id)]
        stored = {run.run_id: run for run in from_store(store, run_ids=ids)}
    runs = []
    for rec in outcome.records:
        if rec.status == DONE:
            result = outcome.results[rec.key]
            from_db = stored.get(str(rec.run_id))
            if from_db is not None and from_db.result is not None:
                runs.append(from_db)
            else:
                epochs = epochs_from_log(result, out_dir / "results")
                runs.append(RunInput.from_result(result, epochs=epochs))
        else:
            # the runner's proposed id names a real run only if the step got as far as the store
            real = store is not None and rec.run_id is not None and store.has_run(rec.run_id)
            runs.append(
                RunInput(
                    run_id=rec.run_id if real else rec.key,
                    variant=rec.variant,
                    device=rec.device,
                    status=rec.status,
                    error=rec.error,
                )
            )
    return runs


def settings_lines(cfg: StudyConfig) -> list[str]:
    """The study's settings, in a sentence each, for the top of its report."""

    def kv(d: Mapping[str, Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items()) if v is not None)

    devices = " and ".join(d.upper() for d in cfg.devices)
    return [
        f"Study {cfg.name!r} on {devices}: {', '.join(cfg.variants)}.",
        f"Training: {kv(cfg.train)}.",
        f"Variant settings: {kv(cfg.variant_settings)}.",
    ]


def run_and_report(
    cfg: StudyConfig,
    out_dir: Path,
    steps: Mapping[str, StepFn],
    *,
    store: Any = None,
    carbon: Any = None,
    inferences: int | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    store_url: str | None = None,
    mlflow: Any = None,
    budget: Any = None,
    inference_images: int = INFERENCE_IMAGES,
) -> tuple[StudyOutcome, ReportFiles]:
    """Run the study and write its report. ``mlflow``: an ``integrations.mlflow`` logger, or None;
    when active, the study is a parent MLflow run, each step's run nested under it, and the report
    and its charts are logged on the parent at the end."""
    same = dict(
        store=store, carbon=carbon, inferences=inferences, log=log, progress=progress,
        store_url=store_url, budget=budget, inference_images=inference_images,
    )  # fmt: skip
    if mlflow is None or not mlflow.active:
        return _run_and_report(cfg, out_dir, steps, mlflow=None, **same)
    from greenai.storage import new_run_id

    safe_name = re.sub(r"[^\w.-]", "_", cfg.name)
    parent = f"study-{safe_name}-{new_run_id()}"
    mlflow.start_run(
        parent, f"study {cfg.name}", params=_study_params(cfg), tags={"greenai.group": cfg.name}
    )
    try:
        nested = mlflow.under(parent)
        outcome, files = _run_and_report(cfg, out_dir, steps, mlflow=nested, **same)
        done = sum(r.status == DONE for r in outcome.records)
        reused = sum(bool(r.reused) for r in outcome.records)
        counts = {"steps": len(outcome.records), "steps_done": done, "steps_reused": reused}
        mlflow.log_metrics(counts, run_id=parent)
        mlflow.log_artifacts([files.markdown, files.html, *files.charts.values()], run_id=parent)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # the original failure matters more
            mlflow.end("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", parent)
        raise
    mlflow.end("failed" if outcome.failed else "done", run_id=parent)
    return outcome, files


def _study_params(cfg: StudyConfig) -> dict[str, Any]:
    return {
        "name": cfg.name,
        "devices": ",".join(cfg.devices),
        "variants": ",".join(cfg.variants),
        "train": dict(cfg.train),
        "settings": dict(cfg.variant_settings),
        "carbon": dict(cfg.carbon),
    }


def _run_and_report(
    cfg: StudyConfig,
    out_dir: Path,
    steps: Mapping[str, StepFn],
    *,
    store: Any,
    carbon: Any,
    inferences: int | None,
    log: Callable[[str], None],
    progress: bool,
    store_url: str | None,
    mlflow: Any,
    budget: Any,
    inference_images: int,
) -> tuple[StudyOutcome, ReportFiles]:
    outcome = run_study(
        cfg, out_dir, steps, store=store, carbon=carbon, log=log, progress=progress,
        store_url=store_url, mlflow=mlflow, budget=budget, inference_images=inference_images,
    )  # fmt: skip
    runs = study_inputs(outcome, out_dir, store)
    where = f"study {cfg.name!r} in {Path(out_dir).resolve()}"
    timing = timed_together(cfg, outcome, Path(out_dir), log)
    files = write_report(
        runs, Path(out_dir) / "results", inferences=inferences, source=where,
        title=f"greenai study: {cfg.name}", context=[*settings_lines(cfg), *timing],
    )  # fmt: skip
    return outcome, files


def timed_together(
    cfg: StudyConfig, outcome: StudyOutcome, out_dir: Path, log: Callable[[str], None]
) -> list[str]:
    """Time the study's finished models interleaved in this process (``lifecycle.retime``), keep
    the figures in ``results/study_<name>_timing.json`` and return the report's lines on them."""
    import json

    from greenai.fsutil import atomic_write_text
    from greenai.lifecycle.retime import report_lines, retime
    from greenai.reports.rows import variant_name

    done = {r.key: outcome.results[r.key] for r in outcome.records if r.status == DONE}
    if len(done) < 2:
        return []
    log(f"study: timing the {len(done)} finished models together (interleaved, with warm-up)")
    timing = retime(done, out_dir)
    if timing is None:
        return []
    safe = re.sub(r"[^\w.-]", "_", cfg.name)
    atomic_write_text(
        out_dir / "results" / f"study_{safe}_timing.json", json.dumps(timing, indent=2) + "\n"
    )
    if timing["timing_doubt"]:
        log(f"study: timing unsure: {timing['timing_doubt']}")
    names = {r.key: f"{variant_name(r.variant)} [{r.device.upper()}]" for r in outcome.records}
    return report_lines(timing, names)
