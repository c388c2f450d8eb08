"""Wall-time overhead of the meter: greenai vs CodeCarbon on the same CPU-bound workload.

Each round runs the workload three ways, in a rotating order (speed here drifts up to 3x, so the three
are interleaved and compared within a round):

* untracked;
* tracked by greenai: ``Tracker(interval_s=1.0)`` started before and stopped after the workload;
* tracked by CodeCarbon: ``OfflineEmissionsTracker(country_iso_code=..., measure_power_secs=1,
  save_to_file=False, log_level="error")``, likewise.

Reported: per round, tracked/untracked ratios: wall time of the "work" (the workload alone, trackers
running) and of the "total" (start + work + stop), and the process CPU seconds during the work
(trackers' threads included; less inflated by other processes than wall time); then medians. Separately, in fresh
interpreters, ``import`` + the first ``start()`` for both (median of several), timed inside the
interpreter (Python's own start-up excluded).

    .venv/bin/python bench/meter_overhead.py              # ~3.5 minutes (21 rounds x 3 s)
    .venv/bin/python bench/meter_overhead.py --rounds 3 --work-s 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

IMPORT_GREENAI = (
    "import time; t = time.perf_counter()\n"
    "import greenai\n"
    "tr = greenai.Tracker('x', interval_s=1.0, country='{country}').start()\n"
    "print(time.perf_counter() - t, time.process_time()); tr.stop()\n"
)
IMPORT_CODECARBON = (
    "import time; t = time.perf_counter()\n"
    "from codecarbon import OfflineEmissionsTracker\n"
    "tr = OfflineEmissionsTracker(country_iso_code='{country}', measure_power_secs=1,\n"
    "                             save_to_file=False, log_level='error')\n"
    "tr.start()\n"
    "print(time.perf_counter() - t, time.process_time()); tr.stop()\n"
)


def workload(n: int) -> int:
    """Pure-Python CPU-bound work (one thread)."""
    acc = 0
    for i in range(n):
        acc = (acc + i * i) % 1_000_003
    return acc


def calibrate(target_s: float) -> int:
    n = 100_000
    while True:
        t = time.perf_counter()
        workload(n)
        took = time.perf_counter() - t
        if took > 0.2:
            return max(1, int(n * target_s / took))
        n *= 2


Timing = tuple[float, float, float]  # work wall s, total wall s (start + work + stop), work CPU s


def run_untracked(n: int) -> Timing:
    t, c = time.perf_counter(), time.process_time()
    workload(n)
    took = time.perf_counter() - t
    return took, took, time.process_time() - c


def run_greenai(n: int, country: str) -> Timing:
    import greenai

    t0 = time.perf_counter()
    tracker = greenai.Tracker("bench", interval_s=1.0, country=country).start()
    t1, c1 = time.perf_counter(), time.process_time()
    workload(n)
    t2, c2 = time.perf_counter(), time.process_time()
    tracker.stop()
    return t2 - t1, time.perf_counter() - t0, c2 - c1


def run_codecarbon(n: int, country: str) -> Timing:
    from codecarbon import OfflineEmissionsTracker

    t0 = time.perf_counter()
    tracker = OfflineEmissionsTracker(
        country_iso_code=country, measure_power_secs=1, save_to_file=False, log_level="error"
    )
    tracker.start()
    t1, c1 = time.perf_counter(), time.process_time()
    workload(n)
    t2, c2 = time.perf_counter(), time.process_time()
    tracker.stop()
    return t2 - t1, time.perf_counter() - t0, c2 - c1


def first_start_s(code: str, country: str, repeats: int) -> tuple[list[float], list[float]]:
    """Wall seconds of import + first start(), and the interpreter's CPU seconds at that point
    (start-up included: a figure that the machine's load does not inflate)."""
    times, cpu = [], []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code.format(country=country)],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        wall_s, cpu_s = out.stdout.strip().splitlines()[-1].split()
        times.append(float(wall_s))
        cpu.append(float(cpu_s))
    return times, cpu


