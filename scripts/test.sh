#!/usr/bin/env bash
# Installs greenai with everything its tests need into .venv, then runs ruff and the test suite.
# Safe to run again: installs only what is missing (scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh all,dev

# System services some tests use (PostgreSQL, Chromium), from Debian's packages where missing.
bash scripts/system-deps.sh || echo "scripts/test.sh: system packages unavailable; their tests will skip"

.venv/bin/ruff check .
# Three workers on two cores (many tests wait on subprocesses and the meter's sampling); one file per
# worker. Heavy tests (whole studies, kill/resume cycles) only with GREENAI_TEST_HEAVY=1.
select=(-m "not heavy")
if [ "${GREENAI_TEST_HEAVY:-0}" = 1 ]; then select=(); fi
.venv/bin/python -m pytest -q -n 3 --dist loadfile "${select[@]}" "$@"
