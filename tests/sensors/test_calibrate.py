"""``greenai calibrate`` against a fake powercap tree whose power follows a known load curve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sensor_fakes import rapl_zone

from greenai.cli.main import main
from greenai.errors import DataError
from greenai.sensors import CpuLoadEstimate, default_sensors
from greenai.sensors.calibration import Step, fit, stored_curve
from greenai.sensors.cpu_model import read_cpuinfo

IDLE_W, SLOPE_W = 12.0, 30.0  # the fake machine: 12 W idle, 42 W with every CPU busy
WRITER = Path(__file__).with_name("calib_writer.py")
DUTY = "import time\nwhile True:\n    t = time.monotonic()\n    while time.monotonic() - t < 0.004: pass\n    time.sleep(0.006)\n"


def _snapshot(
    writer: subprocess.Popen[bytes], stat: Path, cpu: CpuLoadEstimate
) -> tuple[float, float]:
    """(true joules, estimated machine joules) from one frozen snapshot of the fake machine."""
    os.kill(writer.pid, signal.SIGSTOP)
    try:
        time.sleep(0.05)
        truth = int(stat.read_text().split("fake_energy_uj ")[1]) / 1e6
        cpu.read_j()
        return truth, cpu.machine_j
    finally:
        os.kill(writer.pid, signal.SIGCONT)


@pytest.mark.slow
def test_calibrated_estimate_of_a_held_out_load_is_within_5_percent_and_its_band(
    tmp_path, monkeypatch, capsys
):
    root = tmp_path / "powercap"
    zone = rapl_zone(root, "intel-rapl:0", "package-0", 0)
    monkeypatch.setenv("GREENAI_CALIBRATION", str(tmp_path / "calibration.json"))
    stat = tmp_path / "stat"
    monkeypatch.setenv("GREENAI_PROC_STAT", str(stat))
    writer = subprocess.Popen(
        [
            sys.executable,
            str(WRITER),
            str(zone),
            str(stat),
            str(os.getpid()),
            str(IDLE_W),
            str(SLOPE_W),
        ]
    )
    held_out = None
    try:
        time.sleep(0.2)
        argv = ["calibrate", "--powercap-root", str(root), "--max-threads", "2",
                "--step-seconds", "1.2", "--settle-seconds", "0.2"]  # fmt: skip
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "stored in" in out and str(tmp_path / "calibration.json") in out

        assert main(["calibrate", "--show"]) == 0  # the curve and where it is stored
        shown = capsys.readouterr().out
        assert f"calibration stored in {tmp_path / 'calibration.json'}" in shown
        assert "calibrated on " in shown and "100%" in shown

        model = read_cpuinfo().model_name
        curve = stored_curve(model)
        assert curve is not None and curve.source.startswith("calibrated on ")
        # the fit recovers the fake's idle floor (12 W) and rises with load; the full-load end is
        # an extrapolation where the shared machine kept the ladder's loads low
        assert curve.floor_w == pytest.approx(IDLE_W, rel=0.1)
        assert curve.watts(1.0) > curve.watts(0.5) > curve.floor_w

        # later, without a readable sensor: the calibrated curve is the estimate
        sensors = default_sensors(powercap_root=tmp_path / "absent", nvidia_driver=None)
        chosen = next(s for s in sensors if isinstance(s, CpuLoadEstimate))
        label = chosen.methods()["cpu"].label()
        assert label.startswith("estimated: calibrated on ") and " at 20" in label
        cpu = CpuLoadEstimate(chosen.tree, chosen.curve, stat_path=stat)  # the fake machine's load
        low, high = cpu.methods()["cpu"].band

        # a held-out load (one process busy ~40 % of the time), not a ladder step
        e0, m0 = _snapshot(writer, stat, cpu)
        held_out = subprocess.Popen([sys.executable, "-c", DUTY])
        time.sleep(2.5)
        e1, m1 = _snapshot(writer, stat, cpu)
        truth, estimate = e1 - e0, m1 - m0
        assert estimate == pytest.approx(truth, rel=0.05)
        assert estimate * low <= truth <= estimate * high
        assert cpu.read_j()["cpu"] > 0  # the tree (this test and its spinner) carries a share
    finally:
        for proc in (writer, held_out):
            if proc is not None:
                proc.kill()
                proc.wait()


def test_fit_error_is_the_band_and_a_flat_ladder_is_refused():
    steps = [Step(0, 0, 1, 0.05, 14.0), Step(1, 1, 2, 0.5, 27.0), Step(2, 2, 3, 1.0, 42.0)]
    points, rel = fit(steps)
    assert points[0][0] == 0.0 and points[-1][0] == 1.0
    assert rel >= 0.01  # at least the reading's resolution
    assert points[-1][1] == pytest.approx(42.0, rel=rel)
    with pytest.raises(DataError, match="two different loads"):
        fit([Step(0, 0, 1, 0.5, 10.0), Step(1, 1, 2, 0.5, 11.0)])


def test_calibrate_without_a_sensor_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GREENAI_CALIBRATION", str(tmp_path / "c.json"))
    assert (
        main(["calibrate", "--powercap-root", str(tmp_path / "none"), "--step-seconds", "0.1"]) == 2
    )
    err = capsys.readouterr().err
    assert (
        err.startswith("greenai: error: no power reading to calibrate against")
        and err.count("\n") == 1
    )
    assert not (tmp_path / "c.json").exists()


def test_show_without_a_calibration_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GREENAI_CALIBRATION", str(tmp_path / "c.json"))
    assert main(["calibrate", "--show"]) == 0
    assert f"in {tmp_path / 'c.json'}" in capsys.readouterr().out
