"""``greenai baseline`` end to end: artifacts, the store row, bad input, crash and resume."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from greenai.cli.main import main
from greenai.meter.emissions_csv import read_rows, samples_path
from greenai.ml.training import checkpoint
from greenai.results import resultfile as results
from greenai.storage import open_store

SMALL = ["--dataset", "synthetic", "--limit-train", "256", "--limit-test", "128", "--device", "cpu"]


def _greenai(*args: str, env_extra: dict | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    env.pop("GREENAI_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "greenai", *args], capture_output=True, text=True, env=env, **kw
    )


def test_synthetic_run_writes_every_artifact_and_the_store_row(tmp_path):
    out = tmp_path / "out"
    proc = _greenai("baseline", "--recipe", "seed", *SMALL, "--epochs", "1", "--batch_size", "64", "--out", str(out),
                    "--no-progress", "--run-id", "e2e-1", "--country", "NZL", "--inference-images", "256")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "means nothing" in proc.stdout

    result = results.load_result(out / "results" / "synthetic_baseline_e2e-1.json")
    assert result["run_id"] == "e2e-1" and result["variant"] == "baseline"
    assert (
        result["model"] == "seed_cnn"
        and result["device"] == "cpu"
        and result["precision"] == "fp32"
    )
    assert (
        result["hyperparameters"]["batch_size"] == 64 and result["hyperparameters"]["epochs"] == 1
    )
    m = result["metrics"]
    assert 0 <= m["test_accuracy_pct"] <= 100 and m["params"] == 620_362
    weights = out / result["artifacts"]["weights"]
    assert m["file_size_bytes"] == weights.stat().st_size
    assert m["file_size_mib"] == pytest.approx(weights.stat().st_size / 2**20)
    assert m["checkpoint_size_bytes"] == (out / "models" / "e2e-1.pt").stat().st_size
    step = result["energy"]["step"]
    assert step["energy_kwh"] > 0 and step["co2_kg"] > 0 and step["duration_s"] > 0
    assert step["energy_kwh"] == pytest.approx(sum(p["energy_kwh"] for p in step["pieces"]))
    assert step["co2_kg"] == pytest.approx(
        step["energy_kwh"] * result["carbon"]["intensity_g_per_kwh"] / 1000
    )
    paths = [p["path"] for p in step["phases"]]
    assert {"data", "train", "train/epoch_1", "eval"} <= set(paths)
    assert set(step["methods"]) == {"cpu", "gpu", "ram"}
    assert all(
        label.split(":")[0] in ("measured", "estimated", "none")
        for label in step["methods"].values()
    )
    assert result["carbon"]["country_iso3"] == "NZL" and result["carbon"]["intensity_source"]
    assert result["energy"]["lifecycle"]["energy_kwh"] == step["energy_kwh"]
    assert result["efficiency"]["acc_per_kg_co2_step"] == pytest.approx(
        m["test_accuracy_pct"] / step["co2_kg"]
    )
    assert result["software"]["torch"] and "git_commit" in result["software"]
    assert result["training"]["data_note"] and "means nothing" in result["training"]["data_note"]
    inf = result["inference"]
    assert inf is None or inf["energy_j_per_1000_images"] > 0

    with open(out / "logs" / "training_log_e2e-1.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["epoch"] == "1" and rows[0]["eval_split"] == "test"
    assert float(rows[0]["energy_kwh"]) > 0 and float(rows[0]["lr"]) == 0.001
    emissions_csv = out / "logs" / "emissions.csv"
    (run_row,) = [r for r in read_rows(emissions_csv) if r["run_id"] == "e2e-1"]
    assert run_row["row_kind"] == "total"  # one row per run, as CodeCarbon's tools expect
    sample_log = read_rows(samples_path(emissions_csv))

    model, ck = checkpoint.model_from_checkpoint(out / "models" / "e2e-1.pt")
    assert ck["epoch"] == 1 and ck["config"]["limit_train"] == 256
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)

    store = open_store(None, default_dir=out)
    run = store.get_run("e2e-1")
    assert run.status == "done" and run.variant == "baseline" and run.model == "seed_cnn"
    assert run.accuracy == pytest.approx(m["test_accuracy_pct"])
    assert run.energy_kwh == pytest.approx(step["energy_kwh"])
    assert run.result["run_id"] == "e2e-1"
    assert [e.epoch for e in store.epochs("e2e-1")] == [1]
    csv_samples = [r for r in sample_log if r["run_id"] == "e2e-1" and r["row_kind"] == "sample"]
    assert len(store.samples("e2e-1")) == len(csv_samples)  # one per second of the run, if any
    assert float(run_row["energy_consumed"]) == pytest.approx(run.measurement["energy_kwh"])
    assert float(run_row["emissions"]) == pytest.approx(run.measurement["co2_kg"])
    assert {"data", "train", "eval"} <= {p.path for p in store.phases("e2e-1")}
    store.close()


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return int(exc.code)


def _corrupt_cifar(tmp_path: Path) -> Path:
    folder = tmp_path / "corrupt"
    folder.mkdir()
    np.savez(
        folder / "cifar10_train.npz", x=np.zeros((2, 32, 32, 3), np.uint8), y=np.zeros(2, np.int64)
    )
    (folder / "cifar10_test.npz").write_bytes((folder / "cifar10_train.npz").read_bytes()[:100])
    return folder


BAD = {
    "zero-epochs": (["--epochs", "0"], "positive integer"),
    "negative-batch": (["--batch-size", "-1"], "positive integer"),
    "zero-lr": (["--lr", "0"], "number > 0"),
    "nan-lr": (["--lr", "nan"], "number > 0"),
    "unknown-model": (["--model", "vgg99"], "unknown model 'vgg99'"),
    "unknown-dataset": (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    "gpu-without-cuda": (["--device", "gpu"], "no CUDA GPU"),
    "missing-data": (["--dataset", "cifar10", "--data-dir", "{tmp}/nowhere"], "CIFAR-10 not found"),
    "corrupt-data": (["--dataset", "cifar10", "--data-dir", "{corrupt}"], "cifar10_test.npz"),
    "resume-unknown": (["--resume", "nosuchrun"], "no such checkpoint"),
    "target-without-holdout": (["--target-accuracy", "50"], "held-out split"),
    "bad-holdout": (["--holdout-fraction", "1.5"], "fraction"),
    "unknown-country": (["--country", "XXX"], "XXX"),
    "bad-pue": (["--pue", "0.5"], "PUE"),
    "bad-run-id": (["--run-id", "../escape"], "bad run id"),
    "bad-width": (["--width", "0"], "number > 0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    if "gpu" in case and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    args, message = BAD[case]
    args = [
        a.format(tmp=tmp_path, corrupt=_corrupt_cifar(tmp_path) if "{corrupt}" in a else "")
        for a in args
    ]
    out = tmp_path / "out"
    base = [
        "baseline",
        "--dataset",
        "synthetic",
        "--epochs",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    code = _run(base + args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert not out.exists()


def test_bad_input_exits_2_from_a_real_process(tmp_path):
    proc = _greenai("baseline", "--epochs", "0", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()


def _wait_for_a_sample_after_the_checkpoint(proc, ckpt_path: Path, emissions_csv: Path) -> None:
    """Until the sample log (written after the store) holds a sample taken after the latest
    checkpoint's snapshot, so that the kill loses some energy the checkpoint does not hold."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        piece = checkpoint.load_checkpoint(ckpt_path)["energy_pieces"][-1]
        durations = []
        for r in read_rows(samples_path(emissions_csv)):
            with contextlib.suppress(TypeError, ValueError):  # a row being written
                durations.append(float(r["duration"]))
        if durations and max(durations) > piece["duration_s"]:
            return
        time.sleep(0.05)


