"""Carbon-aware start: the chosen start against a hand-made forecast, waiting with an injected clock
(nothing sleeps), and ``greenai measure --start-within ... --dry-run`` / ``--intensity-series``."""

from __future__ import annotations

import time

import pytest

from greenai.carbon.schedule import choose_start, parse_duration_s, wait_until
from greenai.carbon.series import load_series
from greenai.cli.main import main
from greenai.errors import UsageError

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0


def _forecast(tmp_path, start, values, name="forecast.csv"):
    rows = [f"{int(start + i * HOUR)},{v}" for i, v in enumerate(values)]
    path = tmp_path / name
    path.write_text("timestamp,g_co2e_per_kwh\n" + "\n".join(rows) + "\n")
    return path


def test_the_start_minimising_the_window_mean_is_chosen(tmp_path):
    forecast = load_series(_forecast(tmp_path, T0, [500, 400, 100, 100, 600, 600, 600, 600, 600]))
    choice = choose_start(forecast, T0 + 600, 8 * HOUR, 2 * HOUR, "--expected-duration")
    assert choice.start == T0 + 2 * HOUR  # 02:00-04:00 at 100 g/kWh
    assert choice.g_best == pytest.approx(100.0)
    # now (00:10) to 02:10: 50 min at 500, 60 at 400, 10 at 100
    assert choice.g_now == pytest.approx((50 * 500 + 60 * 400 + 10 * 100) / 120)
    assert choice.saving_pct == pytest.approx(100 * (1 - 100 / choice.g_now))
    assert "02:00:00Z" in choice.line() and "saving" in choice.line()


def test_starting_now_when_now_is_cleanest_and_never_past_the_window(tmp_path):
    forecast = load_series(_forecast(tmp_path, T0, [100, 500, 500, 50]))
    assert choose_start(forecast, T0, HOUR, HOUR, "x").start == T0  # 03:00 is out of the window
    assert choose_start(forecast, T0, 3 * HOUR, HOUR, "x").start == T0 + 3 * HOUR


def test_a_forecast_that_ended_before_now_is_refused(tmp_path):
    forecast = load_series(_forecast(tmp_path, T0, [100, 200]))
    with pytest.raises(UsageError, match="wholly outside"):
        choose_start(forecast, T0 + 10 * HOUR, HOUR, HOUR, "x")


def test_waiting_uses_the_injected_clock_and_says_when_and_why(tmp_path):
    forecast = load_series(_forecast(tmp_path, T0, [500, 100, 100]))
    choice = choose_start(forecast, T0, 2 * HOUR, HOUR, "x")
    now = [T0]
    slept, said = [], []

    def sleep(s):
        slept.append(s)
        now[0] += s

    wait_until(choice, clock=lambda: now[0], sleep=sleep, say=said.append, every_s=1200)
    assert now[0] == T0 + HOUR and slept == [1200, 1200, 1200]
    assert said[0].startswith("greenai: waiting: carbon-aware start at 2026-01-01T01:00:00Z")
    assert "40 min left" in said[1] and said[-1].startswith("greenai: starting at")


@pytest.mark.parametrize("text, seconds", [("8h", 28800), ("1h30m", 5400), ("45s", 45), ("90", 90)])
def test_durations(text, seconds):
    assert parse_duration_s(text, "--start-within") == seconds


@pytest.mark.parametrize("text", ["8 hours", "-1h", "0", "h"])
def test_bad_durations_are_one_line(text):
    with pytest.raises(UsageError):
        parse_duration_s(text, "--start-within")


def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("GREENAI_POWERCAP_ROOT", str(tmp_path / "no-powercap"))
    for key in ("GREENAI_COUNTRY", "GREENAI_PUE", "GREENAI_INTENSITY", "GREENAI_STORE"):
        monkeypatch.delenv(key, raising=False)


def test_measure_dry_run_prints_the_start_and_the_saving_and_runs_nothing(
    tmp_path, monkeypatch, capsys
):
    _env(monkeypatch, tmp_path)
    hour = (time.time() // HOUR) * HOUR
    path = _forecast(tmp_path, hour, [900, 900, 300, 300, 300, 900])
    out = tmp_path / "out"
    code = main(["measure", "--out", str(out), "--start-within", "4h", "--forecast", str(path),
                 "--expected-duration", "1h", "--dry-run", "--", "true"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "start_at " + time.strftime("%Y-%m-%dT%H", time.gmtime(hour + 2 * HOUR)) in printed
    assert "expected_saving_pct" in printed and "constant power assumed" in printed
    assert not out.exists()  # nothing written


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--start-within", "2h"], "go together"),
        (["--dry-run"], "--dry-run needs"),
        (["--start-within", "2h", "--forecast", "FORECAST"], "expected duration"),
    ],
)
def test_measure_schedule_flags_are_checked_in_one_line(
    tmp_path, monkeypatch, capsys, extra, message
):
    _env(monkeypatch, tmp_path)
    path = _forecast(tmp_path, (time.time() // HOUR) * HOUR, [100, 200, 300])
    extra = [str(path) if a == "FORECAST" else a for a in extra]
    code = main(["measure", "--out", str(tmp_path / "o"), *extra, "--", "true"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_measure_with_an_intensity_series_records_which_one(tmp_path, monkeypatch, capsys):
    _env(monkeypatch, tmp_path)
    hour = (time.time() // HOUR) * HOUR
    path = _forecast(tmp_path, hour - HOUR, [200, 200, 200], name="series.csv")
    out = tmp_path / "out"
    code = main(["measure", "--out", str(out), "--no-store", "--intensity-series", str(path),
                 "--", "true"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "average intensity series" in err and "step-wise" in err
    stale = _forecast(tmp_path, hour - 10 * HOUR, [200, 200], name="old.csv")
    code = main(["measure", "--out", str(out), "--no-store", "--intensity-series", str(stale),
                 "--", "true"])  # fmt: skip
    assert code == 2 and "lies wholly outside" in capsys.readouterr().err


def test_expected_duration_from_the_same_jobs_history():
    from types import SimpleNamespace as Run

    from greenai.cli._schedule import median_duration, same_settings

    cfg = {"model": "m", "epochs": 3, "seed": 0, "data_dir": "/a"}
    runs = [
        Run(status="done", duration_s=100.0, config={**cfg, "seed": 1, "data_dir": "/b"}),
        Run(status="done", duration_s=300.0, config=cfg),
        Run(status="failed", duration_s=5.0, config=cfg),
        Run(status="done", duration_s=900.0, config={**cfg, "epochs": 9}),  # another job
    ]
    assert median_duration(runs, same_settings(cfg)) == (200.0, 2)
    assert median_duration(runs[2:3], same_settings(cfg)) is None


def test_baseline_dry_run_needs_no_data_and_trains_nothing(tmp_path, monkeypatch, capsys):
    _env(monkeypatch, tmp_path)
    hour = (time.time() // HOUR) * HOUR
    path = _forecast(tmp_path, hour, [400, 100, 400])
    out = tmp_path / "out"
    code = main(["baseline", "--dataset", "synthetic", "--out", str(out), "--start-within", "2h",
                 "--forecast", str(path), "--expected-duration", "30m", "--dry-run"])  # fmt: skip
    printed = capsys.readouterr().out
    assert (
        code == 0
        and "start_at " + time.strftime("%Y-%m-%dT%H", time.gmtime(hour + HOUR)) in printed
    )
    assert not out.exists()
