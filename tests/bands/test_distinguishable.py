"""'Not distinguishable' by hand: on a shared basis only the bands' independent parts count.

Runs are built the way the meter's results are (``piece_from_measurement``, ``sum_pieces``,
``carbon_section``): CPU energy by the estimate model (±40 % systematic, ±3 % independent) or by
RAPL (-5 %/+40 %, ±2 % independent), on a 100 g/kWh grid with a ±20 % spread, PUE 1.
"""

from __future__ import annotations

import pytest

from greenai.meter.types import Measurement
from greenai.reports.bandtext import scenario_overlap
from greenai.reports.inputs import RunInput
from greenai.reports.rows import build_rows
from greenai.reports.scenario import scenario
from greenai.reports.table import study_table
from greenai.results import lineage
from greenai.results import resultfile as rf
from greenai.results.bands import step_figure
from greenai.uncertainty import difference, distinguishable, overlap
from greenai.units import CarbonIntensity, Method

KWH = 3.6e6
GRID = CarbonIntensity(100.0, "test grid", low_g_per_kwh=80.0, high_g_per_kwh=120.0)
OTHER_GRID = CarbonIntensity(100.0, "another grid", low_g_per_kwh=80.0, high_g_per_kwh=120.0)
ESTIMATE = Method("estimated", "CPU time × TDP per CPU", "Xeon 4 W per busy CPU")
RAPL = Method("measured", "RAPL powercap", "intel-rapl:0 (package-0)")
SAMPLED = Method("measured", "NVML", "GPU 0 H200: power readings integrated (trapezoid)")
NONE = Method("none", "no device")


RAM = Method("estimated", "RSS × W per GB", "0.375 W/GB")


def _result(
    run_id, cpu_kwh, *, cpu=ESTIMATE, grid=GRID, parent=None, gpu_kwh=0.0, gpu=NONE,
    ram_kwh=0.0, j_per_1000=None,
):  # fmt: skip
    energy = {"cpu": cpu_kwh * KWH, "gpu": gpu_kwh * KWH, "ram": ram_kwh * KWH}
    methods = {"cpu": cpu, "gpu": gpu, "ram": RAM if ram_kwh else NONE}
    co2 = (cpu_kwh + gpu_kwh + ram_kwh) * grid.g_per_kwh / 1000.0
    m = Measurement(run_id, run_id, 0.0, 60.0, energy, methods, grid, 1.0, co2, ())
    step = rf.sum_pieces([rf.piece_from_measurement(m)], 1.0)
    return {
        "schema_version": 1, "run_id": run_id, "variant": "baseline" if parent is None else "pruned",
        "device": "cpu", "parent_run_id": parent and parent["run_id"],
        "metrics": {"test_accuracy_pct": 70.0},
        "energy": {"step": step, "lifecycle": rf.lifecycle(step, parent)},
        "carbon": rf.carbon_section(m),
        "inference": None if j_per_1000 is None else {"energy_j_per_1000_images": j_per_1000},
    }  # fmt: skip


def test_same_method_ten_percent_lower_is_distinguishable():
    base = _result("b", 1.0)  # 0.1 kg: full band 1 x 0.6 x 0.08 = 0.048 .. 1 x 1.4 x 0.12 = 0.168
    pruned = _result("p", 0.9, parent=base)  # 0.09 kg: 0.0432 .. 0.1512
    a, b = step_figure(base), step_figure(pruned)
    assert (a.low, a.high) == pytest.approx((0.048, 0.168))
    assert overlap((a.low, a.high), (b.low, b.high))  # the old rule said "not distinguishable"
    # one part each: the CPU estimate, ±3 % independent, its band 0.6 .. 1.4 shared
    ((key, kg, ind, lo, hi),) = a.parts
    assert key.startswith("cpu: estimated") and (kg, ind, lo, hi) == pytest.approx(
        (0.1, 0.003, 0.6, 1.4)
    )
    assert b.parts[0][1:3] == pytest.approx((0.09, 0.0027))
    # -0.01 widened by 0.003 + 0.0027: -0.0157 .. -0.0043, times 0.6 .. 1.4: -0.02198 .. -0.00258
    assert difference(a, b) == pytest.approx((-0.01, -0.02198, -0.00258))
    assert distinguishable(a, b) is True
    red = lineage.reductions(pruned, base, {"b": base}.get)
    assert red["step_distinguishable"] is True
    # the lifecycles share the baseline (cancels exactly): 0.09 kg of the pruning step against 0
    assert red["lifecycle_distinguishable"] is True


def test_a_difference_inside_the_independent_noise_is_not_distinguishable():
    base = _result("b", 1.0)
    close = _result("c", 0.98, parent=base)  # 2 % lower: independent 0.00294
    # -0.002 widened by 0.003 + 0.00294: -0.00794 .. 0.00394, times 1.4 at both ends
    d, low, high = difference(step_figure(base), step_figure(close))
    assert (d, low, high) == pytest.approx((-0.002, -0.011116, 0.005516))
    assert lineage.reductions(close, base, {"b": base}.get)["step_distinguishable"] is False


