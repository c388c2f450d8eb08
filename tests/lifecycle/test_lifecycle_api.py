"""``greenai.lifecycle`` end to end: the user's own nn.Module class trained in their own loop under
``greenai.track``, registered, then pruned, quantized, distilled and reported, all on four in-memory
tensors; every step a run in the store with its lineage.

Nothing of greenai is faked; the energy figures are what the meter measures or estimates here."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import greenai
import greenai.lifecycle as lc
from greenai.cli.main import main
from greenai.errors import UsageError
from greenai.storage import open_store

SHAPE = (3, 12, 12)
CLASSES = 3


class Net(nn.Module):
    """The user's model: a class of their own, built for any input shape."""

    def __init__(self, num_classes: int = CLASSES, input_shape=SHAPE, hidden: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(input_shape[0], hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def make_net(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """The same model as a factory function."""
    return Net(num_classes, input_shape)


def tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): float images in 0..1, NCHW; labels 0..2."""
    g = torch.Generator().manual_seed(0)
    x_train, x_test = torch.rand(64, *SHAPE, generator=g), torch.rand(32, *SHAPE, generator=g)
    return x_train, torch.arange(64) % CLASSES, x_test, torch.arange(32) % CLASSES


def train(net: nn.Module, data, epochs: int = 2) -> None:
    """The user's own training loop."""
    x, y = data[0], data[1]
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    net.train()
    for _ in range(epochs):
        for i in range(0, len(x), 16):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[i : i + 16]), y[i : i + 16]).backward()
            opt.step()


def stored_result(url: str, run_id: str) -> dict:
    with open_store(url) as store:
        return dict(store.get_run(run_id).result)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory):
    """One lifecycle shared by the tests below: track + register, then prune, quantize, distill."""
    root = tmp_path_factory.mktemp("api")
    url = f"sqlite:///{root / 'runs.db'}"
    out = root / "runs"
    data = tensors()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GREENAI_STORE", raising=False)
        torch.manual_seed(0)
        net = Net()
        with greenai.track("my training", store=url) as t:
            train(net, data)
        registered = lc.register(net, data, measurement=t.measurement, store=url, out_dir=out)
        pruned = lc.prune(registered, data, sparsity=0.3, store=url)
        quantized = lc.quantize(registered, data, method="ptq", calib_batches=1, store=url)
        distilled = lc.distill(registered, data, student=Net(hidden=4), epochs=1, store=url)
        yield {
            "root": root, "url": url, "out": out, "data": data, "tracked": t.measurement.run_id,
            "registered": registered, "pruned": pruned, "quantized": quantized,
            "distilled": distilled,
        }  # fmt: skip


@pytest.fixture(autouse=True)
def _no_env_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENAI_STORE", raising=False)


def assert_child_of(child: lc.StepResult, parent: lc.StepResult) -> None:
    """The child's lifecycle is its own step plus the parent's lifecycle (energy and CO2)."""
    assert child.result["parent_run_id"] == parent.run_id
    assert child.parent_energy_known is True
    assert child.lifecycle_energy_kwh == pytest.approx(
        child.energy_kwh + parent.lifecycle_energy_kwh, rel=1e-9
    )
    assert child.lifecycle_co2_kg == pytest.approx(child.co2_kg + parent.lifecycle_co2_kg, rel=1e-9)
    ancestors = [a["run_id"] for a in child.result["energy"]["lifecycle"]["ancestors"]]
    parents = [a["run_id"] for a in parent.result["energy"]["lifecycle"]["ancestors"]]
    assert ancestors == [parent.run_id, *parents]


def test_registered_model_counts_its_tracked_training(session):
    reg, tracked = session["registered"], session["tracked"]
    tracked_result = stored_result(session["url"], tracked)
    assert tracked_result["variant"] == "tracked"
    tracked_kwh = tracked_result["energy"]["lifecycle"]["energy_kwh"]
    assert tracked_kwh > 0

    assert reg.variant == "registered"
    assert reg.result["parent_run_id"] == tracked  # the tracked run is the parent, counted once
    assert reg.parent_energy_known is True
    assert reg.lifecycle_energy_kwh == pytest.approx(reg.energy_kwh + tracked_kwh, rel=1e-9)
    life = reg.result["energy"]["lifecycle"]
    assert [a["run_id"] for a in life["ancestors"]] == [tracked]
    assert reg.accuracy_pct is not None and 0 <= reg.accuracy_pct <= 100
    assert reg.model_path is not None and reg.model_path.is_file()
    assert reg.result["model"].endswith(":Net")  # rebuildable: the class's file and name
    assert reg.result["metrics"]["test_images"] == 32
    assert stored_result(session["url"], reg.run_id)["run_id"] == reg.run_id


def test_register_without_a_measurement_says_training_energy_unknown(tmp_path):
    net = Net()
    train(net, tensors(), epochs=1)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    reg = lc.register(net, tensors(), store=url, out_dir=tmp_path / "out")
    life = reg.result["energy"]["lifecycle"]
    assert reg.parent_energy_known is False
    assert life["parent_energy_known"] is False
    assert "parent energy unknown" in life["note"] and "no measurement" in life["note"]
    assert life["ancestors"] == [] and reg.result["parent_run_id"] is None
    assert reg.lifecycle_energy_kwh == pytest.approx(reg.energy_kwh)  # this step only


