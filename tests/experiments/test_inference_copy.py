"""The baseline's inference figures are taken the way its FP32 variants run (plain NCHW weights)."""

from __future__ import annotations

import torch

from greenai.lifecycle.training_result import inference_copy
from greenai.lifecycle.variant_run import Built
from greenai.ml.evaluation.evaluate import FP32_SETTING
from greenai.ml.models import create_model


def test_a_channels_last_net_is_measured_with_plain_weights_and_left_as_it_was():
    torch.manual_seed(0)
    net = create_model("seed_cnn", width=0.25).train().to(memory_format=torch.channels_last)
    conv = net.features[0].weight
    assert not conv.is_contiguous() and conv.is_contiguous(memory_format=torch.channels_last)
    copy = inference_copy(net)
    assert not copy.training and net.training
    assert all(p.is_contiguous() for p in copy.parameters())
    assert not net.features[0].weight.is_contiguous()  # the trained net is not touched
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(copy(x), net.eval()(x))
    assert Built.__dataclass_fields__["setting"].default == FP32_SETTING  # same label
