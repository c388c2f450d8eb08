"""Muon (ml/training/muon.py) against hand-computed and numpy-SVD references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from greenai.ml.training.muon import Muon, newton_schulz, orthogonal_update

A, B, C = 3.4445, -4.7750, 2.0315  # the quintic, written out here independently of the module


def quintic(s: np.ndarray | float, times: int = 1) -> np.ndarray | float:
    """What one Newton-Schulz step does to each singular value (of the Frobenius-normalised G)."""
    for _ in range(times):
        s = A * s + B * s**3 + C * s**5
    return s


def test_one_quintic_step_on_a_2x2_by_hand() -> None:
    # G = [[0, 3], [4, 0]]: ||G||_F = 5, X = [[0, .6], [.8, 0]], X X^T = diag(.36, .64), so
    # row 0 becomes (a + b .36 + c .36^2) * (0, .6) and row 1 (a + b .64 + c .64^2) * (.8, 0)
    f06 = 3.4445 * 0.6 - 4.775 * 0.216 + 2.0315 * 0.07776  # = 1.1932694
    f08 = 3.4445 * 0.8 - 4.775 * 0.512 + 2.0315 * 0.32768  # = 0.97648192
    got = newton_schulz(torch.tensor([[0.0, 3.0], [4.0, 0.0]]), steps=1)
    expected = torch.tensor([[0.0, f06], [f08, 0.0]])
    assert torch.allclose(got, expected, atol=1e-6)
    assert f06 == pytest.approx(1.1932694) and f08 == pytest.approx(0.97648192)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6)])
def test_newton_schulz_against_numpy_svd(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.standard_normal((shape[0], shape[0])))
    v, _ = np.linalg.qr(rng.standard_normal((shape[1], shape[1])))
    k = min(shape)
    s = np.array([2.0, 1.0, 0.6, 0.4])[:k]
    g = u[:, :k] @ np.diag(s) @ v[:, :k].T
    got = newton_schulz(torch.tensor(g, dtype=torch.float64), steps=3, eps=0.0, dtype=torch.float64)
    uu, ss, vt = np.linalg.svd(g, full_matrices=False)
    # exact: the same singular vectors, each singular value through the quintic three times
    expected = uu @ np.diag(quintic(ss / np.linalg.norm(g), 3)) @ vt
    assert np.allclose(got.numpy(), expected, atol=1e-10)
    # and what NS is for: close to U V^T, singular values in about [0.5, 1.5], not exactly 1
    polar = uu @ vt
    assert np.linalg.norm(got.numpy() - polar, 2) < 0.5
    assert np.all(np.abs(np.linalg.svd(got.numpy(), compute_uv=False) - 1) < 0.5)
    assert np.linalg.norm(got.numpy() - polar, 2) > 1e-3  # an approximation, as documented


def test_conv_filters_are_flattened_and_tall_matrices_scaled() -> None:
    g = torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    upd = orthogonal_update(g)
    assert upd.shape == g.shape
    assert torch.allclose(upd, newton_schulz(g.reshape(8, 27)).view(8, 3, 3, 3))  # scale 1: wide
    tall = torch.randn(8, 2, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(orthogonal_update(tall), newton_schulz(tall) * 2.0)  # sqrt(8 / 2)


def _muon_param(value: list[list[float]]) -> tuple[torch.nn.Parameter, Muon]:
    p = torch.nn.Parameter(torch.tensor(value))
    return p, Muon([p], lr=0.1, muon_momentum=0.5, nesterov=True, ns_steps=1)


def test_one_muon_step_by_hand_then_momentum_over_a_second() -> None:
    p, opt = _muon_param([[1.0, 0.0], [0.0, 1.0]])
    p.grad = torch.tensor([[3.0, 0.0], [0.0, 4.0]])
    opt.step()
    # buffer = g; Nesterov: g + 0.5 g = diag(4.5, 6), normalised diag(.6, .8), one quintic step
    expected = torch.tensor([[1 - 0.1 * quintic(0.6), 0.0], [0.0, 1 - 0.1 * quintic(0.8)]])
    assert torch.allclose(p.detach(), expected, atol=1e-6)
    assert torch.equal(opt.state[p]["momentum_buffer"], torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
    p.grad = torch.tensor([[4.0, 0.0], [0.0, 3.0]])
    opt.step()
    # buffer = 0.5 diag(3, 4) + diag(4, 3) = diag(5.5, 5); Nesterov: diag(4 + 2.75, 3 + 2.5)
    assert torch.allclose(opt.state[p]["momentum_buffer"], torch.tensor([[5.5, 0.0], [0.0, 5.0]]))
    look = np.array([6.75, 5.5])
    f = quintic(look / np.linalg.norm(look))
    expected -= 0.1 * torch.tensor([[f[0], 0.0], [0.0, f[1]]], dtype=torch.float32)
    assert torch.allclose(p.detach(), expected, atol=1e-6)


def test_norm_weights_rescales_before_the_step() -> None:
    p = torch.nn.Parameter(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))  # norm 5, rescaled to sqrt(2)
    opt = Muon([p], lr=0.1, muon_momentum=0.5, nesterov=False, norm_weights=True, ns_steps=1)
    p.grad = torch.tensor([[3.0, 0.0], [0.0, 4.0]])
    opt.step()
    r = 2**0.5 / 5
    expected = torch.tensor([[3 * r - 0.1 * quintic(0.6), 0.0], [0.0, 4 * r - 0.1 * quintic(0.8)]])
    assert torch.allclose(p.detach(), expected, atol=1e-6)


def test_sgd_groups_step_exactly_as_torch_sgd() -> None:
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5))
    b = torch.nn.Parameter(a.detach().clone())
    ours = Muon([{"params": [a], "muon": False}], lr=0.05, momentum=0.85, weight_decay=0.01)
    ref = torch.optim.SGD([b], lr=0.05, momentum=0.85, nesterov=True, weight_decay=0.01)
    for _ in range(3):
        g = torch.randn(5)
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    assert torch.allclose(a, b, atol=1e-7)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 2 dimensions"):
        Muon([torch.nn.Parameter(torch.zeros(3))])
    with pytest.raises(ValueError, match="Nesterov"):
        Muon([torch.nn.Parameter(torch.zeros(2, 2))], muon_momentum=0.0)
    with pytest.raises(ValueError, match="2-D"):
        newton_schulz(torch.zeros(2, 2, 2))
