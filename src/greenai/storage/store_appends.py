"""What a running run adds to the store: its epochs' metrics, the meter's samples and finished
phases, and its final totals, each write bumping the run's heartbeat (a sign of life for
``mark_interrupted``). Part of ``RunStore`` (``store.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from greenai.errors import UsageError
from greenai.meter.types import PhaseResult, Sample, kwh
from greenai.storage import schema
from greenai.storage.engine import retrying, write_connection
from greenai.storage.rows import dumps
from greenai.storage.store_base import StoreBase, store_errors


class RunRecordWrites(StoreBase):
    """Appending epochs, samples and phases to a run, and storing the meter's totals."""

    @store_errors
    def add_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Record one epoch's metrics (replacing that epoch's earlier record, e.g. after a resume)."""
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise UsageError(f"epoch must be a non-negative integer, got {epoch!r}")
        text = dumps(dict(metrics), "epoch metrics")
        now = time.time()

        def write() -> None:
            with write_connection(self.engine) as conn:
                self._beat(conn, run_id, now)
                e = schema.epochs
                conn.execute(e.delete().where(e.c.run_id == run_id, e.c.epoch == epoch))
                conn.execute(
                    e.insert().values(run_id=run_id, epoch=epoch, metrics=text, recorded_at=now)
                )

        retrying(write)

    @store_errors
    def add_sample(self, sample: Sample) -> None:
        """Append one meter sample and bump the run's heartbeat, in one transaction."""
        row = {
            "run_id": sample.run_id,
            "timestamp": float(sample.timestamp),
            "elapsed_s": float(sample.elapsed_s),
            "phase": sample.phase,
            "power_w": dumps(dict(sample.power_w), "sample power"),
            "energy_j": dumps(dict(sample.energy_j), "sample energy"),
            "co2_kg": float(sample.co2_kg),
        }

        self._append(schema.samples, row)

    @store_errors
    def add_phase(self, phase: PhaseResult) -> None:
        """Append one finished phase of a run."""
        row = {
            "run_id": phase.run_id,
            "name": phase.name,
            "path": phase.path,
            "start_time": float(phase.start_time),
            "duration_s": float(phase.duration_s),
            "energy_j": dumps(dict(phase.energy_j), "phase energy"),
            "energy_kwh": kwh(sum(phase.energy_j.values())),
            "co2_kg": float(phase.co2_kg),
        }

        self._append(schema.phases, row)

    @store_errors
    def record_measurement(
        self,
        run_id: str,
        measurement: Mapping[str, Any],
        *,
        energy_kwh: float,
        co2_kg: float,
        duration_s: float,
    ) -> None:
        """Store the meter's final totals for a run (``StoreSink.on_stop`` calls this)."""
        self._update(
            run_id,
            {
                "measurement": dumps(dict(measurement), "measurement"),
                "energy_kwh": float(energy_kwh),
                "co2_kg": float(co2_kg),
                "duration_s": float(duration_s),
                "heartbeat_at": time.time(),
            },
        )

    def _append(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Insert ``row`` (which names its run) and bump that run's heartbeat, atomically.

        On PostgreSQL this is one statement (an UPDATE ... RETURNING feeding the INSERT), one round
        trip: the meter's sampling thread must not wait on the network more than it has to.
        """
        run_id = row["run_id"]
        if self.engine.dialect.name != "postgresql":

            def write() -> None:
                with write_connection(self.engine) as conn:
                    self._beat(conn, run_id, time.time())
                    conn.execute(table.insert().values(**row))

            retrying(write)
            return
        r = schema.runs
        columns = [name for name in row if name != "run_id"]

        def write_pg() -> None:
            beat = (
                r.update()
                .where(r.c.run_id == run_id)
                .values(heartbeat_at=time.time())
                .returning(r.c.run_id)
                .cte("beat")
            )
            values = [sa.literal(row[name], table.c[name].type) for name in columns]
            statement = (
                table.insert()
                .from_select(["run_id", *columns], sa.select(beat.c.run_id, *values))
                .returning(table.c.run_id)
            )
            with write_connection(self.engine, one_statement=True) as conn:
                if conn.execute(statement).first() is None:  # no such run: nothing inserted
                    raise UsageError(f"no run {run_id!r} in the store {self.url}")

        retrying(write_pg)

    def _beat(self, conn: sa.Connection, run_id: str, now: float) -> None:
        """Bump the run's heartbeat; ``UsageError`` (rolling the transaction back) if there is no
        such run. Done first in a write, it also takes the run's row lock early on PostgreSQL."""
        r = schema.runs
        done = conn.execute(r.update().where(r.c.run_id == run_id).values(heartbeat_at=now))
        if done.rowcount == 0:
            raise UsageError(f"no run {run_id!r} in the store {self.url}")
