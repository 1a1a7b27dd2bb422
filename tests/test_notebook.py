"""The Databricks notebook and bundle: the notebook runs as a plain script against a local session and,
with a stand-in for ``dbutils`` (widgets, task values, exit), down its Databricks path; the bundle's job
is checked against the bundle schema's models (the ``databricks-bundles`` package), its other keys
against the documented ones (the bundle CLI itself is a Go binary, not installable here)."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import write_config
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


def _widgets() -> set[str]:
    return set(re.findall(r'widget\("(\w+)"', NOTEBOOK.read_text(encoding="utf-8")))


def _bundle() -> dict[str, Any]:
    return yaml.safe_load(BUNDLE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_notebook_installs_nothing_and_has_the_widgets() -> None:
    """The job attaches the wheel (task libraries): no %pip of a fixed file name to drift from the version."""
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert "# MAGIC %pip" not in text, "no %pip cell: the bundle's task libraries install the wheel"
    assert not re.search(r"spark_ner-\d", text), "no wheel file name (its version is pyproject.toml's)"
    assert {"input", "output", "config", "model_dir", "cache", "ship_models", "table_format"} <= _widgets()
    assert "dbutils.notebook.exit" not in text or 'globals()["dbutils"].notebook.exit' in text
    assert "notebook.exit(json.dumps(summary))" in text and "taskValues.set" in text


class _Exit(Exception):
    """What ``dbutils.notebook.exit`` does: ends the notebook with a value."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class _Widgets:
    """A widget's value is the job's parameter, else its default (as on Databricks)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values: dict[str, str] = values
        self.defaults: dict[str, str] = {}

    @property
    def declared(self) -> set[str]:
        return set(self.defaults)

    def text(self, name: str, default: str, label: str) -> None:
        self.defaults[name] = default

    def dropdown(self, name: str, default: str, choices: list[str], label: str) -> None:
        assert default in choices
        self.defaults[name] = default
        assert self.values.get(name, default) in choices, (name, self.values.get(name))

    def get(self, name: str) -> str:
        return self.values.get(name, self.defaults[name])


class _TaskValues:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        json.dumps(value)  # task values must be JSON
        self.values[key] = value


class _Notebook:
    @staticmethod
    def exit(value: str) -> None:
        raise _Exit(value)


class _Jobs:
    def __init__(self) -> None:
        self.taskValues = _TaskValues()


class _Dbutils:
    """The parts of Databricks' ``dbutils`` the notebook calls, recording what it was given."""

    def __init__(self, values: dict[str, str]) -> None:
        self.widgets, self.jobs, self.notebook = _Widgets(values), _Jobs(), _Notebook()


@pytest.mark.slow
def test_notebook_runs_the_bundle_task_down_its_databricks_path(  # type: ignore[no-untyped-def]
    spark, tiny_models, tmp_path, monkeypatch
) -> None:
    """The bundle's own base_parameters (tables swapped for local parquet): members by bare name under
    model_dir, the packaged-config names resolved, the summary as the exit value and a task value."""
    bert, roberta = tiny_models
    config = write_config(tmp_path / "bare.toml", Path(bert.name), Path(roberta.name))
    assert 'path = "bert"' in config.read_text()
    spark.createDataFrame(
        [(1, "John Smith"), (2, None), (3, "Acme Corp")], "customer_id long, name string"
    ).write.parquet(str(tmp_path / "customers"))
    task = _bundle()["resources"]["jobs"]["spark_ner_label"]["tasks"][0]
    values = dict(task["notebook_task"]["base_parameters"])
    values.update(
        input=str(tmp_path / "customers"),
        input_format="parquet",
        output=str(tmp_path / "labels"),
        output_format="parquet",
        cache="",
        config=str(config),
        model_dir=str(bert.parent),
        summary=str(tmp_path / "summary.json"),
        master="local[1]",
    )
    # the job cluster's environment (spark_env_vars) but SPARK_NER_MODEL_DIR: the model_dir widget alone
    # (--model-dir) must find the members; the bundle sets the variable to the same folder as a second way
    cluster = _bundle()["resources"]["jobs"]["spark_ner_label"]["job_clusters"][0]["new_cluster"]
    for key, value in cluster["spark_env_vars"].items():
        if key != "SPARK_NER_MODEL_DIR":
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("SPARK_NER_MODEL_DIR", raising=False)
    dbutils = _Dbutils(values)
    with pytest.raises(_Exit) as exited:
        runpy.run_path(str(NOTEBOOK), init_globals={"dbutils": dbutils, "spark": spark, "display": lambda df: None})
    assert dbutils.widgets.declared == _widgets()
    summary = json.loads(exited.value.value)
    assert summary["rows_in"] == summary["rows_out"] == 3 and summary["exit_code"] == 0
    assert dbutils.jobs.taskValues.values["summary"] == summary
    rows = spark.read.parquet(str(tmp_path / "labels")).orderBy("customer_id").collect()
    assert [r["customer_id"] for r in rows] == [1, 2, 3] and rows[1]["ner_label"] is None


# ----------------------------------------------------------------------------- the bundle

#: documented bundle keys (docs.databricks.com, "Databricks Asset Bundle configuration"); the job resource
#: itself is checked against the schema's generated models instead
_TOP = {"bundle", "artifacts", "variables", "resources", "targets", "workspace", "run_as", "include", "permissions",
        "presets", "sync", "experimental", "python", "scripts", "environments"}  # fmt: skip
