#!/usr/bin/env bash
# Install everything (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONUNBUFFERED=1
# A worker that crashes (a segfault in native code) fails the run at once and names its test:
# with restarts, pytest-xdist 3.8's file scheduler can wait forever on the crashed file.
exec .venv/bin/python -m pytest -n 2 --dist loadfile --max-worker-restart=0 -q "$@"
