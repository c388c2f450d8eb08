"""Bad input across every command (issue #9): one table, one assertion pattern.

Each case builds its input under a temporary folder, runs the command (in-process through
``greenai.cli.main.main``, a few through a real ``python -m greenai`` process) and asserts: a
non-zero exit (2 for usage errors), exactly one line on stderr naming the problem, no traceback, and
nothing half-written: the temporary tree holds the same files with the same bytes as before, and the
shared parent run's store holds the same rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from greenai.cli.main import main

sys.path.insert(0, str(Path(__file__).parent / "experiments"))
from official_format import tiny_arrays, write_batches_dir, write_tarball

PARENT = "badinput-parent"
UNREACHABLE = "postgresql://127.0.0.1:1/x"
SMALL = ["--dataset", "synthetic", "--limit-train", "64", "--limit-test", "32", "--no-progress"]


# --- inputs ------------------------------------------------------------------------------------


class _Evil:
    """A pickle that runs ``touch <marker>`` when loaded by a trusting unpickler."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _marker(tmp: Path) -> Path:
    return tmp / "PWNED"


def _batches(tmp: Path) -> Path:
    """An official-format ``cifar-10-batches-py`` folder under ``tmp/data``; returns ``tmp/data``."""
    write_batches_dir(tmp / "data", tiny_arrays())
    return tmp / "data"


def truncated_npz(tmp: Path) -> Path:
    folder = tmp / "data"
    folder.mkdir()
    x, y = np.zeros((2, 32, 32, 3), np.uint8), np.zeros(2, np.int64)
    np.savez(folder / "cifar10_train.npz", x=x, y=y)
    (folder / "cifar10_test.npz").write_bytes((folder / "cifar10_train.npz").read_bytes()[:100])
    return folder


def corrupt_npz(tmp: Path) -> Path:
    folder = tmp / "data"
    folder.mkdir()
    (folder / "cifar10_train.npz").write_bytes(b"PK\x03\x04 this is not a zip at all" * 10)
    (folder / "cifar10_test.npz").write_bytes(b"garbage")
    return folder


def truncated_batch(tmp: Path) -> Path:
    data = _batches(tmp)
    batch = data / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(batch.read_bytes()[:200])
    return data


def truncated_tarball(tmp: Path) -> Path:
    batches = write_batches_dir(tmp / "src", tiny_arrays())
    tarball = write_tarball(tmp / "data" / "cifar-10-python.tar.gz", batches)
    tarball.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    shutil.rmtree(tmp / "src")
    return tarball.parent


def evil_batch(tmp: Path) -> Path:
    data = _batches(tmp)
    blob = pickle.dumps({"data": _Evil(_marker(tmp)), "labels": []}, protocol=2)
    (data / "cifar-10-batches-py" / "data_batch_1").write_bytes(blob)
    return data


def escaping_tarball(tmp: Path) -> Path:
    batches = write_batches_dir(tmp / "src", tiny_arrays())
    escape = tarfile.TarInfo("cifar-10-batches-py/../../escaped.txt")
    escape.size = 1
    tarball = write_tarball(tmp / "data" / "cifar-10-python.tar.gz", batches, extra=[escape])
    shutil.rmtree(tmp / "src")
    return tarball.parent


def corrupt_result(tmp: Path) -> Path:
    (tmp / "results").mkdir()
    (tmp / "results" / "synthetic_baseline_torn.json").write_text('{"schema_version": 1, "run')
    return tmp / "results"


def not_a_checkpoint(tmp: Path) -> Path:
    path = tmp / "model.pt"
    path.write_bytes(b"these are not the weights you are looking for\n" * 20)
    return path


def evil_checkpoint(tmp: Path) -> Path:
    path = tmp / "evil.pt"
    state = {"format": "greenai-checkpoint", "version": 1, "epoch": 1, "config": {},
             "model_state": {}, "payload": _Evil(_marker(tmp))}  # fmt: skip
    torch.save(state, path)
    return path


def evil_int8(tmp: Path) -> Path:
    """A file with greenai's INT8 header whose program is a code-running pickle."""
    import zlib

    from greenai.ml.compression.int8_file import MAGIC

    path = tmp / "evil.int8"
    head = json.dumps({"model": "seed_cnn", "method": "ptq"}).encode()
    path.write_bytes(MAGIC + head + b"\n" + zlib.compress(pickle.dumps(_Evil(_marker(tmp)))))
    return path


