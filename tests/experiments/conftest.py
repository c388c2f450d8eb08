from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from official_format import tiny_arrays, write_batches_dir


@pytest.fixture
def tiny_arrays_():
    return tiny_arrays()


@pytest.fixture
def batches_dir(tmp_path, tiny_arrays_):
    return write_batches_dir(tmp_path / "src", tiny_arrays_)


@pytest.fixture(autouse=True)
def _isolated_data_env(tmp_path, monkeypatch):
    """No test sees the user's data folders: cache and GREENAI_DATA_DIR point into tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("GREENAI_DATA_DIR", raising=False)
    monkeypatch.delenv("GREENAI_STORE", raising=False)


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a shared, loaded 2-core machine two threads are many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