def test_different_methods_with_overlapping_bands_are_not_distinguishable():
    base = _result("b", 1.0)  # estimated: 0.048 .. 0.168 kg
    measured = _result("m", 0.9, cpu=RAPL, parent=base)  # 0.09 x 0.95 x 0.8 .. 0.09 x 1.4 x 1.2
    a, b = step_figure(base), step_figure(measured)
    assert (b.low, b.high) == pytest.approx((0.0684, 0.1512))
    # one grid (its factor cannot change the sign), two methods, each with its own factor:
    # estimate -0.1 +- 0.003 times 0.6 .. 1.4 = -0.1442 .. -0.0582; RAPL 0.09 +- 0.0018 times
    # 0.95 .. 1.4 = 0.08379 .. 0.12852; together -0.06041 .. 0.07032
    assert difference(a, b) == pytest.approx((-0.01, -0.06041, 0.07032))
    assert lineage.reductions(measured, base, {"b": base}.get)["step_distinguishable"] is False
    # the same method on another grid (its own spread): the full bands, 0.0432 - 0.168 ..
    elsewhere = step_figure(_result("e", 0.9, grid=OTHER_GRID, parent=base))
    assert difference(a, elsewhere) == pytest.approx((-0.01, 0.0432 - 0.168, 0.1512 - 0.048))
    assert distinguishable(a, elsewhere) is False
    # far apart: distinguishable whatever the methods
    far = _result("f", 0.2, cpu=RAPL, parent=base)  # 0.02 kg
    assert distinguishable(a, step_figure(far)) is True


def test_a_different_mix_of_methods_keeps_its_share_of_the_systematic_error():
    a = step_figure(_result("a", 1.0, cpu=RAPL))  # 0.1 kg, all RAPL
    b = step_figure(_result("b", 0.5, cpu=RAPL, ram_kwh=0.45))  # 0.05 RAPL + 0.045 RAM estimate
    # RAPL: -0.05 +- 0.003 times 0.95 .. 1.4 = -0.0742 .. -0.04465; RAM: 0.045 +- 0.00135 times
    # 0.6 .. 1.4 = 0.02619 .. 0.06489; together -0.04801 .. 0.02024: 5 % lower, not told apart
    assert difference(a, b) == pytest.approx((-0.005, -0.04801, 0.02024))
    assert distinguishable(a, b) is False
    c = step_figure(_result("c", 0.45, cpu=RAPL, ram_kwh=0.405))  # the same mix, 10 % lower
    assert distinguishable(b, c) is True


def test_sampled_gpu_power_keeps_its_twenty_percent_of_run_to_run_noise():
    base = _result("b", 0.0, gpu_kwh=1.0, gpu=SAMPLED)  # 0.1 kg, ±20 % independent
    lower = _result("l", 0.0, gpu_kwh=0.7, gpu=SAMPLED, parent=base)  # 0.07 kg, ±0.014
    a, b = step_figure(base), step_figure(lower)
    assert a.parts[0][1:] == pytest.approx((0.1, 0.02, 0.75, 1.25))
    # -0.03 widened by 0.034: -0.064 .. 0.004, times 0.75 .. 1.25: -0.08 .. 0.005
    assert difference(a, b) == pytest.approx((-0.03, -0.08, 0.005))
    assert distinguishable(a, b) is False  # 30 % lower, but inside ±20 % on each side
    assert distinguishable(a, step_figure(_result("x", 0.0, gpu_kwh=0.6, gpu=SAMPLED))) is True


def test_a_result_without_per_component_figures_is_compared_on_its_full_band():
    base, pruned = _result("b", 1.0), _result("p", 0.9)
    for section in (base["energy"]["step"], pruned["energy"]["step"]):
        del section["by_component_kwh"]
    assert distinguishable(step_figure(base), step_figure(pruned)) is False
    old = {"energy": {"step": {"co2_kg": 0.1}}}  # predates bands: no verdict
    assert step_figure(old) is None and distinguishable(None, step_figure(pruned)) is None


def test_the_report_flags_only_what_lies_inside_the_uncertainty():
    base = _result("b", 1.0)
    runs = [
        RunInput.from_result(base),
        RunInput.from_result(_result("p", 0.9, parent=base)),  # same way, 10 % lower
        RunInput.from_result(_result("q", 0.9, cpu=RAPL, parent=base)),  # measured differently
    ]
    rows = {r.run_id: r for r in build_rows(runs)}
    assert rows["p"].distinguishable_step is True and rows["p"].distinguishable_lifecycle is True
    assert rows["q"].distinguishable_step is False
    table = study_table(list(rows.values()))
    reductions = [c[5] for c in table.cells]
    assert "10.00%" in reductions  # the same-method pruned model, not flagged
    assert "10.00% (not distinguishable)" in reductions  # the RAPL one, flagged
    assert "independent run-to-run parts" in table.note


def test_the_scenario_compares_what_differs_between_two_lineages():
    base = _result("b", 1.0)  # 0.1 kg, shared by both lineages: cancels
    # 3.6e9 inferences at 3.0 / 2.7 J per 1,000 = 3 / 2.7 kWh = 0.3 / 0.27 kg at 100 g/kWh
    pruned = _result("p", 0.1, parent=base, j_per_1000=3.0)  # 0.1 + 0.01 + 0.3 = 0.41 kg
    quant = _result("q", 0.1, parent=base, j_per_1000=2.7)  # 0.1 + 0.01 + 0.27 = 0.38 kg
    other = _result("r", 0.1, cpu=RAPL, parent=base, j_per_1000=2.9)  # measured differently
    rows = build_rows([RunInput.from_result(r) for r in (base, pruned, quant, other)])
    sc = scenario(rows, 3_600_000_000)
    assert sc.winner.row.run_id == "q" and sc.winner.total_co2_kg == pytest.approx(0.38)
    by_id = {ln.row.run_id: ln for ln in sc.lines}
    # q's side 0.28 kg at ±3 %: 0.2716 .. 0.2884; p's 0.31: 0.3007 .. 0.3193 -> -0.0477 .. -0.0123
    assert scenario_overlap(sc.winner, by_id["p"]) is False
    # the same totals compared on full bands (+68 %/-52 %) overlap: the old verdict
    assert overlap((0.38 * 0.48, 0.38 * 1.68), (0.41 * 0.48, 0.41 * 1.68))
    assert scenario_overlap(sc.winner, by_id["r"]) is True  # another method: full bands overlap
