"""Two executor JVMs (``local-cluster``): each loads its own ensemble, the labels stay the same."""

from __future__ import annotations

import json
import subprocess

import pytest
from helpers import NAMES, REPO, assert_rows_match, labels_by_id, remove_app_work_dir, spark_submit, subprocess_env


@pytest.mark.cluster
@pytest.mark.slow
def test_two_executors_each_load_their_own_ensemble(  # type: ignore[no-untyped-def]
    spark, tiny_config_path, tiny_ensemble, tmp_path
) -> None:
    src, out, summary = tmp_path / "in.parquet", tmp_path / "out", tmp_path / "summary.json"
    rows = [(i, n) for i, n in enumerate(NAMES)]
    spark.createDataFrame(rows, "id long, name string").write.parquet(str(src))
    cmd = [
        spark_submit(),
        "--master",
        "local-cluster[2,1,1024]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.executor.memory=1g",
        "--conf",
        "spark.scheduler.minRegisteredResourcesRatio=1.0",
        str(REPO / "jobs" / "label_customers.py"),
        "--input",
        str(src),
        "--output",
        str(out),
        "--config",
        str(tiny_config_path),
        "--id-col",
        "id",
        "--score-partitions",
        "4",
        "--summary",
        str(summary),
    ]
    env = subprocess_env(tmp_path)
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    data = json.loads(summary.read_text())
    remove_app_work_dir(data["spark"]["app_id"])
    assert data["spark"]["master"] == "local-cluster[2,1,1024]"
    executors = data["executors"]
    assert len(executors) == 2, executors
    assert len({e["executor_pid"] for e in executors}) == 2
    pids = [p for e in executors for p in e["worker_pids"]]
    assert len(set(pids)) == len(pids) >= 2
    # one load per Python worker (a reused worker serves its next tasks from its cache), not one per task
    assert all(e["device"] == "cpu" for e in executors)
    assert [e["ensemble_loads"] for e in executors] == [len(e["worker_pids"]) for e in executors]
    assert sum(e["ensemble_loads"] for e in executors) == len(pids)
    assert data["names_scored"] == data["distinct_names"]
    assert_rows_match(labels_by_id(spark.read.parquet(str(out)).collect()), tiny_ensemble.label(NAMES))