def test_prune_quantize_distill_from_step_results(session):
    reg = session["registered"]
    pruned, quantized, distilled = session["pruned"], session["quantized"], session["distilled"]
    assert pruned.variant == "pruned_unstructured"
    assert quantized.variant == "quantized_ptq" and quantized.result["precision"] == "int8"
    assert distilled.variant == "distilled"
    for child in (pruned, quantized, distilled):
        assert_child_of(child, reg)
        assert child.model_path is not None and child.model_path.is_file()
        assert child.out_dir == session["out"]  # a derived step writes where its parent did
        assert child.break_even is not None and child.break_even["vs_run_id"] == reg.run_id
    nonzero = pruned.result["metrics"]["nonzero_params"]
    assert nonzero < reg.result["metrics"]["nonzero_params"]
    assert distilled.result["metrics"]["params"] < reg.result["metrics"]["params"]


def test_a_distilled_student_module_is_a_parent_for_the_next_step(session):
    """The student was given as an nn.Module: its file must still rebuild it for the next step."""
    distilled = session["distilled"]
    pruned = lc.prune(distilled, session["data"], sparsity=0.3, store=session["url"])
    assert_child_of(pruned, distilled)
    tracked = session["tracked"]
    ancestors = [a["run_id"] for a in pruned.result["energy"]["lifecycle"]["ancestors"]]
    assert ancestors == [distilled.run_id, session["registered"].run_id, tracked]


def test_report_and_runs_list_every_run(session, capsys):
    steps = [session[k] for k in ("registered", "pruned", "quantized", "distilled")]
    files = lc.report(steps, out_dir=session["root"] / "report", store=session["url"])
    assert files.html.is_file() and files.html.name == "report.html"
    html = files.html.read_text(encoding="utf-8")
    for label in ("Registered (own training)", "Pruned (unstructured)", "Quantized (PTQ INT8)",
                  "Distilled"):  # fmt: skip
        assert label in html, label

    capsys.readouterr()
    assert main(["runs", "--store", session["url"]]) == 0
    listing = capsys.readouterr().out
    for run_id in [session["tracked"], *(s.run_id for s in steps)]:
        assert run_id in listing, run_id


def test_baseline_trains_a_factory_function_on_in_memory_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    base = lc.baseline(make_net, tensors(), epochs=1, store=url, out_dir=tmp_path / "out")
    assert base.variant == "baseline"
    assert base.result["training"]["input_shape"] == list(SHAPE)
    assert base.result["training"]["num_classes"] == CLASSES
    assert base.result["model"].endswith(":make_net")
    assert base.parent_energy_known is True and base.lifecycle_energy_kwh == base.energy_kwh > 0
    assert base.model_path is not None and base.model_path.is_file()
    assert stored_result(url, base.run_id)["variant"] == "baseline"


def test_a_step_without_data_from_in_memory_data_asks_for_it(session):
    """In-memory data cannot be found again by name: the step says to pass ``data=``."""
    with pytest.raises(UsageError, match="pass data="):
        lc.prune(session["registered"], sparsity=0.3, store=session["url"])


SCRIPT = """
    import torch
    from torch import nn

    import greenai
    import greenai.lifecycle as lc

    print("script body runs", flush=True)


    class Net(nn.Module):
        def __init__(self, num_classes=3, input_shape=(3, 12, 12)):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(input_shape[0], 4, 3, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes),
            )

        def forward(self, x):
            return self.body(x)


    g = torch.Generator().manual_seed(0)
    data = (torch.rand(32, 3, 12, 12, generator=g), torch.arange(32) % 3,
            torch.rand(16, 3, 12, 12, generator=g), torch.arange(16) % 3)
    net = Net()
    with greenai.track("train", store="runs.db") as t:
        net(data[0]).sum().backward()
    reg = lc.register(net, data, measurement=t.measurement, store="runs.db", out_dir="out")
    lc.prune(reg, data, sparsity=0.3, store="runs.db", finetune_epochs=0)
"""


def test_a_model_class_defined_in_the_running_script_is_not_run_again(tmp_path):
    """The usual script: its model class at top level, no ``if __name__ == "__main__"``. The next
    step rebuilds the model without executing the script a second time."""
    (tmp_path / "train.py").write_text(textwrap.dedent(SCRIPT), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAI_")}
    # each step's inference on PyTorch only, as in the rest of the suite (tests/conftest.py): every
    # installed runtime (ExecuTorch's lowering above all) added 25-150 s here; tests/runtimes has them
    env["GREENAI_RUNTIMES"] = "pytorch"
    proc = subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert proc.stdout.count("script body runs") == 1
    with open_store(str(tmp_path / "runs.db")) as store:
        variants = sorted(r.variant for r in store.list_runs())
    assert variants == ["pruned_unstructured", "registered", "tracked"]


def test_step_result_paths_are_under_out_dir(session):
    out: Path = session["out"]
    reg = session["registered"]
    assert (out / "results").is_dir()
    assert any(p.name.endswith(f"_{reg.run_id}.json") for p in (out / "results").iterdir())
