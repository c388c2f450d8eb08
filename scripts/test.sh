#!/usr/bin/env bash
# Installs greenai with everything its tests need into .venv, then runs ruff and the test suite.
# Safe to run again: installs only what is missing (scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh all,dev

# System services some tests use (PostgreSQL, Chromium), from Debian's packages where missing.
bash scripts/system-deps.sh || echo "scripts/test.sh: system packages unavailable; their tests will skip"

.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
