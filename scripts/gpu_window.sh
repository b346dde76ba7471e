#!/usr/bin/env bash
# One GPU window on a fresh machine (docs/TRAINING.md): install the carried wheels, then train,
# evaluate and benchmark DSTT within the time budget (scripts/gpu_window.py); results in $OUT.
#   device tool:  run(command="bash scripts/gpu_window.sh", carry=[".carry"], timeout_s=600)
#   dry run here: OUT=/tmp/gw PY=.venv/bin/python bash scripts/gpu_window.sh --device cpu --size tiny ...
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_window}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD"
if compgen -G ".carry/whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/whl/*.whl \
        || { echo "gpu_window: installing the carried wheels failed" >&2; exit 3; }
    export PYTHONPATH="/tmp/site:$PWD"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee "$OUT/log.txt"
"$PY" scripts/gpu_window.py --out "$OUT" "$@" 2>&1 | tee -a "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
