"""The compression commands end to end on a tiny seed_cnn and synthetic data, and their bad inputs."""

from __future__ import annotations

import json

import pytest
import torch

from greenai.cli.main import main
from greenai.lifecycle.steps.prune import CHANNEL_MULTIPLE
from greenai.ml.compression import int8_file, quantize
from greenai.ml.models import create_model
from greenai.ml.training.checkpoint import save_checkpoint
from greenai.results.resultfile import write_result

PARENT = "20261125-000000-parent"


@pytest.fixture
def parent_run(tmp_path):
    """A tiny trained-looking seed_cnn recorded as a finished synthetic baseline run."""
    torch.manual_seed(0)
    model = create_model("seed_cnn", width=0.125)
    ckpt = tmp_path / "models" / f"{PARENT}.pt"
    save_checkpoint(
        ckpt,
        {"epoch": 1, "config": {"model": "seed_cnn", "width": 0.125}, "num_classes": 10,
         "model_state": model.state_dict()},
    )  # fmt: skip
    step = {"energy_kwh": 0.01, "co2_kg": 0.005, "duration_s": 10.0}
    write_result(
        tmp_path,
        "baseline",
        PARENT,
        {
            "schema_version": 1, "run_id": PARENT, "parent_run_id": None, "variant": "baseline",
            "dataset": "synthetic", "model": "seed_cnn", "metrics": {},
            "inference": {"energy_j_per_1000_images": 1e6},
            "energy": {"step": step, "lifecycle": {**step, "ancestors": []}},
            "artifacts": {"model": f"models/{PARENT}.pt"},
        },
    )  # fmt: skip
    return tmp_path, model


def _only_result(out, variant):
    files = list((out / "results").glob(f"synthetic_{variant}_*.json"))
    assert len(files) == 1
    return json.loads(files[0].read_text())


