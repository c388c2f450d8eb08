import csv
import dataclasses
import importlib.util
import subprocess
import sys
import threading
import types

import pytest
from meter_fakes import FakeRapl

from greenai.carbon import CarbonConfig
from greenai.errors import UsageError
from greenai.meter import Tracker
from greenai.meter.emissions_csv import COLUMNS, samples_path

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


def _run(tmp_path, csv_path, run_id="r1", samples=1, project_name="greenai"):
    """One run: a phase with ``samples`` samples, 1 kWh CPU + 0.1 kWh RAM each, then 1 kWh CPU."""
    rapl = FakeRapl(tmp_path / f"powercap-{run_id}-{len(list(tmp_path.glob('powercap-*')))}")
    now = [0.0]
    t = Tracker(
        "train", run_id=run_id, carbon=CARBON, interval_s=None, emissions_csv=csv_path,
        sensors=rapl.sensors(), monotonic=lambda: now[0], project_name=project_name,
    )  # fmt: skip
    t.start()
    with t.phase("epoch"):
        for _ in range(samples):
            now[0] += 2.0
            rapl.add(cpu_j=3.6e6, ram_j=0.36e6)  # 1 kWh CPU, 0.1 kWh RAM
            sample = t.sample()
            # flushed at once: the sample is in the log and the run's row is updated, mid-run
            assert _rows(samples_path(csv_path))[-1]["row_kind"] == "sample"
            (row,) = [r for r in _rows(csv_path) if r["run_id"] == run_id and _is_live(r)]
            assert float(row["duration"]) == sample.elapsed_s
            assert float(row["emissions"]) == pytest.approx(sample.co2_kg)
    now[0] += 2.0
    rapl.add(cpu_j=3.6e6)
    return t.stop()


def _is_live(row):
    return row["row_kind"] == "partial"


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_first_38_columns_are_codecarbons_then_greenais_in_both_files(tmp_path):
    path = tmp_path / "out" / "emissions.csv"
    _run(tmp_path, path)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:38] == CODECARBON_38
    assert header[38:42] == [
        "energy_consumed_low", "energy_consumed_high", "emissions_low", "emissions_high",
    ]  # fmt: skip
    assert header[42:] == [
        "cpu_method", "gpu_method", "ram_method", "phase", "carbon_intensity_g_per_kwh",
        "intensity_source", "row_kind", "run_name", "started_at",
    ]  # fmt: skip
    assert samples_path(path) == tmp_path / "out" / "emissions_samples.csv"
    assert samples_path(path).read_text().splitlines()[0].split(",") == header


def test_one_row_per_run_and_the_sample_log_in_codecarbon_units(tmp_path):
    path = tmp_path / "emissions.csv"
    m = _run(tmp_path, path)
    (total,) = _rows(path)
    sample, phase, log_total = _rows(samples_path(path))
    assert [r["row_kind"] for r in (sample, phase, log_total)] == ["sample", "phase", "total"]
    assert total == log_total
    assert total["row_kind"] == "total" and total["run_id"] == "r1" and total["started_at"]
    assert sample["phase"] == "epoch" and phase["phase"] == "epoch" and total["phase"] == ""
    assert float(sample["cpu_energy"]) == pytest.approx(1.0)  # kWh
    assert float(sample["ram_energy"]) == pytest.approx(0.1)
    assert float(sample["cpu_power"]) == pytest.approx(1.8e6)  # 3.6e6 J over 2 s, W
    assert float(sample["energy_consumed"]) == pytest.approx(1.1 * 1.2)  # kWh, PUE applied
    assert float(phase["duration"]) == pytest.approx(2.0)
    assert float(total["cpu_energy"]) == pytest.approx(2.0)
    assert float(total["duration"]) == pytest.approx(4.0)
    assert float(total["energy_consumed"]) == pytest.approx(m.energy_kwh)
    assert float(total["emissions"]) == pytest.approx(2.1 * 1.2 * 0.112758)  # kg
    assert float(total["emissions"]) == pytest.approx(m.co2_kg)
    assert float(total["emissions_rate"]) == pytest.approx(m.co2_kg / 4.0)
    assert total["country_iso_code"] == "NZL" and total["country_name"] == "New Zealand"
    assert float(total["pue"]) == 1.2
    assert total["cpu_method"].startswith("measured: RAPL powercap")
    assert total["gpu_method"].startswith("none:")
    assert "Our World in Data" in total["intensity_source"]
    assert total["region"] == "" and total["water_consumed"] == ""  # unknown: left empty


