"""The lifecycle on the user's own workload: a model defined in a file of theirs and their data
as an image folder (colour, of two sizes, resized; grayscale) or an npz file, through the real
commands.

Nothing of greenai is faked; the data and the model are generated under tmp_path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from greenai.cli.main import main
from greenai.storage import open_store

STUDY_VARIANTS = (
    "baseline", "pruned_unstructured", "pruned_structured", "quantized_ptq", "quantized_qat",
    "distilled",
)  # fmt: skip

MYNET = """
    from torch import nn


    def make(num_classes, input_shape):
        channels = input_shape[0]
        return nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
        )
"""

FAST = ["--recipe", "seed", "--epochs", "1", "--no-progress", "--device", "cpu"]


@pytest.fixture(autouse=True)
def _no_env_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENAI_STORE", raising=False)


def write_mynet(folder: Path) -> str:
    """The user's model file; returns the ``file.py:NAME`` reference to its factory."""
    path = folder / "mynet.py"
    path.write_text(textwrap.dedent(MYNET), encoding="utf-8")
    return f"{path}:make"


def write_image_folder(
    root: Path, *, classes: int, mode: str, sizes: tuple[tuple[int, int], ...], per_class=(8, 4)
) -> Path:
    """``root/train/<class>/*.png`` and ``root/val/<class>/*.png``: class k a little brighter in
    channel k (colour) or overall (grayscale), over noise; the sizes (w, h) alternate."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in zip(("train", "val"), per_class, strict=True):
        for k in range(classes):
            folder = root / split / f"class_{k}"
            folder.mkdir(parents=True)
            for i in range(n):
                w, h = sizes[i % len(sizes)]
                depth = 3 if mode == "RGB" else 1
                pixels = rng.integers(0, 120, (h, w, depth)).astype(np.uint8)
                pixels[..., k % depth] += np.uint8(60 + 40 * k)
                array = pixels if mode == "RGB" else pixels[..., 0]
                Image.fromarray(array, mode).save(folder / f"img_{i}.png")
    return root


def write_npz(path: Path, *, classes: int = 4, shape=(12, 12, 3)) -> Path:
    rng = np.random.default_rng(1)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (48, *shape), dtype=np.uint8),
        y_train=np.arange(48) % classes,
        x_test=rng.integers(0, 256, (24, *shape), dtype=np.uint8),
        y_test=np.arange(24) % classes,
    )
    return path


def results(out: Path) -> dict[str, dict]:
    """Every result JSON under ``out/results`` by variant (one each)."""
    found: dict[str, dict] = {}
    for path in (out / "results").glob("*.json"):
        r = json.loads(path.read_text(encoding="utf-8"))
        if "variant" not in r:
            continue
        assert r["variant"] not in found, r["variant"]
        found[r["variant"]] = r
    return found


def failure_logs(out: Path) -> str:
    """The tail of every ``.err`` log: what the assertion message shows when a step failed."""
    logs = sorted((out / "logs").glob("*.err")) if (out / "logs").is_dir() else []
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)


def run_ok(argv: list[str], capsys: pytest.CaptureFixture[str], out: Path) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 0, f"{argv[0]} exited {code}: {err[-2000:]}\n{failure_logs(out)}"


def lifecycle_steps(
    out: Path, model: str, dataset: list[str], capsys: pytest.CaptureFixture[str]
) -> dict[str, dict]:
    """baseline, then prune (structured) and quantize (PTQ) from it: the results by variant."""
    run_ok(["baseline", "--model", model, *dataset, *FAST, "--out", str(out)], capsys, out)
    base = results(out)["baseline"]
    rid = base["run_id"]
    run_ok(
        ["prune", "--from", rid, "--kind", "structured", "--sparsity", "0.5",
         "--finetune-epochs", "1", "--no-progress", "--out", str(out)],
        capsys, out,
    )  # fmt: skip
    run_ok(
        ["quantize", "--from", rid, "--method", "ptq", "--calib-batches", "1", "--no-progress",
         "--out", str(out)],
        capsys, out,
    )  # fmt: skip
    return results(out)


def check_lineage(by_variant: dict[str, dict], derived: tuple[str, ...]) -> None:
    base = by_variant["baseline"]
    for variant in derived:
        r = by_variant[variant]
        assert r["parent_run_id"] == base["run_id"], variant
        life = r["energy"]["lifecycle"]
        assert [a["run_id"] for a in life["ancestors"]] == [base["run_id"]], variant
        assert life["energy_kwh"] == pytest.approx(
            r["energy"]["step"]["energy_kwh"] + base["energy"]["lifecycle"]["energy_kwh"]
        ), variant
        assert r["metrics"]["test_accuracy_pct"] is not None, variant


@pytest.mark.slow
def test_study_on_a_user_model_and_a_resized_colour_image_folder(tmp_path, capsys):
    """Every study variant, the student being the user's model too, on PNGs of two sizes resized
    to 16 x 16: all done in the store, with lineage, and the report written."""
    model = write_mynet(tmp_path)
    data = write_image_folder(
        tmp_path / "shapes", classes=3, mode="RGB", sizes=((20, 20), (24, 18))
    )
    out = tmp_path / "study"
    code = main(
        ["study", "--model", model, "--dataset", f"imagefolder:{data}", "--image-size", "16",
         *FAST, "--batch-size", "8", "--sparsity", "0.5", "--calib-batches", "1",
         "--distill-epochs", "1", "--student", model, "--student-width", "1",
         "--name", "mine", "--out", str(out)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, f"{err[-3000:]}\n{failure_logs(out)}"

    by_variant = results(out)
    assert sorted(by_variant) == sorted(STUDY_VARIANTS), failure_logs(out)
    base = by_variant["baseline"]
    assert base["training"]["input_shape"] == [3, 16, 16]
    assert base["training"]["num_classes"] == 3
    assert base["model"].endswith("mynet.py:make")
    check_lineage(by_variant, STUDY_VARIANTS[1:])
    assert by_variant["distilled"]["hyperparameters"]["student"].endswith("mynet.py:make")
    for variant in ("quantized_ptq", "quantized_qat"):
        assert by_variant[variant]["precision"] == "int8"

    with open_store(None, default_dir=out) as store:
        rows = store.list_runs(group="mine")
    assert {r.variant for r in rows} == set(STUDY_VARIANTS)
    assert {r.status for r in rows} == {"done"}, [(r.variant, r.status, r.error) for r in rows]
    assert (out / "results" / "study_report.md").is_file()
    html = list(out.rglob("report.html"))
    assert html and html[0].stat().st_size > 0


def test_grayscale_image_folder_through_baseline_prune_quantize(tmp_path, capsys):
    model = write_mynet(tmp_path)
    data = write_image_folder(tmp_path / "gray", classes=2, mode="L", sizes=((14, 14),))
    out = tmp_path / "out"
    by_variant = lifecycle_steps(out, model, ["--dataset", f"imagefolder:{data}"], capsys)

    assert sorted(by_variant) == ["baseline", "pruned_structured", "quantized_ptq"]
    base = by_variant["baseline"]
    assert base["training"]["input_shape"] == [1, 14, 14]
    assert base["training"]["num_classes"] == 2
    assert base["dataset_spec"] == f"imagefolder:{data}"
    check_lineage(by_variant, ("pruned_structured", "quantized_ptq"))
    assert by_variant["pruned_structured"]["metrics"]["params"] < base["metrics"]["params"]
    assert by_variant["quantized_ptq"]["precision"] == "int8"


def test_npz_dataset_through_baseline_prune_quantize(tmp_path, capsys):
    model = write_mynet(tmp_path)
    npz = write_npz(tmp_path / "mydata.npz", classes=4, shape=(12, 10, 3))
    out = tmp_path / "out"
    by_variant = lifecycle_steps(out, model, ["--dataset", f"npz:{npz}"], capsys)

    assert sorted(by_variant) == ["baseline", "pruned_structured", "quantized_ptq"]
    base = by_variant["baseline"]
    assert base["training"]["input_shape"] == [3, 12, 10]
    assert base["training"]["num_classes"] == 4
    assert base["dataset_spec"] == f"npz:{npz}"
    check_lineage(by_variant, ("pruned_structured", "quantized_ptq"))
    for variant in ("pruned_structured", "quantized_ptq"):  # evaluated on the parent's data
        assert by_variant[variant]["dataset"] == base["dataset"], variant
    assert by_variant["quantized_ptq"]["precision"] == "int8"
