"""Property-based guard over every command (issue #19): whatever flags and input files it is given,
``greenai`` exits 0, 1 or 2 (127: measure's command not found), never with a traceback; a refusal
(exit 2) is one ``greenai...: error:`` line on stderr and leaves the folder as it was.

The flags come from the real parsers (a new flag is fuzzed without editing this file); the values
are the kinds that broke commands before: non-numbers, huge, negative and non-finite numbers,
non-UTF-8 and random-byte files, missing paths, unwritable folders (/proc), bad store URLs. The
environment has no CIFAR-10, no store and no powercap, so nothing trains for long.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenai.cli.main import build_parser, main

pytestmark = pytest.mark.slow

_ENV = ("GREENAI_STORE", "GREENAI_DATA_DIR", "GREENAI_COUNTRY", "GREENAI_PUE", "GREENAI_INTENSITY",
        "GREENAI_POWERCAP_ROOT", "GREENAI_INTERVAL", "GREENAI_CALIBRATION",
        "MLFLOW_TRACKING_URI", "GREENAI_EMBODIED_KG", "GREENAI_EMBODIED_LIFE_YEARS",
        "GREENAI_EMBODIED_SHARE", "GREENAI_EMBODIED_FROM_FLAGS")  # fmt: skip


# Left out: flags that reach the network (--download, --mlflow, --wandb), start torchrun or a
# server, or wait on the clock (a start window, a forecast); their refusals are in the table tests.
_SKIP = {"help", "download", "mlflow", "wandb", "nproc_per_node", "nnodes", "node_rank",
         "rdzv_endpoint", "start_within", "forecast", "expected_duration", "prometheus_port"}  # fmt: skip


def _commands() -> dict[str, list]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {
        name: [a for a in sp._actions if a.option_strings and a.dest not in _SKIP]
        for name, sp in sub.choices.items()
    }


COMMANDS = _commands()

# "{tmp}" becomes the example's folder; files named here are made by _inputs
_TEXT = st.sampled_from([
    "0", "-1", "1e7", "1e308", "nan", "inf", "-inf", "0.5", "99999999999999999999", "", " ",
    "x", "--", "a\tb", "ünïcödé", "../../etc/passwd", "{tmp}/missing/x", "{tmp}/garbage.bin",
    "{tmp}/not-utf8.json", "{tmp}/not-utf8.toml", "{tmp}/empty", "{tmp}/a-folder", "/proc/x",
    "/proc", "sqlite:///{tmp}/x.db?foo=bar", "http://[::1", "postgresql://127.0.0.1:1/x",
    "{tmp}/garbage.bin:Net", "npz:{tmp}/garbage.bin", "imagefolder:{tmp}/a-folder", "seed_cnn",
    "100000", "4096",
]) | st.text(max_size=12)  # fmt: skip


@st.composite
def argv_for(draw: st.DrawFn, command: str) -> list[str]:
    argv = [command]
    actions = COMMANDS[command]
    for action in draw(st.lists(st.sampled_from(actions), max_size=4, unique_by=id)):
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
            continue
        count = action.nargs if isinstance(action.nargs, int) else draw(st.integers(1, 2))
        if action.choices and draw(st.booleans()):
            values = [str(draw(st.sampled_from(list(action.choices)))) for _ in range(count)]
        else:
            values = [draw(_TEXT) for _ in range(count)]
        argv += (
            [flag, *values]
            if all(not v.startswith("-") for v in values)
            else [f"{flag}={values[0]}"]
        )
    if command == "runs" and draw(st.booleans()):
        argv += ["show", draw(_TEXT)]
    if command == "measure":
        argv += ["--", draw(st.sampled_from(["true", "false", "{tmp}/no-such-command"]))]
    return argv


def _inputs(tmp: Path) -> None:
    (tmp / "garbage.bin").write_bytes(bytes(range(256)) * 8)
    (tmp / "not-utf8.json").write_bytes(b"\xff\xfe{\x80}")
    (tmp / "not-utf8.toml").write_bytes(b"lr = \xff\xfe\n")
    (tmp / "empty").write_bytes(b"")
    (tmp / "a-folder").mkdir()


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if not str(p.relative_to(root)).startswith("xdg")
    }


def _run(argv: list[str], tmp: Path) -> tuple[int, str]:
    err = io.StringIO()
    saved = {k: os.environ.pop(k, None) for k in _ENV}
    os.environ["XDG_CACHE_HOME"] = str(tmp / "xdg")
    os.environ["GREENAI_DATA_DIR"] = str(tmp / "xdg" / "no-data")
    os.environ["GREENAI_CALIBRATION"] = str(tmp / "xdg" / "calibration.json")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(cwd)
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value
    return code, err.getvalue()


@pytest.mark.parametrize("command", sorted(COMMANDS))
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_any_flags_exit_cleanly_with_one_line(command: str, data: st.DataObject) -> None:
    before_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="greenai-fuzz-") as folder:
        tmp = Path(folder)
        _inputs(tmp)
        argv = [a.replace("{tmp}", folder) for a in data.draw(argv_for(command), label="argv")]
        before = _tree(tmp)
        code, err = _run(argv, tmp)  # an exception out of main() fails the test: a traceback
        torch.set_num_threads(before_threads)
        assert code in (0, 1, 2, 127), (argv, code, err)
        assert "Traceback" not in err, (argv, err)
        if code == 2:
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1 and "error:" in lines[0], (argv, err)
            assert _tree(tmp) == before, (argv, "a refused command wrote files")
