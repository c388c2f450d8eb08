"""Bands propagated by hand: one run's pieces and phases, a three-generation lifecycle, a study."""

from __future__ import annotations

import pytest

from greenai.meter.types import Measurement, PhaseResult
from greenai.results import lineage
from greenai.results import resultfile as rf
from greenai.results.bands import study_total
from greenai.uncertainty import overlap, plus_minus
from greenai.units import CarbonIntensity, Method

KWH = 3.6e6
GRID = CarbonIntensity(100.0, "test grid", low_g_per_kwh=80.0, high_g_per_kwh=120.0)
METHODS = {
    "cpu": Method("measured", "RAPL powercap", "intel-rapl:0"),  # -5 % / +40 %
    "gpu": Method("none", "no device"),
    "ram": Method("estimated", "RSS x W per GB"),  # ±40 %
}


def _measurement(cpu_kwh: float, ram_kwh: float, phase_cpu_kwh: float) -> Measurement:
    energy = {"cpu": cpu_kwh * KWH, "gpu": 0.0, "ram": ram_kwh * KWH}
    phase = PhaseResult("r", "train", "train", 0.0, 10.0, {"cpu": phase_cpu_kwh * KWH}, 0.0)
    co2 = (cpu_kwh + ram_kwh) * 1.5 * 0.1  # PUE 1.5, 100 g/kWh
    return Measurement("r", "x", 0.0, 20.0, energy, METHODS, GRID, 1.5, co2, (phase,))


def test_one_run_band_by_hand():
    piece = rf.piece_from_measurement(_measurement(1.0, 0.1, 0.5))
    # energy: (1 kWh x 0.95 + 0.1 x 0.6) x PUE 1.5 = 1.515; high (1 x 1.4 + 0.1 x 1.4) x 1.5 = 2.31
    assert piece["energy_kwh"] == pytest.approx(1.65)
    assert piece["energy_kwh_low"] == pytest.approx(1.515)
    assert piece["energy_kwh_high"] == pytest.approx(2.31)
    # CO2: 1.515 kWh x 80 g = 0.1212 kg; 2.31 x 120 g = 0.2772 kg
    assert piece["co2_kg_low"] == pytest.approx(0.1212)
    assert piece["co2_kg_high"] == pytest.approx(0.2772)
    (phase,) = piece["phases"]  # 0.5 kWh of RAPL cpu x 1.5
    assert (phase["energy_kwh_low"], phase["energy_kwh_high"]) == pytest.approx((0.7125, 1.05))
    assert (phase["co2_kg_low"], phase["co2_kg_high"]) == pytest.approx((0.057, 0.126))

    # a run of two pieces (e.g. data load, then training): interval sums, phases merged by path
    other = rf.piece_from_measurement(_measurement(0.2, 0.0, 0.2))
    step = rf.sum_pieces([piece, other], 1.5)
    assert step["energy_kwh_low"] == pytest.approx(1.515 + 0.2 * 0.95 * 1.5)
    assert step["co2_kg_high"] == pytest.approx(0.2772 + 0.2 * 1.4 * 1.5 * 0.12)
    (train,) = step["phases"]
    assert train["co2_kg_low"] == pytest.approx(0.057 + 0.2 * 0.95 * 1.5 * 0.08)
    assert step["pieces"][1]["energy_kwh_high"] == pytest.approx(0.2 * 1.4 * 1.5)


def _result(run_id, parent, co2, low, high, embodied=None):
    step = {"energy_kwh": co2 * 10, "energy_kwh_low": low * 10, "energy_kwh_high": high * 10,
            "co2_kg": co2, "co2_kg_low": low, "co2_kg_high": high}  # fmt: skip
    r = {"run_id": run_id, "parent_run_id": parent and parent["run_id"], "variant": run_id,
         "energy": {"step": step, "lifecycle": rf.lifecycle(step, parent)}}  # fmt: skip
    if embodied is not None:
        r["embodied"] = {"step": {"co2_kg": embodied[0], "co2_kg_low": embodied[1],
                                  "co2_kg_high": embodied[2]}}  # fmt: skip
    return r


def test_three_generations_and_a_study_total_by_hand():
    base = _result("baseline", None, 0.1, 0.06, 0.15, (0.02, 0.01, 0.05))
    pruned = _result("pruned", base, 0.02, 0.01, 0.03, (0.001, 0.0005, 0.002))
    quant = _result("quantized", pruned, 0.005, 0.004, 0.007)
    life = quant["energy"]["lifecycle"]  # written at run time, from the parent's lifecycle
    assert (life["co2_kg"], life["co2_kg_low"], life["co2_kg_high"]) == pytest.approx(
        (0.125, 0.074, 0.187)
    )
    assert (life["energy_kwh_low"], life["energy_kwh_high"]) == pytest.approx((0.74, 1.87))
    assert [a["co2_kg_low"] for a in life["ancestors"]] == pytest.approx([0.01, 0.06])
    # recomputed from the results (reports, lineage): the same sums
    again = lineage.lifecycle(quant, {"baseline": base, "pruned": pruned}.get)
    for key in ("co2_kg", "co2_kg_low", "co2_kg_high", "energy_kwh_high"):
        assert again[key] == pytest.approx(life[key])

    total = study_total([base, pruned, quant])  # each run's own step once
    assert (total["co2_kg"], total["co2_kg_low"], total["co2_kg_high"]) == pytest.approx(
        (0.125, 0.074, 0.187)
    )
    emb = total["embodied"]  # beside the operational figure, not in it
    assert (emb["co2_kg"], emb["co2_kg_low"], emb["co2_kg_high"]) == pytest.approx(
        (0.021, 0.0105, 0.052)
    )
    assert total["runs_without_embodied"] == 1


def test_an_old_result_without_bands_counts_as_its_central_figure():
    old = {"energy": {"step": {"energy_kwh": 1.0, "co2_kg": 0.5}}}
    new = _result("n", None, 0.1, 0.05, 0.2)
    total = study_total([old, new])
    assert (total["co2_kg_low"], total["co2_kg_high"]) == pytest.approx((0.55, 0.7))


def test_overlapping_bands_are_not_distinguishable():
    base = _result("baseline", None, 0.1, 0.06, 0.15)
    close = _result("pruned", base, 0.09, 0.054, 0.135)
    far = _result("quantized", base, 0.01, 0.006, 0.015)
    resolve = {"baseline": base}.get
    assert overlap((0.06, 0.15), (0.054, 0.135))
    red = lineage.reductions(close, base, resolve)
    assert red["step_distinguishable"] is False
    red = lineage.reductions(far, base, resolve)
    assert red["step_distinguishable"] is True
    assert plus_minus(1.0, 0.6, 1.4, ".2g") == "1 (-0.4/+0.4)"
