"""The study page's data: ``greenai report``'s tables and chart data for a group's runs, as JSON.

The comparison is the report's own (``greenai.reports``), built from the run store's records; each
table row and chart point carries its run id, for links. Pure functions: no Flask, no HTML.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any


def study_report(runs: Iterable[Any]) -> dict[str, Any]:
    """A study's comparison as ``greenai report`` makes it, from the store's records.

    The rows are ``greenai.reports.rows.build_rows`` of the runs; the tables are the report's own
    (``reports.table``: the study table, the lifecycle columns, the failed steps) with the run id of
    each row beside it (``run_ids``, for links); the charts' data are ``reports.chartdata``'s
    (comparison, and accuracy against lifecycle CO2 with the Pareto front).
    """
    from greenai.reports import chartdata, table
    from greenai.reports.rows import build_rows
    from greenai.reports.sources import run_input

    rows = build_rows(run_input(r) for r in runs)
    finished = [r.run_id for r in rows if r.ok]  # the rows study_table and lifecycle_table keep
    tables = [
        _table(table.study_table(rows), finished),
        _table(table.lifecycle_table(rows), finished),
    ]
    work = table.work_table(rows)
    if work is not None:
        shown = [r.run_id for r in rows if r.ok and (r.j_per_training_sample is not None
                                                     or r.j_per_inference_item is not None)]  # fmt: skip
        tables.append(_table(work, shown))
    # a step still running is neither failed nor missing: it gets its own list, not that table
    running = [r for r in rows if r.status == "running"]
    ended = [r for r in rows if r.status != "running"]
    problems = table.problems_table(ended)
    if problems is not None:
        tables.append(_table(problems, [r.run_id for r in ended if not r.ok]))
    return {
        "running": [
            {"run_id": r.run_id, "model_type": r.model_type, "device": r.device} for r in running
        ],
        "tables": tables,
        "notes": table.method_notes(rows),
        "rows": [dataclasses.asdict(r) for r in rows],
        "comparison": _comparison(rows, chartdata.comparison(rows)),
        "pareto": _report_pareto(rows, chartdata.pareto(rows)),
    }


def _table(t: Any, run_ids: list[str]) -> dict[str, Any]:
    if len(run_ids) != len(t.cells):
        raise AssertionError(f"{t.title}: {len(t.cells)} rows for {len(run_ids)} runs")
    return {
        "title": t.title,
        "headers": list(t.headers),
        "cells": [list(c) for c in t.cells],
        "run_ids": run_ids,
        "note": t.note,
    }


def _comparison(rows: Sequence[Any], data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    from greenai.reports.chartdata import charted

    done = charted(rows)  # chartdata.comparison's runs
    return {**_lists(data), "run_ids": [r.run_id for r in done]}


def _lists(data: Any) -> dict[str, Any]:
    """A chartdata named tuple as a dict of lists (JSON-ready)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data._asdict().items()}


def _report_pareto(rows: Sequence[Any], data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    from greenai.reports.chartdata import charted

    done = charted(rows, "co2_lifecycle_kg")  # chartdata.pareto's runs
    return {**_lists(data), "run_ids": [r.run_id for r in done]}