def test_runs_add_rows_and_a_resumed_run_id_gets_its_own_row(tmp_path):
    path = tmp_path / "emissions.csv"
    _run(tmp_path, path, "r1")
    _run(tmp_path, path, "r2")
    _run(tmp_path, path, "r1")  # the same run continued by another process: its own energy
    rows = _rows(path)
    assert [r["run_id"] for r in rows] == ["r1", "r2", "r1"]
    assert {r["row_kind"] for r in rows} == {"total"}
    assert len({r["started_at"] for r in rows}) == 3
    assert [r["run_id"] for r in _rows(samples_path(path))] == ["r1"] * 3 + ["r2"] * 3 + ["r1"] * 3
    assert path.read_text().count("timestamp,project_name") == 1


def _codecarbon_data(monkeypatch):
    """CodeCarbon's dashboard data code (codecarbon.viz.data). It imports dash only for the
    DataTable it wraps the rows in; where dash is not installed, a plain holder stands in for it."""
    pytest.importorskip("codecarbon")
    if importlib.util.find_spec("dash") is None:
        dash = types.ModuleType("dash")
        dash_table = types.ModuleType("dash.dash_table")

        class DataTable:
            def __init__(self, data, columns):
                self.data, self.columns = data, columns

        dash_table.DataTable = DataTable
        dash.dash_table = dash_table
        monkeypatch.setitem(sys.modules, "dash", dash)
        monkeypatch.setitem(sys.modules, "dash.dash_table", dash_table)
        monkeypatch.delitem(sys.modules, "codecarbon.viz.data", raising=False)
    from codecarbon.viz.data import Data

    return Data


def test_codecarbons_own_reader_gets_the_true_totals(tmp_path, monkeypatch):
    """CodeCarbon's dashboard (carbonboard: pd.read_csv, then Data.get_project_data and
    get_project_summary) sums duration, emissions and energy_consumed over a project's rows."""
    import pandas as pd

    data = _codecarbon_data(monkeypatch)
    path = tmp_path / "emissions.csv"
    runs = [
        _run(tmp_path, path, "a", samples=3, project_name="proj"),
        _run(tmp_path, path, "b", samples=5, project_name="proj"),
        _run(tmp_path, path, "a", samples=2, project_name="proj"),  # resumed in a new process
        _run(tmp_path, path, "c", samples=4, project_name="other"),
    ]
    df = pd.read_csv(path)  # as codecarbon.viz.carbonboard.viz reads the file
    records = data.get_project_data(df, "proj").data
    summary = data.get_project_summary(records)
    mine = runs[:3]
    assert len(records) == 3
    assert summary["total"]["emissions"] == pytest.approx(sum(m.co2_kg for m in mine))
    assert summary["total"]["energy_consumed"] == pytest.approx(sum(m.energy_kwh for m in mine))
    assert summary["total"]["duration"] == pytest.approx(sum(m.duration_s for m in mine))
    assert summary["country_iso_code"] == "NZL"
    # the sample log is not a file to sum: the same reader over it would count a run many times
    log = pd.read_csv(samples_path(path))
    over = data.get_project_summary(data.get_project_data(log, "proj").data)
    assert over["total"]["emissions"] > 2 * summary["total"]["emissions"]


def test_concurrent_writers_keep_every_run_row(tmp_path):
    """Runs sharing one emissions.csv (threads here; processes take the same file lock) never
    drop each other's rows when they rewrite it."""
    path = tmp_path / "emissions.csv"
    trackers = []
    for i in range(4):
        rapl = FakeRapl(tmp_path / f"pc{i}")
        trackers.append(
            (Tracker(f"t{i}", run_id=f"w{i}", carbon=CARBON, interval_s=None,
                     emissions_csv=path, sensors=rapl.sensors()), rapl)
        )  # fmt: skip
    for t, _ in trackers:
        t.start()
    errors = []

    def work(t, rapl):
        try:
            for _ in range(25):
                rapl.add(cpu_j=36.0)
                t.sample()
            t.stop()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=pair) for pair in trackers]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    rows = _rows(path)
    assert sorted(r["run_id"] for r in rows) == ["w0", "w1", "w2", "w3"]
    assert {r["row_kind"] for r in rows} == {"total"}
    assert all(float(r["cpu_energy"]) == pytest.approx(25 * 36.0 / 3.6e6) for r in rows)
    log = _rows(samples_path(path))
    assert len([r for r in log if r["row_kind"] == "sample"]) == 4 * 25


