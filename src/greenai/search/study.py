"""The Optuna study behind ``greenai search``: storage URL rules, eager checks, sampler, resume.

The storage is a plain Optuna ``RDBStorage`` (optuna-dashboard opens it as is):
``sqlite:///<out>/search.db`` by default, or a PostgreSQL URL that any number of ``greenai search``
processes on any number of machines share (``load_if_exists``: the first one creates the study, the
others join it; a study that was interrupted continues, its new trials adding to the old).

Trials send a heartbeat every ``HEARTBEAT_S``; a trial whose worker died (no heartbeat for
``GRACE_S``) is marked FAIL by the next worker that starts a trial, and its greenai run is closed
as failed.

The study keeps, as user attributes, the objective and the search space it was created with; a
process that joins with a different one is refused (one line, exit 2) rather than mixing trials.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenai.errors import MissingExtraError, UsageError
from greenai.search.space import SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    import optuna

DEFAULT_FILENAME = "search.db"
DIRECTIONS = ("maximize", "minimize")  # (test accuracy %, cost)
OBJECTIVES = {
    "energy": ("energy_kwh", "kWh", "lifecycle energy (kWh)"),
    "co2": ("co2_kg", "kg CO2e", "lifecycle emissions (kg CO2e)"),
}
SAMPLERS = ("nsga2", "tpe")
DEFAULT_POPULATION = 10  # NSGA-II generation size: 30 trials = 3 generations
HEARTBEAT_S = 30
GRACE_S = 120
CONNECT_TIMEOUT_S = 5
ATTR_OBJECTIVE = "greenai_objective"
ATTR_SPACE = "greenai_space"
_PG_CREATE_LOCK = 6_140_377  # any constant: the advisory lock id for creating studies


def import_optuna() -> Any:
    try:
        import optuna
    except ModuleNotFoundError:
        raise MissingExtraError("optuna", "search") from None
    # Failed trials are reported by greenai in one line; Optuna would add a traceback for each.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def storage_url(url: str | None, out_dir: str | Path) -> str:
    """The study storage: ``url`` or ``sqlite:///<out_dir>/search.db``. A plain path is a SQLite
    file; ``postgresql://`` and ``postgres://`` go through psycopg 3."""
    chosen = (url or "").strip()
    if not chosen:
        return f"sqlite:///{(Path(out_dir) / DEFAULT_FILENAME).resolve()}"
    if "://" not in chosen:
        return f"sqlite:///{Path(chosen).expanduser().resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if chosen.startswith(prefix):
            return "postgresql+psycopg://" + chosen[len(prefix) :]
    return chosen


def display_url(url: str) -> str:
    """``url`` with any password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_storage(url: str, *, must_exist: bool = False) -> None:
    """Fail now, with one line, if the storage cannot be used; write nothing.

    SQLite: the file's folder must exist or be creatable (and with ``must_exist`` the file must
    exist). Other URLs: one connection is opened (``CONNECT_TIMEOUT_S``) and closed.
    """
    import sqlalchemy as sa
    from sqlalchemy import exc
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise UsageError(f"not a storage URL or path: {url!r}") from None
    shown = display_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise UsageError("an in-memory SQLite storage would lose the study; give a file")
        path = Path(parsed.database)
        if path.is_dir():
            raise UsageError(f"the study storage {path} is a folder, not a SQLite file")
        if not path.exists():
            if must_exist:
                raise UsageError(f"no study storage at {path} (pass --storage)")
            parent = next((p for p in path.parents if p.exists()), None)
            if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"cannot create the study storage {path}: folder not writable")
        elif not os.access(path, os.R_OK | os.W_OK):
            raise UsageError(f"cannot open the study storage {path}: permission denied")
        else:
            _check_sqlite_file(path)
        return
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingExtraError("psycopg", "postgres") from None
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        engine = sa.create_engine(url, connect_args=connect_args)
    except exc.NoSuchModuleError:
        raise UsageError(
            f"unsupported storage URL {shown} (use sqlite:/// or postgresql://)"
        ) from None
    except ImportError as error:
        raise UsageError(f"storage URL {shown} needs a missing driver: {error.name}") from None
    except (exc.ArgumentError, TypeError, ValueError) as error:
        raise UsageError(f"bad storage URL {shown}: {_first_line(error)}") from None
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except exc.DBAPIError as error:
        raise UsageError(f"cannot reach the study storage {shown}: {_first_line(error)}") from None
    finally:
        engine.dispose()


def _check_sqlite_file(path: Path) -> None:
    """Refuse a file that is not a SQLite database (read-only look: nothing is written)."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise UsageError(f"the study storage {path} is not a usable SQLite file: {error}") from None


