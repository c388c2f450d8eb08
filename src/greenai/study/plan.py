"""The study's plan: which steps run, in what order, and the configuration hash that identifies each.

A step is one variant on one device. Its hash covers everything that changes its result: the
training settings, the variant's own settings, the device, the carbon settings and its parent's
hash (a new baseline means new children). Same hash = same step = its result can be reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from greenai.errors import UsageError


def _registered() -> tuple[tuple[str, ...], dict[str, str], dict[str, tuple[str, ...]]]:
    from greenai.lifecycle import registry

    kinds = [k for k in registry.kinds() if k.in_study]
    variants = tuple(k.variant for k in kinds)
    # every derived step of the study starts from the baseline (a distilled model's teacher too)
    parent = {k.variant: "baseline" for k in kinds if k.parent is not None}
    settings = {k.variant: tuple(k.study_settings or ()) for k in kinds}
    return variants, parent, settings


# The study's steps as registered by ``greenai.lifecycle.steps`` (baseline first, display order),
# the parent step of each derived one, and which study settings each depends on (hashed).
VARIANTS, PARENT, VARIANT_SETTINGS = _registered()
DEVICES = ("cpu", "gpu")
# Settings that say where the data is, not what it is: moving CIFAR-10 must not redo a study.
NOT_HASHED = ("data_dir", "download")


@dataclass(frozen=True)
class StudyConfig:
    """Everything that defines a study. ``train`` holds ``TrainConfig`` fields except the device."""

    name: str = "study"
    devices: tuple[str, ...] = ("cpu",)
    variants: tuple[str, ...] = VARIANTS
    train: Mapping[str, Any] = field(default_factory=dict)
    variant_settings: Mapping[str, Any] = field(default_factory=dict)
    carbon: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> StudyConfig:
        if not self.devices or any(d not in DEVICES for d in self.devices):
            raise UsageError(f"study devices must be among {', '.join(DEVICES)}: {self.devices}")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise UsageError(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
        if not self.variants:
            raise UsageError("--variants is empty")
        if not self.name or any(c in self.name for c in "/\\\0"):
            raise UsageError(f"bad study name {self.name!r}")
        return self


@dataclass(frozen=True)
class Step:
    variant: str
    device: str
    parent: str | None  # the parent step's key
    config: Mapping[str, Any]  # what the step function receives
    config_hash: str

    @property
    def key(self) -> str:
        return step_key(self.device, self.variant)


def step_key(device: str, variant: str) -> str:
    return f"{device}/{variant}"


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-able mapping (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def plan(cfg: StudyConfig) -> list[Step]:
    """The steps in running order: per device, the baseline first (every other variant derives
    from it; it runs even when not asked for, as the parent), then the chosen variants."""
    cfg.validate()
    wanted = [v for v in VARIANTS if v in cfg.variants]
    if any(v in PARENT for v in wanted) and "baseline" not in wanted:
        wanted.insert(0, "baseline")
    steps: list[Step] = []
    for device in cfg.devices:
        hashes: dict[str, str] = {}
        for variant in wanted:
            parent = PARENT.get(variant)
            config = {
                "variant": variant,
                "device": device,
                "train": dict(cfg.train),
                "settings": {k: cfg.variant_settings.get(k) for k in VARIANT_SETTINGS[variant]},
                "carbon": dict(cfg.carbon),
                "parent_hash": hashes.get(parent) if parent else None,
            }
            h = config_hash(
                {**config, "train": {k: v for k, v in cfg.train.items() if k not in NOT_HASHED}}
            )
            hashes[variant] = h
            steps.append(
                Step(variant, device, step_key(device, parent) if parent else None, config, h)
            )
    return steps


def describe(steps: Sequence[Step]) -> str:
    return ", ".join(s.key for s in steps)
