"""QAT's conv + batch-norm folding searched only for the conv kinds a program holds (qat_fold)."""

from __future__ import annotations

import pytest
import torch
from compression_nets import TinyNet, trained_bn

from greenai.ml.compression import quantize
from greenai.ml.compression.qat_fold import folding_present_convs, present_kinds


def _bn_nodes(graph: torch.fx.Graph) -> list[str]:
    return [n.name for n in graph.nodes if "batch_norm" in str(n.target)]


def _qat_prepared() -> tuple[torch.fx.GraphModule, torch.Tensor]:
    from greenai.ml.compression.distill import fit

    torch.manual_seed(0)
    x = torch.randn(64, 3, 32, 32)
    model = trained_bn(TinyNet(width=4), x)  # conv -> batch norm -> relu, twice
    y = model(x).argmax(1).detach()
    prepared = quantize.prepare_qat(model, x[:2])
    fit(prepared, lambda: [(x[i : i + 32], y[i : i + 32]) for i in (0, 32)], epochs=1, lr=1e-3,
        train_mode=lambda flag: quantize.set_qat_mode(prepared, flag))  # fmt: skip
    return prepared, x


def test_present_kinds_names_the_convs_of_a_program():
    conv1d = torch.export.export(torch.nn.Conv1d(2, 2, 3), (torch.randn(1, 2, 8),)).module()
    assert present_kinds(conv1d.graph) == {"conv1d"}
    conv2d = torch.export.export(torch.nn.Conv2d(2, 2, 3), (torch.randn(1, 2, 8, 8),)).module()
    assert present_kinds(conv2d.graph) == {"conv2d"}


def test_a_bn_net_converts_with_its_batch_norms_folded_and_agrees_with_its_fake_quant_self():
    prepared, x = _qat_prepared()
    assert len(_bn_nodes(prepared.graph)) == 2 and present_kinds(prepared.graph) == {"conv2d"}
    quantize.set_qat_mode(prepared, train=False)
    with torch.no_grad():
        fake = prepared(x)
    q = quantize.convert_qat(prepared, x[:2])  # inside folding_present_convs
    assert _bn_nodes(q.module.graph) == []  # both folded into their convs
    with torch.no_grad():
        got = q.module(x)
    assert float((got.argmax(1) == fake.argmax(1)).float().mean()) >= 0.9
    assert sum(t.dtype == torch.int8 for t in q.module.state_dict().values()) == 4


def test_the_context_restores_torchaos_own_pass():
    from torchao.quantization.pt2e import quantize_pt2e

    own = quantize_pt2e._fold_conv_bn_qat
    with pytest.raises(RuntimeError), folding_present_convs():
        assert quantize_pt2e._fold_conv_bn_qat is not own
        raise RuntimeError
    assert quantize_pt2e._fold_conv_bn_qat is own


@pytest.mark.heavy  # torchao's own pass: ~25-55 s of pattern tracing (GREENAI_TEST_HEAVY=1)
def test_the_program_is_the_one_torchaos_own_pass_gives():
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    ours, x = _qat_prepared()
    theirs, _ = _qat_prepared()
    for p in (ours, theirs):
        quantize.set_qat_mode(p, train=False)
    with torch.no_grad(), folding_present_convs():
        a = convert_pt2e(ours)
    with torch.no_grad():
        b = convert_pt2e(theirs)
    assert [str(n.target) for n in a.graph.nodes] == [str(n.target) for n in b.graph.nodes]
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))
