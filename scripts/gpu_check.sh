#!/usr/bin/env bash
# One command for a lent GPU machine (issue 18 item 5): bash scripts/gpu_check.sh [--quick] [--out DIR]
#
# Why a wrapper: that machine has Python with torch/transformers/accelerate but no venv, no pyspark,
# no Java and no network, and the package is not installed. This puts the repository on PYTHONPATH,
# sets the offline switches, and hard-stops the Python run if it ever outlives its own time boxes
# (GPU_CHECK_LIMIT_S, default 490 s; the stages write gpu_check.json/.md as they finish, so a killed
# run still leaves what it measured). Output: $OUT if set, else --out DIR, else out/gpu_check.
# Without CUDA it runs a small CPU fallback and exits 0 when every stage passed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1; then py="$candidate"; break; fi
  done
fi
if [ -z "$py" ]; then echo "gpu_check: no python3 on PATH (set PYTHON)" >&2; exit 2; fi
limit="${GPU_CHECK_LIMIT_S:-490}"
timeout --kill-after=15 "$limit" "$py" scripts/gpu_check.py "$@"
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "gpu_check: stopped after ${limit} s; gpu_check.json holds the stages that finished" >&2
fi
exit "$rc"
