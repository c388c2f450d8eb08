"""A multi-node job's embodied carbon counts every machine it ran on (#16), each taken to be like
the one that formed the total; its lifecycle adds the parent's as for any run."""

from __future__ import annotations

import pytest

from greenai.carbon.embodied import embodied_section, for_machines


def test_a_job_on_three_machines_carries_three_machines_embodied_carbon():
    one = embodied_section(3600.0, 0, env={})
    three = for_machines(one, 3)
    for k in ("co2_kg", "co2_kg_low", "co2_kg_high"):
        assert three["step"][k] == pytest.approx(3 * one["step"][k])
    assert three["step"]["machines"] == 3 and three["step"]["method"].startswith("3 machines")
    assert three["lifecycle"]["co2_kg"] == pytest.approx(three["step"]["co2_kg"])
    parent = {"embodied": {"lifecycle": {"co2_kg": 0.5, "co2_kg_low": 0.4, "co2_kg_high": 0.6}}}
    child = for_machines(one, 2, parent)
    assert child["lifecycle"]["co2_kg"] == pytest.approx(2 * one["step"]["co2_kg"] + 0.5)


def test_one_machine_is_left_as_it_is():
    one = embodied_section(60.0, 0, env={})
    assert for_machines(one, 1) == one
