import itertools
import random

import pytest

from greenai.search import charts, pareto

DIRS = ("maximize", "minimize")


def brute_force_front(points):
    """Indices no other point beats: at least as accurate and as cheap, and better in one."""
    front = []
    for i, (acc_i, cost_i) in enumerate(points):
        beaten = False
        for j, (acc_j, cost_j) in enumerate(points):
            if (
                i != j
                and acc_j >= acc_i
                and cost_j <= cost_i
                and (acc_j, cost_j) != (acc_i, cost_i)
            ):
                beaten = True
        if not beaten:
            front.append(i)
    return front


def grid_area(points, reference):
    """Union of the boxes each (acc, cost) point dominates, by counting grid cells."""
    ref_acc, ref_cost = reference
    accs = sorted({a for a, _ in points} | {ref_acc})
    costs = sorted({c for _, c in points} | {ref_cost})
    area = 0.0
    for a0, a1 in itertools.pairwise(accs):
        for c0, c1 in itertools.pairwise(costs):
            if any(a >= a1 and c <= c0 and a > ref_acc and c < ref_cost for a, c in points):
                area += (a1 - a0) * (c1 - c0)
    return area


@pytest.mark.parametrize("seed", range(20))
def test_non_dominated_matches_brute_force(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    # Coarse values so ties and duplicates occur.
    points = [(rng.randint(0, 10) * 10.0, rng.randint(1, 8) * 0.5) for _ in range(n)]
    front = pareto.non_dominated(points, DIRS)
    assert front == brute_force_front(points)
    for i in front:
        assert not any(pareto.dominates(points[j], points[i], DIRS) for j in range(n))
    for i in set(range(n)) - set(front):
        assert any(pareto.dominates(points[j], points[i], DIRS) for j in front)


def test_hypervolume_of_known_points_is_the_hand_computed_area():
    # reference (0 %, 10 kWh). Front: (50 %, 2 kWh), (80 %, 5 kWh); (40 %, 6) is dominated.
    # Area = 50 x (10 - 2) + (80 - 50) x (10 - 5) = 400 + 150 = 550.
    points = [(50.0, 2.0), (80.0, 5.0), (40.0, 6.0)]
    assert pareto.hypervolume(points, (0.0, 10.0), DIRS) == pytest.approx(550.0)
    # A point worse than the reference in one objective adds nothing.
    assert pareto.hypervolume([*points, (90.0, 12.0)], (0.0, 10.0), DIRS) == pytest.approx(550.0)
    assert pareto.hypervolume([], (0.0, 10.0), DIRS) == 0.0
    assert pareto.normalised(550.0, (0.0, 10.0)) == pytest.approx(0.55)


@pytest.mark.parametrize("seed", range(10))
def test_hypervolume_matches_grid_count(seed):
    rng = random.Random(100 + seed)
    points = [(rng.uniform(0, 100), rng.uniform(0.1, 5.0)) for _ in range(rng.randint(1, 15))]
    ref = pareto.default_reference(points)
    assert pareto.hypervolume(points, ref, DIRS) == pytest.approx(grid_area(points, ref))


def test_history_is_prefix_hypervolume_and_non_decreasing():
    points = [(40.0, 6.0), (50.0, 2.0), (30.0, 1.0), (80.0, 5.0)]
    ref = pareto.default_reference(points)
    assert ref == pytest.approx((0.0, 6.6))
    history = pareto.hypervolume_history(points, ref, DIRS)
    assert history == pytest.approx(
        [pareto.hypervolume(points[: k + 1], ref, DIRS) for k in range(4)]
    )
    assert history[0] == pytest.approx(40.0 * 0.6)
    assert all(b >= a for a, b in itertools.pairwise(history))


def test_bad_direction_is_rejected():
    with pytest.raises(ValueError):
        pareto.non_dominated([(1.0, 2.0)], ("up", "down"))


def test_charts_are_written_as_png(tmp_path):
    trials = [(0, 40.0, 6.0), (1, 50.0, 2.0), (2, 30.0, 1.0), (3, 80.0, 5.0)]
    pc = charts.pareto_chart("t", "energy (kWh)", trials)
    assert [pc.trial_numbers[i] for i in pc.front] == [2, 1, 3]  # sorted by cost
    hc = charts.hypervolume_chart("t", "kWh", trials)
    assert len(hc.hypervolume) == 4
    assert (hc.unit_label, hc.cost_unit) == ("% x kWh", "kWh")
    for path in (
        charts.render_pareto(pc, tmp_path / "p.png"),
        charts.render_hypervolume(hc, tmp_path / "h.png"),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.png", "p.png"]
