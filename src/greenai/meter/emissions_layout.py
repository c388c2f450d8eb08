"""The layout of ``emissions.csv`` and its sample log: the columns (CodeCarbon's 38, the bands of
``csv_bands.py``, then greenai's), where the sample log lives, the header check that refuses a
foreign or pre-"one row per run" file and upgrades a pre-band one in place, and reading the rows.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from greenai.errors import UsageError
from greenai.meter.csv_bands import BAND_COLUMNS, upgrade

CODECARBON_COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions",
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
    "ram_energy", "energy_consumed", "water_consumed", "country_name", "country_iso_code", "region",
    "cloud_provider", "cloud_region", "os", "python_version", "codecarbon_version", "cpu_count",
    "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude", "ram_total_size",
    "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
)  # fmt: skip
GREENAI_COLUMNS = (
    "cpu_method", "gpu_method", "ram_method", "phase", "carbon_intensity_g_per_kwh",
    "intensity_source", "row_kind", "run_name", "started_at",
)  # fmt: skip
COLUMNS = CODECARBON_COLUMNS + BAND_COLUMNS + GREENAI_COLUMNS
# greenai before emissions.csv kept one row per run: one row per sample, phase and total, no started_at
_OLD_COLUMNS = CODECARBON_COLUMNS + GREENAI_COLUMNS[:-1]
# greenai before the band columns (csv_bands.py): upgraded in place, its rows kept
_PRE_BAND_COLUMNS = CODECARBON_COLUMNS + GREENAI_COLUMNS
_RUN_ID = COLUMNS.index("run_id")
_STARTED_AT = COLUMNS.index("started_at")


def samples_path(path: str | os.PathLike[str]) -> Path:
    """The sample log beside an emissions file: ``logs/emissions.csv`` -> ``logs/emissions_samples.csv``."""
    target = Path(path)
    return target.with_name(f"{target.stem}_samples{target.suffix or '.csv'}")


def _check_one(target: Path) -> None:
    if target.is_dir():
        raise UsageError(f"emissions file {target} is a folder")
    if not target.exists() or target.stat().st_size == 0:
        return
    with open(target, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if tuple(header) == _OLD_COLUMNS:
        raise UsageError(
            f"{target} was written by an older greenai (one row per sample, which CodeCarbon's "
            "tools would sum); move it away or choose another folder"
        )
    if tuple(header) == _PRE_BAND_COLUMNS:
        upgrade(target, _PRE_BAND_COLUMNS, COLUMNS)
        return
    if tuple(header) != COLUMNS:
        raise UsageError(
            f"{target} exists with a different header (not greenai's emissions.csv layout); "
            "choose another file or move it away"
        )


def check_header(path: str | os.PathLike[str]) -> None:
    """Raise ``UsageError`` if ``path`` or its sample log exists, is not empty, and has another
    header than ours."""
    _check_one(Path(path))
    _check_one(samples_path(path))


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of a greenai emissions file (either kind) as dicts; [] if it does not exist."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []
