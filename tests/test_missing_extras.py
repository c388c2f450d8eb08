"""A command whose optional package is missing says so in one line and exits 2 — no traceback.

Each case runs the real ``greenai`` entry point in a subprocess whose PYTHONPATH starts with a folder
holding stand-in packages that fail to import exactly as a missing package does.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from greenai.cli.main import missing_extra

_ENTRY = "import sys; from greenai.cli.main import main; sys.exit(main())"


def _unimportable(folder: Path, *modules: str) -> Path:
    for name in modules:
        package = folder / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(
            f"raise ModuleNotFoundError({f'No module named {name!r}'!r}, name={name!r})\n"
        )
    return folder


def _run(tmp_path: Path, hidden: tuple[str, ...], argv: list[str]) -> subprocess.CompletedProcess:
    fakes = _unimportable(tmp_path / "fakes", *hidden)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAI_")}
    env["PYTHONPATH"] = os.pathsep.join([str(fakes), *filter(None, [env.get("PYTHONPATH")])])
    env["XDG_CACHE_HOME"] = str(cwd / ".cache")
    result = subprocess.run(
        [sys.executable, "-c", _ENTRY, *argv],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # Nothing half-written: the command stopped before touching the output folder or a store.
    assert [p.name for p in cwd.iterdir()] == [], result.stderr
    return result


def _assert_one_line(result: subprocess.CompletedProcess, module: str, extra: str) -> None:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert output.splitlines() == [
        f"greenai: error: this needs the optional package '{module}': "
        f"pip install 'greenai[{extra}]'"
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["baseline", "--epochs", "1"],
        ["prune", "--from", "some-run"],
        ["quantize", "--from", "some-run"],
        ["export", "--from", "some-run"],
        ["distill", "--teacher", "some-run", "--student", "seed_cnn"],
        ["study"],
        ["search", "--trials", "1"],
    ],
    ids=lambda argv: argv[0],
)
def test_commands_needing_torch_without_torch(tmp_path, argv):
    _assert_one_line(_run(tmp_path, ("torch",), argv), "torch", "train")


def test_quantize_without_torchao(tmp_path):
    pytest.importorskip("torch")
    _assert_one_line(_run(tmp_path, ("torchao",), ["quantize", "--from", "x"]), "torchao", "quant")


@pytest.mark.parametrize("hidden", [("onnx", "onnxruntime"), ("onnxruntime",)], ids=["both", "ort"])
def test_export_without_onnx(tmp_path, hidden):
    pytest.importorskip("torch")
    _assert_one_line(_run(tmp_path, hidden, ["export", "--from", "x"]), hidden[0], "onnx")


def test_only_optional_packages_become_one_line():
    assert str(missing_extra(ModuleNotFoundError(name="torch._C"))) == (
        "this needs the optional package 'torch': pip install 'greenai[train]'"
    )
    # A module that is not an optional extra is a bug or a broken install: its traceback stays.
    assert missing_extra(ModuleNotFoundError(name="numpy")) is None
    assert missing_extra(ModuleNotFoundError(name="greenai.nope")) is None
    assert missing_extra(ModuleNotFoundError("no name")) is None
