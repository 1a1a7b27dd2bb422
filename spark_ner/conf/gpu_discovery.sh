#!/usr/bin/env bash
# Spark GPU discovery script: prints the GPUs this executor may use as Spark resource JSON,
#   {"name": "gpu", "addresses": ["0", "1"]}
# It ships in the wheel: SCRIPT=$(python -c "import spark_ner, pathlib; print(pathlib.Path(spark_ner.__file__).parent / 'conf' / 'gpu_discovery.sh')")
# Standalone / Kubernetes (a path that exists on every executor, e.g. inside the image):
#   --conf spark.executor.resource.gpu.discoveryScript=$SCRIPT
# YARN (localised into each container's working directory under its own name):
#   --files $SCRIPT --conf spark.executor.resource.gpu.discoveryScript=./gpu_discovery.sh
# with --conf spark.executor.resource.gpu.amount=1 --conf spark.task.resource.gpu.amount=1.
# (Databricks GPU clusters discover GPUs themselves. docs/clusters.md has the whole recipes.)
#
# Addresses are the ids CUDA_VISIBLE_DEVICES lists when a resource manager isolated the GPUs
# (positions 0..n-1 when it lists UUIDs), else the physical indices nvidia-smi reports. spark_ner maps the address a task receives to
# torch's cuda:N through CUDA_VISIBLE_DEVICES. No GPU (or no nvidia-smi): an empty list, and an
# executor that asks for a GPU then fails to start with a clear Spark error.
set -euo pipefail

addresses=()
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" && "${CUDA_VISIBLE_DEVICES}" =~ ^[0-9]+(,[0-9]+)*$ ]]; then
  IFS=',' read -r -a addresses <<< "${CUDA_VISIBLE_DEVICES}"
elif [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
  # GPU UUIDs (GPU-xxxx, MIG-xxxx): report positions 0..n-1, which are torch's cuda:N
  IFS=',' read -r -a visible <<< "${CUDA_VISIBLE_DEVICES}"
  for i in "${!visible[@]}"; do addresses+=("$i"); done
elif command -v nvidia-smi >/dev/null 2>&1; then
  while IFS= read -r idx; do
    idx="${idx//[[:space:]]/}"
    [[ -n "$idx" ]] && addresses+=("$idx")
  done < <(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null || true)
fi

json=""
for a in "${addresses[@]+"${addresses[@]}"}"; do
  json+="${json:+, }\"${a}\""
done
printf '{"name": "gpu", "addresses": [%s]}\n' "$json"
