"""Row names a reader can tell apart: where two rows of a report would read the same ("Baseline"
twice on the CPU, from two studies), each carries its model and run id."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from greenai.reports.inputs import RunInput
from greenai.reports.rows import ReportRow


def distinguish(rows: Sequence[ReportRow], runs: Sequence[RunInput]) -> list[ReportRow]:
    """``rows`` with ``model_type`` extended by ``(model, run RUN_ID)`` wherever the same
    (``model_type``, ``device``) pair occurs more than once; other rows unchanged."""
    counts = Counter((r.model_type, r.device) for r in rows)
    models = {run.run_id: run.model for run in runs}
    out = []
    for r in rows:
        if counts[(r.model_type, r.device)] > 1:
            model = models.get(r.run_id)
            extra = f"{model}, run {r.run_id}" if model else f"run {r.run_id}"
            r = dataclasses.replace(r, model_type=f"{r.model_type} ({extra})")
        out.append(r)
    return out


def timing_notes(rows: Sequence[ReportRow]) -> list[str]:
    """One note per row whose break-even was not judged because its timing was unsure."""
    return [
        f"{r.model_type} [{r.device}]: {r.break_even_explanation}"
        for r in rows
        if (r.break_even_explanation or "").startswith("not judged")
    ]
