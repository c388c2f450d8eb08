#!/usr/bin/env bash
# Installs greenai with the extras given (e.g. "all" or "all,dev") into .venv, for study.sh and
# test.sh. Safe to run again: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:?usage: scripts/install.sh EXTRAS}"

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# constraints.txt pins torch to the local CPU wheel of the project's machines, where pip's find-links
# (e.g. PIP_FIND_LINKS) hold it; elsewhere pip chooses, so no multi-GB CUDA build is forced.
pin=
if .venv/bin/python -m pip install -q --dry-run --no-index --no-deps --ignore-installed \
  -r constraints.txt >/dev/null 2>&1; then
  pin="-c constraints.txt"
  echo "scripts/install.sh: using the local torch wheel ($(grep '^torch' constraints.txt))" >&2
fi
.venv/bin/python -m pip install -q $pin -e ".[$extras]"