def sample_cost_s(country: str, n: int = 300) -> float:
    """CPU seconds one greenai sample costs (all sensors read, record built): the sampling thread's
    work per interval, measured as process CPU time so the machine's load does not inflate it."""
    import greenai

    tracker = greenai.Tracker("cost", interval_s=None, country=country).start()
    t = time.process_time()
    for _ in range(n):
        tracker.sample()
    cost = (time.process_time() - t) / n
    tracker.stop()
    return cost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # many short rounds beat few long ones here: single rounds drift by +-5%, so the median of
    # 7 x 5 s rounds moved by 2 points between two quiet runs; 21 x 3 s rounds narrow it
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--work-s", type=float, default=3.0, help="untracked workload length")
    parser.add_argument("--country", default="NZL")
    parser.add_argument("--start-repeats", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import codecarbon
    except ImportError:
        print("codecarbon is not installed: pip install 'greenai[dev]'", file=sys.stderr)
        return 2
    import greenai

    print(f"greenai {greenai.__version__}, codecarbon {codecarbon.__version__}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    g_start, g_cpu = first_start_s(IMPORT_GREENAI, args.country, args.start_repeats)
    c_start, c_cpu = first_start_s(IMPORT_CODECARBON, args.country, args.start_repeats)
    print(
        f"import + first start(), median of {args.start_repeats} fresh interpreters: "
        f"greenai {statistics.median(g_start):.3f} s wall (min {min(g_start):.3f}), "
        f"codecarbon {statistics.median(c_start):.3f} s wall (min {min(c_start):.3f})"
    )
    print(f"  CPU seconds of those interpreters (Python start-up included): "
          f"greenai {statistics.median(g_cpu):.3f} s, codecarbon {statistics.median(c_cpu):.3f} s")  # fmt: skip

    cost = sample_cost_s(args.country)
    print(f"greenai sampling cost: {cost * 1e6:.0f} µs CPU per sample = {cost * 100:.3f}% of one CPU "
          "at 1 s sampling (the work it adds per interval; with the GIL, about the wall-time cost for a "
          "one-thread Python workload)")  # fmt: skip

    n = calibrate(args.work_s)
    run_greenai(
        n // 50, args.country
    )  # warm-up: imports and the TDP table, as a real user has them
    run_codecarbon(n // 50, args.country)
    runners = {
        "untracked": lambda: run_untracked(n),
        "greenai": lambda: run_greenai(n, args.country),
        "codecarbon": lambda: run_codecarbon(n, args.country),
    }
    names = list(runners)
    ratios: dict[str, dict[str, list[float]]] = {
        k: {"work": [], "total": [], "cpu": []} for k in ("greenai", "codecarbon")
    }
    print(
        f"workload: {n} iterations (~{args.work_s:g} s untracked), {args.rounds} rounds, interleaved"
    )
    for r in range(args.rounds):
        order = names[r % 3 :] + names[: r % 3]
        got = {name: runners[name]() for name in order}
        base, _, base_cpu = got["untracked"]
        line = [f"round {r + 1}: untracked {base:.3f} s"]
        for k in ("greenai", "codecarbon"):
            work, total, cpu = got[k]
            ratios[k]["work"].append(work / base)
            ratios[k]["total"].append(total / base)
            ratios[k]["cpu"].append(cpu / base_cpu)
            line.append(
                f"{k} work {work / base:.4f} total {total / base:.4f} cpu {cpu / base_cpu:.4f}"
            )
        print("; ".join(line), flush=True)
    print("median tracked/untracked ratios (1.0000 = no overhead); wall: work, total; "
          "process CPU seconds during the work (trackers' threads included, less load-sensitive):")  # fmt: skip
    for k in ("greenai", "codecarbon"):
        w, t, c = (statistics.median(ratios[k][x]) for x in ("work", "total", "cpu"))
        print(f"  {k:<10} work {w:.4f} ({(w - 1) * 100:+.2f}%)   total {t:.4f} ({(t - 1) * 100:+.2f}%)"
              f"   cpu {c:.4f} ({(c - 1) * 100:+.2f}%)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
