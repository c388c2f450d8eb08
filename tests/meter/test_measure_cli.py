"""``greenai measure`` end to end, through a real subprocess."""

import os
import signal
import subprocess
import sys

import pytest

from greenai.cli.main import main

GREENAI = [sys.executable, "-m", "greenai", "measure"]


def _env(tmp_path):
    env = dict(os.environ)
    env["GREENAI_POWERCAP_ROOT"] = str(tmp_path / "no-powercap")
    for key in ("GREENAI_COUNTRY", "GREENAI_PUE", "GREENAI_INTENSITY", "GREENAI_STORE"):
        env.pop(key, None)
    return env


def _measure(tmp_path, *args, **kw):
    return subprocess.run(
        [*GREENAI, *args], capture_output=True, text=True, env=_env(tmp_path), timeout=60, **kw
    )


def test_exit_code_is_forwarded_and_summary_printed(tmp_path):
    out = tmp_path / "out"
    proc = _measure(tmp_path, "--out", str(out), "--no-store", "--", "sh", "-c", "echo hi; exit 3")
    assert proc.returncode == 3
    assert proc.stdout == "hi\n"  # the command's stdout is left alone
    err = proc.stderr
    assert "exited with 3" in err
    for part in ("cpu ", "gpu ", "ram ", "kWh", " J)", "CO2", "gCO2e/kWh", "world average"):
        assert part in err
    assert "estimated: CPU load" in err and "0.375 W/GB" in err
    rows = (out / "emissions.csv").read_text().splitlines()
    assert rows[0].startswith("timestamp,project_name,run_id") and rows[-1].count(",total,") == 1


def test_run_is_recorded_in_the_default_store(tmp_path):
    out = tmp_path / "out"
    proc = _measure(tmp_path, "--out", str(out), "--country", "NZ", "--", "sh", "-c", "exit 0")
    assert proc.returncode == 0, proc.stderr
    assert "New Zealand" in proc.stderr
    from greenai.storage import open_store

    store = open_store(None, default_dir=out)
    runs = store.list_runs()
    assert len(runs) == 1 and runs[0].status == "done" and runs[0].name == "sh"
    store.close()


def test_no_country_states_the_world_average_in_the_record(tmp_path):
    """Not only on stderr: the CSV row and the stored run both say the figure is the world average."""
    import csv

    from greenai.meter.emissions_csv import samples_path
    from greenai.storage import open_store

    out = tmp_path / "out"
    proc = _measure(tmp_path, "--out", str(out), "--", "sh", "-c", "exit 0")
    assert proc.returncode == 0, proc.stderr
    with open(out / "emissions.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["row_kind"] == "total"
    assert float(row["carbon_intensity_g_per_kwh"]) == 475.0
    assert "world average 475 gCO2e/kWh" in row["intensity_source"]
    assert "no country configured" in row["intensity_source"]
    assert row["country_iso_code"] == "" and row["country_name"] == ""  # none invented
    assert float(row["emissions"]) == pytest.approx(float(row["energy_consumed"]) * 0.475)
    with open(samples_path(out / "emissions.csv"), newline="") as handle:
        assert {r["intensity_source"] for r in csv.DictReader(handle)} == {row["intensity_source"]}

    store = open_store(None, default_dir=out)
    (run,) = store.list_runs()
    intensity = run.measurement["intensity"]
    assert intensity["g_per_kwh"] == 475.0 and intensity["country_iso3"] is None
    assert intensity["source"] == row["intensity_source"]
    assert run.config["intensity_g_per_kwh"] == 475.0
    assert run.co2_kg == pytest.approx(run.energy_kwh * 0.475)
    store.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_are_forwarded_to_the_command(tmp_path, signum):
    script = (
        "import signal, sys, time\n"
        f"signal.signal({int(signum)}, lambda *a: sys.exit(7))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [*GREENAI, "--out", str(tmp_path / "o"), "--no-store", "--", sys.executable, "-c", script],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
    )  # fmt: skip
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 7, err
    assert "exited with 7" in err


def test_killed_command_exits_128_plus_signal(tmp_path):
    proc = _measure(
        tmp_path, "--out", str(tmp_path / "o"), "--no-store", "--", "sh", "-c", "kill -9 $$"
    )
    assert proc.returncode == 137


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no command to measure"),
        (["--"], "no command to measure"),
        (["--country", "ZZZ", "--", "true"], "unknown country code"),
        (["--pue", "-1", "--", "true"], "PUE"),
        (["--intensity", "-3", "--", "true"], "intensity"),
        (["--interval", "-1", "--", "true"], "interval"),
        (["--interval", "0", "--", "true"], "interval"),
        (["--store", "bogus://x", "--", "true"], "store"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_nothing_written(
    tmp_path, monkeypatch, capsys, args, message
):
    for key, value in _env(tmp_path).items():
        if key.startswith("GREENAI"):
            monkeypatch.setenv(key, value)
    for key in ("GREENAI_COUNTRY", "GREENAI_PUE", "GREENAI_INTENSITY", "GREENAI_STORE"):
        monkeypatch.delenv(key, raising=False)
    out = tmp_path / "out"
    assert main(["measure", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("greenai: error: ")
    assert not out.exists()


def test_unwritable_out_exits_2_and_writes_nothing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = _measure(tmp_path, "--out", str(blocker / "sub"), "--", "true")
    assert proc.returncode == 2 and "--out" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    proc = _measure(tmp_path, "--out", str(blocker), "--", "true")
    assert proc.returncode == 2 and "not a folder" in proc.stderr


def test_missing_command_exits_127(tmp_path):
    proc = _measure(tmp_path, "--out", str(tmp_path / "o"), "--", "no-such-command-xyz")
    assert proc.returncode == 127 and "command not found" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_grandchildren_cpu_time_is_counted(tmp_path):
    """The command's shell starts a busy grandchild; its CPU seconds must reach the record."""
    import csv

    from greenai.sensors.cpu_model import cpu_power, read_cpuinfo

    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
    out = tmp_path / "out"
    proc = _measure(
        tmp_path, "--out", str(out), "--no-store", "--interval", "0.1", "--",
        "sh", "-c", f'{sys.executable} -c "{busy}" & wait',
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with open(out / "emissions.csv", newline="") as handle:
        total = next(r for r in csv.DictReader(handle) if r["row_kind"] == "total")
    w_per_cpu = cpu_power(read_cpuinfo()).w_per_cpu
    cpu_s = float(total["cpu_energy"]) * 3.6e6 / w_per_cpu
    assert cpu_s >= 0.5
