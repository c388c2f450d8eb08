"""One rank of a Lightning DDP job under torchrun: ``python lightning_rank.py STORE``.

A tiny linear classifier trained by ``Trainer(strategy="ddp")`` on the CPU (gloo), metered by
greenai's Lightning callback. The node's power comes from the environment's fake powercap tree.
"""

from __future__ import annotations

import sys
import time

import lightning
import torch
from torch.utils.data import DataLoader, TensorDataset

from greenai.integrations.lightning import GreenAICallback


class Tiny(lightning.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(8, 2)

    def training_step(self, batch, batch_idx):
        time.sleep(0.25)  # ~2 s of steps: the window's edges (a sample apart) stay small beside it
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main(store: str) -> None:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(64, 8), torch.randint(0, 2, (64,)))
    trainer = lightning.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[GreenAICallback(store=store, interval_s=0.2)],
    )  # fmt: skip
    trainer.fit(Tiny(), DataLoader(data, batch_size=8))


if __name__ == "__main__":
    main(sys.argv[1])
