"""Training a model from scratch (the lineage's root), and the study's baseline step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenai.lifecycle.registry import ROOT, StepKind, register_step
from greenai.ml.evaluation import INFERENCE_IMAGES


def train_run(
    cfg: Any,
    *,
    out_dir: str | Path,
    store: Any,
    carbon: Any,
    variant: str = "baseline",
    run_id: str | None = None,
    parent_run_id: str | None = None,
    group: str | None = None,
    resume: bool = False,
    progress: bool = True,
    mlflow: Any = None,
    inference_images: int = INFERENCE_IMAGES,
    dataset: Any = None,
    budget: Any = None,
    on_epoch: Any = None,
) -> dict[str, Any]:
    """Train ``cfg`` with the meter running, write every artifact and return the result dict.

    ``store``: a ``RunStore``, None (no store), or a callable returning one, called only once the
    data has loaded (so bad data leaves no store file behind); ``carbon``: a ``CarbonConfig``.
    ``resume=True`` continues ``run_id`` from ``models/<run_id>.pt`` (its config wins over ``cfg``).
    ``mlflow``: a ``greenai.integrations.mlflow.MlflowLogger`` (or its null twin), or None: the run
    is started there, each epoch and phase logged, and the result and logs attached at the end. ``inference_images``: how many images the result's ``inference``
    section (latency, throughput, J per 1,000 images on the CPU) is measured over; 0 skips it
    (search trials).
    ``budget``: a ``lifecycle.budget.Budget``: the run stops after the epoch whose prediction
    passes it (``BudgetExceeded``, status ``stopped: budget``, checkpoint kept; resume it with a
    larger one). ``on_epoch(row)``: called after each epoch's checkpoint but the last (a search
    trial's pruning; it stops the run by raising ``lifecycle.budget.StopRun``). Bad settings and missing data raise before anything is written.
    """
    from greenai.lifecycle.training_session import TrainingSession
    from greenai.sensors.ranks import rank_info

    info = rank_info()
    if info.distributed:  # a rank of a torchrun/SLURM job: DDP, one result from rank 0
        from greenai.lifecycle.training_ddp import train_distributed

        return train_distributed(
            cfg, info, out_dir=Path(out_dir), store=store, carbon=carbon, variant=variant,
            run_id=run_id, parent_run_id=parent_run_id, group=group, resume=resume,
            progress=progress, mlflow=mlflow, inference_images=inference_images, dataset=dataset,
        )  # fmt: skip
    session = TrainingSession.prepare(
        cfg,
        out_dir=Path(out_dir),
        store=store,
        carbon=carbon,
        variant=variant,
        run_id=run_id,
        parent_run_id=parent_run_id,
        group=group,
        resume=resume,
        progress=progress,
        mlflow=mlflow,
        inference_images=inference_images,
        dataset=dataset,
    )
    session.budget, session.on_epoch = budget, on_epoch
    return session.run()


def _from_study(ctx: Any) -> dict[str, Any]:
    """Train the study's baseline (continuing an interrupted run from its checkpoint if any)."""
    from greenai.lifecycle.run import paths_for
    from greenai.ml.training.config import TrainConfig

    cfg = TrainConfig(**{**ctx.step.config["train"], "device": ctx.step.device}).validate()
    # an interrupted step continues from its last checkpoint, or is redone under its id without one
    resume = ctx.resume and (
        paths_for(ctx.out_dir, ctx.run_id)["checkpoint"].is_file()
        or (ctx.store is not None and ctx.store.has_run(ctx.run_id))
    )
    return train_run(
        cfg, out_dir=ctx.out_dir, store=ctx.store, carbon=ctx.carbon, variant="baseline",
        run_id=ctx.run_id, group=ctx.group, resume=resume, progress=ctx.progress,
        mlflow=ctx.mlflow, inference_images=ctx.inference_images,
    )  # fmt: skip


register_step(StepKind("baseline", "Baseline", ROOT, 0, study_settings=(), run=_from_study))
