"""Pareto maths for the search: the non-dominated set, hypervolume and its history. Pure functions.

Points are tuples of objective values; ``directions`` says, per objective, ``"maximize"`` or
``"minimize"``. For greenai's search a point is ``(test_accuracy_pct, cost)`` with cost in kWh (or
kg CO2), directions ``("maximize", "minimize")``.

Hypervolume reference point (documented, because a hypervolume means nothing without it): accuracy
0 % (the worst possible) and 1.1 x the largest cost of any completed trial in the study
(``default_reference``). The hypervolume is then the area, in %·kWh (or %·kg), of the region
dominated by the front and bounded by that point; ``normalised`` divides it by the reference box
(100 % x reference cost) to give a number in [0, 1] that does not depend on the unit. The history is
computed with the final reference point, so the curve is non-decreasing.
"""

from __future__ import annotations

from collections.abc import Sequence

Point = Sequence[float]

ACCURACY_REFERENCE_PCT = 0.0
COST_REFERENCE_FACTOR = 1.1


def _to_min(point: Point, directions: Sequence[str]) -> tuple[float, ...]:
    if len(point) != len(directions):
        raise ValueError(
            f"point {tuple(point)} has {len(point)} values for {len(directions)} objectives"
        )
    out = []
    for value, direction in zip(point, directions, strict=True):
        if direction == "maximize":
            out.append(-float(value))
        elif direction == "minimize":
            out.append(float(value))
        else:
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    return tuple(out)


def dominates(a: Point, b: Point, directions: Sequence[str]) -> bool:
    """True when ``a`` is at least as good as ``b`` in every objective and better in one."""
    ma, mb = _to_min(a, directions), _to_min(b, directions)
    return all(x <= y for x, y in zip(ma, mb, strict=True)) and any(
        x < y for x, y in zip(ma, mb, strict=True)
    )


def non_dominated(points: Sequence[Point], directions: Sequence[str]) -> list[int]:
    """Indices (in input order) of the points no other point dominates. Ties are all kept."""
    mins = [_to_min(p, directions) for p in points]
    keep = []
    for i, a in enumerate(mins):
        dominated = any(
            all(x <= y for x, y in zip(b, a, strict=True)) and b != a
            for j, b in enumerate(mins)
            if j != i
        )
        if not dominated:
            keep.append(i)
    return keep


def hypervolume(points: Sequence[Point], reference: Point, directions: Sequence[str]) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` (two objectives).

    Points that do not strictly improve on the reference in both objectives add nothing.
    """
    if len(directions) != 2:
        raise ValueError("hypervolume is implemented for two objectives")
    rx, ry = _to_min(reference, directions)
    mins = [_to_min(p, directions) for p in points]
    inside = sorted({(x, y) for x, y in mins if x < rx and y < ry})
    area = 0.0
    best_y = ry
    # Sweep by the first objective; each point adds the strip it improves in the second.
    for i, (x, y) in enumerate(inside):
        if y >= best_y:
            continue
        next_x = rx
        for x2, y2 in inside[i + 1 :]:
            if y2 < y:
                next_x = x2
                break
        area += (next_x - x) * (ry - y)
        best_y = y
    return area


def hypervolume_history(
    points: Sequence[Point], reference: Point, directions: Sequence[str]
) -> list[float]:
    """Hypervolume of the first 1, 2, ..., n points (in the order the trials finished)."""
    return [hypervolume(points[: k + 1], reference, directions) for k in range(len(points))]


def default_reference(points: Sequence[Point]) -> tuple[float, float]:
    """The documented reference for (accuracy %, cost): 0 % and 1.1 x the largest cost seen."""
    if not points:
        raise ValueError("no points to take a reference from")
    worst_cost = max(float(p[1]) for p in points)
    return (ACCURACY_REFERENCE_PCT, COST_REFERENCE_FACTOR * worst_cost)


def normalised(volume: float, reference: Point) -> float:
    """Hypervolume as a fraction of the reference box (100 % accuracy x reference cost)."""
    box = (100.0 - ACCURACY_REFERENCE_PCT) * float(reference[1])
    return volume / box if box > 0 else 0.0
