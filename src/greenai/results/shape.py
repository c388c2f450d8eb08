"""The types of a result JSON's sections, checked when it is loaded.

A hand-edited or foreign file with ``"metrics": "oops"``, ``"energy": [1, 2, 3]`` or a string where
``energy_kwh`` belongs used to be listed as "DONE / no result recorded"; ``check_shape`` refuses it
with one line naming the file and the field. Only what is present is checked (older files lack some
sections), and a figure may be null (not measured), never a string or a boolean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenai.errors import DataError

# section -> the type it must have when present (None allowed where a run may lack it)
_SECTIONS: dict[str, tuple[type, bool]] = {
    "run_id": (str, False),
    "variant": (str, False),
    "parent_run_id": (str, True),
    "metrics": (dict, False),
    "hyperparameters": (dict, True),
    "inference": (dict, True),
    "energy": (dict, False),
    "carbon": (dict, True),
    "efficiency": (dict, True),
    "break_even": (dict, True),
    "software": (dict, True),
    "artifacts": (dict, True),
}
_FIGURES = ("duration_s", "energy_kwh", "co2_kg")  # in energy.step and energy.lifecycle
_METRICS = (
    "test_accuracy_pct", "test_loss", "params", "nonzero_params", "file_size_bytes",
    "file_size_mib", "dense_size_bytes",
)  # fmt: skip


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__.replace("dict", "object")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_shape(obj: dict[str, Any], path: Path) -> None:
    """Raise ``DataError`` naming ``path`` and the first field whose type is wrong."""

    def bad(field: str, wanted: str, value: Any) -> DataError:
        return DataError(f"{path}: field {field} must be {wanted}, not {_kind(value)}")

    for key, (kind, nullable) in _SECTIONS.items():
        if key not in obj or (nullable and obj[key] is None):
            continue
        if not isinstance(obj[key], kind):
            wanted = "an object" if kind is dict else "a string"
            raise bad(key, wanted, obj[key])
    for name in _METRICS:
        value = obj["metrics"].get(name)
        if value is not None and not _is_number(value):
            raise bad(f"metrics.{name}", "a number", value)
    energy = obj["energy"]
    for part in ("step", "lifecycle"):
        if part not in energy:
            continue
        section = energy[part]
        if not isinstance(section, dict):
            raise bad(f"energy.{part}", "an object", section)
        for name in _FIGURES:
            value = section.get(name)
            if value is not None and not _is_number(value):
                raise bad(f"energy.{part}.{name}", "a number", value)
    ancestors = energy.get("lifecycle", {}).get("ancestors")
    if ancestors is not None and not isinstance(ancestors, list):
        raise bad("energy.lifecycle.ancestors", "a list", ancestors)
