"""``RunStore``: runs, their phases, samples and epochs, in SQLite or PostgreSQL.

Contract (every backend, checked by one test suite in tests/storage):
- every write is one transaction, committed before the method returns; a failed write leaves nothing;
- the store may be shared by many processes and threads at once; lock contention is retried inside;
- reads return frozen snapshots (``RunRecord``, ``EpochRecord``, the meter's ``Sample`` and
  ``PhaseResult``) that never change afterwards;
- bad input (unknown run id, unknown status, a config that is not JSON) raises ``UsageError`` with
  one line, before anything is written.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

from greenai.errors import UsageError
from greenai.meter.types import PhaseResult, Sample, kwh
from greenai.storage import schema
from greenai.storage.engine import (
    StoreError,
    create_engine,
    display_url,
    first_line,
    resolve_url,
    retrying,
    write_connection,
)
from greenai.storage.liveness import pid_alive
from greenai.storage.records import (
    FINAL_STATUSES,
    INTERRUPTED,
    RUNNING,
    STATUSES,
    EpochRecord,
    RunRecord,
)
from greenai.storage.rows import check_id, dumps, run_record, summary

# A run on another host whose heartbeat is older than this is taken to be dead.
DEFAULT_STALE_AFTER_S = 15 * 60.0

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _store_errors(method: F) -> F:
    """Turn a database failure inside a store method into one ``StoreError`` line naming the store."""

    @functools.wraps(method)
    def wrapper(self: RunStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except exc.DBAPIError as error:
            raise StoreError(f"the run store {self.url} failed: {first_line(error)}") from error

    return wrapper  # type: ignore[return-value]


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: UTC time plus 6 random hex digits, e.g. ``20261125-043012-a1b2c3``."""
    moment = now or datetime.now(timezone.utc)
    return f"{moment.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def open_store(
    url: str | None = None,
    default_dir: Path | str = ".",
    *,
    create: bool = True,
    mark_stale: bool = True,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
) -> RunStore:
    """Open (and create, with its schema) the run store.

    ``url``: a SQLAlchemy URL (``sqlite:///path``, ``postgresql://user@host/db``) or a plain file path;
    None falls back to ``$GREENAI_STORE``, then to ``sqlite:///<default_dir>/greenai.db``.
    ``create=False`` refuses to create a missing SQLite file (for read-only commands).
    ``mark_stale`` marks runs left "running" by dead processes as "interrupted" (see
    ``RunStore.mark_interrupted``). Raises ``UsageError`` for a bad or unreachable store.
    """
    engine = create_engine(
        resolve_url(url, Path(default_dir)), create=create, folder_root=Path(default_dir)
    )
    store = RunStore(engine, stale_after_s=stale_after_s)
    if mark_stale:
        try:
            store.mark_interrupted()
        except StoreError as error:  # e.g. a read-only store: reading it still works
            print(f"greenai: warning: could not mark interrupted runs: {error}", file=sys.stderr)
    return store


class RunStore:
    """The run store over one SQLAlchemy engine. Thread-safe; share one per process."""

    def __init__(
        self,
        engine: Engine,
        *,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        host: str | None = None,
    ) -> None:
        self.engine = engine
        self.stale_after_s = stale_after_s
        self.host = host or socket.gethostname()

    @property
    def url(self) -> str:
        """The store's URL, password hidden."""
        return display_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({self.url!r})"

    # -- writes ---------------------------------------------------------------------------------

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    # -- reads ----------------------------------------------------------------------------------

    @_store_errors
    def get_run(self, run_id: str) -> RunRecord:
        """The run ``run_id``; ``UsageError`` naming the id and the store if there is none."""
        with self._read() as conn:
            row = conn.execute(sa.select(schema.runs).where(schema.runs.c.run_id == run_id)).first()
        if row is None:
            raise UsageError(f"no run {run_id!r} in the store {self.url}")
        return run_record(row)

    @_store_errors
    def has_run(self, run_id: str) -> bool:
        with self._read() as conn:
            return self._exists(conn, run_id)

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    @_store_errors
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

    def _update(self, run_id: str, values: dict[str, Any]) -> RunRecord:
        """Update the run's row and return the run as it now is, in one transaction."""

        returning = self.engine.dialect.update_returning

        def write() -> RunRecord:
            with write_connection(self.engine, one_statement=returning) as conn:
                r = schema.runs
                update = r.update().where(r.c.run_id == run_id).values(**values)
                if returning:
                    row = conn.execute(update.returning(r)).first()
                else:
                    done = conn.execute(update)
                    row = (
                        None
                        if done.rowcount == 0
                        else conn.execute(sa.select(r).where(r.c.run_id == run_id)).one()
                    )
                if row is None:
                    raise UsageError(f"no run {run_id!r} in the store {self.url}")
                return run_record(row)

        return retrying(write)

    @staticmethod
    def _exists(conn: sa.Connection, run_id: str) -> bool:
        r = schema.runs
        return conn.execute(sa.select(r.c.run_id).where(r.c.run_id == run_id)).first() is not None

    def _read(self) -> sa.Connection:
        """A connection for reads. On PostgreSQL in autocommit: no BEGIN/ROLLBACK round trips."""
        conn = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn

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
