"""What each chart shows, computed without matplotlib (the renderers in ``charts`` only draw it)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from greenai.reports.inputs import PhaseSpan, PowerTrace, RunInput
from greenai.reports.rows import ReportRow, variant_name


class ComparisonData(NamedTuple):
    """Accuracy and CO2 per finished run, side by side (the study's comparison chart)."""

    labels: tuple[str, ...]
    accuracy_pct: tuple[float, ...]
    co2_step_kg: tuple[float, ...]
    co2_lifecycle_kg: tuple[float | None, ...]
    # (low, high) kg per bar, None without a band: drawn as error bars (greenai.uncertainty)
    co2_step_band: tuple[tuple[float, float] | None, ...] = ()
    co2_lifecycle_band: tuple[tuple[float, float] | None, ...] = ()


class ParetoData(NamedTuple):
    """Accuracy against lifecycle CO2; ``front`` indexes the points no other point beats on both."""

    labels: tuple[str, ...]
    co2_lifecycle_kg: tuple[float, ...]
    accuracy_pct: tuple[float, ...]
    front: tuple[int, ...]  # sorted by CO2, ascending
    co2_band: tuple[tuple[float, float] | None, ...] = ()  # (low, high) kg per point: error bars


class PowerData(NamedTuple):
    title: str
    elapsed_s: tuple[float, ...]
    power_w: dict[str, tuple[float, ...]]  # components with any non-zero power
    phases: tuple[PhaseSpan, ...]  # top-level phases only


class EpochCurve(NamedTuple):
    label: str
    epochs: tuple[int, ...]
    accuracy_pct: tuple[float | None, ...]
    loss: tuple[float | None, ...]


class EpochData(NamedTuple):
    curves: tuple[EpochCurve, ...]
    accuracy_key: str
    loss_key: str


def _short_label(row: ReportRow, devices: set[str]) -> str:
    return row.model_type if len(devices) <= 1 else f"{row.model_type}\n{row.device}"


def charted(rows: Sequence[ReportRow], co2: str = "co2_step_kg") -> list[ReportRow]:
    """The rows an accuracy-against-CO2 chart can draw: finished, with an accuracy (a tracked block
    or a text encoder has none) and the ``co2`` figure."""
    return [r for r in rows if r.ok and r.accuracy_pct is not None and getattr(r, co2) is not None]


def comparison(rows: Sequence[ReportRow]) -> ComparisonData | None:
    done = charted(rows)
    if not done:
        return None
    devices = {r.device for r in done}
    return ComparisonData(
        tuple(_short_label(r, devices) for r in done),
        tuple(r.accuracy_pct for r in done),  # type: ignore[misc]
        tuple(r.co2_step_kg for r in done),  # type: ignore[misc]
        tuple(r.co2_lifecycle_kg for r in done),
        tuple(r.co2_step_band for r in done),
        tuple(r.co2_lifecycle_band for r in done),
    )


def pareto_front(points: Sequence[tuple[float, float]]) -> tuple[int, ...]:
    """Indices of the (co2, accuracy) points not dominated by another (lower-or-equal CO2 and
    higher-or-equal accuracy, one strictly), sorted by CO2."""
    front = []
    for i, (c, a) in enumerate(points):
        dominated = any(
            (c2 <= c and a2 >= a) and (c2 < c or a2 > a)
            for j, (c2, a2) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return tuple(sorted(front, key=lambda i: (points[i][0], -points[i][1])))


def pareto(rows: Sequence[ReportRow]) -> ParetoData | None:
    done = charted(rows, "co2_lifecycle_kg")
    if not done:
        return None
    devices = {r.device for r in done}
    labels = tuple(_short_label(r, devices).replace("\n", " ") for r in done)
    co2 = tuple(r.co2_lifecycle_kg for r in done)
    acc = tuple(r.accuracy_pct for r in done)
    front = pareto_front(list(zip(co2, acc, strict=True)))  # type: ignore[arg-type]
    return ParetoData(labels, co2, acc, front, tuple(r.co2_lifecycle_band for r in done))  # type: ignore[arg-type]


def power(run: RunInput) -> PowerData | None:
    trace: PowerTrace | None = run.power
    if trace is None or len(trace.elapsed_s) < 2:
        return None
    series = {
        comp: tuple(vals)
        for comp, vals in trace.power_w.items()
        if len(vals) == len(trace.elapsed_s) and any(v > 0 for v in vals)
    }
    if not series:
        return None
    top = _merge_phases([p for p in trace.phases if "/" not in p.path])
    title = f"Power over time: {variant_name(run.variant)} ({run.run_id})" + estimated_note(
        run.result, series
    )
    times, series = _break_gaps(tuple(trace.elapsed_s), series)
    return PowerData(title, times, series, top)


def estimated_note(result: Any, components: Iterable[str]) -> str:
    """A second title line naming the plotted components whose power is estimated, not measured
    (on a machine without RAPL: the run's CPU time × a per-CPU wattage), or ""."""
    methods = ((result or {}).get("energy") or {}).get("step", {}).get("methods") or {}
    est = [c for c in components if str(methods.get(c, "")).startswith("estimated")]
    if not est:
        return ""
    # the model's name from its label, "estimated: <model> (<inputs>)", e.g. CPU time × TDP per CPU
    how = [
        f"{c.upper()}: {str(methods[c]).split(' (')[0].removeprefix('estimated: ')}" for c in est
    ]
    return f"\nESTIMATED, not measured ({'; '.join(how)})"


def _break_gaps(
    times: tuple[float, ...], series: dict[str, tuple[float, ...]]
) -> tuple[tuple[float, ...], dict[str, tuple[float, ...]]]:
    """Insert a NaN where samples stop for more than 3 sampling intervals (a crash before a
    resume), so the chart shows a gap instead of a line across time nobody measured."""
    steps = sorted(b - a for a, b in itertools.pairwise(times) if b > a)
    if not steps:
        return times, series
    step = steps[len(steps) // 2]
    limit = 3 * step
    out_t: list[float] = [times[0]]
    out_s: dict[str, list[float]] = {c: [v[0]] for c, v in series.items()}
    for i in range(1, len(times)):
        if times[i] - times[i - 1] > limit:
            out_t.append(times[i] - step)  # the first new sample covers one interval
            for c in series:
                out_s[c].append(float("nan"))
        out_t.append(times[i])
        for c, v in series.items():
            out_s[c].append(v[i])
    return tuple(out_t), {c: tuple(v) for c, v in out_s.items()}


def _merge_phases(phases: Sequence[PhaseSpan], gap_s: float = 1.0) -> tuple[PhaseSpan, ...]:
    """Join consecutive spans of the same phase less than ``gap_s`` apart (a phase recorded in
    two pieces, e.g. before and after the tracker started), so each is shaded and named once."""
    merged: list[PhaseSpan] = []
    for p in sorted(phases, key=lambda p: p.start_s):
        last = merged[-1] if merged else None
        if last is not None and last.path == p.path and p.start_s - last.end_s < gap_s:
            merged[-1] = PhaseSpan(p.path, last.start_s, max(last.end_s, p.end_s))
        else:
            merged.append(p)
    return tuple(merged)


ACCURACY_KEYS = ("test_acc", "eval_acc_pct", "test_accuracy_pct", "val_acc", "accuracy")
LOSS_KEYS = ("train_loss", "loss", "test_loss")


def _pick(keys: Sequence[str], runs: Sequence[RunInput]) -> str | None:
    for key in keys:
        if any(key in p.metrics for r in runs for p in r.epochs):
            return key
    return None


def epochs(runs: Sequence[RunInput]) -> EpochData | None:
    with_epochs = [r for r in runs if r.epochs]
    acc_key, loss_key = _pick(ACCURACY_KEYS, with_epochs), _pick(LOSS_KEYS, with_epochs)
    if not with_epochs or (acc_key is None and loss_key is None):
        return None
    devices = {r.device for r in with_epochs}
    curves = []
    for r in with_epochs:
        pts = sorted(r.epochs, key=lambda p: p.epoch)
        label = variant_name(r.variant) + (f" [{r.device}]" if len(devices) > 1 else "")
        curves.append(
            EpochCurve(
                label,
                tuple(p.epoch for p in pts),
                tuple(p.metrics.get(acc_key) if acc_key else None for p in pts),
                tuple(p.metrics.get(loss_key) if loss_key else None for p in pts),
            )
        )
    return EpochData(tuple(curves), acc_key or "", loss_key or "")
