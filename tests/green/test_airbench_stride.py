"""airbench_s2: the whitening conv on non-overlapping 2x2 patches (models/airbench.py)."""

from __future__ import annotations

import pytest
import torch

from greenai.errors import UsageError
from greenai.ml.models import create_model
from greenai.ml.models.airbench import AirbenchNet, airbench, min_side


def _primed(name: str, side: int = 32) -> tuple[AirbenchNet, torch.Tensor]:
    torch.manual_seed(0)
    net = create_model(name, width=0.125, input_shape=(3, side, side))
    x = torch.randn(8, 3, side, side)
    net.train()
    net(x)  # the first training batch sets the whitening filters
    return net, x


def test_every_later_layer_sees_a_quarter_of_the_pixels():
    seen = {}
    for name in ("airbench", "airbench_s2"):
        net, x = _primed(name)
        net.eval()
        net.groups[0].conv1.register_forward_hook(lambda m, i, o, n=name: seen.update({n: o.shape}))
        assert net(x).shape == (8, 10)
    assert seen["airbench"][-2:] == (31, 31) and seen["airbench_s2"][-2:] == (16, 16)


def test_the_patches_are_recoverable_from_the_whitened_output():
    net, x = _primed("airbench_s2")
    w = net.whiten.weight.reshape(24, 12).double()  # each filter: one 2x2 RGB patch direction
    # all 12 dimensions of a patch are kept: no information is lost
    assert torch.linalg.matrix_rank(w) == 12
    out = (net.whiten(x) - net.whiten.bias[:, None, None]).double()  # (8, 24, 16, 16), before GELU
    patches = torch.linalg.lstsq(w, out.permute(1, 0, 2, 3).reshape(24, -1)).solution
    want = x.double().unfold(2, 2, 2).unfold(3, 2, 2)  # (8, 3, 16, 16, 2, 2) non-overlapping
    want = want.permute(1, 4, 5, 0, 2, 3).reshape(12, -1)  # (c, kh, kw) as the filters order them
    torch.testing.assert_close(patches, want, rtol=1e-4, atol=1e-4)


def test_the_smallest_input_is_16_pixels_and_a_smaller_one_is_refused():
    assert min_side(1) == 9 and min_side(2) == 16
    smallest = create_model("airbench_s2", input_shape=(3, 16, 16))
    assert smallest(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    with pytest.raises(UsageError, match="at least 16x16 pixels"):
        create_model("airbench_s2", input_shape=(3, 15, 15))
    with pytest.raises(ValueError, match="whiten_stride must be 1 or 2"):
        airbench(whiten_stride=3)
