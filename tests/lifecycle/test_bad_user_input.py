"""The user's model or data is wrong: ``greenai baseline`` says so in one ``greenai: error:`` line,
exits 2, shows no traceback and writes nothing (no store file, no results) under ``--out``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from greenai.cli.main import main

GOOD_MODEL = """
    from torch import nn


    def make(num_classes, input_shape):
        return nn.Sequential(
            nn.Conv2d(input_shape[0], 4, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes),
        )
"""

BAD_MODELS = {
    "broken.py": "from torch import nn\n\nclass Net(nn.Module)\n    pass\n",
    "raises.py": "def make(num_classes, input_shape):\n    raise ValueError('no GPU, no model')\n",
    "returns_int.py": "def make(num_classes, input_shape):\n    return 42\n",
    "wrong_outputs.py": textwrap.dedent(
        """
        from torch import nn


        def make(num_classes, input_shape):
            return nn.Sequential(
                nn.Flatten(), nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], 5),
            )
        """
    ),
}


@pytest.fixture(autouse=True)
def _no_env_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENAI_STORE", raising=False)


def png(path: Path, mode: str = "RGB", size: tuple[int, int] = (8, 8)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=(200, 10, 10) if mode == "RGB" else 128).save(path)


def image_folder(root: Path, classes: tuple[str, ...], mode: str = "RGB") -> Path:
    for split in ("train", "val"):
        (root / split).mkdir(parents=True, exist_ok=True)
        for name in classes:
            for i in range(2):
                png(root / split / name / f"{i}.png", mode)
    return root


def npz(path: Path, **change: np.ndarray | None) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8),
        "y_train": np.arange(16) % 2,
        "x_test": rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8),
        "y_test": np.arange(8) % 2,
    }
    arrays.update(change)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def make_case(case: str, tmp: Path) -> tuple[list[str], str]:
    """(the --model/--dataset arguments, a piece of the expected error line) for ``case``."""
    model = tmp / "good.py"
    model.write_text(textwrap.dedent(GOOD_MODEL), encoding="utf-8")
    good = ["--model", f"{model}:make"]
    if case == "no such module":
        return ["--model", "nosuch:Net", "--dataset", "synthetic"], "cannot import module 'nosuch'"
    if case in ("broken.py", "raises.py", "returns_int.py", "wrong_outputs.py"):
        path = tmp / case
        path.write_text(BAD_MODELS[case], encoding="utf-8")
        name = "Net" if case == "broken.py" else "make"
        expected = {
            "broken.py": "SyntaxError",
            "raises.py": "the factory failed (ValueError: no GPU, no model)",
            "returns_int.py": "returned int, not a torch.nn.Module",
            "wrong_outputs.py": "output shape (2, 5) does not match 10 classes",  # synthetic: 10
        }[case]
        return ["--model", f"{path}:{name}", "--dataset", "synthetic"], expected
    if case == "imagefolder: no classes":
        root = tmp / "empty"
        (root / "train").mkdir(parents=True)
        (root / "val").mkdir()
        return [*good, "--dataset", f"imagefolder:{root}"], "no class folders"
    if case == "imagefolder: one class":
        root = image_folder(tmp / "one", ("cats",))
        return [*good, "--dataset", f"imagefolder:{root}"], "only one class"
    if case == "imagefolder: unreadable image":
        root = image_folder(tmp / "bad", ("a", "b"))
        (root / "train" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
        return [*good, "--dataset", f"imagefolder:{root}"], "broken.png"
    if case == "imagefolder: mixed channels":
        root = image_folder(tmp / "mixed", ("a", "b"))
        png(root / "train" / "a" / "gray.png", "L")
        return [*good, "--dataset", f"imagefolder:{root}"], "mixed channel counts"
    if case == "npz: missing array":
        path = npz(tmp / "missing.npz", y_test=None)
        return [*good, "--dataset", f"npz:{path}"], "y_test"
    if case == "npz: negative label":
        path = npz(tmp / "negative.npz", y_train=np.array([0, 1, -1, 1] * 4))
        return [*good, "--dataset", f"npz:{path}"], "negative labels"
    raise AssertionError(case)


CASES = (
    "no such module", "broken.py", "raises.py", "returns_int.py", "wrong_outputs.py",
    "imagefolder: no classes", "imagefolder: one class", "imagefolder: unreadable image",
    "imagefolder: mixed channels", "npz: missing array", "npz: negative label",
)  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_model_or_data_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys):
    args, expected = make_case(case, tmp_path)
    out = tmp_path / "out"
    code = main(
        ["baseline", *args, "--recipe", "seed", "--epochs", "1", "--limit-train", "64",
         "--limit-test", "64", "--device", "cpu", "--no-progress", "--out", str(out)]
    )  # fmt: skip
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err[-2000:]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("greenai: error: "), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not (out / "greenai.db").exists()
    assert not (out / "results").exists()
    assert not out.exists() or not list(out.rglob("*.json"))
