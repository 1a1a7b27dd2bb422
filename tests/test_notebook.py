"""The Databricks-format notebook also runs as a plain script against a local session."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_job import REPO, _subprocess_env

NOTEBOOK = REPO / "jobs" / "notebooks" / "label_customers.py"


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
    ]
    env = _subprocess_env(tmp_path)
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
    catalog = tmp_path / "spark-catalog"
    assert (catalog / "metastore_db").is_dir()
    assert (catalog / "warehouse" / "nb_labels").is_dir()
    assert "ner_label" in proc.stdout  # the notebook's closing cell shows counts per label
