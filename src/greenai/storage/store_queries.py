"""Reading the run store: a run, runs by group/variant/status, a run's samples, phases and
epochs, its lineage (parent, grandparent, ...) and its children. Every read returns frozen
records. Part of ``RunStore`` (``store.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from greenai.errors import UsageError
from greenai.meter.types import PhaseResult, Sample
from greenai.storage import schema
from greenai.storage.records import STATUSES, EpochRecord, RunRecord
from greenai.storage.rows import run_record
from greenai.storage.store_base import StoreBase, store_errors

T = TypeVar("T")


class RunQueries(StoreBase):
    """The reads of ``RunStore``."""

    @store_errors
    def get_run(self, run_id: str) -> RunRecord:
        """The run ``run_id``; ``UsageError`` naming the id and the store if there is none."""
        with self._read() as conn:
            row = conn.execute(sa.select(schema.runs).where(schema.runs.c.run_id == run_id)).first()
        if row is None:
            raise UsageError(f"no run {run_id!r} in the store {self.url}")
        return run_record(row)

    @store_errors
    def has_run(self, run_id: str) -> bool:
        with self._read() as conn:
            return self._exists(conn, run_id)

    @store_errors
    def list_runs(
        self, group: str | None = None, variant: str | None = None, status: str | None = None
    ) -> list[RunRecord]:
        """Runs matching every filter given, oldest first."""
        if status is not None and status not in STATUSES:
            raise UsageError(f"unknown status {status!r} (choose from {', '.join(STATUSES)})")
        r = schema.runs
        query = sa.select(r).order_by(r.c.started_at, r.c.run_id)
        if group is not None:
            query = query.where(r.c.group_name == group)
        if variant is not None:
            query = query.where(r.c.variant == variant)
        if status is not None:
            query = query.where(r.c.status == status)
        with self._read() as conn:
            return [run_record(row) for row in conn.execute(query)]

    @store_errors
    def samples(self, run_id: str) -> list[Sample]:
        """The run's samples in the order they were taken."""
        s = schema.samples
        return self._children(
            run_id,
            sa.select(s).where(s.c.run_id == run_id).order_by(s.c.elapsed_s, s.c.id),
            lambda row: Sample(
                run_id=row.run_id,
                timestamp=row.timestamp,
                elapsed_s=row.elapsed_s,
                phase=row.phase,
                power_w=json.loads(row.power_w),
                energy_j=json.loads(row.energy_j),
                co2_kg=row.co2_kg,
            ),
        )

    @store_errors
    def phases(self, run_id: str) -> list[PhaseResult]:
        """The run's finished phases, by start time."""
        p = schema.phases
        return self._children(
            run_id,
            sa.select(p).where(p.c.run_id == run_id).order_by(p.c.start_time, p.c.id),
            lambda row: PhaseResult(
                run_id=row.run_id,
                name=row.name,
                path=row.path,
                start_time=row.start_time,
                duration_s=row.duration_s,
                energy_j=json.loads(row.energy_j),
                co2_kg=row.co2_kg,
            ),
        )

    @store_errors
    def epochs(self, run_id: str) -> list[EpochRecord]:
        """The run's per-epoch metrics, by epoch."""
        e = schema.epochs
        return self._children(
            run_id,
            sa.select(e).where(e.c.run_id == run_id).order_by(e.c.epoch),
            lambda row: EpochRecord(
                run_id=row.run_id,
                epoch=row.epoch,
                metrics=json.loads(row.metrics),
                recorded_at=row.recorded_at,
            ),
        )

    @store_errors
    def lineage(self, run_id: str) -> list[RunRecord]:
        """The run and its ancestors, nearest first: ``[run, parent, grandparent, ...]``.

        Stops at a parent that is not in this store (or at a cycle)."""
        chain = [self.get_run(run_id)]
        seen = {run_id}
        with self._read() as conn:
            while (parent := chain[-1].parent_run_id) is not None and parent not in seen:
                row = conn.execute(
                    sa.select(schema.runs).where(schema.runs.c.run_id == parent)
                ).first()
                if row is None:
                    break
                seen.add(parent)
                chain.append(run_record(row))
        return chain

    @store_errors
    def children(self, run_id: str) -> list[RunRecord]:
        """Runs whose parent is ``run_id``, oldest first."""
        r = schema.runs
        query = sa.select(r).where(r.c.parent_run_id == run_id).order_by(r.c.started_at, r.c.run_id)
        with self._read() as conn:
            return [run_record(row) for row in conn.execute(query)]

    # -- helpers --------------------------------------------------------------------------------

    def _children(self, run_id: str, query: sa.Select, make: Callable[[Any], T]) -> list[T]:
        with self._read() as conn:
            rows = conn.execute(query).all()
            if not rows and not self._exists(conn, run_id):
                raise UsageError(f"no run {run_id!r} in the store {self.url}")
        return [make(row) for row in rows]