def _result(run_id: str, schema_version: int) -> dict:
    step = {"energy_kwh": 0.01, "co2_kg": 0.005, "duration_s": 10.0}
    return {
        "schema_version": schema_version, "run_id": run_id, "parent_run_id": None,
        "variant": "baseline", "dataset": "synthetic", "model": "seed_cnn", "metrics": {},
        "energy": {"step": step, "lifecycle": {**step, "ancestors": []}},
        "artifacts": {"model": f"models/{run_id}.pt"},
    }  # fmt: skip


def newer_schema(tmp: Path) -> Path:
    """``tmp/out/results/`` holding one result written by a future greenai (schema_version 99)."""
    results = tmp / "out" / "results"
    results.mkdir(parents=True)
    text = json.dumps(_result("future-run", 99))
    (results / "synthetic_baseline_future-run.json").write_text(text)
    return tmp / "out"


def garbage_powercap(tmp: Path) -> Path:
    zone = tmp / "powercap" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("this is not a number\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    return tmp / "powercap"


def a_file(tmp: Path) -> Path:
    path = tmp / "a-file"
    path.write_text("not a folder\n")
    return path


# issue 19's inputs


def py3_batch(tmp: Path) -> Path:
    """Official batches, one re-pickled by Python 3 (protocol 5: numpy's _frombuffer global)."""
    data = _batches(tmp)
    batch = data / "cifar-10-batches-py" / "data_batch_1"
    obj = pickle.loads(batch.read_bytes(), encoding="latin1")
    batch.write_bytes(pickle.dumps(obj, protocol=5))
    return data


def not_utf8(suffix: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / f"space{suffix}"
        path.write_bytes(b"\xff\xfe lr = [0.1, 0.2]\n\x80\x81")
        return path

    return make


def corrupt_sqlite(tmp: Path) -> Path:
    path = tmp / "search.db"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
    return path


def corrupt_study_state(tmp: Path) -> Path:
    results = tmp / "out" / "results"
    results.mkdir(parents=True)
    (results / "study_state_study.json").write_text('{"version": 1, "steps": {"base')
    return tmp / "out"


def wrong_type(**changes: object) -> Callable[[Path], Path]:
    """``tmp/results/`` holding one result whose sections have the wrong types."""

    def make(tmp: Path) -> Path:
        result = _result("20261201-000000-abcdef", 1)
        for key, value in changes.items():
            if key == "energy_kwh":
                result["energy"]["step"]["energy_kwh"] = value
            else:
                result[key] = value
        (tmp / "results").mkdir()
        name = "synthetic_baseline_20261201-000000-abcdef.json"
        (tmp / "results" / name).write_text(json.dumps(result))
        return tmp / "results"

    return make


# --- the table ---------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    argv: list[str]  # "{parent}", "{tmp}", "{input}" are filled in
    message: str  # a distinctive part of the one stderr line
    make: Callable[[Path], Path] | None = None  # builds "{input}" under tmp
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)  # "{input}" / "{tmp}" filled in
    subprocess: bool = False
    no_cuda: bool = False  # skip where CUDA is present


def _base(*args: str) -> list[str]:
    return ["baseline", *SMALL, "--epochs", "1", "--out", "{tmp}/out", *args]


def _from(cmd: str, *args: str, source: str = PARENT) -> list[str]:
    flag = "--teacher" if cmd == "distill" else "--from"
    extra = ["--student", "seed_cnn"] if cmd == "distill" else []
    return [cmd, flag, source, *extra, "--out", "{parent}", "--no-progress", *args]


CASES = [
    # baseline: hyperparameters, names, data files, device, carbon, store, output folder
    Case("baseline-epochs-0", _base("--epochs", "0"), "--epochs: expected a positive integer"),
    Case("baseline-batch-neg", _base("--batch-size", "-1"), "--batch-size"),
    Case("baseline-lr-0", _base("--lr", "0"), "--lr: expected a number > 0"),
    Case("baseline-model", _base("--model", "vgg99"), "unknown model 'vgg99'"),
    Case("baseline-dataset", _base("--dataset", "mnist"), "unknown dataset 'mnist'"),
    Case("baseline-missing-data",
         _base("--dataset", "cifar10", "--data-dir", "{tmp}/nowhere"), "CIFAR-10 not found"),
    Case("baseline-truncated-npz", _base("--dataset", "cifar10", "--data-dir", "{input}"),
         "cifar10_test.npz: corrupt or truncated npz", truncated_npz),
    Case("baseline-corrupt-npz", _base("--dataset", "cifar10", "--data-dir", "{input}"),
         "cifar10_train.npz: corrupt or truncated npz", corrupt_npz),
    Case("baseline-truncated-batch", _base("--dataset", "cifar10", "--data-dir", "{input}"),
         "data_batch_1: corrupt or truncated pickle", truncated_batch),
    Case("baseline-truncated-tarball", _base("--dataset", "cifar10", "--data-dir", "{input}"),
         "cifar-10-python.tar.gz: corrupt or truncated tarball", truncated_tarball),
    Case("baseline-evil-batch", _base("--dataset", "cifar10", "--data-dir", "{input}"),
         "refers to posix.system", evil_batch, subprocess=True),
    Case("baseline-tar-escape", _base("--dataset", "cifar10", "--data-dir", "{input}"),
         "points outside the archive", escaping_tarball, subprocess=True),
    Case("baseline-gpu", _base("--device", "gpu"), "no CUDA GPU", no_cuda=True),
    Case("baseline-country", _base("--country", "XXX"), "XXX"),
    Case("baseline-pue", _base("--pue", "0.5"), "PUE"),
    Case("baseline-powercap-garbage", _base(), "energy_uj does not hold an integer",
         garbage_powercap, env={"GREENAI_POWERCAP_ROOT": "{input}"}),
    Case("baseline-resume-unknown", _base("--resume", "nosuchrun"), "no such checkpoint"),
    Case("baseline-store-unreachable", _base("--store", UNREACHABLE), "127.0.0.1"),
    Case("baseline-out-is-file", ["baseline", *SMALL, "--epochs", "1", "--out", "{input}/out"],
         "a-file", a_file),
    # prune / quantize / distill / export: parents that are not what they claim, bad settings
    Case("prune-sparsity-1", _from("prune", "--sparsity", "1.0"), "fraction in [0, 1)"),
    Case("prune-unknown-run", _from("prune", source="no-such-run"), "'no-such-run': no such run"),
    Case("prune-not-a-checkpoint", _from("prune", source="{input}"),
         "not a readable checkpoint", not_a_checkpoint),
    Case("prune-evil-checkpoint", _from("prune", source="{input}"),
         "refused: it refers to posix.system", evil_checkpoint, subprocess=True),
    Case("prune-evil-int8", _from("prune", source="{input}"),
         "is already quantized (INT8)", evil_int8, subprocess=True),
    Case("distill-evil-int8", _from("distill", source="{input}"),
         "is already quantized (INT8)", evil_int8, subprocess=True),
    Case("prune-powercap-garbage", _from("prune"), "does not hold an integer", garbage_powercap,
         env={"GREENAI_POWERCAP_ROOT": "{input}"}),
    Case("prune-lr-0", _from("prune", "--lr", "0"), "--lr: expected a number > 0"),
    Case("quantize-newer-schema",
         ["quantize", "--from", "future-run", "--out", "{input}", "--no-progress"],
         "schema_version 99 is newer", newer_schema),
    Case("quantize-calib-0", _from("quantize", "--calib-batches", "0"), "--calib-batches"),
    Case("quantize-country", _from("quantize", "--country", "Atlantis"), "Atlantis"),
    Case("distill-student", ["distill", "--teacher", PARENT, "--student", "nope", "--out",
                             "{parent}"], "unknown model 'nope'"),
    Case("distill-alpha", _from("distill", "--alpha", "1.5"), "alpha"),
    Case("distill-epochs-0", _from("distill", "--epochs", "0"), "--epochs"),
    Case("export-unknown-run", _from("export", source="nobody"), "'nobody': no such run"),
    Case("export-store-unreachable", _from("export", "--store", UNREACHABLE), "127.0.0.1"),
    # study
    Case("study-sparsity-1", ["study", *SMALL, "--sparsity", "1.0", "--out", "{tmp}/out"],
         "--sparsity"),
    Case("study-variant", ["study", *SMALL, "--variants", "pruned_sideways", "--out",
                           "{tmp}/out"], "unknown variant 'pruned_sideways'"),
    Case("study-pue", ["study", *SMALL, "--pue", "0.5", "--out", "{tmp}/out"], "PUE"),
    Case("study-missing-data", ["study", "--dataset", "cifar10", "--data-dir", "{tmp}/nowhere",
                                "--out", "{tmp}/out"], "CIFAR-10 not found"),
    Case("study-store-unreachable", ["study", *SMALL, "--store", UNREACHABLE, "--out",
                                     "{tmp}/out"], "127.0.0.1"),
    # report
    Case("report-newer-schema", ["report", "--results-dir", "{input}/results", "--out",
                                 "{tmp}/report"], "schema_version 99 is newer", newer_schema),
    Case("report-torn-json", ["report", "--results-dir", "{input}", "--out", "{tmp}/report"],
         "not a readable result JSON", corrupt_result),
    Case("report-empty-dir", ["report", "--results-dir", "{tmp}", "--out", "{tmp}/report"],
         "no result JSON files"),
    Case("report-store-unreachable", ["report", "--store", UNREACHABLE, "--out", "{tmp}/r"],
         "127.0.0.1"),
    Case("report-inferences", ["report", "--results-dir", "{tmp}", "--inferences", "-5"],
         "--inferences"),
    # runs
    Case("runs-unknown-id", ["runs", "show", "nosuchrun", "--store", "{parent}/greenai.db"],
         "nosuchrun"),
    Case("runs-store-unreachable", ["runs", "--store", UNREACHABLE], "127.0.0.1",
         subprocess=True),
    Case("runs-missing-store", ["runs", "--store", "{tmp}/none.db"], "none.db"),
    # search
    Case("search-trials-0", ["search", *SMALL, "--trials", "0", "--out", "{tmp}/out"],
         "--trials must be at least 1"),
    Case("search-pue", ["search", *SMALL, "--pue", "0.5", "--trials", "1", "--out",
                        "{tmp}/out"], "PUE"),
    Case("search-gpu", ["search", *SMALL, "--device", "gpu", "--trials", "1", "--out",
                        "{tmp}/out"], "no CUDA GPU", no_cuda=True),
    # measure
    Case("measure-empty", ["measure", "--out", "{tmp}/out", "--"], "no command to measure"),
    Case("measure-powercap-garbage", ["measure", "--out", "{tmp}/out", "--", "true"],
         "does not hold an integer", garbage_powercap,
         env={"GREENAI_POWERCAP_ROOT": "{input}"}, subprocess=True),
    Case("measure-out-unwritable", ["measure", "--out", "{input}/sub", "--", "true"],
         "cannot be created", a_file),
    Case("measure-country", ["measure", "--country", "XXX", "--out", "{tmp}/out", "--", "true"],
         "XXX"),
    Case("measure-interval-0", ["measure", "--interval", "0", "--out", "{tmp}/out", "--",
                                "true"], "interval"),
    Case("measure-interval-env", ["measure", "--out", "{tmp}/out", "--", "true"],
         "GREENAI_INTERVAL", env={"GREENAI_INTERVAL": "fast"}),
    Case("baseline-interval-env", ["baseline", *SMALL, "--epochs", "1", "--out", "{tmp}/out"],
         "GREENAI_INTERVAL", env={"GREENAI_INTERVAL": "0"}),
    Case("measure-store-unreachable", ["measure", "--store", UNREACHABLE, "--out", "{tmp}/out",
                                       "--", "true"], "127.0.0.1"),
    Case("measure-not-found", ["measure", "--out", "{tmp}/out", "--", "{tmp}/no-such-cmd"],
         "command not found", code=127),
    # dashboard
    Case("dashboard-port", ["dashboard", "--store", "{parent}/greenai.db", "--port", "70000"],
         "--port must be between 0 and 65535"),
    Case("dashboard-missing-store", ["dashboard", "--store", "{tmp}/none.db"], "none.db"),
    # issue 19: each of these was a traceback, a raw warning, or left files behind
    Case("measure-out-proc", ["measure", "--out", "/proc/x", "--", "true"], "cannot be created"),
    Case("measure-store-bad-url", ["measure", "--store", "http://[::1", "--out", "{tmp}/out", "--",
                                   "true"], "not a store URL or path"),
    Case("measure-store-no-folder", ["measure", "--store", "{tmp}/nowhere/x.db", "--out",
                                     "{tmp}/out", "--", "true"], "does not exist"),
    Case("measure-store-query", ["measure", "--store", "sqlite:///{tmp}/x.db?foo=bar", "--out",
                                 "{tmp}/out", "--", "true"], "query arguments"),
    Case("baseline-store-no-folder", _base("--store", "{tmp}/nowhere/x.db"), "does not exist"),
    Case("baseline-threads", _base("--threads", "100000"), "--threads: 100000 threads"),
    Case("baseline-width-huge", _base("--width", "1e7"), "exceed 2**63 bytes"),
    Case("baseline-py3-batch", _base("--dataset", "cifar10", "--data-dir", "{input}"),
         "expected the Python 2 pickles (protocol 2)", py3_batch),
    Case("report-out-file", ["report", "--results-dir", "{tmp}", "--out", "{input}"],
         "is not a folder", a_file),
    Case("report-out-proc", ["report", "--results-dir", "{tmp}", "--out", "/proc"],
         "is not writable"),
    Case("report-metrics-type", ["report", "--results-dir", "{input}", "--out", "{tmp}/r"],
         "field metrics must be an object, not str", wrong_type(metrics="oops")),
    Case("report-energy-type", ["report", "--results-dir", "{input}", "--out", "{tmp}/r"],
         "field energy must be an object, not list", wrong_type(energy=[1, 2, 3])),
    Case("report-kwh-type", ["report", "--results-dir", "{input}", "--out", "{tmp}/r"],
         "field energy.step.energy_kwh must be a number", wrong_type(energy_kwh="lots")),
    Case("search-space-not-utf8-json", ["search", *SMALL, "--space", "{input}", "--trials", "1",
                                        "--out", "{tmp}/out"], "not UTF-8", not_utf8(".json")),
    Case("search-space-not-utf8-toml", ["search", *SMALL, "--space", "{input}", "--trials", "1",
                                        "--out", "{tmp}/out"], "not UTF-8", not_utf8(".toml")),
    Case("search-storage-corrupt", ["search", *SMALL, "--storage", "{input}", "--trials", "1",
                                    "--out", "{tmp}/out"], "not a usable SQLite file",
         corrupt_sqlite),
    Case("study-corrupt-state", ["study", *SMALL, "--out", "{input}"], "unreadable study state",
         corrupt_study_state),
]  # fmt: skip


# --- the machinery -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parent_dir(tmp_path_factory) -> Path:
    """One real, tiny synthetic baseline run (store row, checkpoint, result JSON) for the module."""
    out = tmp_path_factory.mktemp("parent")
    argv = ["baseline", *SMALL, "--epochs", "1", "--width", "0.125", "--device", "cpu",
            "--inference-images", "0", "--run-id", PARENT, "--out", str(out)]  # fmt: skip
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(argv) == 0
    finally:
        torch.set_num_threads(before)
    return out


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    for key in ("GREENAI_STORE", "GREENAI_DATA_DIR", "GREENAI_COUNTRY", "GREENAI_PUE",
                "GREENAI_INTENSITY", "GREENAI_POWERCAP_ROOT", "MLFLOW_TRACKING_URI"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.chdir(tmp_path)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` -> a digest of its bytes ("dir" for folders)."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel.startswith("xdg-cache"):  # third parties' caches (onnxruntime writes a device id)
            continue
        if path.is_dir():
            found[rel] = "dir"
        elif path.name.startswith("greenai.db"):  # SQLite rewrites its pages when read: presence
            found[rel] = "store"
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _store_rows(parent: Path) -> list[tuple]:
    from greenai.storage import open_store

    with open_store(None, default_dir=parent, create=False, mark_stale=False) as store:
        return [
            (r.run_id, r.status, len(store.samples(r.run_id)), len(store.phases(r.run_id)))
            for r in store.list_runs()
        ]


def _fill(text: str, **values: Path) -> str:
    return text.format(**{k: str(v) for k, v in values.items()})


def _in_process(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def _real_process(argv: list[str], env_extra: dict[str, str], cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env_extra}
    proc = subprocess.run(
        [sys.executable, "-m", "greenai", *argv], capture_output=True, text=True, env=env,
        cwd=cwd, timeout=120,
    )  # fmt: skip
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_nonzero_exit_and_nothing_written(
    case: Case, parent_dir: Path, tmp_path: Path, capsys, monkeypatch
):
    if case.no_cuda and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    made = case.make(tmp_path) if case.make else tmp_path
    values = {"parent": parent_dir, "tmp": tmp_path, "input": made}
    argv = [_fill(a, **values) for a in case.argv]
    env = {k: _fill(v, **values) for k, v in case.env.items()}
    tree_before, parent_before = _tree(tmp_path), _tree(parent_dir)
    rows_before = _store_rows(parent_dir)
    if case.subprocess:
        code, err = _real_process(argv, env, tmp_path)
    else:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code, err = _in_process(argv, capsys)

    lines = err.strip().splitlines()
    assert code == case.code, err
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("greenai"), err
    assert case.message in lines[0], err
    assert _tree(tmp_path) == tree_before, "files were written or changed"
    assert _tree(parent_dir) == parent_before, "the parent run's folder changed"
    assert _store_rows(parent_dir) == rows_before, "the store's rows changed"
    assert not _marker(tmp_path).exists(), "the malicious pickle ran"
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_the_table_covers_every_command():
    commands = {c.argv[0] for c in CASES}
    assert commands == {"baseline", "prune", "quantize", "distill", "export", "study", "report",
                        "runs", "search", "measure", "dashboard"}  # fmt: skip
    assert len(CASES) >= 25
