from __future__ import annotations

import io

import pytest
import torch
from compression_nets import TinyNet
from torch import nn

from greenai.errors import UsageError
from greenai.ml.compression import prune


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9])
def test_unstructured_zeroes_exact_fraction_of_conv_weights(tiny, sparsity):
    before = {n: w.detach().clone() for n, w in prune.prunable_weights(tiny)}
    achieved = prune.prune_unstructured(tiny, sparsity)
    for name, w in prune.prunable_weights(tiny):
        k = round(sparsity * w.numel())
        assert int((w == 0).sum()) == k
        assert achieved[name] == pytest.approx(k / w.numel())
        # the survivors are the largest magnitudes, unchanged
        kept = w != 0
        if k:
            assert before[name][~kept].abs().max() <= before[name][kept].abs().min()
        assert torch.equal(w[kept], before[name][kept])
    # linear layers untouched unless asked
    assert int((tiny.head[1].weight == 0).sum()) == 0


def test_unstructured_leaves_no_masks_and_plain_state_dict(tiny):
    prune.prune_unstructured(tiny, 0.5, include_linear=True)
    keys = set(tiny.state_dict())
    assert not any(k.endswith(("_orig", "_mask")) for k in keys)
    assert not tiny._forward_pre_hooks
    assert tiny.head[1].weight.eq(0).float().mean() == pytest.approx(0.5, abs=1e-3)


def _saved_size(obj) -> int:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return len(buf.getvalue())


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.7])
def test_encoded_file_never_grows_and_round_trips(tiny, sparsity):
    dense_size = _saved_size(tiny.state_dict())
    prune.prune_unstructured(tiny, sparsity, include_linear=True)
    state = tiny.state_dict()
    blob = prune.encode_state_dict(state)
    buf = io.BytesIO()
    torch.save(blob, buf)
    assert len(buf.getvalue()) <= dense_size
    if sparsity >= 0.3:
        assert len(buf.getvalue()) < 0.85 * dense_size
    buf.seek(0)
    loaded = prune.decode_state_dict(torch.load(buf, weights_only=True))
    assert loaded.keys() == state.keys()
    for k in state:
        assert torch.equal(loaded[k], state[k])


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_sparsity_is_usage_error(tiny, bad):
    with pytest.raises(UsageError, match="sparsity"):
        prune.prune_unstructured(tiny, bad)


def test_structured_removes_channels_and_keeps_output_shape(tiny, images):
    total_before, _ = prune.count_params(tiny)
    changed = prune.prune_structured(tiny, 0.5, images[:4])
    assert changed == {"features.0": (16, 8), "features.4": (32, 16), "head.1": (64, 32)}
    assert tiny.features[0].out_channels == 8
    assert tiny.features[1].num_features == 8
    assert tiny.features[4].in_channels == 8
    assert tiny.head[1].in_features == 16 * 8 * 8
    assert tiny.head[3].in_features == 32 and tiny.head[3].out_features == 10
    total_after, _ = prune.count_params(tiny)
    assert total_after < 0.3 * total_before
    assert tiny(images).shape == (64, 10)


def test_structured_keeps_the_highest_norm_channels_and_their_outputs(images):
    torch.manual_seed(1)
    model = TinyNet().eval()
    w = model.features[0].weight.detach()
    norms = w.flatten(1).abs().sum(1)
    keep = torch.sort(torch.argsort(norms, descending=True)[:12]).values
    with torch.no_grad():
        reference = model.features[:3](images)[:, keep]
    prune.prune_structured(model, 0.25, images[:2], norm=1)
    with torch.no_grad():
        got = model.features[:3](images)
    torch.testing.assert_close(got, reference)


def test_structured_rebuilds_from_state_dict(tiny, images):
    prune.prune_structured(tiny, 0.3, images[:2])
    state = tiny.state_dict()
    fresh = prune.fit_to_state_dict(TinyNet().eval(), state)
    with torch.no_grad():
        torch.testing.assert_close(fresh(images), tiny(images))


