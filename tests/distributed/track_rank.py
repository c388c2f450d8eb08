"""One rank of a job that never forms a process group: ``python track_rank.py STORE DIR HOLD``.

Its rank comes from RANK/WORLD_SIZE/LOCAL_RANK in the environment. It meters a block with
``greenai.track`` (recording to STORE) once every rank is ready (files ``DIR/in-<rank>``: ranks
start their meters together, as ranks past their setup do), then holds: HOLD seconds, or until the
file DIR/go exists when HOLD is "go".
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import greenai


def main(store: str, folder: str, hold: str) -> None:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    where = Path(folder)
    (where / f"in-{rank}").write_text("1\n")
    while not all((where / f"in-{r}").exists() for r in range(world)):
        time.sleep(0.002)
    with greenai.track("ranks", store=store, interval_s=0.2):
        if hold == "go":
            while not (where / "go").exists():
                time.sleep(0.02)
        else:
            time.sleep(float(hold))


if __name__ == "__main__":
    main(*sys.argv[1:4])
