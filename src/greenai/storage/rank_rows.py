"""Each rank's own figures in the run store, for a distributed job that has no process group.

When the ranks of a torchrun or SLURM job meter themselves (``greenai.track`` in each process) and
no ``torch.distributed`` group exists to gather through, the store is the meeting point: every rank
writes a ``rank_shares`` row (who it is, where, its status, its final figures) and its samples in
``rank_samples``, all under the job's id; ``rank_jobs`` holds one row per job whose ``totalled_by``
is set once, by one conditional update, so the job's total is formed exactly once. The job itself
is one ordinary row of ``runs`` (the store's API creates and closes it); this module only bumps that
row's heartbeat with every rank sample and hands its ownership to a rank still running, so the
store's own check for dead owners (``RunStore.mark_interrupted``) follows the job, not one rank.

The three tables sit beside the store's own (created on first use, as the store creates its schema;
``rank_tables.py``, re-exported here); the store's tables are not changed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from greenai.errors import UsageError
from greenai.meter.types import Sample
from greenai.storage import schema
from greenai.storage.liveness import pid_alive
from greenai.storage.rank_tables import ensure_tables, has_tables, jobs, metadata, samples, shares
from greenai.storage.rows import dumps
from greenai.storage.transactions import retrying, write_connection

__all__ = [
    "RankShare",
    "add_sample",
    "claim_total",
    "ensure_tables",
    "finish",
    "hand_over",
    "has_tables",
    "is_gone",
    "jobs",
    "jobs_since",
    "mark_gone",
    "metadata",
    "register",
    "samples",
    "shares",
    "shares_of",
    "totalled_by",
    "world_size",
]


@dataclass(frozen=True)
class RankShare:
    """One rank's row: who, where, its status, and its last figures (final, else last sample)."""

    job_id: str
    rank: int
    identity: dict[str, Any]
    host: str
    pid: int
    status: str
    started_at: float
    heartbeat_at: float
    finished_at: float | None
    record: dict[str, Any] | None  # rank_record of its final Measurement (None until it ends)
    error: str | None
    last_sample: dict[str, Any] | None  # {"elapsed_s", "energy_j", "co2_kg"} or None
    sample_count: int


def register(
    store: Any, job_id: str, rank: int, world_size: int, identity: Mapping[str, Any]
) -> None:
    """Record rank ``rank`` of ``job_id`` as running in this process. ``UsageError`` if that rank
    of that job is already recorded (a job id reused) or the world size disagrees."""
    ensure_tables(store)
    now = time.time()

    def write() -> None:
        with write_connection(store.engine) as conn:
            known = conn.execute(
                sa.select(jobs.c.world_size).where(jobs.c.job_id == job_id)
            ).scalar()
            if known is None:
                conn.execute(jobs.insert().values(job_id=job_id, world_size=world_size,
                                                  created_at=now))  # fmt: skip
            elif known != world_size:
                raise UsageError(
                    f"job {job_id} was recorded with {known} ranks, this rank says {world_size}"
                )
            conn.execute(
                shares.insert().values(
                    job_id=job_id, rank=rank, identity=dumps(dict(identity), "rank identity"),
                    host=store.host, pid=os.getpid(), status="running", started_at=now,
                    heartbeat_at=now,
                )
            )  # fmt: skip

    try:
        retrying(write)
    except exc.IntegrityError:  # two ranks creating the job row at once, or this rank is taken
        if rank in {s.rank for s in shares_of(store, job_id)}:
            raise UsageError(
                f"rank {rank} of job {job_id} is already in the store {store.url}: give the job "
                "a new id ($GREENAI_JOB_ID)"
            ) from None
        retrying(write)


def add_sample(store: Any, job_id: str, rank: int, sample: Sample) -> None:
    """Append one of this rank's samples; bump its heartbeat and the job row's, atomically."""
    row = {
        "job_id": job_id,
        "rank": rank,
        "timestamp": float(sample.timestamp),
        "elapsed_s": float(sample.elapsed_s),
        "energy_j": dumps(dict(sample.energy_j), "sample energy"),
        "co2_kg": float(sample.co2_kg),
    }
    now = time.time()

    def write() -> None:
        with write_connection(store.engine) as conn:
            conn.execute(samples.insert().values(**row))
            conn.execute(
                shares.update()
                .where(shares.c.job_id == job_id, shares.c.rank == rank)
                .values(heartbeat_at=now)
            )
            r = schema.runs
            conn.execute(
                r.update().where(r.c.run_id == job_id, r.c.status == "running")
                .values(heartbeat_at=now)
            )  # fmt: skip

    retrying(write)


