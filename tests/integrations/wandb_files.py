"""Reading a W&B offline run file (``run-<id>.wandb``): the test's view of what wandb wrote.

The file is a LevelDB-style log (wandb's datastore): a 7-byte header (``:W&B``, magic, version),
then 32 KiB blocks of records, each with a 7-byte header (crc32, length, type: full/first/middle/
last) carrying one protobuf ``Record``.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

BLOCK = 32768
HEADER = 7


def records(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"not a wandb run file: {path}"
    pos, pending, out = HEADER, b"", []
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if length == 0 and kind == 0:
            pos += left  # zero padding to the block's end
            continue
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def history(path: Path) -> list[dict[str, Any]]:
    """Every ``run.log`` row, as {key: value}."""
    rows = []
    for r in records(path):
        if r.WhichOneof("record_type") == "history":
            rows.append({_key(i): json.loads(i.value_json) for i in r.history.item})
    return rows


def summary(path: Path) -> dict[str, Any]:
    """The run's summary as last updated."""
    out: dict[str, Any] = {}
    for r in records(path):
        if r.WhichOneof("record_type") == "summary":
            out.update({_key(i): json.loads(i.value_json) for i in r.summary.update})
    return out


def finished_runs(root: Path, pattern: str = "*", timeout_s: float = 60.0) -> list[Path]:
    """The offline run files under ``root`` (``pattern``: the run id) once each holds its exit
    record: wandb's writer process may still be writing for a moment after ``finish()``."""
    end = time.monotonic() + timeout_s
    while True:
        found = sorted(root.glob(f"**/offline-run-*-{pattern}/run-{pattern}.wandb"))
        done = [p for p in found if _has_exit(p)]
        if found and len(done) == len(found):
            return found
        assert time.monotonic() < end, f"no finished offline run {pattern} under {root}: {found}"
        time.sleep(0.2)


def _has_exit(path: Path) -> bool:
    try:
        return any(r.WhichOneof("record_type") == "exit" for r in records(path))
    except Exception:  # a record still being written
        return False