def test_a_file_with_another_header_is_refused_untouched(tmp_path):
    path = tmp_path / "emissions.csv"
    path.write_text("timestamp,emissions\n2024-01-01,0.1\n")
    with pytest.raises(UsageError, match="different header"):
        Tracker("x", carbon=CARBON, emissions_csv=path)
    assert path.read_text() == "timestamp,emissions\n2024-01-01,0.1\n"
    assert not samples_path(path).exists()


def test_a_foreign_sample_log_is_refused_untouched(tmp_path):
    path = tmp_path / "emissions.csv"
    samples_path(path).write_text("a,b\n1,2\n")
    with pytest.raises(UsageError, match=r"emissions_samples\.csv exists with a different header"):
        Tracker("x", carbon=CARBON, emissions_csv=path)
    assert not path.exists() and samples_path(path).read_text() == "a,b\n1,2\n"


def test_an_older_greenai_file_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "emissions.csv"
    old = ",".join(COLUMNS[:38] + COLUMNS[42:-1]) + "\n"  # no band columns, no started_at
    path.write_text(old)
    with pytest.raises(UsageError, match="older greenai"):
        Tracker("x", carbon=CARBON, emissions_csv=path)
    assert path.read_text() == old


def test_columns_constant_matches_codecarbon_when_installed():
    dataclasses = pytest.importorskip("dataclasses")
    emissions_data = pytest.importorskip("codecarbon.output_methods.emissions_data")
    names = [f.name for f in dataclasses.fields(emissions_data.EmissionsData)]
    assert list(COLUMNS[:38]) == names == CODECARBON_38


def test_a_killed_process_leaves_its_samples_and_its_run_row_on_disk(tmp_path):
    """Samples are flushed and the run's row replaced as they are taken: SIGKILL loses at most the
    current interval, and emissions.csv still holds one whole row for the run."""
    path = tmp_path / "emissions.csv"
    script = (
        "import os, signal, time, greenai\n"
        f"t = greenai.Tracker('crash', interval_s=0.05, emissions_csv={str(path)!r}).start()\n"
        "while len(t.samples) < 4: time.sleep(0.01)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {"GREENAI_POWERCAP_ROOT": str(tmp_path / "none"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=60)
    assert proc.returncode == -9
    log = _rows(samples_path(path))
    assert len(log) >= 3 and {r["row_kind"] for r in log} == {"sample"}
    assert all(r["run_name"] == "crash" for r in log)
    (row,) = _rows(path)
    assert row["row_kind"] == "partial" and row["run_name"] == "crash"
    # the row holds the last sample it saw: the last in the log, or (killed between the two
    # writes) the one before it
    assert row["duration"] in {log[-1]["duration"], log[-2]["duration"]}
    last = next(r for r in log if r["duration"] == row["duration"])
    assert row == {**last, "row_kind": "partial"}


def test_a_restated_total_replaces_the_run_row_and_the_log_keeps_the_measured_one(tmp_path, capsys):
    """A distributed job's rank restates its share as the job's total (``Tracker.restate``):
    emissions.csv's row holds the job's figures, with no sink warning."""
    csv_path = tmp_path / "emissions.csv"
    rapl = FakeRapl(tmp_path / "powercap")
    now = [0.0]
    t = Tracker("train", run_id="r1", carbon=CARBON, interval_s=None, emissions_csv=csv_path,
                sensors=rapl.sensors(), monotonic=lambda: now[0])  # fmt: skip
    t.start()
    now[0] += 2.0
    rapl.add(cpu_j=3.6e6)  # 1 kWh on this rank
    share = t.stop()
    job = dataclasses.replace(share, energy_j={"cpu": 2 * 3.6e6}, co2_kg=2 * share.co2_kg)
    t.restate(job)
    assert "failed" not in capsys.readouterr().err
    (row,) = [r for r in _rows(csv_path) if r["run_id"] == "r1"]
    assert row["row_kind"] == "total" and float(row["cpu_energy"]) == pytest.approx(2.0)
    assert float(row["emissions"]) == pytest.approx(job.co2_kg)
    (logged,) = [r for r in _rows(samples_path(csv_path)) if r["row_kind"] == "total"]
    assert float(logged["cpu_energy"]) == pytest.approx(1.0)  # what this process measured
