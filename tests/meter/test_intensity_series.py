"""Time-varying grid intensity: the series layouts, and CO2 integrated sample by sample by the meter
(a fake powercap tree and injected clocks; nothing sleeps)."""

from __future__ import annotations

import math

import pytest
from meter_fakes import FakeRapl

from greenai.carbon import CarbonConfig
from greenai.carbon.series import load_series
from greenai.errors import DataError, UsageError
from greenai.meter import Tracker
from greenai.results.resultfile import carbon_section

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
KWH = 3.6e6


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def step_series(tmp_path):
    """100 g/kWh from 00:00 to 01:00 UTC, then 900 g/kWh until 02:00."""
    return _write(
        tmp_path,
        "step.csv",
        "timestamp,g_co2e_per_kwh\n2026-01-01T00:00:00Z,100\n2026-01-01T01:00:00Z,900\n",
    )


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_step_from_100_to_900_mid_run_is_integrated_over_time(tmp_path, step_series):
    rapl = FakeRapl(tmp_path / "powercap")
    carbon = CarbonConfig.resolve(intensity_series=step_series, env={})
    mono = Clock()
    t = Tracker(
        "x", carbon=carbon, interval_s=None, sensors=rapl.sensors(),
        clock=lambda: T0 + 1800.0, monotonic=mono,
    )  # fmt: skip
    t.start()  # 00:30 UTC
    unit = 0.01 * KWH  # 36 kJ, within the fake counter's range per read
    mono.now = 900.0  # 00:45: 0.5 units, all at 100 g/kWh
    rapl.add(cpu_j=0.5 * unit)
    first = t.sample()
    assert first.co2_kg == pytest.approx(0.005 * 100 / 1000)
    with t.phase("straddle"):  # 00:45 -> 01:15: 1 unit, half at 100 and half at 900 -> 500
        mono.now = 2700.0
        rapl.add(cpu_j=unit)
    mono.now = 3600.0  # 01:30: 0.5 units at 900
    rapl.add(cpu_j=0.5 * unit)
    m = t.stop()
    (phase,) = m.phases
    assert phase.co2_kg == pytest.approx(0.01 * 500 / 1000)
    # hand-computed: 0.005 kWh x 100 + 0.01 kWh x 500 + 0.005 kWh x 900 = 10 g
    assert m.co2_kg == pytest.approx(0.010)
    assert m.energy_kwh == pytest.approx(0.02)
    section = carbon_section(m)
    series = section["intensity_series"]
    assert series["kind"] == "average" and series["timezone"] == "UTC"
    assert series["path"] == str(step_series) and series["points"] == 2
    assert "step-wise" in series["interpolation"]
    assert series["run_outside_span_s"] == 0.0
    assert series["run_mean_g_per_kwh"] == pytest.approx((1800 * 100 + 1800 * 900) / 3600)


def test_a_run_that_outlasts_the_series_keeps_its_last_value_and_says_how_long(
    tmp_path, step_series
):
    rapl = FakeRapl(tmp_path / "powercap")
    carbon = CarbonConfig.resolve(intensity_series=step_series, env={})
    mono = Clock()
    t = Tracker(
        "x", carbon=carbon, interval_s=None, sensors=rapl.sensors(),
        clock=lambda: T0 + 6600.0, monotonic=mono,
    )  # fmt: skip
    t.start()  # 01:50, the series ends at 02:00
    mono.now = 1200.0
    rapl.add(cpu_j=0.01 * KWH)
    m = t.stop()
    assert m.co2_kg == pytest.approx(0.01 * 900 / 1000)
    assert carbon_section(m)["intensity_series"]["run_outside_span_s"] == pytest.approx(600.0)


def test_a_run_wholly_outside_the_series_is_refused_in_one_line(step_series):
    series = load_series(step_series)
    with pytest.raises(UsageError, match="lies wholly outside") as info:
        series.check_span(T0 + 3 * 3600.0, 600.0)
    assert "\n" not in str(info.value)
    series.check_span(T0 - 300.0, 600.0)  # overlaps the start: allowed


def test_electricity_maps_export_is_read_as_it_is(tmp_path):
    path = _write(
        tmp_path,
        "FR_2025_hourly.csv",
        "Datetime (UTC),Country,Zone name,Zone id,Carbon intensity gCO₂eq/kWh (direct),"
        "Carbon intensity gCO₂eq/kWh (Life cycle),Carbon-free energy percentage (CFE%),"
        "Renewable energy percentage (RE%),Data source,Data estimated,Data estimation method\n"
        "2025-01-01 00:00:00,France,France,FR,20.1,35.5,95,30,src,false,\n"
        "2025-01-01 01:00:00,France,France,FR,22.3,38.0,95,30,src,false,\n",
    )
    s = load_series(path)
    assert s.layout == "Electricity Maps" and s.kind == "average"
    assert s.values == (35.5, 38.0)  # life-cycle preferred over direct
    assert s.column == "Carbon intensity gCO₂eq/kWh (Life cycle)"
    assert s.times[1] - s.times[0] == 3600.0


def test_watttime_moer_in_lbs_per_mwh_is_converted_and_marginal(tmp_path):
    path = _write(
        tmp_path,
        "moer.csv",
        "point_time,value,frequency,market,ba\n"
        "2025-06-01T00:00:00+00:00,1000,300,RTM,CAISO_NORTH\n"
        "2025-06-01T00:05:00+00:00,500,300,RTM,CAISO_NORTH\n",
    )
    s = load_series(path)
    assert s.layout == "WattTime" and s.kind == "marginal"
    assert s.values == pytest.approx((453.59237, 226.796185))
    assert s.step_s == 300.0
    cfg = CarbonConfig.resolve(intensity_series=path, env={})
    assert "marginal" in cfg.intensity.source


def test_offsets_are_kept_as_the_series_time_zone(tmp_path):
    path = _write(
        tmp_path,
        "local.csv",
        "timestamp,g_co2e_per_kwh\n2026-01-01T02:00:00+02:00,100\n2026-01-01T03:00:00+02:00,300\n",
    )
    s = load_series(path)
    assert s.timezone == "+02:00" and s.times[0] == T0
    assert s.mean_between(T0, T0 + 7200) == pytest.approx(200.0)
    assert math.isclose(s.at(T0 + 3599), 100.0)


@pytest.mark.parametrize(
    "text",
    [
        "when,what\n1,2\n",
        "timestamp,g_co2e_per_kwh\n",
        "timestamp,g_co2e_per_kwh\nyesterday,100\n",
        "timestamp,g_co2e_per_kwh\n2026-01-01T00:00:00Z,-5\n",
        "timestamp,g_co2e_per_kwh\n2026-01-01T00:00:00Z,1\n2026-01-01T00:00:00Z,2\n",
    ],
)
def test_bad_series_files_are_one_line_data_errors(tmp_path, text):
    with pytest.raises(DataError) as info:
        load_series(_write(tmp_path, "bad.csv", text))
    assert "\n" not in str(info.value)
