import csv

import pytest
from meter_fakes import FakeRapl

from greenai.carbon import CarbonConfig
from greenai.errors import UsageError
from greenai.meter import Tracker
from greenai.meter.emissions_csv import COLUMNS

# CodeCarbon's emissions.csv columns, in its order (issue #2; codecarbon EmissionsData)
CODECARBON_38 = [
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions",
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
    "ram_energy", "energy_consumed", "water_consumed", "country_name", "country_iso_code", "region",
    "cloud_provider", "cloud_region", "os", "python_version", "codecarbon_version", "cpu_count",
    "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude", "ram_total_size",
    "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
]  # fmt: skip

CARBON = CarbonConfig.resolve(country="NZL", pue=1.2, env={})


def _run(tmp_path, csv_path, run_id="r1"):
    rapl = FakeRapl(tmp_path / f"powercap-{run_id}")
    now = [0.0]
    t = Tracker(
        "train", run_id=run_id, carbon=CARBON, interval_s=None, emissions_csv=csv_path,
        sensors=rapl.sensors(), monotonic=lambda: now[0],
    )  # fmt: skip
    t.start()
    with t.phase("epoch"):
        now[0] = 2.0
        rapl.add(cpu_j=3.6e6, ram_j=0.36e6)  # 1 kWh CPU, 0.1 kWh RAM
        t.sample()
        # flushed at once: the row is on disk while the run goes on
        assert _rows(csv_path)[-1]["row_kind"] == "sample"
    now[0] = 4.0
    rapl.add(cpu_j=3.6e6)
    return t.stop()


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_first_38_columns_are_codecarbons_then_greenais(tmp_path):
    path = tmp_path / "out" / "emissions.csv"
    _run(tmp_path, path)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:38] == CODECARBON_38
    assert header[38:] == [
        "cpu_method", "gpu_method", "ram_method", "phase", "carbon_intensity_g_per_kwh",
        "intensity_source", "row_kind", "run_name",
    ]  # fmt: skip


def test_rows_sample_phase_total_in_codecarbon_units(tmp_path):
    path = tmp_path / "emissions.csv"
    m = _run(tmp_path, path)
    sample, phase, total = _rows(path)
    assert [r["row_kind"] for r in (sample, phase, total)] == ["sample", "phase", "total"]
    assert sample["phase"] == "epoch" and phase["phase"] == "epoch" and total["phase"] == ""
    assert float(sample["cpu_energy"]) == pytest.approx(1.0)  # kWh
    assert float(sample["ram_energy"]) == pytest.approx(0.1)
    assert float(sample["cpu_power"]) == pytest.approx(1.8e6)  # 3.6e6 J over 2 s, W
    assert float(sample["energy_consumed"]) == pytest.approx(1.1 * 1.2)  # kWh, PUE applied
    assert float(total["cpu_energy"]) == pytest.approx(2.0)
    assert float(total["duration"]) == pytest.approx(4.0)
    assert float(total["emissions"]) == pytest.approx(2.1 * 1.2 * 0.112758)  # kg
    assert float(total["emissions"]) == pytest.approx(m.co2_kg)
    assert float(total["emissions_rate"]) == pytest.approx(m.co2_kg / 4.0)
    assert total["country_iso_code"] == "NZL" and total["country_name"] == "New Zealand"
    assert float(total["pue"]) == 1.2
    assert total["cpu_method"].startswith("measured: RAPL powercap")
    assert total["gpu_method"].startswith("none:")
    assert "Our World in Data" in total["intensity_source"]
    assert total["region"] == "" and total["water_consumed"] == ""  # unknown: left empty


def test_appends_to_a_file_with_the_same_header(tmp_path):
    path = tmp_path / "emissions.csv"
    _run(tmp_path, path, "r1")
    _run(tmp_path, path, "r2")
    rows = _rows(path)
    assert [r["run_id"] for r in rows] == ["r1"] * 3 + ["r2"] * 3
    assert path.read_text().count("timestamp,project_name") == 1


def test_a_file_with_another_header_is_refused_untouched(tmp_path):
    path = tmp_path / "emissions.csv"
    path.write_text("timestamp,emissions\n2024-01-01,0.1\n")
    with pytest.raises(UsageError, match="different header"):
        Tracker("x", carbon=CARBON, emissions_csv=path)
    assert path.read_text() == "timestamp,emissions\n2024-01-01,0.1\n"


def test_columns_constant_matches_codecarbon_when_installed():
    dataclasses = pytest.importorskip("dataclasses")
    emissions_data = pytest.importorskip("codecarbon.output_methods.emissions_data")
    names = [f.name for f in dataclasses.fields(emissions_data.EmissionsData)]
    assert list(COLUMNS[:38]) == names == CODECARBON_38


def test_a_killed_process_leaves_its_samples_on_disk(tmp_path):
    """Rows are flushed as they are taken: SIGKILL loses at most the current interval."""
    import subprocess
    import sys

    path = tmp_path / "emissions.csv"
    script = (
        "import os, signal, time, greenai\n"
        f"t = greenai.Tracker('crash', interval_s=0.05, emissions_csv={str(path)!r}).start()\n"
        "while len(t.samples) < 3: time.sleep(0.01)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {"GREENAI_POWERCAP_ROOT": str(tmp_path / "none"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=60)
    assert proc.returncode == -9
    rows = _rows(path)
    assert len(rows) >= 3 and {r["row_kind"] for r in rows} == {"sample"}
    assert all(r["run_name"] == "crash" for r in rows)
