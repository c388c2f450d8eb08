"""What a whole search spent: every run of its group in the run store, finished or not.

A search's energy is not only its completed trials': a trial that failed, or whose worker was
killed, spent energy too. Each run row holds its own figure once (a lost trial's run is closed by
the worker that found it stale, with the energy its samples hold; its retry is a new run), so the
study's total is the plain sum over the group's runs. Runs without a figure (killed before their
first sample) are counted and named as such, never silently left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spent:
    """A group's totals: kWh and kg CO2e over its runs, with how many runs each status has."""

    group: str
    runs: int
    energy_kwh: float
    co2_kg: float
    by_status: dict[str, int]
    without_figure: tuple[str, ...]  # run ids with no energy recorded (killed before a sample)
    workers: tuple[str, ...]  # "host:pid" of the processes that ran them


def spent(store: Any, group: str) -> Spent:
    """Sum every run of ``group`` (each row once: its own energy, whatever its status)."""
    runs = store.list_runs(group=group)
    by_status: dict[str, int] = {}
    for r in runs:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    return Spent(
        group=group,
        runs=len(runs),
        energy_kwh=sum(r.energy_kwh or 0.0 for r in runs),
        co2_kg=sum(r.co2_kg or 0.0 for r in runs),
        by_status=by_status,
        without_figure=tuple(r.run_id for r in runs if r.energy_kwh is None),
        workers=tuple(sorted({f"{r.host}:{r.pid}" for r in runs})),
    )


def format_spent(s: Spent) -> str:
    """One line for the search's output."""
    states = ", ".join(f"{n} {k}" for k, n in sorted(s.by_status.items()))
    line = (
        f"study {s.group!r} spent {s.energy_kwh:.6g} kWh, {s.co2_kg:.6g} kg CO2e over {s.runs} "
        f"runs ({states}; failed and lost trials included, each run once) by {len(s.workers)} "
        "worker process(es)"
    )
    if s.without_figure:
        line += f"; {len(s.without_figure)} run(s) have no energy recorded (killed before a sample)"
    return line
