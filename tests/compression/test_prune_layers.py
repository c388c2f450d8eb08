"""Unstructured pruning prunes every weight layer asked for, says which, and refuses "nothing to prune"
(a user's MLP was once recorded as pruned with not one weight zeroed)."""

from __future__ import annotations

import json

import pytest
import torch
from compression_nets import TinyNet
from torch import nn

from greenai.cli.main import main
from greenai.errors import UsageError
from greenai.ml.compression import prune
from greenai.ml.training.checkpoint import save_checkpoint
from greenai.results.resultfile import write_result


class _Mlp(nn.Module):
    """No conv at all: only linear layers."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(3 * 32 * 32, 32), nn.ReLU(), nn.Linear(32, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_an_mlp_without_include_linear_is_refused_naming_the_flag():
    with pytest.raises(UsageError, match=r"nothing to prune.*--include-linear.*2 linear"):
        prune.prune_unstructured(_Mlp(), 0.5)


def test_an_mlp_with_include_linear_has_every_linear_weight_pruned():
    mlp = _Mlp()
    achieved = prune.prune_unstructured(mlp, 0.5, include_linear=True)
    assert sorted(achieved) == ["body.1.weight", "body.3.weight"]
    for name, w in prune.prunable_weights(mlp, include_linear=True):
        assert float((w == 0).float().mean()) == pytest.approx(0.5, abs=1e-3), name


def test_skipped_weights_names_the_linear_layers_left_dense():
    net = TinyNet()
    assert prune.skipped_weights(net) == ["head.1.weight", "head.3.weight"]
    assert prune.skipped_weights(net, include_linear=True) == []


def test_a_model_without_weight_layers_is_refused():
    with pytest.raises(UsageError, match="no conv or linear weight layers"):
        prune.check_prunable(nn.Sequential(nn.ReLU()), include_linear=True)


@pytest.fixture
def mlp_parent(tmp_path):
    from greenai.ml.models import register_model

    register_model("test_prune_mlp")(_Mlp)
    torch.manual_seed(0)
    out = tmp_path / "out"
    save_checkpoint(
        out / "models" / "mlp.pt",
        {"epoch": 1, "config": {"model": "test_prune_mlp"}, "num_classes": 10,
         "model_state": _Mlp().state_dict()},
    )  # fmt: skip
    step = {"energy_kwh": 0.01, "co2_kg": 0.005, "duration_s": 10.0}
    write_result(
        out, "baseline", "mlp-run",
        {
            "schema_version": 1, "run_id": "mlp-run", "parent_run_id": None,
            "variant": "baseline", "dataset": "synthetic", "model": "test_prune_mlp",
            "metrics": {}, "inference": {"energy_j_per_1000_images": 1e6},
            "energy": {"step": step, "lifecycle": {**step, "ancestors": []}},
            "artifacts": {"model": "models/mlp.pt"},
        },
    )  # fmt: skip
    return out


def test_cli_refuses_an_mlp_without_include_linear_before_any_write(mlp_parent, capsys):
    before = {p: p.read_bytes() for p in mlp_parent.rglob("*") if p.is_file()}
    code = main(["prune", "--from", "mlp-run", "--out", str(mlp_parent), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "nothing to prune" in err and "--include-linear" in err
    after = {p: p.read_bytes() for p in mlp_parent.rglob("*") if p.is_file()}
    assert after.keys() - {p for p in after if p.name.startswith("greenai.db")} == before.keys()


@pytest.mark.slow
def test_cli_prunes_the_mlp_with_include_linear_and_says_which_layers(
    mlp_parent, capsys, monkeypatch
):
    """Also: ``--cpu-watts`` is labelled user-given in the result and the emissions CSV."""
    monkeypatch.setenv("GREENAI_CPU_WATTS", "")  # restored after the CLI sets it
    code = main(
        ["prune", "--from", "mlp-run", "--include-linear", "--sparsity", "0.5",
         "--finetune-epochs", "0", "--limit-train", "64", "--limit-test", "64",
         "--cpu-watts", "7", "--out", str(mlp_parent), "--no-progress"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    (path,) = (mlp_parent / "results").glob("synthetic_pruned_unstructured_*.json")
    result = json.loads(path.read_text())
    comp = result["compression"]
    cpu_method = result["energy"]["step"]["methods"]["cpu"]
    assert "user-given" in cpu_method and "CPU_WATTS=7): 7 W per busy CPU" in cpu_method
    assert "user-given" in (mlp_parent / "logs" / "emissions.csv").read_text()
    if "RAPL" not in cpu_method:  # the inference figures are metered the same way
        assert "user-given" in result["inference"]["energy_method"]
    assert comp["pruned_layers"] == ["body.1.weight", "body.3.weight"]
    assert comp["dense_layers"] == []
    assert "pruned 2 weight layer(s): body.1.weight, body.3.weight" in out
