"""Turning a store URL into a ready SQLAlchemy engine: URL rules, SQLite tuning, retries, schema.

SQLite runs in WAL mode with a busy timeout; write transactions start with ``BEGIN IMMEDIATE`` so
that concurrent writers queue for the lock instead of failing on a lock upgrade, and any
"database is locked" that still gets through is retried (``transactions.py``: the write
transaction and the retries, re-exported here), never shown to the user.
PostgreSQL goes through psycopg 3; the schema is created under an advisory lock so that several
processes opening a fresh database at once do not race.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import StaticPool

from greenai.errors import GreenAIError, MissingExtraError, UsageError
from greenai.storage import schema
from greenai.storage.transactions import (
    RETRY_FOR_S,
    _retry_locked,
    is_locked,
    retrying,
    write_connection,
)

ENV_VAR = "GREENAI_STORE"
DEFAULT_FILENAME = "greenai.db"
CONNECT_TIMEOUT_S = 5
SQLITE_BUSY_TIMEOUT_MS = 30_000
_PG_SCHEMA_LOCK = 7_320_514  # any constant: the advisory lock id for creating the schema

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_FILENAME",
    "ENV_VAR",
    "RETRY_FOR_S",
    "SQLITE_BUSY_TIMEOUT_MS",
    "StoreError",
    "create_engine",
    "display_url",
    "first_line",
    "is_locked",
    "resolve_url",
    "retrying",
    "sqlite_path",
    "write_connection",
]


def resolve_url(url: str | None, default_dir: Path) -> str:
    """The store URL to use: ``url``, else ``$GREENAI_STORE``, else SQLite in ``default_dir``.

    A plain path (no ``://``) means a SQLite file; ``postgresql://`` means psycopg 3.
    """
    chosen = url or os.environ.get(ENV_VAR) or ""
    if not chosen.strip():
        return f"sqlite:///{(Path(default_dir) / DEFAULT_FILENAME).resolve()}"
    chosen = chosen.strip()
    if "://" not in chosen:
        return f"sqlite:///{Path(chosen).expanduser().resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if chosen.startswith(prefix):
            return "postgresql+psycopg://" + chosen[len(prefix) :]
    return chosen


def display_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (exc.ArgumentError, ValueError):
        return str(url)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory one."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):  # a SQLite URI (``?uri=true``), e.g. with mode=ro
        return Path(url.database[len("file:") :].split("?", 1)[0])
    return Path(url.database)


def create_engine(url_text: str, *, create: bool = True, folder_root: Path | None = None) -> Engine:
    """An engine for ``url_text``, connected once (eagerly) so that a bad store fails here.

    A new SQLite file's missing folder is created only inside ``folder_root`` (the command's
    ``--out``): a mistyped ``--store /nonexistent/dir/x.db`` is refused instead of creating folders.
    """
    try:
        url = make_url(url_text)
        url.get_backend_name()
    except (exc.ArgumentError, ValueError):  # e.g. 'http://[::1': ValueError from the parser
        raise UsageError(f"not a store URL or path: {url_text!r}") from None
    shown = display_url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(url, shown, create=create, folder_root=folder_root)
    elif backend == "postgresql":
        engine = _postgres_engine(url, shown)
    else:
        engine = _generic_engine(url, shown)
    try:
        retrying(lambda: _create_schema(engine))
    except exc.OperationalError as error:
        engine.dispose()
        raise UsageError(f"cannot open the run store {shown}: {first_line(error)}") from None
    except exc.DBAPIError as error:
        engine.dispose()
        raise UsageError(f"the run store {shown} failed: {first_line(error)}") from None
    return engine


def _sqlite_engine(url: URL, shown: str, *, create: bool, folder_root: Path | None) -> Engine:
    _check_sqlite_query(url, shown)
    path = sqlite_path(url)
    if path is None:
        # In-memory: one shared connection, so every caller sees the same database.
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        if not path.exists():
            if not create:
                raise UsageError(f"no run store at {path} (pass --store or set ${ENV_VAR})")
            _check_store_folder(path, folder_root)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise UsageError(
                    f"cannot create the run store's folder {path.parent}: {error.strerror}"
                ) from None
        elif path.is_dir():
            raise UsageError(f"the run store {path} is a folder, not a SQLite file")
        engine = sa.create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if path is not None:
                _retry_locked(lambda: cursor.execute("PRAGMA journal_mode = WAL"))
                # In WAL mode NORMAL loses nothing on a process crash (only on power loss).
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get("greenai_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except exc.DBAPIError as error:
        engine.dispose()
        raise UsageError(f"cannot open the run store {shown}: {first_line(error)}") from None
    return engine


def _check_sqlite_query(url: URL, shown: str) -> None:
    """Refuse query arguments the SQLite driver would ignore (SQLAlchemy only warns, raw)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", exc.SAWarning)
        url.get_dialect()().create_connect_args(url)
    if any(issubclass(w.category, exc.SAWarning) for w in seen):
        known = {"timeout", "isolation_level", "detect_types", "check_same_thread", "uri"}
        unknown = ", ".join(sorted(k for k in url.query if k not in known)) or "?"
        raise UsageError(
            f"the store URL {shown} has query arguments SQLite does not accept ({unknown}); "
            "SQLite URI options need uri=true"
        )


