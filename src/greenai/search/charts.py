"""What the search's two charts show (small named tuples, pure) and the renderers that draw them.

matplotlib is imported inside the renderers (Agg backend, no display needed); PNGs are written
atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from greenai.errors import MissingExtraError
from greenai.fsutil import atomic_write_bytes
from greenai.search import pareto

DIRECTIONS = ("maximize", "minimize")


class ParetoChart(NamedTuple):
    """Every completed trial as (accuracy %, cost); ``front`` indexes the Pareto-optimal ones,
    sorted by cost so they can be joined by a step line."""

    title: str
    cost_label: (
        str  # axis label with its unit, e.g. "lifecycle energy (kWh)" (training + compression)
    )
    trial_numbers: list[int]
    accuracy_pct: list[float]
    cost: list[float]
    front: list[int]


class HypervolumeChart(NamedTuple):
    title: str
    unit_label: str  # e.g. "% x kWh"
    cost_unit: str  # e.g. "kWh"
    trial_numbers: list[int]  # completed trials, in the order they finished
    hypervolume: list[float]
    reference: tuple[float, float]


def pareto_chart(
    title: str, cost_label: str, trials: Sequence[tuple[int, float, float]]
) -> ParetoChart:
    """``trials``: (trial number, accuracy %, cost) of completed trials."""
    points = [(acc, cost) for _, acc, cost in trials]
    front = sorted(pareto.non_dominated(points, DIRECTIONS), key=lambda i: points[i][1])
    return ParetoChart(
        title,
        cost_label,
        [n for n, _, _ in trials],
        [p[0] for p in points],
        [p[1] for p in points],
        front,
    )


def hypervolume_chart(
    title: str, cost_unit: str, trials: Sequence[tuple[int, float, float]]
) -> HypervolumeChart:
    """``trials`` in completion order; the reference is ``pareto.default_reference`` of all of them."""
    points = [(acc, cost) for _, acc, cost in trials]
    reference = pareto.default_reference(points)
    history = pareto.hypervolume_history(points, reference, DIRECTIONS)
    numbers = [n for n, _, _ in trials]
    return HypervolumeChart(title, f"% x {cost_unit}", cost_unit, numbers, history, reference)


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise MissingExtraError("matplotlib", "report") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def render_pareto(chart: ParetoChart, path: str | Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    try:
        others = [i for i in range(len(chart.cost)) if i not in set(chart.front)]
        ax.scatter(
            [chart.cost[i] for i in others],
            [chart.accuracy_pct[i] for i in others],
            c="0.6",
            s=22,
            label="dominated trial",
        )
        fx = [chart.cost[i] for i in chart.front]
        fy = [chart.accuracy_pct[i] for i in chart.front]
        ax.step(fx, fy, where="post", color="tab:green", lw=1.2)
        ax.scatter(fx, fy, c="tab:green", s=40, zorder=3, label="Pareto-optimal trial")
        for i in chart.front:
            ax.annotate(
                f"#{chart.trial_numbers[i]}",
                (chart.cost[i], chart.accuracy_pct[i]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
        ax.set_xlabel(chart.cost_label)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(chart.title)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        _save(fig, Path(path))
    finally:
        plt.close(fig)
    return Path(path)


def render_hypervolume(chart: HypervolumeChart, path: str | Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    try:
        ax.plot(range(1, len(chart.hypervolume) + 1), chart.hypervolume, marker="o", ms=3)
        ax.set_xlabel("completed trials")
        ax.set_ylabel(f"hypervolume ({chart.unit_label})")
        ref_acc, ref_cost = chart.reference
        ax.set_title(
            f"{chart.title}\nreference point: {ref_acc:g} %, {ref_cost:.4g} {chart.cost_unit}"
        )
        ax.grid(alpha=0.3)
        _save(fig, Path(path))
    finally:
        plt.close(fig)
    return Path(path)
