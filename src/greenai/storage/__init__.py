"""The run store: every run, its phases, power samples and epochs, in SQLite or PostgreSQL.

```python
from greenai.storage import open_store, new_run_id, StoreSink
store = open_store(None, default_dir=out_dir)  # None -> $GREENAI_STORE -> sqlite:///<out>/greenai.db
run_id = new_run_id()
store.create_run(run_id, name="baseline", variant="baseline", model="seed_cnn", dataset="cifar10",
                 device="cpu", config={...}, parent_run_id=None, group=None)
Tracker(..., run_id=run_id, sinks=[StoreSink(store)])
store.add_epoch(run_id, 0, {"train_loss": 1.2, "test_acc": 55.0})
store.finish_run(run_id, status="done", result=result_dict)
```
"""

from greenai.storage.engine import ENV_VAR, StoreError, resolve_url
from greenai.storage.records import (
    DONE,
    FAILED,
    FINAL_STATUSES,
    INTERRUPTED,
    RUNNING,
    STATUSES,
    EpochRecord,
    RunRecord,
)
from greenai.storage.sink import StoreSink
from greenai.storage.store import DEFAULT_STALE_AFTER_S, RunStore, new_run_id, open_store

__all__ = [
    "DEFAULT_STALE_AFTER_S",
    "DONE",
    "ENV_VAR",
    "FAILED",
    "FINAL_STATUSES",
    "INTERRUPTED",
    "RUNNING",
    "STATUSES",
    "EpochRecord",
    "RunRecord",
    "RunStore",
    "StoreError",
    "StoreSink",
    "new_run_id",
    "open_store",
    "resolve_url",
]
