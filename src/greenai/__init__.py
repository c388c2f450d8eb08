"""greenai: measure, cut and honestly report the energy and CO2 of ML models.

``greenai.track`` meters a block or a function and records it as a run in the run store
(``greenai.lifecycle.recorded``; ``store=None``: meter only). ``greenai.Tracker`` is the meter's
``Tracker`` itself: used directly (``start()``/``stop()``) it records nothing unless given sinks,
and it is the class of what ``track`` yields.

Importing greenai touches no hardware, opens no network connection and does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Tracker", "__version__", "track"]

if TYPE_CHECKING:  # pragma: no cover
    from greenai.lifecycle.recorded import track
    from greenai.meter.tracker import Tracker


def __getattr__(name: str) -> Any:
    if name == "track":
        from greenai.lifecycle.recorded import track

        return track
    if name == "Tracker":
        from greenai.meter.tracker import Tracker

        return Tracker
    raise AttributeError(f"module 'greenai' has no attribute {name!r}")
