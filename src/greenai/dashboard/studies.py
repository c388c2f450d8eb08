"""The objective a search optimised, read from its Optuna study storage without writing to it.

The run store does not say whether a search minimised lifecycle energy or CO2; the Optuna study
does (its user attribute ``greenai_objective``, set by ``greenai search``). The search keeps that
storage beside the run store (``search.db`` in the run store's folder, by default) or, on
PostgreSQL, in the run store's own database. The dashboard looks in those two places with plain
SELECTs; the SQLite file is opened read-only (``mode=ro``), optuna is not imported (opening an
Optuna storage through optuna creates its tables when they are missing).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa

from greenai.search.study import ATTR_OBJECTIVE, DEFAULT_FILENAME, OBJECTIVES
from greenai.storage.engine import display_url, sqlite_path

_QUERY = (
    "SELECT a.value_json FROM study_user_attributes a JOIN studies s ON s.study_id = a.study_id "
    "WHERE s.study_name = {name} AND a.key = {key}"
)


class RecordedObjective(NamedTuple):
    objective: str | None  # "energy" | "co2"; None when no study storage in reach records one
    where: str  # the storage it was read from, or what was searched


def recorded_objective(engine: sa.Engine, study_name: str) -> RecordedObjective:
    """The objective recorded by the Optuna study ``study_name`` in the run store's database
    (engine ``engine``) or in ``search.db`` beside a SQLite run store."""
    value = _from_engine(engine, study_name)
    if value is not None:
        return RecordedObjective(value, display_url(engine.url))
    store_file = sqlite_path(engine.url)
    if store_file is None:
        return RecordedObjective(None, f"no study {study_name!r} in the run store's database")
    beside = store_file.parent / DEFAULT_FILENAME
    value = _from_sqlite_file(beside, study_name)
    if value is not None:
        return RecordedObjective(value, str(beside))
    return RecordedObjective(
        None, f"no study {study_name!r} in the run store's database or in {beside}"
    )


def _parse(value_json: Any) -> str | None:
    try:
        value = json.loads(value_json)
    except (TypeError, ValueError):
        return None
    return value if value in OBJECTIVES else None


def _from_engine(engine: sa.Engine, study_name: str) -> str | None:
    query = sa.text(_QUERY.format(name=":name", key=":key"))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("study_user_attributes"):
                return None
            found = conn.execute(query, {"name": study_name, "key": ATTR_OBJECTIVE}).scalar()
    except sa.exc.DBAPIError:
        return None
    return _parse(found)


def _from_sqlite_file(path: Path, study_name: str) -> str | None:
    if not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        with closing(connection) as conn:
            row = conn.execute(_QUERY.format(name="?", key="?"), (study_name, ATTR_OBJECTIVE))
            found = row.fetchone()
    except sqlite3.Error:  # not an Optuna storage, locked, unreadable: nothing recorded here
        return None
    return _parse(found[0]) if found else None
