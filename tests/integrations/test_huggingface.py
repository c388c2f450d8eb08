"""``greenai.integrations.huggingface.GreenAICallback`` on a real ``transformers.Trainer`` run of a
tiny, randomly initialised BERT built from a config (no download)."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import torch
from energy_fakes import FakeRapl
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from greenai.dashboard import create_app
from greenai.integrations.huggingface import GreenAICallback
from greenai.reports.cells import sig
from greenai.reports.rows import build_rows
from greenai.reports.sources import run_input
from greenai.reports.table import tables
from greenai.storage import open_store

SEQ, REAL = 8, 5  # tokens per row, of which REAL are not padding


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16, num_labels=2,
    )  # fmt: skip
    return BertForSequenceClassification(config)


def rows(n: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    mask = torch.tensor([1] * REAL + [0] * (SEQ - REAL))
    return [
        {
            "input_ids": torch.randint(1, 64, (SEQ,), generator=g) * mask,
            "attention_mask": mask,
            "labels": torch.tensor(i % 2),
        }
        for i in range(n)
    ]


class Burn(TrainerCallback):
    """Moves the fake RAPL counter by 3 J per optimizer step and keeps every log it is given."""

    def __init__(self, rapl: FakeRapl) -> None:
        self.rapl, self.logs = rapl, []

    def on_step_end(self, args, state, control, **kwargs):
        self.rapl.add(3.0)

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


def test_trainer_run_is_recorded_and_its_logs_carry_the_energy(tmp_path, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    rapl = FakeRapl(tmp_path / "powercap")
    burn = Burn(rapl)
    args = TrainingArguments(
        output_dir=str(tmp_path / "hf"), num_train_epochs=2, per_device_train_batch_size=4,
        per_device_eval_batch_size=4, logging_steps=2, eval_strategy="epoch",
        save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(
        model=tiny_bert(), args=args, train_dataset=rows(16), eval_dataset=rows(8),
        callbacks=[burn],
    )  # fmt: skip
    store_path = tmp_path / "greenai.db"
    cb = GreenAICallback(
        "tiny-bert", store=str(store_path), sensors=rapl.sensors(), interval_s=None
    ).attach(trainer)
    assert trainer.callback_handler.callbacks[0] is cb
    trainer.train()

    m = cb.energy.measurement
    assert m is not None and m.energy_total_j == pytest.approx(8 * 3.0)  # 2 epochs x 4 steps
    logged = [log for log in burn.logs if "greenai/energy_delta_j" in log]
    assert len(logged) >= 4  # steps 2, 4, 6, 8 and the final summary
    assert sum(log["greenai/energy_delta_j"] for log in logged) == pytest.approx(m.energy_total_j)
    assert sum(log["greenai/co2_delta_kg"] for log in logged) == pytest.approx(m.co2_kg)
    final = logged[-1]
    assert "train_runtime" in final
    assert final["greenai/energy_j"] == pytest.approx(24.0)
    assert final["greenai/samples"] == 32 and final["greenai/tokens"] == 32 * REAL
    assert final["greenai/j_per_sample"] == pytest.approx(24.0 / 32)
    assert final["greenai/j_per_token"] == pytest.approx(24.0 / (32 * REAL))
    for key in ("greenai/energy_cpu_j", "greenai/power_w", "greenai/energy_gpu_delta_j"):
        assert key in final
    # the Trainer's own history (what report_to backends and the hub read) carries them too
    history = [h for h in trainer.state.log_history if "greenai/energy_j" in h]
    assert len(history) == len(logged)

    with open_store(str(store_path), create=False) as store:
        run = store.get_run(cb.energy.run_id)
        assert run.status == "done" and run.name == "tiny-bert"
        assert run.energy_kwh == pytest.approx(24.0 / 3.6e6)
        paths = [p.path for p in store.phases(run.run_id)]
        # work-normalised figures are first-class: result, report table and dashboard page
        work = run.result["work"]
        assert work["training_samples"] == 32
        assert work["j_per_training_sample"] == pytest.approx(run.energy_kwh * 3.6e6 / 32)
        report_rows = build_rows([run_input(run)])
        (table,) = [t for t in tables(report_rows) if t.title == "Work-normalised energy"]
        assert table.cells[0][2] == sig(work["j_per_training_sample"])
        page = create_app(store).test_client().get(f"/runs/{run.run_id}")
        assert page.status_code == 200 and "J / training sample" in page.get_data(as_text=True)
    assert "epoch_1" in paths and "epoch_2" in paths and "eval" in paths


def test_other_local_ranks_do_not_meter(tmp_path, monkeypatch):
    rapl = FakeRapl(tmp_path / "powercap")
    args = TrainingArguments(
        output_dir=str(tmp_path / "hf"), max_steps=2, per_device_train_batch_size=4,
        save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, logging_steps=1,
    )  # fmt: skip
    trainer = Trainer(model=tiny_bert(), args=args, train_dataset=rows(8))
    cb = GreenAICallback(store=str(tmp_path / "greenai.db"), sensors=rapl.sensors()).attach(trainer)
    monkeypatch.setenv(
        "LOCAL_RANK", "1"
    )  # after the Trainer is built: it would start torch.distributed
    trainer.train()
    assert cb.energy.run_id is None and cb.energy.measurement is None
    assert not any("greenai/energy_j" in h for h in trainer.state.log_history)
    assert not (tmp_path / "greenai.db").exists()
