"""``greenai calibrate``: fit this machine's CPU power curve once, where a power reading exists.

A **load ladder** runs idle, then 1..N busy processes (spinning Python loops), each for a short step;
for each step the machine's busy fraction (``/proc/stat``) and its mean power (RAPL's package counters,
or a user's wall-meter CSV of ``timestamp,watts`` with Unix-second timestamps, integrated over the step)
are recorded. A quadratic in the busy fraction is fitted by least squares where the ladder has at least four
distinct loads spanning 50 % or more (a straight line otherwise: a curve through few, close points
extrapolates wildly) and stored as points at 0, 10, ..., 100 %, with the loads actually measured.

The **band** is the fit's own error: the larger of the largest relative residual and twice the
relative RMS residual over the ladder's steps, at least ``MIN_REL_ERROR`` (1 %: the reading's
resolution at these step lengths).

Stored in one JSON (``$GREENAI_CALIBRATION``, else ``$XDG_CONFIG_HOME/greenai/calibration.json``,
else ``~/.config/greenai/calibration.json``), keyed by host name and CPU model, so a later run on the
same machine without a readable sensor (a container, no root) uses it, labelled
"estimated: calibrated on HOST at DATE".
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from greenai.errors import DataError, UsageError
from greenai.fsutil import atomic_write_text
from greenai.sensors.cpu_load import PowerCurve, read_proc_stat

CALIBRATION_ENV = "GREENAI_CALIBRATION"
#: the machine's load file (default /proc/stat): a container's bind-mounted host /proc, or a test's fake
PROC_STAT_ENV = "GREENAI_PROC_STAT"
MIN_REL_ERROR = 0.01
GRID = tuple(i / 10 for i in range(11))


def calibration_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where calibrations are stored (see the module docstring)."""
    if env.get(CALIBRATION_ENV):
        return Path(env[CALIBRATION_ENV])
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "greenai" / "calibration.json"


def machine_key(host: str, cpu_model: str) -> str:
    return f"{host} | {cpu_model}"


