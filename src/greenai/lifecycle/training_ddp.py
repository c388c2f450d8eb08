"""A training run spread over the ranks of a torchrun (or SLURM) job: one result, one store row.

The same holds for the fine-tuning steps (pruning, distillation, QAT: ``variant_env``): every rank
fine-tunes its shard, the leader evaluates, times and records the variant.

Every rank trains its shard under DDP (``greenai.ml.training.ddp``) with its own meter reading its
share of the hardware (``greenai.sensors.ranks``). Rank 0 (the leader) owns the run: the store row,
the result JSON, checkpoints, the training log, the inference figure. The other ranks write nothing
that lasts (their meter's files go to a temporary folder removed at the end). Each meter window's
figures are gathered to one job total (``greenai.meter.gather``): the data load, every epoch's live
figure, the run's total; the result's ``distributed`` section keeps the per-node and per-rank detail.

A rank that dies: torchrun stops the others with SIGTERM. The leader turns that into an exception,
so its store row is closed ``failed`` with the reason and keeps the samples it had written; no total
is formed without every rank's share (a collective with a missing rank raises, never shrinks). A job
cancelled through greenai's launcher (SIGTERM, SIGHUP or Ctrl-C to ``greenai baseline
--nproc-per-node``, or to ``greenai study``) leaves the mark ``lifecycle.ddp_launch`` describes:
then the run is closed ``interrupted``, as a single process's is. Ctrl-C (SIGINT) reaching the ranks
is ``interrupted`` in any case.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from greenai.errors import GreenAIError, UsageError


class JobStopped(GreenAIError):
    """The launcher stopped this rank (SIGTERM): another rank failed or the job was cancelled.
    One ``greenai: error:`` line, exit 1 (a GreenAIError: no traceback)."""


class JobCancelled(KeyboardInterrupt):
    """The job was cancelled through greenai's launcher: status ``interrupted``, exit 128+signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"distributed job cancelled ({signal.Signals(signum).name})")
        self.signum = signum


def _stop(signum: int, _frame: Any) -> None:
    from greenai.lifecycle.ddp_launch import CANCEL_ENV

    mark = os.environ.get(CANCEL_ENV)
    if mark and os.path.exists(mark):  # the launcher was told to stop: a cancel, not a failure
        raise JobCancelled(signum)
    raise JobStopped(
        f"distributed job stopped by signal {signum} (a rank failed or the job was cancelled); "
        "no job total formed"
    )


def check_distributable(cfg: Any, resume: bool) -> None:
    """What a distributed training run cannot do yet: ``UsageError`` (checked by the launcher too,
    so the job is refused once, before torchrun starts). ``--target-accuracy`` works: every rank
    takes rank 0's held-out figure, so all stop after the same epoch."""
    if resume:
        raise UsageError(
            "--resume is not supported for a distributed run yet (the other ranks cannot load "
            "rank 0's checkpoint); rerun the training without --resume"
        )


@contextlib.contextmanager
def joined(info: Any, device: Any) -> Iterator[tuple[Any, Path | None]]:
    """This rank in the job's process group: (its ``Ddp``, a scratch folder for a follower's files
    or None on the leader). SIGTERM from the launcher raises here (``JobStopped``/``JobCancelled``);
    the group is left and the scratch folder removed at the end."""
    from greenai.ml.training import ddp as ddp_mod

    ddp = ddp_mod.join(info, device)
    assert ddp is not None
    previous = signal.signal(signal.SIGTERM, _stop)
    scratch = None if ddp.leader else Path(tempfile.mkdtemp(prefix=f"greenai-rank{ddp.rank}-"))
    try:
        yield ddp, scratch
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(Exception):
            ddp.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def train_distributed(cfg: Any, info: Any, **kw: Any) -> dict[str, Any]:
    """``train_run``'s work on one rank of a distributed job (``info``: its ``RankInfo``).

    Keyword arguments are ``TrainingSession.prepare``'s. Returns the result (on followers, their
    own throwaway copy with the job's figures)."""
    from greenai.lifecycle.training_session import TrainingSession
    from greenai.ml.training.loop import resolve_device
    from greenai.storage import new_run_id

    check_distributable(cfg, bool(kw.get("resume")))
    with joined(info, resolve_device(cfg.device)) as (ddp, scratch):
        kw["run_id"] = ddp.broadcast(kw.get("run_id") or new_run_id())
        if scratch is not None:
            kw.update(out_dir=scratch, store=None, mlflow=None, progress=False)
            kw.update(inference_images=0)
        session = TrainingSession.prepare(cfg, ddp=ddp, **kw)
        session.device = ddp.device
        return session.run()


@contextlib.contextmanager
def variant_env(env: Any, device: str) -> Iterator[tuple[Any, Any]]:
    """A fine-tuning step (prune, distill, QAT) on this rank: (its ``RunEnv``, its ``Ddp``), or
    ``(env, None)`` outside a distributed job. The leader keeps ``env`` (store, MLflow, files);
    a follower writes only to a scratch folder. Both gather their meter to the job's total."""
    from greenai.sensors.ranks import rank_info

    info = rank_info()
    if not info.distributed:
        yield env, None
        return
    import torch

    with joined(info, torch.device(device)) as (ddp, scratch):
        gather = functools.partial(job_measurement, ddp)
        if scratch is None:
            yield dataclasses.replace(env, gather=gather), ddp
        else:
            yield (
                dataclasses.replace(
                    env, out_dir=scratch, store=None, mlflow=None, progress=False, gather=gather
                ),
                ddp,
            )


def job_measurement(ddp: Any, m: Any) -> tuple[Any, dict[str, Any]]:
    """(the job's Measurement, per-node/per-rank detail) from this rank's ``m``: a collective."""
    from greenai.meter.gather import combine, gather, rank_record

    return combine(gather(rank_record(m, ddp.info.identity())), m)


def job_live(session: Any, tracker: Any) -> dict[str, Any]:
    """The session's energy so far (``TrainingSession._cumulative``) over every rank: the earlier
    pieces (already the job's) plus every rank's live window. A collective: every rank calls it."""
    from greenai.meter.gather import gather

    pieces = session.pieces_so_far(tracker.snapshot())
    own = pieces[-1]
    parts = gather({"energy_kwh": own["energy_kwh"], "co2_kg": own["co2_kg"]})
    return {
        "energy_kwh": sum(p["energy_kwh"] for p in pieces[:-1] + parts),
        "co2_kg": sum(p["co2_kg"] for p in pieces[:-1] + parts),
        "duration_s": sum(p["duration_s"] for p in pieces),
    }
