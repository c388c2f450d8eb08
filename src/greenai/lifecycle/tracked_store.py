"""Where a ``greenai.track`` run is recorded: the ``store=`` default (``$GREENAI_STORE``, else
``./greenai.db``), opening the store the argument names, and the sink that forwards the meter's
events to the store once it is open.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenai.errors import UsageError
from greenai.meter.types import Measurement, PhaseResult, Sample

if TYPE_CHECKING:  # pragma: no cover
    from greenai.storage import RunStore


class _DefaultStore:
    """The ``store=`` default: ``$GREENAI_STORE``, else ``./greenai.db`` (distinct from None)."""

    def __repr__(self) -> str:
        return "<$GREENAI_STORE or ./greenai.db>"


DEFAULT_STORE: Any = _DefaultStore()


class LateSink:
    """Forwards to the store's sink once the store is open: the Tracker is built (checking its
    arguments) before the store is opened, so bad arguments leave no store file behind."""

    target: Any = None

    def on_start(self, run_id: str, name: str, start_time: float) -> None:
        self.target.on_start(run_id, name, start_time)

    def on_sample(self, sample: Sample) -> None:
        self.target.on_sample(sample)

    def on_phase(self, phase: PhaseResult) -> None:
        self.target.on_phase(phase)

    def on_stop(self, measurement: Measurement) -> None:
        self.target.on_stop(measurement)


def open_store_arg(store: Any) -> tuple[RunStore | None, bool]:
    """(the store, whether we opened it and so must close it). One ``UsageError`` line if the store
    cannot be opened."""
    from greenai.storage import RunStore, open_store

    if store is None:
        return None, False
    if isinstance(store, RunStore):
        return store, False
    if store is DEFAULT_STORE:
        url = None
    elif isinstance(store, (str, os.PathLike)):
        url = os.fspath(store)
    else:
        raise UsageError(f"store must be a URL, a path or a RunStore, got {type(store).__name__}")
    try:
        return open_store(url, default_dir=Path.cwd()), True
    except ValueError as exc:  # a URL that SQLAlchemy's parser rejects outright
        raise UsageError(f"not a store URL or path: {url!r} ({exc})") from None
