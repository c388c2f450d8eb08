"""emissions.csv: the band columns after CodeCarbon's 38, by hand; an older file upgraded in place."""

from __future__ import annotations

import csv

import pytest

from greenai.carbon import CarbonConfig
from greenai.meter import Tracker
from greenai.meter.emissions_csv import CODECARBON_COLUMNS, COLUMNS, samples_path
from greenai.sensors.base import Sensor
from greenai.units import Method

GRID = CarbonConfig.resolve(intensity_g_per_kwh=100, pue=1.0, env={})  # given: no intensity band


class EstimatedCpu(Sensor):
    """A CPU figure from an estimate model (the band's ±40 %), advanced by the test."""

    components = ("cpu",)

    def __init__(self) -> None:
        self.joules = 0.0

    def read_j(self) -> dict[str, float]:
        return {"cpu": self.joules}

    def methods(self) -> dict[str, Method]:
        return {"cpu": Method("estimated", "test model")}


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_band_columns_by_hand(tmp_path):
    cpu = EstimatedCpu()
    path = tmp_path / "emissions.csv"
    t = Tracker("x", carbon=GRID, interval_s=None, emissions_csv=path, sensors=[cpu]).start()
    cpu.joules = 3.6e6  # 1 kWh
    t.stop()
    header = path.read_text().splitlines()[0].split(",")
    assert header[: len(CODECARBON_COLUMNS)] == list(CODECARBON_COLUMNS)
    (row,) = _rows(path)
    # 1 kWh ± 40 %; 100 g/kWh given by the user (exact): 0.06-0.14 kg
    assert (float(row["energy_consumed_low"]), float(row["energy_consumed_high"])) == pytest.approx(
        (0.6, 1.4)
    )
    assert (float(row["emissions_low"]), float(row["emissions_high"])) == pytest.approx(
        (0.06, 0.14)
    )
    assert _rows(samples_path(path))[-1]["emissions_high"] == row["emissions_high"]


def test_a_file_from_before_the_bands_is_upgraded_keeping_its_rows(tmp_path):
    old_header = [c for c in COLUMNS if not c.endswith(("_low", "_high"))]
    path = tmp_path / "emissions.csv"
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(old_header)
        w.writerow(["old" if c == "run_id" else "1" for c in old_header])
    cpu = EstimatedCpu()
    Tracker("x", run_id="new", carbon=GRID, interval_s=None, emissions_csv=path, sensors=[cpu])
    rows = _rows(path)
    assert list(rows[0]) == list(COLUMNS)
    assert rows[0]["run_id"] == "old" and rows[0]["emissions_low"] == ""  # unknown, not invented