def finish(
    store: Any,
    job_id: str,
    rank: int,
    status: str,
    record: Mapping[str, Any] | None,
    error: str | None = None,
) -> None:
    """Close this rank's row with its status and (when it has one) its final figures."""
    now = time.time()
    values: dict[str, Any] = {"status": status, "finished_at": now, "heartbeat_at": now}
    if record is not None:
        values["record"] = dumps(dict(record), "rank figures")
    if error is not None:
        values["error"] = error

    def write() -> None:
        with write_connection(store.engine) as conn:
            conn.execute(
                shares.update().where(shares.c.job_id == job_id, shares.c.rank == rank)
                .values(**values)
            )  # fmt: skip

    retrying(write)


def world_size(store: Any, job_id: str) -> int | None:
    ensure_tables(store)
    with store.engine.connect() as conn:
        return conn.execute(sa.select(jobs.c.world_size).where(jobs.c.job_id == job_id)).scalar()


def jobs_since(store: Any, since: float) -> list[str]:
    """Jobs first registered at or after ``since`` (Unix s), oldest first."""
    if not has_tables(store):  # a reader leaves a store no rank wrote to as it is
        return []
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(jobs.c.job_id).where(jobs.c.created_at >= since).order_by(jobs.c.created_at)
        ).all()
    return [row.job_id for row in rows]


def totalled_by(store: Any, job_id: str) -> int | None:
    """The rank that formed the job's total (None: not formed yet)."""
    ensure_tables(store)
    with store.engine.connect() as conn:
        return conn.execute(sa.select(jobs.c.totalled_by).where(jobs.c.job_id == job_id)).scalar()


def shares_of(store: Any, job_id: str) -> list[RankShare]:
    """Every rank's row of the job, by rank, each with its last sample."""
    ensure_tables(store)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(shares).where(shares.c.job_id == job_id).order_by(shares.c.rank)
        ).all()
        out = []
        for row in rows:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(samples)
                .where(samples.c.job_id == job_id, samples.c.rank == row.rank)
            ).scalar()
            last = conn.execute(
                sa.select(samples.c.elapsed_s, samples.c.energy_j, samples.c.co2_kg)
                .where(samples.c.job_id == job_id, samples.c.rank == row.rank)
                .order_by(samples.c.elapsed_s.desc(), samples.c.id.desc())
                .limit(1)
            ).first()
            out.append(
                RankShare(
                    job_id, row.rank, json.loads(row.identity), row.host, row.pid, row.status,
                    row.started_at, row.heartbeat_at, row.finished_at,
                    None if row.record is None else json.loads(row.record), row.error,
                    None if last is None else {"elapsed_s": last.elapsed_s, "co2_kg": last.co2_kg,
                                               "energy_j": json.loads(last.energy_j)},
                    int(count or 0),
                )
            )  # fmt: skip
    return out


def is_gone(store: Any, share: RankShare, now: float | None = None) -> bool:
    """A rank still marked running whose process is gone: on this host its pid is dead (or was
    reused); elsewhere its heartbeat is older than the store's ``stale_after_s``."""
    if share.status != "running":
        return False
    if share.host == store.host:
        return not pid_alive(share.pid, since=share.heartbeat_at)
    return (time.time() if now is None else now) - share.heartbeat_at > store.stale_after_s


def mark_gone(store: Any, job_id: str, rank: int, heartbeat_at: float) -> bool:
    """Mark a gone rank "interrupted" (only if nothing was heard from it since ``heartbeat_at``)."""

    def write() -> bool:
        with write_connection(store.engine) as conn:
            done = conn.execute(
                shares.update()
                .where(shares.c.job_id == job_id, shares.c.rank == rank,
                       shares.c.status == "running", shares.c.heartbeat_at == heartbeat_at)
                .values(status="interrupted", finished_at=heartbeat_at,
                        error="its process stopped without finishing")
            )  # fmt: skip
            return bool(done.rowcount)

    return retrying(write)


def claim_total(store: Any, job_id: str, rank: int) -> bool:
    """True for exactly one caller per job: the one that forms (and records) the job's total."""

    def write() -> bool:
        with write_connection(store.engine) as conn:
            done = conn.execute(
                jobs.update()
                .where(jobs.c.job_id == job_id, jobs.c.totalled_by.is_(None))
                .values(totalled_by=rank, totalled_at=time.time())
            )
            return bool(done.rowcount)

    return retrying(write)


def hand_over(store: Any, job_id: str, to: RankShare) -> None:
    """Make rank ``to``'s process the owner of the job's running row (this one is ending), so the
    store does not take the job for dead while that rank still runs."""

    def write() -> None:
        r = schema.runs
        with write_connection(store.engine) as conn:
            conn.execute(
                r.update().where(r.c.run_id == job_id, r.c.status == "running")
                .values(host=to.host, pid=to.pid, heartbeat_at=max(to.heartbeat_at, time.time()))
            )  # fmt: skip

    retrying(write)