def test_prune_structured_end_to_end(parent_run):
    out, model = parent_run
    rc = main(
        ["prune", "--from", PARENT, "--kind", "structured", "--sparsity", "0.5",
         "--finetune-epochs", "1", "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert rc == 0
    r = _only_result(out, "pruned_structured")
    assert r["parent_run_id"] == PARENT
    assert r["hyperparameters"]["channel_multiple"] == CHANNEL_MULTIPLE == 16  # the default
    assert r["metrics"]["params"] < 0.5 * sum(p.numel() for p in model.parameters())
    life = r["energy"]["lifecycle"]
    assert life["energy_kwh"] == pytest.approx(r["energy"]["step"]["energy_kwh"] + 0.01)
    assert [a["run_id"] for a in life["ancestors"]] == [PARENT]
    assert r["break_even"]["vs_run_id"] == PARENT
    assert (out / r["artifacts"]["model"]).stat().st_size == r["metrics"]["file_size_bytes"]
    from greenai.storage import open_store

    store = open_store(None, default_dir=out)
    try:
        rec = store.get_run(r["run_id"])
        assert rec.parent_run_id == PARENT
    finally:
        store.close()


def test_quantize_dynamic_end_to_end_on_the_cpu(parent_run):
    """greenai quantize --method dynamic: INT8 linear layers, a smaller file, measured on the CPU."""
    out, model = parent_run
    rc = main(["quantize", "--from", PARENT, "--method", "dynamic", "--device", "cpu",
               "--out", str(out), "--no-progress"])  # fmt: skip
    assert rc == 0
    r = _only_result(out, "quantized_dynamic")
    assert (r["parent_run_id"], r["device"], r["precision"]) == (PARENT, "cpu", "int8")
    assert r["compression"]["method"] == "dynamic"
    dense = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert r["metrics"]["file_size_bytes"] < dense
    assert r["inference"]["device"] == "cpu" and r["inference"]["throughput_img_s_b256"] > 0
    assert r["energy"]["lifecycle"]["energy_kwh"] == pytest.approx(
        r["energy"]["step"]["energy_kwh"] + 0.01
    )


def _run(argv, capsys):
    rc = main(argv)
    return rc, capsys.readouterr().err.strip().splitlines()


def test_missing_parent_exits_2_and_writes_nothing(tmp_path, capsys):
    rc, err = _run(["prune", "--from", "no-such-run", "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and len(err) == 1 and "no-such-run" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("sparsity", ["1.0", "-0.1", "abc"])
def test_bad_sparsity_exits_2(parent_run, sparsity, capsys):
    out, _ = parent_run
    with pytest.raises(SystemExit) as exc:
        main(["prune", "--from", PARENT, "--sparsity", sparsity, "--out", str(out)])
    assert exc.value.code == 2
    assert "sparsity" in capsys.readouterr().err


def test_quantizing_an_int8_file_exits_2(parent_run, capsys):
    out, model = parent_run
    x = torch.randn(8, 3, 32, 32)
    q = quantize.quantize_dynamic(model.eval(), x)
    path = out / "q.int8.pt2z"
    int8_file.save_quantized(path, q, {"model": "seed_cnn"})
    rc, err = _run(["quantize", "--from", str(path), "--out", str(out)], capsys)
    assert rc == 2 and len(err) == 1 and "already quantized" in err[0]
    assert not list((out / "results").glob("*quantized*"))


def test_distill_bad_student_and_alpha_exit_2(parent_run, capsys):
    out, _ = parent_run
    rc, err = _run(["distill", "--teacher", PARENT, "--student", "nope", "--out", str(out)], capsys)
    assert rc == 2 and "nope" in err[0]
    rc, err = _run(
        [
            "distill",
            "--teacher",
            PARENT,
            "--student",
            "seed_cnn",
            "--alpha",
            "1.5",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert rc == 2 and "alpha" in err[0]


def test_export_onnx_int8_end_to_end(parent_run):
    pytest.importorskip("onnxruntime")
    out, _ = parent_run
    rc = main(["export", "--from", PARENT, "--int8", "--calib-batches", "2", "--out", str(out)])
    assert rc == 0
    r = _only_result(out, "onnx_int8")
    assert r["precision"] == "int8" and r["parent_run_id"] == PARENT
    assert r["metrics"]["file_size_bytes"] < r["metrics"]["dense_size_bytes"]


@pytest.mark.parametrize(
    ("fmt", "files"), [("openvino", (".xml", ".bin")), ("executorch", (".pte",))]
)
def test_export_openvino_and_executorch_write_deployable_files(parent_run, fmt, files):
    """--format openvino writes an IR (.xml + .bin), --format executorch a .pte; each is measured on
    its own runtime and agrees with the parent on the test images."""
    pytest.importorskip({"openvino": "openvino", "executorch": "executorch.runtime"}[fmt])
    out, model = parent_run
    rc = main(["export", "--from", PARENT, "--format", fmt, "--out", str(out), "--no-progress"])
    assert rc == 0
    r = _only_result(out, f"{fmt}_fp32")
    main_file = out / r["artifacts"]["model"]
    written = [main_file.with_suffix(s) for s in files]
    assert all(p.is_file() for p in written)
    assert r["metrics"]["file_size_bytes"] == sum(p.stat().st_size for p in written)
    assert r["compression"]["runtime"] == {"openvino": "openvino", "executorch": "executorch"}[fmt]
    assert r["inference"]["throughput_img_s_b256"] > 0
    if fmt == "openvino":  # the saved IR runs as the parent does
        from greenai.ml.runtimes.openvino import load_ir

        x = torch.randn(8, 3, 32, 32)
        with torch.no_grad():
            assert torch.allclose(load_ir(main_file)(x), model.eval()(x), atol=1e-3, rtol=1e-3)


def test_a_variant_measured_on_several_runtimes_takes_the_pinned_ones_figures(
    parent_run, monkeypatch
):
    pytest.importorskip("onnxruntime")
    out, _ = parent_run
    monkeypatch.setenv("GREENAI_RUNTIMES", "pytorch")  # restored after: the flags write it
    monkeypatch.setenv("GREENAI_RUNTIME", "")
    rc = main(
        ["prune", "--from", PARENT, "--sparsity", "0.3", "--finetune-epochs", "1",
         "--runtimes", "pytorch_eager,onnxruntime", "--runtime", "onnxruntime",
         "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert rc == 0
    inf = _only_result(out, "pruned_unstructured")["inference"]
    assert set(inf["runtimes"]) == {"pytorch_eager", "onnxruntime"}
    assert inf["runtime"] == "onnxruntime" and inf["runtime_choice"] == "pinned by --runtime"
    chosen = inf["runtimes"]["onnxruntime"]
    assert inf["throughput_img_s_b256"] == chosen["throughput_img_s_b256"]
    assert inf["setting"].startswith("ONNX Runtime")
    assert chosen["agreement_pct"] >= 95


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--runtimes", "tensorrt"], "--runtimes: unknown runtime 'tensorrt'"),
        (["--runtime", "tensorrt"], "argument --runtime: invalid choice"),
    ],
)
def test_bad_runtime_flags_are_one_line(parent_run, capsys, monkeypatch, flags, message):
    out, _ = parent_run
    monkeypatch.setenv("GREENAI_RUNTIMES", "pytorch")
    before = sorted(p.name for p in out.rglob("*"))
    assert _exit_code(["prune", "--from", PARENT, *flags, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == before  # nothing written


def _exit_code(argv: list[str]) -> int:
    """main's return code, or the code argparse exits with."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_distill_end_to_end(parent_run):
    out, _ = parent_run
    rc = main(
        ["distill", "--teacher", PARENT, "--student", "seed_cnn", "--student-width", "0.0625",
         "--epochs", "1", "--temperature", "4", "--alpha", "0.9", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    r = _only_result(out, "distilled")
    assert r["parent_run_id"] == PARENT and r["model"] == "seed_cnn"
    assert r["hyperparameters"]["temperature"] == 4.0
    assert r["energy"]["lifecycle"]["ancestors"][0]["run_id"] == PARENT


class _Branchy(torch.nn.Module):
    """A net whose forward branches on its input's values: fx cannot trace it."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if x.mean() > 0:  # data-dependent control flow
            x = x.relu()
        return self.fc(x.mean(dim=(2, 3)))


def test_structured_pruning_of_an_untraceable_model_is_refused_before_any_write(tmp_path, capsys):
    """One line, exit 2, no run row, no file written."""
    from greenai.ml.models import register_model
    from greenai.storage import open_store

    register_model("test_branchy")(_Branchy)
    torch.manual_seed(0)
    out = tmp_path / "out"
    save_checkpoint(
        out / "models" / "branchy.pt",
        {"epoch": 1, "config": {"model": "test_branchy"}, "num_classes": 10,
         "model_state": _Branchy().state_dict()},
    )  # fmt: skip
    step = {"energy_kwh": 0.01, "co2_kg": 0.005, "duration_s": 10.0}
    write_result(
        out, "baseline", "branchy-run",
        {
            "schema_version": 1, "run_id": "branchy-run", "parent_run_id": None,
            "variant": "baseline", "dataset": "synthetic", "model": "test_branchy", "metrics": {},
            "energy": {"step": step, "lifecycle": {**step, "ancestors": []}},
            "artifacts": {"model": "models/branchy.pt"},
        },
    )  # fmt: skip
    with open_store(None, default_dir=out):
        pass  # an existing, empty store: the refusal must leave it empty
    before = {
        p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "greenai.db" not in p.name
    }
    code = main(["prune", "--from", "branchy-run", "--kind", "structured", "--out", str(out),
                 "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "structured pruning cannot trace this model" in err
    after = {
        p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "greenai.db" not in p.name
    }
    assert after == before
    with open_store(None, default_dir=out, create=False) as store:
        assert store.list_runs() == []