def _load_all(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable calibration file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a calibration file (expected a JSON object)")
    return data


def load_entry(
    cpu_model: str, env: Mapping[str, str] = os.environ, host: str | None = None
) -> dict[str, Any] | None:
    """This machine's stored calibration, or None."""
    entry = _load_all(calibration_path(env)).get(
        machine_key(host or socket.gethostname(), cpu_model)
    )
    return entry if isinstance(entry, dict) else None


def curve_from_entry(entry: Mapping[str, Any], path: Path) -> PowerCurve:
    """A stored calibration as a ``PowerCurve`` (band: the fit's own error)."""
    try:
        points = tuple((float(u), float(w)) for u, w in entry["points"])
        rel = float(entry["rel_error"])
        host, date = str(entry["host"]), str(entry["date"])
    except (KeyError, TypeError, ValueError):
        raise DataError(
            f"{path}: calibration entry is malformed; run greenai calibrate again"
        ) from None
    detail = (
        f"fitted to {entry.get('sensor', 'a power reading')} over a {len(entry.get('ladder', []))}-"
        f"step load ladder (loads {_measured(entry)}); {points[0][1]:.3g} W idle floor to "
        f"{points[-1][1]:.3g} W at 100 % "
        f"load; fit error ±{rel:.1%}; stored in {path}"
    )
    return PowerCurve(points, f"calibrated on {host} at {date}", detail, (1 - rel, 1 + rel))


def stored_curve(cpu_model: str, env: Mapping[str, str] = os.environ) -> PowerCurve | None:
    """The calibrated curve for this host and CPU, or None when never calibrated."""
    entry = load_entry(cpu_model, env)
    return None if entry is None else curve_from_entry(entry, calibration_path(env))


def _measured(entry: Mapping[str, Any]) -> str:
    loads = [float(s.get("busy_fraction", 0.0)) for s in entry.get("ladder", [])]
    return f"{min(loads):.0%}-{max(loads):.0%} measured" if loads else "unknown"


@dataclass(frozen=True)
class Step:
    threads: int
    t0: float  # Unix seconds
    t1: float
    busy_fraction: float
    watts: float | None  # None until the wall-meter CSV is read


def spin_processes(n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` busy processes (one busy CPU each)."""
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(n)
    ]


def run_ladder(
    max_threads: int,
    step_s: float,
    read_j: Callable[[], float] | None,
    stat_path: str | os.PathLike[str] = "/proc/stat",
    settle_s: float = 0.3,
    clock: Callable[[], float] = time.time,
    say: Callable[[str], None] = lambda _m: None,
) -> list[Step]:
    """Idle, then 1..``max_threads`` busy processes, each ``step_s`` seconds after ``settle_s``;
    ``read_j`` (cumulative joules, e.g. RAPL) gives each step's power, or None (a wall CSV later)."""
    steps = []
    for n in range(max_threads + 1):
        procs = spin_processes(n)
        try:
            time.sleep(settle_s)
            s0, e0, t0 = read_proc_stat(stat_path), read_j() if read_j else None, clock()
            time.sleep(step_s)
            s1, e1, t1 = read_proc_stat(stat_path), read_j() if read_j else None, clock()
        finally:
            for p in procs:
                p.kill()
            for p in procs:
                p.wait()
        if s0 is None or s1 is None:
            raise UsageError(f"{stat_path} cannot be read: the machine's load is unknown")
        u = (s1.busy_s - s0.busy_s) / max(1e-9, s1.total_s - s0.total_s)
        # one time base for load and energy: the kernel's ticks (all CPUs' seconds / CPUs)
        wall = (s1.total_s - s0.total_s) / s1.cpus
        watts = None if e0 is None or e1 is None or wall <= 0 else (e1 - e0) / wall
        steps.append(Step(n, t0, t1, min(1.0, max(0.0, u)), watts))
        say(f"  {n} busy: load {u:.0%}" + ("" if watts is None else f", {watts:.3g} W"))
    return steps


def wall_csv_watts(path: str | os.PathLike[str], steps: list[Step]) -> list[Step]:
    """Each step's mean watts from a wall-meter CSV (``timestamp,watts``), trapezoid over the step."""
    rows: list[tuple[float, float]] = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                try:
                    rows.append((float(row[0]), float(row[1])))
                except (ValueError, IndexError):
                    continue  # a header line
    except OSError as exc:
        raise UsageError(f"wall-meter CSV {path} cannot be read: {exc.strerror or exc}") from None
    rows.sort()
    out = []
    for s in steps:
        inside = [(t, w) for t, w in rows if s.t0 <= t <= s.t1]
        if len(inside) < 2:
            raise DataError(
                f"wall-meter CSV {path} has fewer than 2 readings between {s.t0:.0f} and {s.t1:.0f} "
                "(Unix seconds): record it while calibrate runs"
            )
        energy = sum(
            0.5 * (w0 + w1) * (t1 - t0) for (t0, w0), (t1, w1) in itertools.pairwise(inside)
        )
        out.append(
            Step(s.threads, s.t0, s.t1, s.busy_fraction, energy / (inside[-1][0] - inside[0][0]))
        )
    return out


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a small, well-posed normal system)."""
    n = len(b)
    m = [[*row[:], b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        if abs(m[col][col]) < 1e-12:
            raise DataError("calibration ladder is degenerate: its loads do not differ")
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def fit(steps: list[Step]) -> tuple[tuple[tuple[float, float], ...], float]:
    """(curve points at 0..100 %, relative fit error) from the ladder (see the module docstring)."""
    pts = [(s.busy_fraction, s.watts) for s in steps if s.watts is not None]
    distinct = len({round(u, 3) for u, _ in pts})
    if distinct < 2:
        raise DataError("calibration needs at least two different loads (idle and one busy CPU)")
    span = max(u for u, _ in pts) - min(u for u, _ in pts)
    degree = 2 if distinct >= 4 and span >= 0.5 else 1  # a curve only where the ladder spans one
    a = [[sum(u ** (i + j) for u, _ in pts) for j in range(degree + 1)] for i in range(degree + 1)]
    b = [sum(w * u**i for u, w in pts) for i in range(degree + 1)]
    coef = _solve(a, b)

    def model(u: float) -> float:
        return sum(c * u**i for i, c in enumerate(coef))

    rel = [abs(model(u) - w) / w for u, w in pts if w > 0]
    rms = (sum(r * r for r in rel) / len(rel)) ** 0.5 if rel else 0.0
    error = max(max(rel, default=0.0), 2 * rms, MIN_REL_ERROR)
    return tuple((u, max(0.0, model(u))) for u in GRID), error


def store(
    steps: list[Step], cpu_model: str, sensor: str, env: Mapping[str, str] = os.environ
) -> tuple[Path, dict[str, Any]]:
    """Fit ``steps`` and store the curve under this host and CPU; returns (path, entry)."""
    points, error = fit(steps)
    host = socket.gethostname()
    entry = {
        "host": host,
        "cpu_model": cpu_model,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "sensor": sensor,
        "points": [list(p) for p in points],
        "rel_error": error,
        "ladder": [
            {"threads": s.threads, "busy_fraction": s.busy_fraction, "watts": s.watts}
            for s in steps
        ],
    }
    path = calibration_path(env)
    data = _load_all(path)
    data[machine_key(host, cpu_model)] = entry
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return path, entry
