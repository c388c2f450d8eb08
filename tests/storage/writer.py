"""A separate process writing runs into a store, for the concurrency and crash tests.

python writer.py URL WORKER RUNS SAMPLES GO_FILE     # RUNS runs of SAMPLES samples each, then exit
python writer.py URL RUN_ID - SAMPLES READY_FILE --hang  # one run; after SAMPLES samples, touch
                                                         # READY_FILE and wait to be killed
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from greenai.meter.types import Sample
from greenai.storage import StoreSink, open_store


def sample(run_id: str, k: int) -> Sample:
    return Sample(
        run_id=run_id,
        timestamp=1_000.0 + k,
        elapsed_s=float(k),
        phase="train",
        power_w={"cpu": 10.0 + k, "gpu": 0.0, "ram": 1.0},
        energy_j={"cpu": 10.0 * (k + 1), "gpu": 0.0, "ram": 1.0 * (k + 1)},
        co2_kg=1e-6 * (k + 1),
    )


def write_runs(url: str, worker: int, runs: int, samples: int, go_file: Path) -> None:
    store = open_store(url, default_dir=Path("."))
    sink = StoreSink(store)
    while not go_file.exists():  # start all writers together, so they really contend
        time.sleep(0.01)
    for n in range(runs):
        run_id = f"w{worker}-r{n}"
        store.create_run(run_id, name="concurrency", variant="baseline", group=f"worker{worker}")
        for k in range(samples):
            sink.on_sample(sample(run_id, k))
        store.finish_run(run_id, "done", accuracy=float(n))
    store.close()


def hang(url: str, run_id: str, samples: int, ready_file: Path) -> None:
    store = open_store(url, default_dir=Path("."))
    store.create_run(run_id, name="doomed", variant="baseline")
    sink = StoreSink(store)
    for k in range(samples):
        sink.on_sample(sample(run_id, k))
    ready_file.write_text(str(samples))
    time.sleep(600)  # the test kills us with SIGKILL


if __name__ == "__main__":
    url, who, runs, samples, path = sys.argv[1:6]
    if "--hang" in sys.argv:
        hang(url, who, int(samples), Path(path))
    else:
        write_runs(url, int(who), int(runs), int(samples), Path(path))
