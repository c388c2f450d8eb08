"""``RunStore``: runs, their phases, samples and epochs, in SQLite or PostgreSQL.

Contract (every backend, checked by one test suite in tests/storage):
- every write is one transaction, committed before the method returns; a failed write leaves nothing;
- the store may be shared by many processes and threads at once; lock contention is retried inside;
- reads return frozen snapshots (``RunRecord``, ``EpochRecord``, the meter's ``Sample`` and
  ``PhaseResult``) that never change afterwards;
- bad input (unknown run id, unknown status, a config that is not JSON) raises ``UsageError`` with
  one line, before anything is written.

``RunStore`` is assembled here from small parts: ``store_base.py`` (engine, URL, shared helpers,
``store_errors``), ``store_status.py`` (create, resume, reclaim, finish, mark interrupted),
``store_appends.py`` (epochs, samples, phases, the meter's totals) and ``store_queries.py`` (reads).
Import it (and ``open_store``, ``new_run_id``) from here or from ``greenai.storage``.
"""

from __future__ import annotations

import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path

from greenai.storage.engine import StoreError, create_engine, resolve_url
from greenai.storage.records import (
    FINAL_STATUSES,
    INTERRUPTED,
    RUNNING,
    STATUSES,
    EpochRecord,
    RunRecord,
)
from greenai.storage.store_appends import RunRecordWrites
from greenai.storage.store_base import DEFAULT_STALE_AFTER_S, StoreBase
from greenai.storage.store_base import store_errors as _store_errors
from greenai.storage.store_queries import RunQueries
from greenai.storage.store_status import RunStatusWrites

__all__ = [
    "DEFAULT_STALE_AFTER_S",
    "FINAL_STATUSES",
    "INTERRUPTED",
    "RUNNING",
    "STATUSES",
    "EpochRecord",
    "RunQueries",
    "RunRecord",
    "RunRecordWrites",
    "RunStatusWrites",
    "RunStore",
    "StoreBase",
    "StoreError",
    "_store_errors",
    "new_run_id",
    "open_store",
]


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


class RunStore(RunStatusWrites, RunRecordWrites, RunQueries):
    """The run store over one SQLAlchemy engine. Thread-safe; share one per process.

    ``RunStore(engine, *, stale_after_s=DEFAULT_STALE_AFTER_S, host=None)``; its methods come from
    ``RunStatusWrites``, ``RunRecordWrites`` and ``RunQueries`` (see the module docstring)."""

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({self.url!r})"
