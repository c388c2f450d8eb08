"""``greenai.track`` in every rank of a job that has no process group: one job total, via the store.

Under torchrun or SLURM (``sensors.ranks``) each rank's meter reads only its share of the node (RAPL
on local rank 0, its own processes' estimates, its own GPUs). With no ``torch.distributed`` group to
gather through (``greenai measure -- torchrun python train.py`` where each process uses
``greenai.track``; a SLURM job step whose tasks never form a group), every rank instead records its
own figures, with who measured what, under the job's id in the run store (``storage.rank_rows``).
The job is one run row of variant "tracked" whose id is the job's; its total is the sum of the ranks'
figures (``meter.gather.combine``), formed once: by whichever rank finishes last, or at read time
(``settle``, e.g. by ``greenai measure`` once its command has ended).

A rank that dies keeps its samples; the job is then closed "interrupted" (or "failed" when a rank
failed) with an error line that starts "incomplete:" and names the ranks, and its energy is the
ranks' last figures (a lower bound), never a total that silently leaves a rank out.

The job's id, shared by its ranks without talking: ``track(run_id=...)``, else ``$GREENAI_JOB_ID``,
else torchrun's rendezvous id (``$TORCHELASTIC_RUN_ID``, random per ``--standalone`` job), else
SLURM's job and step ids. ``track(job=False)`` keeps the old behaviour: one run per rank.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from greenai.errors import UsageError
from greenai.lifecycle.recorded import _Recording
from greenai.lifecycle.tracked_result import VARIANT, build_result
from greenai.meter.types import Measurement, PhaseResult, Sample
from greenai.sensors.ranks import RankInfo, rank_info
from greenai.units import CarbonIntensity, kwh

JOB_ENV = "GREENAI_JOB_ID"
GATHERED = "the run store: each rank recorded its own figures (no process group)"


def job_id_for(
    info: RankInfo, env: Mapping[str, str] = os.environ, given: str | None = None
) -> str | None:
    """The id every rank of this job computes alike (see the module's docstring); None when the
    environment names none (torchrun's static rendezvous without ``--rdzv-id``)."""
    if given:
        return given
    if env.get(JOB_ENV, "").strip():
        return env[JOB_ENV].strip()
    run = env.get("TORCHELASTIC_RUN_ID", "").strip()
    if run and run != "none":
        return f"torchrun-{run}"[:64]
    if env.get("SLURM_JOB_ID", "").strip():
        return f"slurm-{env['SLURM_JOB_ID'].strip()}.{env.get('SLURM_STEP_ID', '0').strip()}"
    return None


def recording_for(spec: Any) -> _Recording | None:
    """A ``RankRecording`` for a rank of a distributed job recording to a store, else None."""
    if spec.store is None or getattr(spec, "job", None) is False:
        return None
    info = rank_info()
    if not info.distributed:
        return None
    job_id = job_id_for(info, given=spec.tracker_kwargs.get("run_id"))
    if job_id is None:  # each rank's share stays a run of its own: a sum, never N x the node
        print(
            f"greenai: warning: rank {info.rank} of {info.world_size}: no job id shared by the "
            f"ranks (set ${JOB_ENV}, or torchrun --rdzv-id); this rank's share is recorded as a "
            "run of its own",
            file=sys.stderr,
        )
        return None
    return RankRecording(spec, info, job_id)


def settle_since(store: Any, since: float) -> list[tuple[str, str]]:
    """Settle every job whose ranks first registered at or after ``since`` (Unix s), taking
    ranks that never reported as missing (the caller's command has ended: ``greenai measure``).
    Returns (job id, state) pairs; a job already totalled is left as it is ("totalled")."""
    from greenai.storage import rank_rows

    return [(j, settle(store, j, final=True)) for j in rank_rows.jobs_since(store, since)]


class _RankSink:
    """The meter's sink for one rank: its samples under the job's id (phases are in its record)."""

    def __init__(self, store: Any, job_id: str, rank: int) -> None:
        self.store, self.job_id, self.rank = store, job_id, rank

    def on_start(self, run_id: str, name: str, start_time: float) -> None:
        pass

    def on_sample(self, sample: Sample) -> None:
        from greenai.storage import rank_rows

        rank_rows.add_sample(self.store, self.job_id, self.rank, sample)

    def on_phase(self, phase: PhaseResult) -> None:
        pass

    def on_stop(self, measurement: Measurement) -> None:
        pass


class RankRecording(_Recording):
    """One rank's use of ``greenai.track``: its share recorded under the job, the job row shared."""

    def __init__(self, spec: Any, info: RankInfo, job_id: str) -> None:
        super().__init__(spec)
        self.info, self.job_id = info, job_id
        self.tracker.run_id = job_id  # the final Measurement names the job's run

    def begin(self) -> Any:
        if self.store is None:
            return super().begin()
        from greenai.storage import rank_rows

        spec, store, info = self.spec, self.store, self.info
        if self.loggers.active:
            params = {"model": spec.model, "dataset": spec.dataset, "device": self.device}
            self.loggers.start_run(f"{self.job_id}.rank{info.rank}", spec.name, params=params)
        try:
            _join_job_row(store, self.job_id, spec, self.device, info)
            carbon = self.tracker.carbon
            intensity = carbon.intensity
            rank_rows.register(
                store, self.job_id, info.rank, info.world_size,
                {**info.identity(), "launcher": info.launcher, "name": spec.name,
                 "pue": carbon.pue, "intensity": [intensity.g_per_kwh, intensity.source,
                                                  intensity.low_g_per_kwh, intensity.high_g_per_kwh]},
            )  # fmt: skip
        except BaseException:
            self._log_end(None, "failed")
            self.close()
            raise
        try:
            self.sink.target = _RankSink(store, self.job_id, info.rank)
            self.tracker.store_url = store.url
            self.tracker.start()
        except BaseException as exc:
            self._finish(None, exc)
            self.close()
            raise
        return self.tracker

    def _finish(self, m: Measurement | None, exc: BaseException | None) -> None:
        if self.store is None:
            super()._finish(m, exc)
            return
        from greenai.lifecycle.tracked_result import error_line
        from greenai.meter.gather import rank_record
        from greenai.storage import rank_rows

        status = "done" if exc is None and m is not None else (
            "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        )  # fmt: skip
        record = None if m is None else rank_record(m, self.info.identity())
        error = None if status == "done" else error_line(exc or RuntimeError())
        self._log_end(None, status)
        try:
            rank_rows.finish(self.store, self.job_id, self.info.rank, status, record, error)
            settle(self.store, self.job_id, by=self.info.rank, training=self.tracker.training)
        except Exception as error_:  # never replace the block's own exception
            if exc is None:
                raise
            print(f"greenai: warning: could not record rank {self.info.rank} of job "
                  f"{self.job_id}: {error_}", file=sys.stderr)  # fmt: skip


def _join_job_row(store: Any, job_id: str, spec: Any, device: str, info: RankInfo) -> None:
    """Create the job's run row, or join it when another rank did: refuse a run id that names a
    run which is not this job's, or a job whose total is already formed."""
    from greenai.storage import rank_rows

    config = {"distributed": {"world_size": info.world_size, "launcher": info.launcher,
                              "gathered_through": GATHERED}}  # fmt: skip
    try:
        store.create_run(job_id, name=spec.name, variant=VARIANT, model=spec.model,
                         dataset=spec.dataset, device=device, config=config, group=spec.group)  # fmt: skip
        return
    except UsageError:
        if not store.has_run(job_id):
            raise
    run = store.get_run(job_id)
    if "distributed" not in (run.config or {}):
        raise UsageError(f"run id {job_id} is taken in {store.url} by a run that is not this job")
    if rank_rows.totalled_by(store, job_id) is not None:
        raise UsageError(
            f"job {job_id} is already recorded ({run.status}) in {store.url}: give it a new id "
            f"(${JOB_ENV})"
        )


def _figures(share: Any) -> tuple[dict[str, float], float]:
    """A rank's energy (J, before PUE) and CO2: its final record, else its last sample."""
    if share.record is not None:
        return dict(share.record["energy_j"]), float(share.record["co2_kg"])
    if share.last_sample is not None:
        return dict(share.last_sample["energy_j"]), float(share.last_sample["co2_kg"])
    return {}, 0.0


def settle(
    store: Any, job_id: str, *, by: int = -1, final: bool = False, training: Any = None
) -> str:
    """Form the job's total if every rank has ended: "done", "incomplete", "totalled" (someone
    else formed it), or "running" (ranks still running). ``final``: no more ranks will come (the
    command has ended), so a rank that never reported counts as missing. ``by``: the caller's rank
    (-1: a reader)."""
    from greenai.storage import rank_rows

    shares = rank_rows.shares_of(store, job_id)
    for share in shares:
        if rank_rows.is_gone(store, share):
            rank_rows.mark_gone(store, job_id, share.rank, share.heartbeat_at)
    shares = rank_rows.shares_of(store, job_id)
    world = rank_rows.world_size(store, job_id) or 0
    running = [s for s in shares if s.status == "running"]
    if running or (len(shares) < world and not final):
        if running:
            rank_rows.hand_over(store, job_id, running[0])
        return "running"
    if not shares or not rank_rows.claim_total(store, job_id, by):
        return "totalled"
    if len(shares) == world and all(s.status == "done" for s in shares):
        _record_total(store, job_id, shares, training)
        return "done"
    _record_incomplete(store, job_id, shares, world)
    return "incomplete"


def _record_total(store: Any, job_id: str, shares: list[Any], training: Any) -> None:
    from greenai.meter.gather import combine

    first = shares[0].identity
    g, source, low, high = first["intensity"]
    intensity = CarbonIntensity(g, source, low_g_per_kwh=low, high_g_per_kwh=high)
    records = [s.record for s in shares]
    start = min(r.get("start_time", s.started_at) for r, s in zip(records, shares, strict=True))
    end = max(
        r.get("start_time", s.started_at) + r["duration_s"]
        for r, s in zip(records, shares, strict=True)
    )
    base = Measurement(
        job_id, first["name"], start, end - start, {}, {}, intensity, first["pue"], 0.0
    )
    job, detail = combine(records, base)  # duration: the longest rank's window, as with a group
    job = replace(job, start_time=start)
    detail["gathered_through"] = GATHERED
    detail["wall_span_s"] = end - start  # first rank's start to last rank's end (they may skew)
    run = store.get_run(job_id)
    result = build_result(
        job, group=run.group, model=run.model, dataset=run.dataset, device=run.device or "cpu",
        emissions_csv=None, training=training,
    )  # fmt: skip
    result["distributed"] = detail
    from greenai.lifecycle.run_ranks import embodied_over

    result["embodied"] = embodied_over(result["embodied"], detail, None)
    store.record_measurement(job_id, job.to_dict(), energy_kwh=job.energy_kwh, co2_kg=job.co2_kg,
                             duration_s=job.duration_s)  # fmt: skip
    store.finish_run(job_id, status="done", result=result)


def _record_incomplete(store: Any, job_id: str, shares: list[Any], world: int) -> None:
    pue = float(shares[0].identity.get("pue", 1.0))
    energy_j = co2 = 0.0
    for share in shares:
        joules, kg = _figures(share)
        energy_j, co2 = energy_j + sum(joules.values()), co2 + kg
    lost = [
        f"rank {s.rank} ({s.status}, pid {s.pid} on {s.host}, "
        + (f"last sample at {s.last_sample['elapsed_s']:.1f} s)" if s.last_sample else "no sample)")
        for s in shares
        if s.status != "done"
    ]
    present = {s.rank for s in shares}
    lost += [f"rank {r} (never reported)" for r in range(world) if r not in present]
    status = "failed" if any(s.status == "failed" for s in shares) else "interrupted"
    error = (
        f"incomplete: {', '.join(lost)} of {world} ranks did not finish; energy and CO2 are the "
        "ranks' last recorded figures (a lower bound)"
    )
    store.finish_run(job_id, status=status, error=error, energy_kwh=kwh(energy_j) * pue, co2_kg=co2)
