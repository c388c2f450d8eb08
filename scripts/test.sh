#!/usr/bin/env bash
# Installs greenai with everything its tests need into .venv, then runs ruff and the test suite.
# Safe to run again: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# constraints.txt pins torch to the local CPU build on the project's machines.
.venv/bin/python -m pip install -q -c constraints.txt -e '.[all,dev]'

# System services some tests use (PostgreSQL, Chromium), from Debian's packages where missing.
bash scripts/system-deps.sh || echo "scripts/test.sh: system packages unavailable; their tests will skip"

.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
