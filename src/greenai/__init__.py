"""greenai: measure, cut and honestly report the energy and CO2 of ML models.

Importing greenai touches no hardware, opens no network connection and does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Tracker", "__version__", "track"]

if TYPE_CHECKING:  # pragma: no cover
    from greenai.meter.tracker import Tracker, track


def __getattr__(name: str) -> Any:
    if name in ("track", "Tracker"):
        from greenai.meter import tracker

        return getattr(tracker, name)
    raise AttributeError(f"module 'greenai' has no attribute {name!r}")
