from __future__ import annotations

import math

import pytest
import torch

from greenai.errors import DataError, UsageError
from greenai.ml.compression.distill import check_distill_args, distillation_loss
from greenai.results import lineage


def test_distillation_loss_matches_hand_computed_value():
    s = torch.tensor([[1.0, 2.0, 0.5]])
    t = torch.tensor([[0.5, 3.0, -1.0]])
    y = torch.tensor([1])
    T, alpha = 2.0, 0.7
    ps = [math.exp(v / T) for v in (1.0, 2.0, 0.5)]
    pt = [math.exp(v / T) for v in (0.5, 3.0, -1.0)]
    ps = [p / sum(ps) for p in ps]
    pt = [p / sum(pt) for p in pt]
    kl = sum(q * (math.log(q) - math.log(p)) for p, q in zip(ps, pt, strict=True))
    logits = [1.0, 2.0, 0.5]
    ce = -(logits[1] - math.log(sum(math.exp(v) for v in logits)))
    expected = alpha * T * T * kl + (1 - alpha) * ce
    assert float(distillation_loss(s, t, y, T, alpha)) == pytest.approx(expected, rel=1e-6)


def test_distillation_loss_limits():
    s, y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    ce = torch.nn.functional.cross_entropy(s, y)
    assert float(distillation_loss(s, torch.randn(8, 10), y, 3.0, 0.0)) == pytest.approx(float(ce))
    assert float(distillation_loss(s, s.clone(), y, 3.0, 1.0)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("temperature", "alpha"), [(0.0, 0.5), (-1.0, 0.5), (2.0, 1.5), (2.0, -0.1)]
)
def test_bad_distill_args(temperature, alpha):
    with pytest.raises(UsageError):
        check_distill_args(temperature, alpha)


def _result(run_id, parent, kwh, co2, j_per_1000=None, variant="v", intensity=500.0):
    return {
        "run_id": run_id,
        "parent_run_id": parent,
        "variant": variant,
        "energy": {"step": {"energy_kwh": kwh, "co2_kg": co2}},
        "inference": None if j_per_1000 is None else {"energy_j_per_1000_images": j_per_1000},
        "carbon": {"intensity_g_per_kwh": intensity, "pue": 1.0},
    }


@pytest.fixture
def chain():
    runs = {
        "base": _result("base", None, 0.010, 0.005, j_per_1000=4.0, variant="baseline"),
        "pruned": _result(
            "pruned", "base", 0.002, 0.001, j_per_1000=3.0, variant="pruned_structured"
        ),
        "q": _result("q", "pruned", 0.0005, 0.00025, j_per_1000=1.0, variant="quantized_ptq"),
    }
    return runs


def test_lifecycle_sums_every_ancestor(chain):
    life = lineage.lifecycle(chain["q"], chain.get)
    assert life["energy_kwh"] == pytest.approx(0.0125)
    assert life["co2_kg"] == pytest.approx(0.00625)
    assert [a["run_id"] for a in life["ancestors"]] == ["pruned", "base"]
    assert lineage.lifecycle(chain["base"], chain.get)["energy_kwh"] == pytest.approx(0.010)


def test_lifecycle_missing_parent_or_cycle_is_data_error(chain):
    with pytest.raises(DataError, match="not found"):
        lineage.lifecycle(chain["q"], {"q": chain["q"]}.get)
    loop = {"a": _result("a", "b", 1, 1), "b": _result("b", "a", 1, 1)}
    with pytest.raises(DataError, match="cycle"):
        lineage.lifecycle(loop["a"], loop.get)


def test_break_even_arithmetic(chain):
    be = lineage.break_even(chain["pruned"], chain["base"])
    # 0.002 kWh = 7200 J; saves 1 mJ per image -> 7,200,000 inferences
    assert be["inferences"] == 7_200_000
    assert be["never"] is False and be["vs_run_id"] == "base"
    be2 = lineage.break_even(chain["q"], chain["pruned"])
    assert be2["inferences"] == math.ceil(0.0005 * 3.6e6 / 0.002)


def test_break_even_never_when_no_saving(chain):
    worse = _result("w", "base", 0.001, 0.0005, j_per_1000=4.5)
    be = lineage.break_even(worse, chain["base"])
    assert be["never"] is True and be["inferences"] is None
    same = _result("s", "base", 0.001, 0.0005, j_per_1000=4.0)
    assert lineage.break_even(same, chain["base"])["never"] is True
    unknown = lineage.break_even(_result("u", "base", 0.001, 0.0005), chain["base"])
    assert unknown["never"] is False and unknown["inferences"] is None


def test_step_only_vs_lifecycle_reduction(chain):
    r = lineage.reductions(chain["pruned"], chain["base"], chain.get)
    assert r["step_only_pct"] == pytest.approx(80.0)  # the study's kind of figure
    assert r["lifecycle_pct"] == pytest.approx(-20.0)  # the pruned model carries the training
    # after enough inferences the saving per image wins: 1 mJ/image at 500 g/kWh
    n = 10_000_000
    r2 = lineage.reductions(chain["pruned"], chain["base"], chain.get, inferences=n)
    co2_per_j = 500 / 1000 / 3.6e6
    v = 0.006 + n * 3.0e-3 * co2_per_j
    p = 0.005 + n * 4.0e-3 * co2_per_j
    assert r2["lifecycle_pct"] == pytest.approx(100 * (1 - v / p))
