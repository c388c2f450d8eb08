"""Write transactions on the store's engine, and retries of the errors that pass when tried again.

A write runs inside one transaction (``BEGIN IMMEDIATE`` on SQLite, see ``engine.py``'s "begin"
hook) so that concurrent writers queue for the lock instead of failing on a lock upgrade; any
"database is locked" that still gets through (or PostgreSQL's serialization and deadlock failures,
or a connection the server dropped) is retried here with a growing, jittered wait, never shown to
the user.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

RETRY_FOR_S = 120.0  # beyond the busy timeout; only a wedged database waits this long

T = TypeVar("T")


@contextlib.contextmanager
def write_connection(engine: Engine, *, one_statement: bool = False) -> Iterator[sa.Connection]:
    """A connection inside one write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on exit,
    rolls back on any exception.

    ``one_statement=True`` promises that the block runs a single statement: PostgreSQL then runs
    it in autocommit (atomic by itself), saving the BEGIN and COMMIT round trips.
    """
    if one_statement and engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
        return
    with engine.connect().execution_options(greenai_write=True) as conn, conn.begin():
        yield conn


def is_locked(error: BaseException) -> bool:
    """True for errors that succeed when simply tried again: SQLite's "database is locked/busy",
    PostgreSQL's serialization or deadlock failures, and a connection the server dropped."""
    text = str(getattr(error, "orig", error)).lower()
    if (
        "database is locked" in text
        or "database is busy" in text
        or "database table is locked" in text
    ):
        return True
    if getattr(error, "connection_invalidated", False):
        return True  # the server dropped the connection (e.g. restarted); the pool reconnects
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return code in {"40001", "40P01"}


def retrying(action: Callable[[], T], *, retry_for_s: float = RETRY_FOR_S) -> T:
    """Run ``action``; on a transient lock error wait a little (with jitter) and run it again."""
    deadline = time.monotonic() + retry_for_s
    delay_s = 0.005
    while True:
        try:
            return action()
        except exc.DBAPIError as error:
            if not is_locked(error) or time.monotonic() > deadline:
                raise
        time.sleep(delay_s * (0.5 + random.random()))
        delay_s = min(delay_s * 2, 0.25)


def _retry_locked(action: Callable[[], object]) -> None:
    """Like ``retrying`` for raw sqlite3 calls made while a connection is being set up."""
    import sqlite3

    deadline = time.monotonic() + RETRY_FOR_S
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01 + random.random() * 0.05)
