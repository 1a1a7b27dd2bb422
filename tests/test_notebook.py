"""The Databricks-format notebook also runs as a plain script against a local session."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml
from helpers import REPO, subprocess_env

NOTEBOOK = REPO / "jobs" / "notebooks" / "label_customers.py"
BUNDLE = REPO / "databricks.yml"


def test_notebook_is_in_databricks_source_format() -> None:
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# Databricks notebook source"
    assert text.count("# COMMAND ----------") >= 4
    assert "dbutils" in text and "widgets" in text


@pytest.mark.slow
def test_notebook_runs_as_a_script_into_a_local_hive_table(tiny_config_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Demo input (no --input), a Hive table output: the local session gets an embedded Derby
    metastore and a warehouse under ./spark-catalog."""
    summary = tmp_path / "summary.json"
    cmd = [
        sys.executable,
        str(NOTEBOOK),
        "--output",
        "nb_labels",
        "--output_format",
        "table",
        "--config",
        str(tiny_config_path),
        "--summary",
        str(summary),
        "--master",
        "local[1]",
        "--cache",
        "spark_catalog.default.nb_cache",  # a three-part name, created in the session's default format
    ]
    env = subprocess_env(tmp_path)
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(summary.read_text())
    assert data["rows_in"] == data["rows_out"] == 8
    assert data["null_names"] == 1
    assert data["distinct_names"] == 7  # "John Smith" twice, the null once
    assert data["output"] == {
        "location": "nb_labels",
        "format": "table",
        "mode": "error",
        "partition_by": [],
        "labels_only": False,
    }
    assert data["cache"]["rows_committed"] == 7 and data["cache"]["commit"] == "catalog-insert"
    catalog = tmp_path / "spark-catalog"
    assert (catalog / "metastore_db").is_dir()
    assert (catalog / "warehouse" / "nb_labels").is_dir()
    assert "ner_label" in proc.stdout  # the notebook's closing cell shows counts per label


def _widgets() -> set[str]:
    return set(re.findall(r'widget\("(\w+)"', NOTEBOOK.read_text(encoding="utf-8")))


def test_notebook_installs_itself_and_has_the_widgets() -> None:
    text = NOTEBOOK.read_text(encoding="utf-8")
    cells = text.split("# COMMAND ----------")
    pip = [c.strip() for c in cells if c.strip().startswith("# MAGIC %pip")]
    assert len(pip) == 1 and pip[0].startswith("# MAGIC %pip install "), "one cell that is only the %pip line"
    assert {"input", "output", "config", "cache", "ship_models", "table_format"} <= _widgets()


def test_bundle_defines_a_gpu_job_running_the_notebook() -> None:
    """The structure `databricks bundle deploy` relies on (the CLI itself is not installed here)."""
    bundle = yaml.safe_load(BUNDLE.read_text(encoding="utf-8"))
    assert bundle["bundle"]["name"] == "spark-ner"
    variables = bundle["variables"]
    used = set(re.findall(r"\$\{var\.(\w+)\}", BUNDLE.read_text(encoding="utf-8")))
    assert used <= set(variables), f"undefined variables: {used - set(variables)}"
    assert all("default" in v for v in variables.values())
    job = bundle["resources"]["jobs"]["spark_ner_label"]
    assert job["schedule"]["quartz_cron_expression"] and job["schedule"]["timezone_id"]
    (cluster,) = job["job_clusters"]
    spark_conf = cluster["new_cluster"]["spark_conf"]
    assert spark_conf["spark.task.resource.gpu.amount"] == "1"
    assert spark_conf["spark.python.worker.reuse"] == "true"
    assert int(spark_conf["spark.sql.execution.arrow.maxRecordsPerBatch"]) >= 2048
    assert "gpu" in variables["spark_version"]["default"]
    (task,) = job["tasks"]
    assert task["job_cluster_key"] == cluster["job_cluster_key"]
    notebook = task["notebook_task"]
    assert (REPO / notebook["notebook_path"]).resolve() == NOTEBOOK.resolve()
    params = notebook["base_parameters"]
    assert set(params) <= _widgets(), f"parameters the notebook has no widget for: {set(params) - _widgets()}"
    assert all(isinstance(v, str) for v in params.values()), "widget values are strings"
    # the %pip cell installs the wheel the bundle documents
    assert f"%pip install {variables['wheel']['default']}" in NOTEBOOK.read_text(encoding="utf-8")
    assert any(t.get("default") for t in bundle["targets"].values())
