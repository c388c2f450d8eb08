"""Energy spent by runs that have no final figures: a running run so far, an interrupted or failed
one up to its last sample. Read from the store's samples (the last sample of each run carries the
meter's cumulative energy and CO2), in one query for all the runs the page lists."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

import sqlalchemy as sa

from greenai.storage import schema
from greenai.units import kwh


class Spent(NamedTuple):
    """The meter's cumulative figures at a run's last sample: energy before PUE, CO2 with it."""

    energy_kwh: float
    co2_kg: float
    elapsed_s: float


def last_samples(engine: sa.Engine, run_ids: Iterable[str]) -> dict[str, Spent]:
    """``run_id -> Spent`` for those of ``run_ids`` that have samples (read-only, one SELECT)."""
    ids = sorted(set(run_ids))
    if not ids:
        return {}
    s = schema.samples
    last = (
        sa.select(sa.func.max(s.c.id).label("id")).where(s.c.run_id.in_(ids)).group_by(s.c.run_id)
    ).subquery()
    query = sa.select(s.c.run_id, s.c.energy_j, s.c.co2_kg, s.c.elapsed_s).join(
        last, s.c.id == last.c.id
    )
    out: dict[str, Spent] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            joules = json.loads(row.energy_j) if row.energy_j else {}
            total = sum(v for v in joules.values() if isinstance(v, (int, float)))
            out[row.run_id] = Spent(kwh(total), float(row.co2_kg or 0.0), float(row.elapsed_s))
    return out


def unfinished_ids(runs: Iterable[Any]) -> list[str]:
    """Runs without final figures (``energy_kwh`` None): their energy must come from samples."""
    return [r.run_id for r in runs if r.energy_kwh is None]
