"""``greenai study``: baseline -> pruned -> quantized -> distilled, resumable, then the report.

``plan`` decides the steps and their configuration hashes, ``state`` remembers what each step did,
``runner`` runs them (reusing, resuming, recording failures), ``steps`` wires the real functions,
``pipeline`` adds the report. Importing this package imports no torch.
"""

from __future__ import annotations

from greenai.study.plan import VARIANTS, StudyConfig, plan
from greenai.study.runner import StepContext, StudyOutcome, run_study

__all__ = ["VARIANTS", "StepContext", "StudyConfig", "StudyOutcome", "plan", "run_study"]
