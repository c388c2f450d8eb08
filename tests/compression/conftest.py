"""Fixtures for the compression tests."""

from __future__ import annotations

import pytest
import torch
from compression_nets import TinyNet, trained_bn
from torch import nn


@pytest.fixture
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 3, 32, 32, generator=g)


@pytest.fixture
def tiny(images: torch.Tensor) -> nn.Module:
    torch.manual_seed(0)
    return trained_bn(TinyNet(), images)
