"""The study's state file: what each step did, so an interrupted or repeated study continues.

``<out>/results/study_state_<name>.json``, rewritten atomically after every change of a step, so a
kill at any moment leaves the last consistent state. A step is reused only when its recorded
configuration hash equals the planned one AND its result file still loads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from greenai.errors import DataError
from greenai.fsutil import atomic_write_text

STATE_VERSION = 1
PENDING, RUNNING, DONE, FAILED, SKIPPED, INTERRUPTED = (
    "pending",
    "running",
    "done",
    "failed",
    "skipped",
    "interrupted",
)


@dataclass
class StepRecord:
    key: str
    variant: str
    device: str
    config_hash: str
    status: str = PENDING
    run_id: str | None = None
    result_path: str | None = None  # relative to the study's output folder
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    reused: bool = False  # this invocation reused an earlier result


def state_path(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / "results" / f"study_state_{name}.json"


def load_state(path: Path) -> dict[str, StepRecord]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            raise DataError(f"{path}: unknown study state version {data.get('version')!r}")
        fields = set(StepRecord.__dataclass_fields__)
        return {
            k: StepRecord(**{f: v for f, v in rec.items() if f in fields})
            for k, rec in data["steps"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(
            f"{path}: unreadable study state ({type(exc).__name__}); delete it to start afresh"
        ) from None


def save_state(path: Path, name: str, steps: dict[str, StepRecord]) -> None:
    doc: dict[str, Any] = {
        "version": STATE_VERSION,
        "study": name,
        "steps": {k: asdict(rec) for k, rec in steps.items()},
    }
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
