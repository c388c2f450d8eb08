"""The deployment-runtime layer: every installed runtime runs a model as PyTorch does (FP32), its
INT8 agrees on most of a batch, a runtime that is not installed is skipped with a note, and the
fastest that kept the accuracy is chosen (or the pinned one)."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from greenai.ml.runtimes import BACKENDS, resolve_runtimes
from greenai.ml.runtimes.measure import RuntimeSource, choose, measure_runtimes, prepare_all
from greenai.ml.runtimes.pytorch import Compiled, Eager


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose class (0-2) is the brightest colour channel: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 3, 16, 16, generator=g) * 0.5
    x[torch.arange(n), y] += 1.5
    return x, y


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 3),
    )  # fmt: skip
    x, y = _data(512, 1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        idx = torch.randint(0, len(x), (64,))
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x_test, y_test = _data(300, 2)
    calib = [x[i : i + 64] for i in range(0, 256, 64)]
    return net, x_test, y_test, calib


def test_every_installed_runtime_runs_fp32_as_pytorch_does(trained) -> None:
    net, x_test, _, _ = trained
    names, skipped = resolve_runtimes("all")
    assert set(names) | set(skipped) == set(BACKENDS)
    own = Eager().fp32(net, x_test, None)
    ready, failed = prepare_all(RuntimeSource(net), own, x_test, names)
    assert failed == {}
    assert {p.runtime for p in ready} == set(names) | {"pytorch_eager"}
    with torch.no_grad():
        ref = net(x_test)
    for p in ready:
        out = p.predict(x_test)
        assert out.shape == ref.shape, p.runtime
        assert torch.allclose(out, ref, atol=1e-3, rtol=1e-3), p.runtime
        assert torch.allclose(p.predict(x_test[:1]), ref[:1], atol=1e-3, rtol=1e-3), p.runtime


def test_int8_on_each_runtime_agrees_on_most_of_a_batch(trained) -> None:
    net, x_test, _, calib = trained
    names, _ = resolve_runtimes("all")
    own = Compiled().int8(net, x_test, calib, None)[0]
    ready, failed = prepare_all(
        RuntimeSource(net, "int8", calib, own="pytorch_compiled"), own, x_test, names
    )
    assert failed == {"pytorch_eager": "has no INT8 route for this model"}
    routes = {p.runtime for p in ready}
    if "openvino" in names:
        assert {"openvino", "openvino_qdq"} <= routes  # NNCF and the ONNX QDQ model, both
    with torch.no_grad():
        ref = net(x_test).argmax(1)
    for p in ready:
        assert p.precision == "int8"
        agree = (p.predict(x_test).argmax(1) == ref).float().mean().item()
        assert agree >= 0.9, (p.runtime, agree)


def test_measured_table_and_the_fastest_chosen(trained) -> None:
    net, x_test, y_test, _ = trained
    own = Eager().fp32(net, x_test, None)
    ready, _ = prepare_all(RuntimeSource(net), own, x_test, ["onnxruntime"])
    out = measure_runtimes(ready, x_test[:64], x_test, y_test, energy_images=256)
    rows = out["runtimes"]
    assert set(rows) == {"pytorch_eager", "onnxruntime"}
    for row in rows.values():
        assert row["throughput_img_s_b256"] > 0 and row["latency_ms_b1"] > 0
        assert row["energy_j_per_1000_images"] > 0
        assert "estimated" in row["energy_method"] or "measured" in row["energy_method"]
        assert row["test_accuracy_pct"] > 90  # the task is easy; a broken conversion is not
    assert rows["onnxruntime"]["agreement_pct"] >= 99
    fastest = max(rows, key=lambda n: rows[n]["throughput_img_s_b256"])
    assert out["runtime"] == fastest
    pinned = measure_runtimes(ready, x_test[:64], x_test, y_test, pin="pytorch_eager",
                              energy_images=256)  # fmt: skip
    assert pinned["runtime"] == "pytorch_eager" and "pinned" in pinned["runtime_choice"]


def test_a_runtime_that_changed_accuracy_is_not_chosen() -> None:
    rows = {
        "pytorch_eager": {"test_accuracy_pct": 90.0, "throughput_img_s_b256": 100.0},
        "openvino": {"test_accuracy_pct": 80.0, "throughput_img_s_b256": 900.0},
        "onnxruntime": {"test_accuracy_pct": 89.8, "throughput_img_s_b256": 300.0},
    }
    best, why = choose(rows, "pytorch_eager", None)
    assert best == "onnxruntime"
    assert "openvino" in why and "accuracy moved" in why
    assert choose(rows, "pytorch_eager", "executorch")[0] == "pytorch_eager"


def test_a_missing_runtime_is_skipped_with_a_note(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if the package were not installed
    names, skipped = resolve_runtimes("auto")
    assert "openvino" not in names
    assert "pip install 'greenai[openvino]'" in skipped["openvino"]
    assert "pytorch_eager" in names
    assert resolve_runtimes("pytorch") == ([], {})
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'"):
        resolve_runtimes("onnxruntime,tensorrt")
