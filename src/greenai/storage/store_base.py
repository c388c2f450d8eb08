"""What every part of the run store shares: the engine and its URL, the read connection, the
one-transaction update of a run's row, and ``store_errors`` (a database failure inside a store
method becomes one ``StoreError`` line naming the store). ``RunStore`` (``store.py``) is built on
``StoreBase`` with the status writes, the record appends and the queries.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

from greenai.errors import UsageError
from greenai.storage import schema
from greenai.storage.engine import StoreError, display_url, first_line, retrying, write_connection
from greenai.storage.records import RunRecord
from greenai.storage.rows import run_record

# A run on another host whose heartbeat is older than this is taken to be dead.
DEFAULT_STALE_AFTER_S = 15 * 60.0

F = TypeVar("F", bound=Callable[..., Any])


def store_errors(method: F) -> F:
    """Turn a database failure inside a store method into one ``StoreError`` line naming the store."""

    @functools.wraps(method)
    def wrapper(self: StoreBase, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except exc.DBAPIError as error:
            raise StoreError(f"the run store {self.url} failed: {first_line(error)}") from error

    return wrapper  # type: ignore[return-value]


class StoreBase:
    """The engine, this process's host, and the helpers every store method uses."""

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
