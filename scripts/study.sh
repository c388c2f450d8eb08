#!/usr/bin/env bash
# Installs greenai into .venv and runs the main job: the lifecycle study on CIFAR-10.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh all
# The project's machines keep CIFAR-10 beside the checkout; elsewhere greenai looks where its README says.
if [ -z "${GREENAI_DATA_DIR:-}" ] && [ -d ../shared/data/cifar10 ]; then
  export GREENAI_DATA_DIR="$(cd ../shared/data/cifar10 && pwd)"
fi
exec .venv/bin/greenai study "$@"
