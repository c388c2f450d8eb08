"""A run's status in the store: created "running" and owned by this process (host, pid), resumed,
taken over after an interruption, finished (done, failed, interrupted, ...), or marked
"interrupted" when its process is gone. Part of ``RunStore`` (``store.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from greenai.errors import UsageError
from greenai.storage import schema
from greenai.storage.engine import retrying, write_connection
from greenai.storage.liveness import pid_alive
from greenai.storage.records import FINAL_STATUSES, INTERRUPTED, RUNNING, RunRecord
from greenai.storage.rows import check_id, dumps, run_record, summary
from greenai.storage.store_base import StoreBase, store_errors


class RunStatusWrites(StoreBase):
    """Creating, resuming, reclaiming and finishing runs; marking the abandoned ones."""

    @store_errors
    def create_run(
        self,
        run_id: str,
        *,
        name: str | None = None,
        variant: str | None = None,
        model: str | None = None,
        dataset: str | None = None,
        device: str | None = None,
        config: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        group: str | None = None,
        started_at: float | None = None,
    ) -> RunRecord:
        """Record a new run with status "running", owned by this process (host and pid)."""
        check_id(run_id)
        if parent_run_id is not None:
            check_id(parent_run_id, what="parent run id")
            if parent_run_id == run_id:
                raise UsageError(f"run {run_id} cannot be its own parent")
        now = time.time() if started_at is None else started_at
        row = {
            "run_id": run_id,
            "name": name or variant or run_id,
            "variant": variant,
            "model": model,
            "dataset": dataset,
            "device": device,
            "group_name": group,
            "parent_run_id": parent_run_id,
            "status": RUNNING,
            "host": self.host,
            "pid": os.getpid(),
            "started_at": now,
            "heartbeat_at": time.time(),  # a sign of life now, whatever started_at says
            "config": dumps(dict(config or {}), "config"),
        }

        returning = self.engine.dialect.insert_returning

        def write() -> RunRecord:
            with write_connection(self.engine, one_statement=returning) as conn:
                r = schema.runs
                if returning:
                    return run_record(conn.execute(r.insert().values(**row).returning(r)).one())
                conn.execute(r.insert().values(**row))
                return run_record(conn.execute(sa.select(r).where(r.c.run_id == run_id)).one())

        try:
            return retrying(write)
        except exc.IntegrityError:  # the primary key: the id is taken
            raise UsageError(f"run {run_id} already exists in the store {self.url}") from None

    @store_errors
    def resume_run(self, run_id: str) -> RunRecord:
        """Set a run back to "running", now owned by this process (for ``--resume``)."""
        now = time.time()
        values = {
            "status": RUNNING,
            "host": self.host,
            "pid": os.getpid(),
            "heartbeat_at": now,
            "finished_at": None,
            "error": None,
        }
        return self._update(run_id, values)

    @store_errors
    def reclaim_run(self, run_id: str) -> bool:
        """Take over an "interrupted" run for a rerun (set it "running", owned by this process).

        One conditional update: of two processes rerunning the same interrupted step at once, only
        one gets True; the other must start a run of its own."""
        now = time.time()
        r = schema.runs

        def write() -> bool:
            with write_connection(self.engine) as conn:
                done = conn.execute(
                    r.update()
                    .where(r.c.run_id == run_id, r.c.status == INTERRUPTED)
                    .values(status=RUNNING, host=self.host, pid=os.getpid(), heartbeat_at=now,
                            finished_at=None, error=None)
                )  # fmt: skip
                return bool(done.rowcount)

        return retrying(write)

    @store_errors
    def finish_run(
        self,
        run_id: str,
        status: str = "done",
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        *,
        accuracy: float | None = None,
        energy_kwh: float | None = None,
        co2_kg: float | None = None,
    ) -> RunRecord:
        """Close a run with a final status. Accuracy, energy and CO2 are taken from the arguments,
        else from ``result`` (``metrics.test_accuracy_pct``, ``energy.step.energy_kwh/co2_kg``),
        else kept as the meter stored them."""
        if status not in FINAL_STATUSES:
            raise UsageError(
                f"unknown final status {status!r} (choose from {', '.join(FINAL_STATUSES)})"
            )
        now = time.time()
        values: dict[str, Any] = {"status": status, "finished_at": now, "heartbeat_at": now}
        if result is not None:
            values["result"] = dumps(dict(result), "result")
        if error is not None:
            values["error"] = str(error)
        found = summary(result or {})
        for key, given in (("accuracy", accuracy), ("energy_kwh", energy_kwh), ("co2_kg", co2_kg)):
            chosen = given if given is not None else found.get(key)
            if chosen is not None:
                values[key] = float(chosen)
        return self._update(run_id, values)

    @store_errors
    def mark_interrupted(self, *, now: float | None = None) -> list[str]:
        """Mark runs that are "running" but whose process is gone as "interrupted"; return their ids.

        Gone means: on this host, no process has its pid (or the one that has it started after the
        run's last heartbeat: the pid was reused); on another host, where pids mean nothing, its
        heartbeat is older than ``stale_after_s``. A run resumed or heard from between the check and
        the update is left alone.
        """
        moment = time.time() if now is None else now
        r = schema.runs
        with self._read() as conn:
            rows = conn.execute(
                sa.select(r.c.run_id, r.c.host, r.c.pid, r.c.heartbeat_at).where(
                    r.c.status == RUNNING
                )
            ).all()
        dead = [
            row
            for row in rows
            if (row.host == self.host and not pid_alive(row.pid, since=row.heartbeat_at))
            or (row.host != self.host and moment - row.heartbeat_at > self.stale_after_s)
        ]
        if not dead:
            return []

        def write() -> list[str]:
            marked = []
            with write_connection(self.engine) as conn:
                for row in dead:
                    done = conn.execute(
                        r.update()
                        .where(
                            r.c.run_id == row.run_id,
                            r.c.status == RUNNING,
                            r.c.host == row.host,
                            r.c.pid == row.pid,
                            r.c.heartbeat_at == row.heartbeat_at,
                        )
                        .values(
                            status=INTERRUPTED,
                            finished_at=r.c.heartbeat_at,
                            error="interrupted: the process stopped without finishing the run",
                        )
                    )
                    if done.rowcount:
                        marked.append(row.run_id)
            return marked

        return retrying(write)
