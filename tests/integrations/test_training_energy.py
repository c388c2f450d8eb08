"""``TrainingEnergy``, the core of the trainer callbacks: deltas, work counts, one run per training."""

from __future__ import annotations

import pytest
import torch
from energy_fakes import FakeRapl

from greenai.integrations.training_energy import TrainingEnergy, batch_counts, is_local_main
from greenai.storage import open_store


def test_each_training_is_its_own_run_and_deltas_add_up(tmp_path):
    rapl = FakeRapl(tmp_path / "powercap")
    store = str(tmp_path / "greenai.db")
    energy = TrainingEnergy("twice", store=store, sensors=rapl.sensors(), interval_s=None)
    run_ids = []
    for joules in (10.0, 4.0):
        energy.start()
        energy.begin_phase("epoch_1")
        rapl.add(joules / 2)
        energy.count(8, 40)
        first = energy.figures()
        rapl.add(joules / 2)
        energy.end_phase("epoch_1")
        last = energy.stop()
        assert first["greenai/energy_delta_j"] + last["greenai/energy_delta_j"] == pytest.approx(
            joules
        )
        assert last["greenai/j_per_sample"] == pytest.approx(joules / 8)
        assert last["greenai/j_per_token"] == pytest.approx(joules / 40)
        run_ids.append(energy.run_id)
        assert energy.figures() == {} and energy.stop() == {}  # stopped: inert
    assert run_ids[0] != run_ids[1]
    with open_store(store, create=False) as s:
        kwh = [s.get_run(r).energy_kwh for r in run_ids]
        work = s.get_run(run_ids[1]).result["work"]
    assert kwh == pytest.approx([10.0 / 3.6e6, 4.0 / 3.6e6])
    assert work["training_samples"] == 8 and work["j_per_training_sample"] == pytest.approx(0.5)


def test_batches_are_counted_as_rows_and_real_tokens():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert batch_counts({"input_ids": mask, "attention_mask": mask}) == (2, 5)
    assert batch_counts({"input_ids": torch.zeros(3, 7, dtype=torch.long)}) == (3, 21)
    assert batch_counts((torch.zeros(5, 3, 32, 32), torch.zeros(5))) == (5, None)
    assert batch_counts("not a batch") == (0, None)


def test_only_the_local_main_process_meters():
    assert is_local_main(None, {}) and is_local_main(True, {"LOCAL_RANK": "0"})
    assert not is_local_main(True, {"LOCAL_RANK": "1"}) and not is_local_main(False, {})
