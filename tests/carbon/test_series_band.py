"""The CO2 band of a run on an intensity series, hand-computed on a step from 100 to 900 g/kWh:
without a spread in the file, carbon/spread.py's ±20 % around each value; with the file's own
low/high columns, their step-wise means over the run. The energy's band (RAPL here: a fake
powercap tree, injected clocks) multiplies in as for a constant intensity."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from greenai.carbon import CarbonConfig
from greenai.carbon.series import load_series
from greenai.carbon.spread import COUNTRY_REL
from greenai.errors import DataError
from greenai.meter import Tracker
from greenai.results.resultfile import carbon_section, piece_from_measurement
from greenai.uncertainty import RAPL_BAND

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "meter"))
from meter_fakes import FakeRapl  # the meter tests' fake powercap tree

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
KWH = 3.6e6


def _write(tmp_path, text):
    path = tmp_path / "series.csv"
    path.write_text(text, encoding="utf-8")
    return path


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _run(tmp_path, series_path, start, steps):
    """A metered run from ``start`` (Unix s): ``steps`` of (seconds later, kWh drawn by then)."""
    rapl = FakeRapl(tmp_path / "powercap")
    carbon = CarbonConfig.resolve(intensity_series=series_path, env={})
    mono = Clock()
    t = Tracker(
        "x", carbon=carbon, interval_s=None, sensors=rapl.sensors(), clock=lambda: start,
        monotonic=mono,
    )  # fmt: skip
    t.start()
    for at, kwh in steps:
        mono.now = at
        rapl.add(cpu_j=kwh * KWH)
        t.sample()
    return t.stop()


def test_a_series_without_a_spread_gets_the_country_allowance(tmp_path):
    assert COUNTRY_REL == 0.20 and RAPL_BAND == (0.95, 1.4)  # the figures used by hand below
    path = _write(tmp_path, "timestamp,g_co2e_per_kwh\n2026-01-01T00:00:00Z,100\n"
                  "2026-01-01T01:00:00Z,900\n")  # fmt: skip
    # 00:30 -> 01:30: 0.01 kWh in the first half hour (100 g), 0.01 kWh in the second (900 g)
    m = _run(tmp_path, path, T0 + 1800.0, [(1800.0, 0.01), (3600.0, 0.01)])
    assert m.co2_kg == pytest.approx(0.010)  # 0.01 x 100 + 0.01 x 900 = 10 g
    piece = piece_from_measurement(m)
    # intensity band 10 g x (0.8, 1.2) = 8..12 g; energy band RAPL x (0.95, 1.4)
    assert piece["co2_kg_low"] == pytest.approx(0.010 * 0.8 * 0.95)  # 7.6 g
    assert piece["co2_kg_high"] == pytest.approx(0.010 * 1.2 * 1.4)  # 16.8 g
    section = carbon_section(m)
    assert section["intensity_g_per_kwh"] == pytest.approx(500.0)
    assert section["intensity_g_per_kwh_low"] == pytest.approx(400.0)
    assert section["intensity_g_per_kwh_high"] == pytest.approx(600.0)
    assert "±20%" in section["intensity_series"]["band"]


def test_a_series_with_its_own_spread_gives_the_run_its_band(tmp_path):
    path = _write(
        tmp_path,
        "timestamp,g_co2e_per_kwh,g_co2e_per_kwh_low,g_co2e_per_kwh_high\n"
        "2026-01-01T00:00:00Z,100,50,150\n2026-01-01T01:00:00Z,900,800,1000\n",
    )
    # 00:00 -> 01:30, 0.005 kWh every half hour: two at 100 g/kWh, one at 900 g/kWh
    m = _run(tmp_path, path, T0, [(1800.0, 0.005), (3600.0, 0.005), (5400.0, 0.005)])
    assert m.co2_kg == pytest.approx(0.0055)  # 0.005 x (100 + 100 + 900) = 5.5 g
    piece = piece_from_measurement(m)
    # low: 0.005 x (50 + 50 + 800) = 4.5 g; high: 0.005 x (150 + 150 + 1000) = 6.5 g; x energy
    assert piece["co2_kg_low"] == pytest.approx(0.0045 * 0.95)
    assert piece["co2_kg_high"] == pytest.approx(0.0065 * 1.4)
    section = carbon_section(m)  # the run's means: (3600 x 100 + 1800 x 900) / 5400 and so on
    assert section["intensity_g_per_kwh"] == pytest.approx(1100.0 / 3)
    assert section["intensity_g_per_kwh_low"] == pytest.approx(300.0)
    assert section["intensity_g_per_kwh_high"] == pytest.approx(1300.0 / 3)
    assert "own low/high" in section["intensity_series"]["band"]
    # the span's factors (500: 425..575) would give another band: the run's own window is used
    series = load_series(path)
    assert series.band_factors() == pytest.approx((0.85, 1.15))
    assert series.co2_band_kg(0.0055, T0, T0 + 5400.0) == pytest.approx((0.0045, 0.0065))


@pytest.mark.parametrize(
    "text, message",
    [
        ("timestamp,g_co2e_per_kwh,g_co2e_per_kwh_low\n1,100,90\n", "go together"),
        ("timestamp,g_co2e_per_kwh,low,high\n1,100,120,130\n", "low <= value <= high"),
        ("timestamp,g_co2e_per_kwh,low,high\n1,100,x,130\n", "must be numbers"),
    ],
)
def test_bad_spread_columns_are_one_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message) as info:
        load_series(_write(tmp_path, text))
    assert "\n" not in str(info.value)
