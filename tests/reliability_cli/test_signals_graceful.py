"""SIGTERM and SIGHUP stop a long command as Ctrl-C does; a killed ``measure`` takes its command
with it; Ctrl-C stops an INT8 quantize step (issue #19). Real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from proc_helpers import SMALL, start, status, store_rows, wait_running

from greenai.meter.emissions_csv import read_rows

pytestmark = pytest.mark.slow


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        _out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"still running 120 s after the signal: {err[-2000:]}") from None
    return proc.returncode, err


def test_sigterm_and_sighup_end_a_baseline_like_ctrl_c(tmp_path: Path):
    long = ["--epochs", "200", "--limit-train", "512", "--limit-test", "64"]
    procs = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):  # both at once: the machine waits for one start
        out = tmp_path / sig.name
        out.mkdir()
        procs[sig] = (out, start(["baseline", *SMALL, *long, "--out", str(out)], cwd=out))
    running = {sig: wait_running(proc, out / "greenai.db", "baseline") for sig, (out, proc) in
               procs.items()}  # fmt: skip
    for sig, (_out, proc) in procs.items():
        proc.send_signal(sig)
    for sig, (out, proc) in procs.items():
        code, err = _finish(proc)
        assert code == 128 + sig, err
        assert "Traceback" not in err, err
        assert err.strip().splitlines()[-1] == f"greenai: interrupted ({sig.name})", err
        run_id = running[sig]
        assert status(out / "greenai.db", run_id) == "interrupted"
        rows = [r for r in read_rows(out / "logs" / "emissions_samples.csv")
                if r["run_id"] == run_id]  # fmt: skip
        assert rows[-1]["row_kind"] == "total", "the final total row was not written"
        assert float(rows[-1]["energy_consumed"]) > 0


def test_measure_killed_by_sigkill_takes_its_command_with_it(tmp_path: Path):
    pid_file = tmp_path / "child.pid"
    script = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
    )
    proc = start(["measure", "--no-store", "--out", str(tmp_path / "out"), "--", sys.executable,
                  "-c", script], cwd=tmp_path)  # fmt: skip
    for _ in range(600):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    child = int(pid_file.read_text())
    proc.kill()  # SIGKILL: greenai cannot forward anything
    proc.communicate()
    for _ in range(300):  # the kernel's parent-death signal; reaped by init meanwhile
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break  # killed, waiting for init to reap it
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the measured command outlived greenai measure")


def test_ctrl_c_during_an_int8_quantize_step_is_honoured(tmp_path: Path):
    parent = ["baseline", *SMALL, "--epochs", "1", "--limit-train", "64", "--limit-test", "32",
              "--inference-images", "0", "--run-id", "int8-parent", "--out", str(tmp_path)]  # fmt: skip
    made = start(parent, cwd=tmp_path)
    code, err = _finish(made)
    assert code == 0, err
    proc = start(["quantize", "--from", "int8-parent", "--out", str(tmp_path), "--no-progress"],
                 cwd=tmp_path)  # fmt: skip
    run_id = wait_running(proc, tmp_path / "greenai.db", "quantized_ptq")
    proc.send_signal(signal.SIGINT)
    code, err = _finish(proc)
    assert code == 130, err
    assert "Traceback" not in err, err
    assert status(tmp_path / "greenai.db", run_id) == "interrupted"


def test_sigterm_stops_the_dashboard_with_exit_143(tmp_path: Path):
    from greenai.storage import open_store

    open_store(None, default_dir=tmp_path).close()  # an empty store to serve
    proc = start(["dashboard", "--store", str(tmp_path / "greenai.db"), "--port", "0"], tmp_path)
    assert "greenai dashboard: http" in proc.stderr.readline()  # serving
    proc.send_signal(signal.SIGTERM)  # its server swallows the interrupt; the exit code does not
    code, err = _finish(proc)
    assert code == 128 + signal.SIGTERM, err
    assert "greenai: interrupted (SIGTERM)" in err and "Traceback" not in err


def test_sigterm_to_measure_reaches_the_command_and_marks_the_run(tmp_path: Path):
    ready = tmp_path / "ready"
    script = f"import time; open({str(ready)!r}, 'w').close(); time.sleep(300)"
    proc = start(["measure", "--out", str(tmp_path), "--", sys.executable, "-c", script], tmp_path)
    for _ in range(600):
        if ready.exists():
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc)
    assert code == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert store_rows(tmp_path / "greenai.db", "SELECT status FROM runs") == [("interrupted",)]
