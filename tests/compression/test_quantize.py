from __future__ import annotations

import io

import pytest
import torch
from compression_nets import TinyNet, trained_bn

from greenai.errors import DataError, UsageError
from greenai.ml.compression import int8_file, quantize


def _agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.argmax(1) == b.argmax(1)).float().mean())


@pytest.fixture(scope="module")
def model_and_data():
    torch.manual_seed(0)
    x = torch.randn(128, 3, 32, 32)
    return trained_bn(TinyNet(width=16), x), x


@pytest.fixture(scope="module")
def ptq(model_and_data):
    model, x = model_and_data
    calib = [x[i : i + 32] for i in range(0, 96, 32)]
    return quantize.quantize_ptq(model, calib, x[:2])


def test_ptq_int8_agrees_with_fp32_and_holds_int8_weights(model_and_data, ptq):
    model, x = model_and_data
    with torch.no_grad():
        ref, got = model(x), ptq.module(x)
    assert _agreement(ref, got) >= 0.9
    int8 = [t for t in ptq.module.state_dict().values() if t.dtype == torch.int8]
    assert len(int8) == 4  # two convs and two linear layers
    assert ptq.route.startswith("torchao.quantization.pt2e")
    assert quantize.is_quantized_module(ptq.module)


def test_saved_int8_file_is_small_and_reloads_exactly(tmp_path, model_and_data, ptq):
    model, x = model_and_data
    path = tmp_path / "q.int8"
    size = int8_file.save_quantized(path, ptq, {"model": "tiny"})
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    # int8 weights + scales + the graph: ~3.7x on this 0.14 M-parameter net (the graph is a larger
    # share of a small model), >= 3.8x on seed_cnn (bench/compression.py)
    assert len(buf.getvalue()) / size >= 3.5
    loaded, meta = int8_file.load_quantized(path)
    assert meta["method"] == "ptq" and meta["model"] == "tiny"
    with torch.no_grad():
        torch.testing.assert_close(loaded(x[:16]), ptq.module(x[:16]))
        assert loaded(x[:1]).shape == (1, 10)  # batch dimension stays dynamic


def test_quantizing_a_quantized_model_is_usage_error(ptq, model_and_data):
    _, x = model_and_data
    with pytest.raises(UsageError, match="already quantized"):
        quantize.quantize_ptq(ptq.module, [x[:8]], x[:2])


def test_corrupt_int8_file_is_data_error(tmp_path):
    path = tmp_path / "bad.int8"
    path.write_bytes(int8_file.MAGIC + b"{}\nnot zlib")
    with pytest.raises(DataError):
        int8_file.load_quantized(path)
    (tmp_path / "other").write_bytes(b"hello")
    assert not int8_file.is_quantized_file(tmp_path / "other")


def test_dynamic_quantizes_linear_layers_only(model_and_data):
    model, x = model_and_data
    q = quantize.quantize_dynamic(model, x[:2])
    int8 = [t for t in q.module.state_dict().values() if t.dtype == torch.int8]
    assert len(int8) == 2
    with torch.no_grad():
        assert _agreement(model(x), q.module(x)) >= 0.9


def test_qat_trains_and_converts(model_and_data):
    from greenai.ml.compression.distill import fit

    _, x = model_and_data
    torch.manual_seed(0)
    # no BN: seed_cnn has none by default, and folding conv-BN for QAT costs ~35 s of pattern tracing
    model = trained_bn(TinyNet(width=4, batchnorm=False), x)
    y = model(x).argmax(1).detach()
    prepared = quantize.prepare_qat(model, x[:2])
    stats = fit(
        prepared,
        lambda: [(x[i : i + 32], y[i : i + 32]) for i in range(0, 128, 32)],
        epochs=2,
        lr=1e-3,
        train_mode=lambda flag: quantize.set_qat_mode(prepared, flag),
    )
    assert stats.steps == 8
    q = quantize.convert_qat(prepared, x[:2])
    assert q.method == "qat"
    assert any(t.dtype == torch.int8 for t in q.module.state_dict().values())
    with torch.no_grad():
        assert q.module(x).shape == (128, 10)


def test_qat_on_airbench_loaded_from_a_checkpoint():
    """A trained airbench (whitening already set) loaded from its state: QAT traces, trains a step
    and converts to INT8 (the whitening check is a Python flag kept in step with the buffer)."""
    from greenai.ml.compression.distill import fit
    from greenai.ml.models import create_model

    torch.manual_seed(0)
    trained = create_model("airbench", width=0.25).train()
    trained(torch.randn(8, 3, 32, 32))  # the first training batch sets the whitening
    whiten = trained.whiten.weight.detach().clone()
    net = create_model("airbench", width=0.25)
    net.load_state_dict(trained.state_dict())
    x = torch.randn(2, 3, 32, 32)
    prepared = quantize.prepare_qat(net, x)
    batches = [(torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,)))]
    fit(prepared, lambda: iter(batches), 1, lr=1e-4,
        train_mode=lambda flag: quantize.set_qat_mode(prepared, flag))  # fmt: skip
    result = quantize.convert_qat(prepared, x)
    assert result.module(x).shape == (2, 10)
    torch.testing.assert_close(net.whiten.weight, whiten)  # not re-initialised by training


def test_ptq_quantizes_every_conv_of_the_green_recipes_airbench_net():
    """The x86 quantizer finds convs by module class: airbench's convs must be plain Conv2d."""
    from greenai.ml.models import create_model

    torch.manual_seed(0)
    net = create_model("airbench", width=0.25).train()
    x = torch.randn(16, 3, 32, 32)
    net(x)  # sets the whitening
    q = quantize.quantize_ptq(net.eval(), [x], x[:2])
    convs = [
        n for n in q.module.graph.nodes if n.op == "call_function" and "conv2d" in str(n.target)
    ]
    assert len(convs) == 7  # whitening + 3 groups x 2
    assert all(
        n.args[1].op == "call_function" for n in convs
    )  # weight = dequantize(int8), not FP32
    with torch.no_grad():
        assert _agreement(q.module(x), net(x)) >= 0.8
