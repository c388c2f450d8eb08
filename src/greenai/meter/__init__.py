"""The meter: ``Tracker``/``track`` (windows, nested phases, sampling thread) and its sinks.

Records are defined in ``greenai.meter.types``; the emissions CSV sink lives in
``greenai.meter.emissions_csv``.
"""

from greenai.meter.tracker import Tracker, make_run_id, track
from greenai.meter.types import (
    COMPONENTS,
    CarbonIntensity,
    Measurement,
    Method,
    PhaseResult,
    Sample,
    Sink,
    kwh,
)

__all__ = [
    "COMPONENTS",
    "CarbonIntensity",
    "Measurement",
    "Method",
    "PhaseResult",
    "Sample",
    "Sink",
    "Tracker",
    "kwh",
    "make_run_id",
    "track",
]