def make_sampler(name: str, seed: int | None, population_size: int = DEFAULT_POPULATION) -> Any:
    """NSGA-II (the study's choice; ``population_size`` trials per generation) or TPE."""
    optuna = import_optuna()
    if name == "nsga2":
        if population_size < 2:
            raise UsageError(f"--population must be at least 2, got {population_size}")
        return optuna.samplers.NSGAIISampler(population_size=population_size, seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise UsageError(f"unknown sampler {name!r} (choose from {', '.join(SAMPLERS)})")


def _storage(
    url: str, on_stale: Callable[[Any, Any], None] | None, heartbeat_s: int, grace_s: int
) -> Any:
    optuna = import_optuna()
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    elif url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 60}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_s,
            grace_period=grace_s,
            heartbeat_stale_trial_callback=on_stale,
        )


def open_study(
    name: str,
    url: str,
    *,
    objective: str | None,
    space: SearchSpace | None,
    sampler: Any = None,
    on_stale: Callable[[Any, Any], None] | None = None,
    create: bool = True,
    heartbeat_s: int = HEARTBEAT_S,
    grace_s: int = GRACE_S,
) -> optuna.Study:
    """Create the study or join the existing one of that name; refuse a mismatched objective/space.

    ``create=False`` only loads (``UsageError`` if there is no such study). ``objective=None`` and
    ``space=None`` skip those checks (for reading a study back).
    """
    optuna = import_optuna()
    check_storage(url, must_exist=not create)
    if create and url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    if create:
        with _creation_lock(url):
            storage = _storage(url, on_stale, heartbeat_s, grace_s)
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=sampler,
                directions=list(DIRECTIONS),
                load_if_exists=True,
            )
            _check_attrs(study, objective=objective, space=space, url=url)
        return study
    storage = _storage(url, on_stale, heartbeat_s, grace_s)
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        listed = ", ".join(known) if known else "none"
        raise UsageError(
            f"no study {name!r} in {display_url(url)} (studies there: {listed})"
        ) from None
    _check_attrs(study, objective=objective, space=space, url=url)
    return study


@contextlib.contextmanager
def _creation_lock(url: str) -> Iterator[None]:
    """On PostgreSQL, serialise table and study creation across processes (an advisory lock):
    several workers starting at once on a fresh database would otherwise race in CREATE TABLE."""
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy as sa

    engine = sa.create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_CREATE_LOCK})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_CREATE_LOCK})
                conn.commit()
    finally:
        engine.dispose()


def _check_attrs(study: Any, *, objective: str | None, space: SearchSpace | None, url: str) -> None:
    directions = [d.name.lower() for d in study.directions]
    if directions != list(DIRECTIONS):
        raise UsageError(
            f"study {study.study_name!r} in {display_url(url)} was not made by greenai search "
            f"(directions {directions}); pick another --study-name"
        )
    attrs = study.user_attrs
    recorded = attrs.get(ATTR_OBJECTIVE)
    if objective is None:
        pass
    elif recorded is None:
        study.set_user_attr(ATTR_OBJECTIVE, objective)
    elif recorded != objective:
        raise UsageError(
            f"study {study.study_name!r} optimises {recorded}, not {objective}; "
            f"pass --objective {recorded} or another --study-name"
        )
    if space is None:
        return
    wanted = json.loads(json.dumps(space.to_dict()))
    recorded_space = attrs.get(ATTR_SPACE)
    if recorded_space is None:
        study.set_user_attr(ATTR_SPACE, wanted)
    elif recorded_space != wanted:
        changed = sorted(
            k
            for k in wanted.keys() | recorded_space.keys()
            if wanted.get(k) != recorded_space.get(k)
        )
        raise UsageError(
            f"study {study.study_name!r} was created with another search space "
            f"(differs in {', '.join(changed)}); use the same space or another --study-name"
        )