def _check_store_folder(path: Path, folder_root: Path | None) -> None:
    """Refuse a new store whose folder does not exist, unless it lies inside ``folder_root``."""
    folder = path.parent.resolve()
    if folder.is_dir():
        return
    if folder_root is not None and folder.is_relative_to(Path(folder_root).resolve()):
        return
    raise UsageError(
        f"cannot create the run store {path}: its folder {path.parent} does not exist "
        "(create it first)"
    )


def _postgres_engine(url: URL, shown: str) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise MissingExtraError("psycopg", "postgres") from None
    engine = _generic_engine(url, shown, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    return engine


def _generic_engine(url: URL, shown: str, connect_args: dict | None = None) -> Engine:
    try:
        engine = sa.create_engine(url, connect_args=connect_args or {}, pool_recycle=3600)
    except exc.NoSuchModuleError:
        raise UsageError(
            f"unsupported store URL {shown} (use sqlite:/// or postgresql://)"
        ) from None
    except (exc.ArgumentError, TypeError, ValueError) as error:
        raise UsageError(f"bad store URL {shown}: {first_line(error)}") from None
    except ImportError as error:
        raise UsageError(f"store URL {shown} needs a missing driver: {error.name}") from None
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except exc.DBAPIError as error:
        engine.dispose()
        raise UsageError(f"cannot reach the run store {shown}: {first_line(error)}") from None
    return engine


def _create_schema(engine: Engine) -> None:
    """Create whatever tables are missing, once, however many processes open the store at once.

    A store that is already complete is only read (so read-only stores open too)."""
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        version = _schema_version(conn) if schema.store_meta.name in present else None
    if version is not None:
        _check_version(engine, version)
        if set(schema.metadata.tables) <= present and version == schema.SCHEMA_VERSION:
            return
    with write_connection(engine) as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SCHEMA_LOCK})
        schema.metadata.create_all(conn)
        version = _schema_version(conn)
        if version is None:
            conn.execute(
                schema.store_meta.insert().values(
                    key="schema_version", value=str(schema.SCHEMA_VERSION)
                )
            )
        else:
            _check_version(engine, version)


def _schema_version(conn: sa.Connection) -> int | None:
    meta = schema.store_meta
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return None if value is None else int(value)


def _check_version(engine: Engine, version: int) -> None:
    if version > schema.SCHEMA_VERSION:
        raise UsageError(
            f"the run store {display_url(engine.url)} has schema version {version}, newer than "
            f"this greenai understands ({schema.SCHEMA_VERSION}); upgrade greenai"
        )


class StoreError(GreenAIError):
    """The store failed underneath us (disk full, server gone, read-only file): one line, exit 1."""


def first_line(error: BaseException) -> str:
    """The driver's own message, first line only, without SQLAlchemy's trailers."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip() or type(orig).__name__
    return text.splitlines()[0].strip()
