"""EfficientNet-B0 for small images: shapes, size, trainability, and export for INT8."""

from __future__ import annotations

import pytest
import torch

from greenai.ml.models import count_params, create_model
from greenai.ml.models.efficientnet import B0_STAGES, MBConv, SqueezeExcite, round_channels


@pytest.mark.parametrize(
    ("shape", "classes", "fmap"),
    [((3, 32, 32), 10, 4), ((1, 28, 28), 7, 4), ((3, 64, 64), 10, 8), ((3, 96, 96), 3, 3)],
)
def test_output_and_feature_map_shapes(shape, classes, fmap):
    model = create_model("efficientnet_b0", num_classes=classes, input_shape=shape, width=0.25)
    x = torch.randn(2, *shape)
    assert model.eval()(x).shape == (2, classes)
    # <= 64 px: stride 1 in the stem and stage 2 (8x); larger inputs: B0's 32x
    assert model.features(x).shape[-2:] == (fmap, fmap)


def test_b0_layout_and_parameter_count():
    model = create_model("efficientnet_b0")
    blocks = [m for m in model.modules() if isinstance(m, MBConv)]
    assert len(blocks) == sum(s.repeats for s in B0_STAGES) == 16
    assert sum(b.residual for b in blocks) == 16 - len(B0_STAGES)  # all but each stage's first
    assert len([m for m in model.modules() if isinstance(m, SqueezeExcite)]) == 16
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert {m.kernel_size for m in depthwise} == {(3, 3), (5, 5)}
    assert all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    # B0's 5.29 M less its 1000-class head; torchvision's efficientnet_b0(num_classes=10) too
    assert 3.5e6 < count_params(model) < 4.5e6
    assert count_params(model) == 4_020_358


def test_width_scales_channels_in_multiples_of_eight():
    half = create_model("efficientnet_b0", width=0.5)
    assert count_params(half) < count_params(create_model("efficientnet_b0")) / 2
    convs = [m for m in half.modules() if isinstance(m, torch.nn.Conv2d)]
    se_reduce = {id(m.reduce) for m in half.modules() if isinstance(m, SqueezeExcite)}
    assert all(m.out_channels % 8 == 0 for m in convs if id(m) not in se_reduce)
    assert [round_channels(c) for c in (16, 12, 20, 4.8, 57)] == [16, 16, 24, 8, 56]


def test_a_few_sgd_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = create_model("efficientnet_b0", width=0.25, dropout=0.0)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_torch_export_traces_it_in_eval_mode():
    torch.manual_seed(0)
    model = create_model("efficientnet_b0", width=0.25).eval()
    x = torch.randn(2, 3, 32, 32)
    exported = torch.export.export(model, (x,))
    assert torch.allclose(exported.module()(x), model(x), atol=1e-5)
