"""How busy the machine was during a timing: load average and steal time from a fake /proc tree."""

from __future__ import annotations

import pytest

from greenai.sensors import machine_load as ml


def _proc(root, load: float, user: int, steal: int, idle: int = 1000) -> None:
    root.mkdir(exist_ok=True)
    (root / "loadavg").write_text(f"{load:.2f} 1.00 1.00 2/100 123\n")
    (root / "stat").write_text(
        f"cpu  {user} 0 10 {idle} 0 0 0 {steal} 0 0\ncpu0 {user} 0 10 {idle} 0 0 0 {steal} 0 0\n"
    )


def test_a_quiet_window_is_not_flagged(tmp_path):
    proc = tmp_path / "proc"
    _proc(proc, 0.5, 100, 0)
    window = ml.LoadWindow(proc, cpus=2).start()
    _proc(proc, 0.8, 200, 0, idle=1100)
    load = window.stop()
    assert load.load_avg_1m == pytest.approx(0.8) and load.steal_pct == 0.0 and load.busy is None


def test_other_work_on_the_cpus_and_steal_time_are_flagged(tmp_path):
    proc = tmp_path / "proc"
    _proc(proc, 7.96, 100, 0)
    window = ml.LoadWindow(proc, cpus=2, own_threads=2).start()
    _proc(proc, 3.0, 180, 20)  # 20 of 100 jiffies stolen
    load = window.stop()
    assert load.steal_pct == pytest.approx(20.0)
    assert load.busy == (
        "busy machine: load average 7.96 on 2 CPUs, 2 of it the timing's own threads, "
        "20.0% steal time"
    )


def test_the_timings_own_threads_do_not_make_a_quiet_machine_busy(tmp_path):
    proc = tmp_path / "proc"
    _proc(proc, 2.4, 100, 0)  # the timing's 2 threads and a little else
    load = ml.LoadWindow(proc, cpus=2, own_threads=2).start().stop()
    assert load.busy is None
    assert ml.LoadWindow(proc, cpus=2).start().stop().busy  # without them: 2.4 > 1 other CPU


def test_unreadable_proc_gives_none_never_a_made_up_figure(tmp_path):
    load = ml.LoadWindow(tmp_path / "absent", cpus=4).start().stop()
    assert load.load_avg_1m is None and load.steal_pct is None and load.busy is None


def test_timing_doubt_names_a_wide_spread_and_a_busy_machine():
    from greenai.ml.evaluation.evaluate import WIDE_SPREAD_PCT, iqr_pct, timing_doubt

    assert iqr_pct([1.0, 1.0, 1.0]) is None  # too few calls to say
    assert iqr_pct([1.0, 1.0, 1.0, 1.0, 1.0]) == 0.0
    wide = {"latency_iqr_pct": WIDE_SPREAD_PCT + 1, "throughput_iqr_pct": 3.0}
    assert timing_doubt(wide) == f"latency spread {WIDE_SPREAD_PCT + 1:.0f}% of the median (IQR)"
    assert timing_doubt({"throughput_iqr_pct": 3.0}) is None
    assert timing_doubt({}, "busy machine: x") == "busy machine: x"
