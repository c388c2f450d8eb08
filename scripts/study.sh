#!/usr/bin/env bash
# Installs greenai into .venv and runs the main job: the lifecycle study on CIFAR-10.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# constraints.txt pins torch to the local CPU wheel of the project's machines, where pip's find-links
# (e.g. PIP_FIND_LINKS) hold it; elsewhere pip chooses, so no multi-GB CUDA build is forced.
pin=
if .venv/bin/python -m pip install -q --dry-run --no-index --no-deps --ignore-installed \
  -r constraints.txt >/dev/null 2>&1; then
  pin="-c constraints.txt"
  echo "scripts/study.sh: using the local torch wheel ($(grep '^torch' constraints.txt))" >&2
fi
.venv/bin/python -m pip install -q $pin -e '.[all]'
# The project's machines keep CIFAR-10 beside the checkout; elsewhere greenai looks where its README says.
if [ -z "${GREENAI_DATA_DIR:-}" ] && [ -d ../shared/data/cifar10 ]; then
  export GREENAI_DATA_DIR="$(cd ../shared/data/cifar10 && pwd)"
fi
exec .venv/bin/greenai study "$@"