def test_sigkill_mid_epoch_then_resume_adds_the_pieces(tmp_path, capsys):
    out = tmp_path / "out"
    ckpt_path = out / "models" / "crash-1.pt"
    # epochs long enough (~1 s) that the kill lands before the run ends, whatever the recipe
    args = ["baseline", "--dataset", "synthetic", "--device", "cpu", "--epochs", "3",
            "--limit-train", "768", "--limit-test", "64", "--width", "0.5",
            "--batch-size", "32", "--no-progress", "--out", str(out), "--run-id", "crash-1",
            "--inference-images", "0"]  # fmt: skip
    fast = {"GREENAI_INTERVAL": "0.2"}  # several samples before the kill
    env = {**os.environ, "OMP_NUM_THREADS": "1", **fast}
    env.pop("GREENAI_STORE", None)
    proc = subprocess.Popen([sys.executable, "-m", "greenai", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)  # fmt: skip
    deadline = time.monotonic() + 240
    while not ckpt_path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint after 240 s"
        time.sleep(0.02)
    time.sleep(0.3)  # into epoch 2
    _wait_for_a_sample_after_the_checkpoint(proc, ckpt_path, out / "logs" / "emissions.csv")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    killed = checkpoint.load_checkpoint(ckpt_path)  # whole, not torn
    assert 1 <= killed["epoch"] < 3, "the run finished before it was killed"
    killed_pieces = killed["energy_pieces"]
    assert not list((out / "results").glob("*.json")) if (out / "results").exists() else True

    store = open_store(None, default_dir=out)  # marks the dead run as interrupted
    assert store.get_run("crash-1").status == "interrupted"
    stored_before = store.samples("crash-1")
    store.close()

    # the energy the killed process spent after its last checkpoint, from its latest stored sample
    last_piece = killed_pieces[-1]
    own = [
        s for s in stored_before
        if abs(s.timestamp - s.elapsed_s - last_piece["started_at"]) < 0.01
    ]  # fmt: skip
    latest = max(own, key=lambda s: s.elapsed_s)
    lost_j = {c: latest.energy_j[c] - last_piece["energy_j"][c] for c in ("cpu", "gpu", "ram")}
    assert all(j >= 0 for j in lost_j.values()) and sum(lost_j.values()) > 0

    # Every sample taken before the kill is on disk in the sample log AND in the store. Each
    # sample goes to the store first, then to the log: the kill may fall between the two, so the
    # store may hold one more (the one in flight), never fewer.
    emissions_csv = out / "logs" / "emissions.csv"
    log_text_before = samples_path(emissions_csv).read_text()
    logged_before = [
        r
        for r in read_rows(samples_path(emissions_csv))
        if r["run_id"] == "crash-1" and r["row_kind"] == "sample"
    ]
    assert len(logged_before) >= 1
    assert len(stored_before) - len(logged_before) in (0, 1)
    for row, sample in zip(logged_before, stored_before[: len(logged_before)], strict=True):
        assert float(row["duration"]) == sample.elapsed_s
        assert row["phase"] == (sample.phase or "")
        for c in ("cpu", "gpu", "ram"):
            assert float(row[f"{c}_energy"]) * 3.6e6 == pytest.approx(sample.energy_j[c])
    # emissions.csv: the killed process's one row, holding its last logged sample's figures
    (killed_row,) = [r for r in read_rows(emissions_csv) if r["run_id"] == "crash-1"]
    assert killed_row["row_kind"] == "partial"
    assert killed_row["duration"] in {r["duration"] for r in logged_before[-2:]}

    proc2 = _greenai(
        "baseline",
        "--resume",
        "crash-1",
        "--out",
        str(out),
        "--no-progress",
        "--inference-images",
        "0",
        env_extra=fast,
    )
    assert proc2.returncode == 0, proc2.stderr
    result = results.load_result(out / "results" / "synthetic_baseline_crash-1.json")
    step = result["energy"]["step"]
    pieces = step["pieces"]
    n = len(killed_pieces)
    lost_kwh = sum(lost_j.values()) / 3.6e6 * result["carbon"]["pue"]
    assert len(pieces) == n + 3  # + the lost piece, the resumed data load and training
    assert [p["energy_kwh"] for p in pieces[:n]] == [p["energy_kwh"] for p in killed_pieces]
    assert pieces[n]["energy_kwh"] == pytest.approx(lost_kwh) and lost_kwh > 0
    assert pieces[n]["duration_s"] == pytest.approx(latest.elapsed_s - last_piece["duration_s"])
    final_pieces = checkpoint.load_checkpoint(ckpt_path)["energy_pieces"]  # the last epoch's
    assert final_pieces[:n] == killed_pieces
    assert final_pieces[n]["energy_j"] == pytest.approx(lost_j)  # per component
    assert "started_at" not in final_pieces[n]  # never mistaken for a process's own piece
    (lost_phase,) = [p for p in step["phases"] if p["path"] == results.LOST_PHASE]
    assert lost_phase["energy_kwh"] == pytest.approx(lost_kwh)
    resumed_kwh = sum(p["energy_kwh"] for p in pieces[n + 1 :])  # the resumed process's own
    assert step["energy_kwh"] == pytest.approx(
        sum(p["energy_kwh"] for p in killed_pieces) + lost_kwh + resumed_kwh
    )
    assert step["energy_kwh"] == pytest.approx(sum(p["energy_kwh"] for p in pieces))
    assert step["co2_kg"] == pytest.approx(sum(p["co2_kg"] for p in pieces))
    assert step["energy_kwh"] > sum(p["energy_kwh"] for p in killed_pieces)
    assert result["training"]["epochs_run"] == 3

    with open(out / "logs" / "training_log_crash-1.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    energies = [float(r["energy_kwh"]) for r in rows]
    assert energies == sorted(energies)

    store = open_store(None, default_dir=out)
    run = store.get_run("crash-1")
    assert run.status == "done"
    assert run.energy_kwh == pytest.approx(step["energy_kwh"])
    assert [e.epoch for e in store.epochs("crash-1")] == [1, 2, 3]
    # nothing written before the kill was lost by the resume: the store keeps every sample, the
    # log was only appended to, and the killed process keeps its row beside the resumed one's
    stored_after = {(s.timestamp, s.elapsed_s) for s in store.samples("crash-1")}
    assert {(s.timestamp, s.elapsed_s) for s in stored_before} <= stored_after
    assert len(stored_after) > len(stored_before)  # and the resumed process sampled too
    assert samples_path(emissions_csv).read_text().startswith(log_text_before)
    rows = [r for r in read_rows(emissions_csv) if r["run_id"] == "crash-1"]
    assert rows[0] == killed_row and [r["row_kind"] for r in rows] == ["partial", "total"]
    assert float(rows[1]["energy_consumed"]) == pytest.approx(run.measurement["energy_kwh"])
    store.close()

    assert _run(["baseline", "--resume", "crash-1", "--out", str(out)]) == 2
    assert "already finished" in capsys.readouterr().err
    json.loads((out / "results" / "synthetic_baseline_crash-1.json").read_text())
