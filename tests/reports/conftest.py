from __future__ import annotations

from pathlib import Path

import pytest
from report_data import study_results, write_results


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """A results folder holding a small CPU study's result JSON files."""
    return write_results(tmp_path / "results", study_results())
