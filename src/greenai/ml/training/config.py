"""Training runs: ``TrainConfig`` and ``train_run``, which trains, meters, checkpoints and records.

``train_run`` writes, under ``out_dir``: ``logs/training_log_<run>.csv`` (one row per epoch, rewritten
atomically), ``logs/emissions.csv`` (the meter's), ``models/<run>.pt`` (a checkpoint, atomically every
epoch), ``models/<run>_weights.pt`` (the bare state_dict a user deploys) and
``results/<dataset>_<variant>_<run>.json``; and records the run in the store as it goes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenai.errors import UsageError
from greenai.fsutil import atomic_write_text

OPTIMIZERS = ("adam", "adamw", "sgd", "muon")  # muon: recipes.muon_groups, tricks or not
SCHEDULES = ("constant", "onecycle", "cosine", "linear")
PRECISIONS = ("fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "gpu")
LOG_FIELDS = (
    "epoch", "train_loss", "train_acc_pct", "eval_split", "eval_loss", "eval_acc_pct", "lr",
    "seconds", "energy_kwh", "co2_kg",
)  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Defaults are the study's baseline recipe."""

    model: str = "seed_cnn"  # a built-in name, MODULE:NAME, path/to/file.py:NAME or a plugin's
    dataset: str = "cifar10"  # cifar10, synthetic, imagefolder:PATH, npz:PATH or MODULE:NAME
    data_dir: str | None = None
    image_size: int | None = None  # images resized/cropped to this square (None: the data's own)
    download: bool = False
    device: str = "auto"  # auto | cpu | gpu
    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.001
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast)
    optimizer: str = "adam"  # adam | adamw | sgd (Nesterov momentum)
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | onecycle | cosine | linear, per batch
    label_smoothing: float = 0.0
    channels_last: bool = False
    augment: bool = True  # random crop (4 px padding) + horizontal flip, on whole batches
    augment_pad: int = 4  # the crop's padding (largest shift) in pixels
    augment_reflect: bool = False  # pad with the mirrored border instead of zeros
    alternate_flip: bool = False  # mirror each image every other epoch (airbench), not by chance
    holdout_fraction: float = 0.0  # part of the TRAINING images held out for early stopping
    target_accuracy: float | None = None  # stop once held-out accuracy (%) reaches this
    limit_train: int | None = None  # use at most this many training images
    limit_test: int | None = None  # evaluate on at most this many test images
    width: float = 1.0  # channel-width multiplier passed to the model
    compile: bool = False  # torch.compile the model
    threads: int | None = None  # torch intra-op CPU threads (None: torch's default)
    # airbench's tricks (experiments/recipes.py), opt-in: SGD groups with batch-norm biases at a
    # scaled LR, Lookahead/EMA weights every EMA_EVERY steps, flip test-time augmentation
    airbench_tricks: bool = False
    ema: bool = True  # with airbench_tricks: the Lookahead/EMA weights (airbench94_muon has none)
    # airbench nets: the part of the run their whitening conv's bias trains before it freezes
    # (airbench: 0.3); frozen, no gradient flows below the first conv group: a cheaper step
    whiten_bias_fraction: float = 1.0
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    # progressive resizing: epoch k (from 1) trains on images downscaled to epoch_sizes[k-1]
    # pixels; later epochs (and every evaluation) see the data's own size
    epoch_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "epoch_sizes", tuple(self.epoch_sizes))  # a list from JSON

    def epoch_size(self, epoch: int) -> int | None:
        """The side of epoch ``epoch``'s (from 1) training images, None for the data's own."""
        return self.epoch_sizes[epoch - 1] if epoch <= len(self.epoch_sizes) else None

    def validate(self, check_data: bool = True) -> TrainConfig:
        """Raise one UsageError line for the first impossible setting; returns self.
        ``check_data=False``: the caller hands over a loaded dataset."""
        checks = [
            (self.epochs >= 1, f"epochs must be a positive integer, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be a positive integer, got {self.batch_size}"),
            (math.isfinite(self.lr) and self.lr > 0, f"learning rate must be > 0, got {self.lr}"),
            (
                self.device in DEVICES,
                f"unknown device {self.device!r}; choose {', '.join(DEVICES)}",
            ),
            (self.precision in PRECISIONS, f"unknown precision {self.precision!r}"),
            (self.optimizer in OPTIMIZERS, f"unknown optimizer {self.optimizer!r}"),
            (self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r}"),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            (self.weight_decay >= 0, f"weight decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.label_smoothing < 1, "label smoothing must be in [0, 1)"),
            (0 <= self.holdout_fraction < 1, "hold-out fraction must be in [0, 1)"),
            (self.width > 0, f"width must be > 0, got {self.width}"),
            (
                0 <= self.whiten_bias_fraction <= 1,
                f"whitening-bias fraction must be in [0, 1], got {self.whiten_bias_fraction}",
            ),
            (
                0 <= self.augment_pad <= 8,
                f"augment pad must be 0..8 pixels, got {self.augment_pad}",
            ),
            (self.limit_train is None or self.limit_train >= 1, "--limit-train must be >= 1"),
            (self.limit_test is None or self.limit_test >= 1, "--limit-test must be >= 1"),
            (self.threads is None or self.threads >= 1, "--threads must be >= 1"),
            (
                all(isinstance(v, int) and v >= 8 for v in self.epoch_sizes),
                f"epoch sizes must be whole pixels >= 8, got {list(self.epoch_sizes)}",
            ),
            (
                len(self.epoch_sizes) <= self.epochs,
                f"{len(self.epoch_sizes)} epoch sizes for {self.epochs} epochs",
            ),
            (
                self.image_size is None or 8 <= self.image_size <= 1024,
                f"--image-size must be 8..1024 pixels, got {self.image_size}",
            ),
            (
                not self.airbench_tricks or self.optimizer in ("sgd", "muon"),
                "--airbench-tricks needs --optimizer sgd or muon (its parameter groups are theirs); "
                "add --no-airbench-tricks to use another optimizer",
            ),
        ]
        if self.target_accuracy is not None:
            checks += [
                (0 < self.target_accuracy <= 100, "target accuracy must be in (0, 100] percent"),
                (
                    self.holdout_fraction > 0,
                    "--target-accuracy needs a held-out split (--holdout-fraction > 0); "
                    "the test set is never used to stop training",
                ),
            ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        from greenai.ml.data import check_dataset_name
        from greenai.ml.models import check_model_name

        if check_data:
            check_dataset_name(self.dataset)
        check_model_name(self.model)
        return self

    def resolved(self, data: bool = True) -> TrainConfig:
        """The same run, named so that another process in another folder rebuilds it: a model file
        reference and (``data``: the dataset is a spec, not handed over) a dataset path made
        absolute."""
        from greenai.ml.data import canonical_spec
        from greenai.ml.models import model_reference

        dataset = canonical_spec(self.dataset) if data else self.dataset
        return dataclasses.replace(self, model=model_reference(self.model), dataset=dataset)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON holds them (``epoch_sizes`` a list)."""
        return {**dataclasses.asdict(self), "epoch_sizes": list(self.epoch_sizes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UsageError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**d)


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_run_id(run_id: str) -> str:
    """Run ids become file names: letters, digits, '.', '_', '-' only (at most 64)."""
    if not _RUN_ID.fullmatch(run_id):
        raise UsageError(f"bad run id {run_id!r}: use at most 64 letters, digits, '.', '_' or '-'")
    return run_id


def log_csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in LOG_FIELDS})
    return buf.getvalue()


def write_training_log(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, log_csv_text(rows))


def paths_for(out_dir: Path, run_id: str) -> dict[str, Path]:
    return {
        "checkpoint": out_dir / "models" / f"{run_id}.pt",
        "weights": out_dir / "models" / f"{run_id}_weights.pt",
        "training_log": out_dir / "logs" / f"training_log_{run_id}.csv",
        "emissions_csv": out_dir / "logs" / "emissions.csv",
    }