def test_structured_skips_residual_branches(images):
    class Res(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 8, 3, padding=1)
            self.b = nn.Conv2d(8, 8, 3, padding=1)
            self.c = nn.Conv2d(8, 8, 3, padding=1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            h = torch.relu(self.a(x))
            h = h + self.c(torch.relu(self.b(h)))
            return self.fc(h.mean((2, 3)))

    model = Res().eval()
    changed = prune.prune_structured(model, 0.5, images[:2])
    assert changed == {"b": (8, 4)}  # a and c feed the residual add; only b is free
    assert model(images).shape == (64, 10)


def test_masks_hold_zeros_during_finetune(tiny, images):
    from greenai.ml.compression.distill import fit

    prune.prune_unstructured(tiny, 0.4)
    masks = prune.zero_masks(tiny)
    y = torch.randint(0, 10, (64,))
    fit(
        tiny,
        lambda: [(images, y)],
        epochs=2,
        lr=1e-2,
        after_step=lambda: prune.apply_masks(tiny, masks),
    )
    for name, w in prune.prunable_weights(tiny):
        assert float((w == 0).float().mean()) >= 0.4 - 1e-3, name


def test_structured_prunes_airbench_through_its_own_layer_classes(images):
    """airbench's conv and batch-norm subclasses are traced as layers: channels go, the output
    shape stays, frozen weights stay frozen, and the file's state rebuilds the same net."""
    from greenai.ml.models import create_model

    torch.manual_seed(0)
    net = create_model("airbench", width=0.25).eval()
    before = sum(p.numel() for p in net.parameters())
    prune.check_structured(net)
    changed = prune.prune_structured(net, 0.3, images[:2])
    assert changed["groups.1.conv1"] == (64, 45) and net(images).shape == (len(images), 10)
    assert sum(p.numel() for p in net.parameters()) < 0.7 * before
    frozen = {n for n, p in net.named_parameters() if not p.requires_grad}
    assert "whiten.weight" in frozen and "groups.0.norm1.weight" in frozen
    rebuilt = prune.fit_to_state_dict(create_model("airbench", width=0.25), net.state_dict())
    torch.testing.assert_close(rebuilt.eval()(images), net(images))


@pytest.mark.parametrize(
    ("channels", "sparsity", "multiple", "kept"),
    [
        (32, 0.3, 1, 22), (64, 0.3, 1, 45), (128, 0.3, 1, 90), (256, 0.3, 1, 179),
        (32, 0.3, 8, 24), (64, 0.3, 8, 48), (128, 0.3, 8, 88), (256, 0.3, 8, 176),
        (32, 0.3, 16, 16), (64, 0.3, 16, 48), (128, 0.3, 16, 96), (256, 0.3, 16, 176),
        (16, 0.3, 16, 16), (100, 0.0, 8, 100), (45, 0.01, 8, 45), (12, 0.3, 8, 8),
        (16, 0.9, 8, 2), (64, 0.95, 8, 3), (30, 0.05, 8, 30),
    ],
)  # fmt: skip
def test_kept_channels_round_to_the_multiple_without_cutting_a_whole_layer(
    channels, sparsity, multiple, kept
):
    assert prune.kept_channels(channels, sparsity, multiple) == kept


def test_structured_channel_multiple_keeps_multiples_and_the_output_shape(images):
    torch.manual_seed(0)
    net = TinyNet(width=32).eval()  # convs of 32 and 64 channels, hidden linear of 64
    changed = prune.prune_structured(net, 0.3, images[:2], multiple_of=8)
    assert changed == {"features.0": (32, 24), "features.4": (64, 48), "head.1": (64, 48)}
    assert prune.channels_removed_fraction(changed) == pytest.approx(1 - 120 / 160)
    assert net.features[4].in_channels == 24 and net.head[1].in_features == 48 * 8 * 8
    assert net(images).shape == (len(images), 10)
    with pytest.raises(UsageError, match="channel multiple"):
        prune.prune_structured(TinyNet().eval(), 0.3, images[:2], multiple_of=0)
