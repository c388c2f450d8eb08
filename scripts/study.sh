#!/usr/bin/env bash
# Installs greenai into .venv and runs the main job: the lifecycle study on CIFAR-10.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -c constraints.txt -e '.[all]'
exec .venv/bin/greenai study "$@"