_TARGET = {"mode", "default", "workspace", "run_as", "variables", "resources", "presets", "artifacts", "bundle",
           "cluster_id", "compute_id", "git", "permissions", "sync"}  # fmt: skip
_ARTIFACT = {"type", "path", "build", "files", "executable", "dynamic_version"}
_VARIABLE = {"description", "default", "type", "lookup"}


def test_bundle_job_matches_the_bundle_schema() -> None:
    jobs = pytest.importorskip("databricks.bundles.jobs", reason="the dev extra installs databricks-bundles")
    job = jobs.Job.from_dict(_bundle()["resources"]["jobs"]["spark_ner_label"])  # unknown or mistyped keys raise
    assert job.timeout_seconds and job.email_notifications and job.health
    (task,) = job.tasks
    assert task.max_retries and task.libraries[0].whl == "./dist/*.whl"


def test_bundle_mistakes_are_caught_by_the_schema_check() -> None:
    """The check above can fail: a misspelt key and a wrong enum value are refused."""
    jobs = pytest.importorskip("databricks.bundles.jobs", reason="the dev extra installs databricks-bundles")
    job = _bundle()["resources"]["jobs"]["spark_ner_label"]
    bad = json.loads(json.dumps(job))
    bad["tasks"][0]["notebook_task"]["notebook_pth"] = "x"
    with pytest.raises(ValueError, match="notebook_pth"):
        jobs.Job.from_dict(bad)
    bad = json.loads(json.dumps(job))
    bad["health"]["rules"][0]["metric"] = "RUN_DURATION"
    with pytest.raises(ValueError, match="RUN_DURATION"):
        jobs.Job.from_dict(bad)


def test_bundle_builds_and_attaches_the_wheel_with_one_version() -> None:
    bundle = _bundle()
    text = BUNDLE.read_text(encoding="utf-8")
    assert set(bundle) <= _TOP, set(bundle) - _TOP
    ((_name, artifact),) = bundle["artifacts"].items()
    assert set(artifact) <= _ARTIFACT and artifact["type"] == "whl"
    assert (REPO / artifact["path"] / "pyproject.toml").is_file()
    assert "--wheel-dir dist" in artifact["build"]
    (task,) = bundle["resources"]["jobs"]["spark_ner_label"]["tasks"]
    assert task["libraries"] == [{"whl": "./dist/*.whl"}]
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert version not in text and not re.search(r"spark_ner-\d", text), "the version lives in pyproject.toml only"


def test_bundle_variables_are_all_used_and_defined() -> None:
    bundle = _bundle()
    text = BUNDLE.read_text(encoding="utf-8")
    variables = bundle["variables"]
    used = set(re.findall(r"\$\{var\.(\w+)\}", text))
    assert used == set(variables), f"undefined: {used - set(variables)}, unused: {set(variables) - used}"
    assert all(set(v) <= _VARIABLE and "default" in v for v in variables.values())


def test_bundle_targets_are_ones_the_cli_accepts() -> None:
    """mode: production needs an explicit workspace.root_path and run_as (the CLI refuses it otherwise)."""
    targets = _bundle()["targets"]
    assert all(set(t) <= _TARGET for t in targets.values())
    assert [n for n, t in targets.items() if t.get("default")] == ["dev"]
    prod = targets["prod"]
    assert prod["mode"] == "production"
    assert prod["workspace"]["root_path"].startswith("/Workspace/")
    assert set(prod["run_as"]) & {"user_name", "service_principal_name"}


def test_bundle_defines_a_gpu_job_running_the_notebook() -> None:
    bundle = _bundle()
    variables = bundle["variables"]
    job = bundle["resources"]["jobs"]["spark_ner_label"]
    assert job["schedule"]["quartz_cron_expression"] and job["schedule"]["timezone_id"]
    assert job["timeout_seconds"] and job["email_notifications"]["on_failure"]
    (cluster,) = job["job_clusters"]
    spark_conf = cluster["new_cluster"]["spark_conf"]
    assert spark_conf["spark.task.resource.gpu.amount"] == "1"
    assert spark_conf["spark.python.worker.reuse"] == "true"
    assert int(spark_conf["spark.sql.execution.arrow.maxRecordsPerBatch"]) >= 2048
    assert cluster["new_cluster"]["spark_env_vars"]["SPARK_NER_MODEL_DIR"] == "${var.model_dir}"
    assert variables["model_dir"]["default"].startswith("/Volumes/")
    assert "gpu" in variables["spark_version"]["default"]
    (task,) = job["tasks"]
    assert task["job_cluster_key"] == cluster["job_cluster_key"]
    assert task["max_retries"] >= 1 and task["retry_on_timeout"] is False
    notebook = task["notebook_task"]
    assert (REPO / notebook["notebook_path"]).resolve() == NOTEBOOK.resolve()
    params = notebook["base_parameters"]
    assert set(params) <= _widgets(), f"parameters the notebook has no widget for: {set(params) - _widgets()}"
    assert all(isinstance(v, str) for v in params.values()), "widget values are strings"
    assert params["model_dir"] == "${var.model_dir}"
    config = variables["config"]["default"]
    assert (REPO / "spark_ner" / "conf" / f"{config}.toml").is_file(), "a packaged config name"
