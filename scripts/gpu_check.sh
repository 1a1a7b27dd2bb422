#!/usr/bin/env bash
# One command for a lent GPU machine (issues 18, 22): bash scripts/gpu_check.sh [--quick] [--cpu] [--out DIR]
#
# A thin wrapper around `spark-ner bench` (one harness): it runs the bench's gpu, host, executor, oom and
# finetune sections (spark_ner/tools/bench.py), then `pytest -m gpu tests/test_gpu.py`, then
# scripts/gpu_check.py writes gpu_check.json and gpu_check.md (a block for BENCHMARKS.md) from bench.json
# and the pytest log. Why a wrapper: the GPU machine has Python with torch/transformers/accelerate but no
# venv, no pyspark, no faker, no Java and no network, and the package is not installed: this puts the
# repository on PYTHONPATH and sets the offline switches.
#
# Time: GPU_CHECK_LIMIT_S (default 490 s) for everything. The bench gets what the pytest step and the
# report leave, time-boxes its sections within it (--budget-s) and rewrites bench.json after each, so a
# stopped run still reports what finished. Output: --out DIR, else $OUT, else out/gpu_check.
# --quick: small sizes (a short GPU fix-up run; the CI test with --cpu). --cpu: hide the GPUs. Without
# CUDA the gpu and finetune sections run their CPU fallback (small members; the OOM is simulated) and
# the report says "no CUDA". Other flags go to `spark-ner bench` (e.g. --executor-procs 1,2).
# Exit 0 when every section and the pytest step passed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export HF_HUB_DISABLE_PROGRESS_BARS=1
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1; then py="$candidate"; break; fi
  done
fi
if [ -z "$py" ]; then echo "gpu_check: no python3 on PATH (set PYTHON)" >&2; exit 2; fi

command_line="bash scripts/gpu_check.sh${*:+ $*}"
out="" cpu=0 bench_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="${2:?gpu_check: --out needs a folder}"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    --cpu) cpu=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) bench_flags+=("$1"); shift ;;  # --quick and any `spark-ner bench` flag
  esac
done
out="${out:-${OUT:-$root/out/gpu_check}}"
mkdir -p "$out" || exit 2
if [ "$cpu" = 1 ]; then export CUDA_VISIBLE_DEVICES=""; fi

limit="${GPU_CHECK_LIMIT_S:-490}"
started=$SECONDS
bench_s=$((limit - 100))  # 100 s left for `pytest -m gpu` (~25 s on an H200) and the report
rm -f "$out/bench.json"
timeout --kill-after=15 "$bench_s" "$py" -m spark_ner.cli -v bench \
  --sections gpu,oom,finetune,host,executor --gpu-parts throughput,agreement,graphs,kernels \
  --attention auto,matmul --host-parts gpu-path,lanes \
  --cpu-fallback --budget-s $((bench_s - 15)) --output "$out" --markdown "$out/bench.md" \
  ${bench_flags[@]+"${bench_flags[@]}"} >/dev/null
bench_rc=$?
if [ "$bench_rc" -eq 124 ] || [ "$bench_rc" -eq 137 ]; then
  echo "gpu_check: the bench was stopped after ${bench_s} s; bench.json holds the sections that finished" >&2
fi

left=$((limit - (SECONDS - started) - 20))
if [ "$left" -ge 10 ]; then
  timeout --kill-after=10 "$left" "$py" -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py \
    >"$out/pytest_gpu.log" 2>&1
  pytest_rc=$?
else
  echo "not run: no time left in GPU_CHECK_LIMIT_S=$limit" >"$out/pytest_gpu.log"
  pytest_rc=124
fi

"$py" scripts/gpu_check.py --out "$out" --command "$command_line" --bench-rc "$bench_rc" \
  --pytest-rc "$pytest_rc" --seconds $((SECONDS - started))
