"""``greenai.integrations.lightning.GreenAICallback`` on a real Lightning ``fit()`` of a tiny,
randomly initialised BERT built from a config (no download), logging to a CSVLogger."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("lightning")
pytest.importorskip("transformers")

import lightning
import torch
from energy_fakes import FakeRapl
from lightning.pytorch.loggers import CSVLogger
from test_huggingface import REAL, rows, tiny_bert

from greenai.integrations.lightning import GreenAICallback
from greenai.storage import open_store


class TinyBert(lightning.LightningModule):
    """The tiny BERT; each training step moves the fake RAPL counter by 2 J."""

    def __init__(self, rapl: FakeRapl) -> None:
        super().__init__()
        self.net, self.rapl = tiny_bert(), rapl

    def training_step(self, batch, batch_idx):
        self.rapl.add(2.0)
        return self.net(**batch).loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self.net(**batch).loss)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_fit_is_recorded_and_its_loggers_get_the_energy(tmp_path, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    rapl = FakeRapl(tmp_path / "powercap")
    loader = torch.utils.data.DataLoader(rows(16), batch_size=4)
    val = torch.utils.data.DataLoader(rows(8), batch_size=4)
    store_path = tmp_path / "greenai.db"
    cb = GreenAICallback("tiny-bert-pl", store=str(store_path), sensors=rapl.sensors(),
                         interval_s=None)  # fmt: skip
    logger = CSVLogger(str(tmp_path / "logs"), name="pl")
    trainer = lightning.Trainer(
        max_epochs=2, accelerator="cpu", devices=1, logger=logger, callbacks=[cb],
        log_every_n_steps=2, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(TinyBert(rapl), loader, val)

    m = cb.energy.measurement
    assert m is not None and m.energy_total_j == pytest.approx(8 * 2.0)  # 2 epochs x 4 steps
    assert sum(f["greenai/energy_delta_j"] for f in cb.logged) == pytest.approx(16.0)
    final = cb.logged[-1]
    assert final["greenai/samples"] == 32 and final["greenai/tokens"] == 32 * REAL
    assert final["greenai/j_per_sample"] == pytest.approx(0.5)

    with open(logger.experiment.metrics_file_path, newline="") as f:
        table = list(csv.DictReader(f))
    deltas = [float(r["greenai/energy_delta_j"]) for r in table if r.get("greenai/energy_delta_j")]
    assert len(deltas) == len(cb.logged) and sum(deltas) == pytest.approx(16.0)
    assert any(r.get("greenai/j_per_token") for r in table)

    with open_store(str(store_path), create=False) as store:
        run = store.get_run(cb.energy.run_id)
        assert run.status == "done" and run.energy_kwh == pytest.approx(16.0 / 3.6e6)
        paths = {p.path for p in store.phases(run.run_id)}
    assert {"epoch_1", "epoch_2"} <= paths and any(p.endswith("eval") for p in paths)
