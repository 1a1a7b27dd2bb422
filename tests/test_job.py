"""The label job end to end: parquet and Hive tables (each run twice), partitions, labels-only,
the summary, refusals before any work, and the same labels from spark-submit."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tomllib
from typing import Any

import pytest
from helpers import (
    NAMES,
    NER_COLS,
    REPO,
    assert_rows_match,
    forbid_reading,
    job_args,
    labels_by_id,
    spark_submit,
    subprocess_env,
)

from spark_ner.errors import (
    ConfigError,
    DeltaUnavailableError,
    InputColumnError,
    OutputExistsError,
    RowCountMismatchError,
)
from spark_ner.spark import job as jobs


@pytest.fixture(scope="module")
def customers(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The mixed names as a parquet file (id, name, region) and as a Hive table."""
    path = tmp_path_factory.mktemp("job-in") / "customers.parquet"
    rows = [(i, n, ["north", "south"][i % 2]) for i, n in enumerate(NAMES)]
    df = spark.createDataFrame(rows, "id long, name string, region string").repartition(2)
    df.write.parquet(str(path))
    spark.sql("DROP TABLE IF EXISTS job_customers")
    df.write.saveAsTable("job_customers")
    return path


@pytest.fixture(scope="module")
def expected(tiny_ensemble):  # type: ignore[no-untyped-def]
    return tiny_ensemble.label(NAMES)


def _run(capsys, **kw: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert jobs.run(job_args(**kw)) == 0
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def test_parquet_twice_with_summary(spark, tiny_config_path, customers, expected, tmp_path, capsys, caplog) -> None:  # type: ignore[no-untyped-def]
    out, summary_path = tmp_path / "labelled", tmp_path / "summary.json"
    common = {"input": customers, "output": out, "config": tiny_config_path, "id_col": "id"}
    columnar = "spark.sql.execution.arrow.pythonUDF.columnarInput.enabled"
    with caplog.at_level(logging.INFO, logger="spark_ner.spark.udf"):
        first = _run(capsys, **common, summary=summary_path)
    assert not [r for r in caplog.records if columnar in r.getMessage()], "the job's own UDF takes the row path"
    assert json.loads(summary_path.read_text()) == first
    rows = spark.read.parquet(str(out)).collect()
    assert set(rows[0].asDict()) == {"id", "name", "region", *NER_COLS}
    assert_rows_match(labels_by_id(rows), expected)

    distinct = len(set(NAMES))  # None counts as one
    assert first["rows_in"] == first["rows_out"] == len(NAMES)
    assert first["distinct_names"] == distinct
    assert first["names_scored"] == distinct, "the UDF ran once per distinct name"
    assert first["null_names"] == NAMES.count(None)
    assert sum(first["labels"].values()) == len(NAMES)
    assert first["labels"]["null"] == NAMES.count(None)
    assert set(first["seconds"]) == {"read", "score", "check", "write", "total"}
    assert first["names_per_second"] > 0
    assert first["executors"] and all(e["device"] == "cpu" for e in first["executors"])
    assert all(e["gpu_util_mean"] is None and e["gpu_mem_used_mb_max"] is None for e in first["executors"])
    assert first["model_version"] == expected["model_version"][0]
    text = summary_path.read_text()
    for name in NAMES:
        if name and len(name.strip()) > 3:
            assert name not in text, "names never appear in the summary"

    assert first["spark"]["arrow_columnar_input"] == "false", "scored with the UDF's output kept in rows"
    assert spark.conf.get(columnar, None) is None, "the session's own setting is back after the run"

    spark.conf.set(columnar, "true")  # a session that chose the columnar path keeps it (and is told the fix)
    caplog.clear()
    try:
        with caplog.at_level(logging.INFO, logger="spark_ner.spark.udf"):
            second = _run(capsys, **common, mode="overwrite")
    finally:
        spark.conf.unset(columnar)
    assert [r for r in caplog.records if columnar in r.getMessage()]
    assert second["spark"]["arrow_columnar_input"] == "true"
    assert second["rows_out"] == len(NAMES)
    assert_rows_match(labels_by_id(spark.read.parquet(str(out)).collect()), expected)
    assert not [p for p in tmp_path.iterdir() if "spark-ner" in p.name], "no staging left"

    _run(capsys, **common, mode="append")
    assert spark.read.parquet(str(out)).count() == 2 * len(NAMES)


def test_main_exits_2_on_a_refused_run(tiny_config_path, customers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "out").mkdir()
    argv = ["--input", str(customers), "--output", str(tmp_path / "out"), "--config", str(tiny_config_path)]
    assert jobs.main(argv) == 2


def test_existing_output_fails_before_running(spark, tiny_config_path, customers, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("x")

    forbid_reading(monkeypatch, customers)
    with pytest.raises(OutputExistsError, match="--mode overwrite"):
        jobs.run(job_args(input=customers, output=out, config=tiny_config_path))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["exists"]


def test_hive_table_twice_partitioned(spark, tiny_config_path, customers, expected, capsys) -> None:  # type: ignore[no-untyped-def]
    spark.sql("DROP TABLE IF EXISTS job_labels")
    common = {
        "input": "job_customers",
        "input_format": "table",
        "output": "job_labels",
        "output_format": "table",
        "config": tiny_config_path,
        "id_col": "id",
        "partition_by": ["region"],
    }
    for mode in ("error", "overwrite"):
        summary = _run(capsys, **common, mode=mode)
        assert summary["rows_out"] == len(NAMES)
        rows = spark.table("job_labels").collect()
        assert_rows_match(labels_by_id(rows), expected)
    parts = [c.name for c in spark.catalog.listColumns("job_labels") if c.isPartition]
    assert parts == ["region"]
    with pytest.raises(OutputExistsError):
        jobs.run(job_args(**common))


def test_hive_table_labels_only(spark, tiny_config_path, customers, expected, capsys) -> None:  # type: ignore[no-untyped-def]
    spark.sql("DROP TABLE IF EXISTS job_labels_only")
    common = {
        "input": customers,
        "output": "job_labels_only",
        "output_format": "table",
        "config": tiny_config_path,
        "id_col": "id",
        "labels_only": True,
    }
    _run(capsys, **common)
    _run(capsys, **common, mode="overwrite")
    df = spark.table("job_labels_only")
    assert df.columns == ["id", *NER_COLS]
    assert_rows_match(labels_by_id(df.collect()), expected)


def test_partitioned_parquet_by_label(spark, tiny_config_path, customers, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "by_label"
    summary = _run(
        capsys,
        input=customers,
        output=out,
        config=tiny_config_path,
        partition_by=["ner_label"],
        set=["ensemble.batch_size=4"],
    )
    dirs = {p.name for p in out.iterdir() if p.is_dir()}
    assert dirs == {
        f"ner_label={k}" if k != "null" else "ner_label=__HIVE_DEFAULT_PARTITION__" for k in summary["labels"]
    }
    assert spark.read.parquet(str(out)).count() == len(NAMES)


def test_refusals_name_the_problem(spark, tiny_config_path, customers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"input": customers, "config": tiny_config_path}
    with pytest.raises(InputColumnError, match="'full_name' not found; existing columns: id, name, region"):
        jobs.run(job_args(**base, output=tmp_path / "a", name_col="full_name"))
    with pytest.raises(InputColumnError, match="'id' has type bigint, expected string"):
        jobs.run(job_args(**base, output=tmp_path / "b", name_col="id"))
    with pytest.raises(InputColumnError, match="--labels-only needs --id-col"):
        jobs.run(job_args(**base, output=tmp_path / "c", labels_only=True))
    with pytest.raises(InputColumnError, match="--partition-by nope"):
        jobs.run(job_args(**base, output=tmp_path / "d", partition_by=["nope"]))
    with pytest.raises(DeltaUnavailableError, match="not on this cluster's classpath"):
        jobs.run(job_args(**base, output=tmp_path / "e", output_format="delta"))
    assert list(tmp_path.iterdir()) == []


def test_row_count_mismatch_writes_nothing(spark, tiny_config_path, customers, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A scoring step that duplicates names would duplicate rows in the join: refused unwritten."""
    real = jobs.with_ner_labels

    def duplicating(*a: Any, **k: Any) -> Any:
        inner = real(*a, **k)
        return lambda df: inner(df).unionAll(inner(df))

    monkeypatch.setattr(jobs, "with_ner_labels", duplicating)
    with pytest.raises(RowCountMismatchError, match="nothing was written"):
        jobs.run(job_args(input=customers, output=tmp_path / "x", config=tiny_config_path))
    assert list(tmp_path.iterdir()) == []


def test_empty_input(spark, tiny_config_path, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "empty.parquet"
    spark.createDataFrame([], "id long, name string").write.parquet(str(src))
    summary = _run(capsys, input=src, output=tmp_path / "out", config=tiny_config_path)
    assert summary["rows_in"] == summary["rows_out"] == summary["distinct_names"] == 0
    assert spark.read.parquet(str(tmp_path / "out")).columns == ["id", "name", *NER_COLS]


@pytest.mark.slow
def test_spark_submit_gives_the_same_labels(spark, tiny_config_path, customers, expected, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    cmd = [
        spark_submit(),
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        str(REPO / "jobs" / "label_customers.py"),
        "--input",
        str(customers),
        "--output",
        str(out),
        "--config",
        str(tiny_config_path),
        "--id-col",
        "id",
        "--score-partitions",
        "1",
        "--summary",
        str(summary),
    ]
    proc = subprocess.run(cmd, env=subprocess_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(summary.read_text())["spark"]["master"] == "local[2]"
    assert_rows_match(labels_by_id(spark.read.parquet(str(out)).collect()), expected)


@pytest.mark.slow
def test_cpu_lanes_in_one_worker_same_labels(spark, tiny_config_path, customers, expected, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``--spark-conf spark.task.cpus=2`` on local[2]: one Python worker whose 2 threads are lanes."""
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "spark_ner.cli", "label", "--input", str(customers), "--output", str(out)]
    cmd += ["--config", str(tiny_config_path), "--id-col", "id", "--summary", str(summary), "--master", "local[2]"]
    cmd += ["--spark-conf", "spark.task.cpus=2", "--spark-conf", "spark.ui.enabled=false"]
    proc = subprocess.run(cmd, env=subprocess_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    executors = json.loads(summary.read_text())["executors"]
    assert sum(e["python_workers"] for e in executors) == 1
    assert_rows_match(labels_by_id(spark.read.parquet(str(out)).collect()), expected)


def test_databricks_conf_is_valid_and_documents_gpu_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from spark_ner.config import load_config

    monkeypatch.setenv("SPARK_NER_MODEL_DIR", "/Volumes/main/spark_ner/models")
    cfg = load_config(REPO / "conf" / "databricks.toml")
    assert all(m.path.startswith("/Volumes/main/spark_ner/models/") for m in cfg.models)
    assert cfg.ensemble.batch_size == 4096
    text = (REPO / "conf" / "databricks.toml").read_text(encoding="utf-8")
    for key in ("spark.executor.resource.gpu.amount", "spark.task.resource.gpu.amount", "gpu_discovery.sh"):
        assert key in text


def test_databricks_conf_runs_the_evaluated_members_and_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """One source for member weights: the Databricks config takes the default config's members
    (names, weights, label maps, kinds) and differs only in speed knobs, so GPU users run the
    ensemble whose accuracy EVALUATION.md measured."""
    from spark_ner.config import load_config

    monkeypatch.setenv("SPARK_NER_MODEL_DIR", "/Volumes/main/spark_ner/models")
    gpu, default = load_config(REPO / "conf" / "databricks.toml"), load_config(REPO / "conf" / "default.toml")

    def members(cfg):  # type: ignore[no-untyped-def]
        return [{k: v for k, v in m.items() if k != "path"} for m in cfg.to_dict()["models"]]

    assert members(gpu) == members(default)
    assert [m.weight for m in gpu.models] == [m.weight for m in default.models]
    assert gpu.fingerprint() == default.fingerprint()  # same labels: batch size is a speed knob
    raw = tomllib.loads((REPO / "conf" / "databricks.toml").read_text(encoding="utf-8"))
    assert raw["base"] == "default" and "models" not in raw  # no second copy of the members to drift


def test_gpu_discovery_script_prints_spark_resource_json() -> None:
    script = str(REPO / "conf" / "gpu_discovery.sh")
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    for visible, expected in (("2,3", ["2", "3"]), ("GPU-a,GPU-b", ["0", "1"])):
        out = subprocess.run([script], env={**env, "CUDA_VISIBLE_DEVICES": visible}, capture_output=True, text=True)
        assert json.loads(out.stdout) == {"name": "gpu", "addresses": expected}
    out = subprocess.run([script], env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["name"] == "gpu"


# ----------------------------------------------------------------------------- the stages one by one


def _stage_args(customers: Any, output: Any, config: Any, **kw: Any) -> Any:
    return jobs.LabelArgs(input=str(customers), output=str(output), config=str(config), id_col="id", **kw)


def _labels_df(spark: Any, ensemble: Any, failed: tuple[str | None, ...] = ()) -> Any:
    """One row per distinct name of NAMES (``NAME_KEY`` + the ``ner_*`` columns) labelled in-process;
    names in ``failed`` carry an error instead, as a failing member leaves them."""
    from spark_ner.config import ENTITY_FIELDS
    from spark_ner.spark.udf import NER_STRUCT

    distinct = list(dict.fromkeys(NAMES))
    frame = ensemble.label(distinct)

    def entities(value: Any) -> Any:
        return None if value is None else [tuple(e[f] for f in ENTITY_FIELDS) for e in value]

    def plain(value: Any) -> Any:
        return None if value is None or value != value else value  # NaN -> null

    rows = [
        (name, r.label, plain(r.score), plain(r.agreement), entities(r.entities), r.model_version, r.error)
        if name not in failed
        else (name, None, None, None, None, r.model_version, "member m failed: RuntimeError")
        for name, r in zip(distinct, frame.itertuples(), strict=True)
    ]
    types = ", ".join(f"ner_{f.name} {f.dataType.simpleString()}" for f in NER_STRUCT.fields)
    return spark.createDataFrame(rows, f"{jobs.NAME_KEY} string, {types}")


def test_score_stage_labels_a_dataframe_without_writing(spark, tiny_config_path, customers, tiny_ensemble, tmp_path):  # type: ignore[no-untyped-def]
    """Stage 2 alone: one labelled row per distinct name, the counts, and nothing on disk."""
    out = tmp_path / "never-written"
    prepared = jobs.prepare(spark, jobs.resolve(_stage_args(customers, out, tiny_config_path)))
    assert prepared.out_columns == ("id", "name", "region", *NER_COLS)
    scored = jobs.score(spark, prepared, jobs.StageClock())
    try:
        distinct = list(dict.fromkeys(NAMES))
        assert (scored.rows_in, scored.null_names, scored.distinct_names) == (len(NAMES), 2, len(distinct))
        assert scored.names_scored == len(distinct) and scored.names_cached == 0
        rows = {r[jobs.NAME_KEY]: r.asDict() for r in scored.labels.collect()}
    finally:
        scored.labels.unpersist()
    assert set(rows) == set(distinct)
    got = [{c[4:]: rows[n][c] for c in NER_COLS} for n in distinct]
    assert_rows_match(got, tiny_ensemble.label(distinct))
    assert not out.exists()


def test_write_stage_alone(spark, tiny_config_path, customers, tiny_ensemble, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Stage 3 alone: labels made elsewhere (here in-process) are joined back and committed; no UDF runs."""
    out = tmp_path / "written"
    prepared = jobs.prepare(spark, jobs.resolve(_stage_args(customers, out, tiny_config_path)))
    monkeypatch.setattr(jobs, "with_ner_labels", lambda *a, **k: pytest.fail("the write stage scored names"))
    written = jobs.write(prepared, _labels_df(spark, tiny_ensemble), None, jobs.StageClock())
    assert written.rows_out == len(NAMES) and written.model_version == tiny_ensemble.model_version
    assert written.output_commit == "staged-rename"
    assert_rows_match(labels_by_id(spark.read.parquet(str(out)).collect()), tiny_ensemble.label(NAMES))


def test_one_run_resolves_each_member_once(spark, tiny_config_path, customers, tmp_path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    """The driver checks each member exactly once per run, name cache and shipping included (they
    used to resolve the members again, each on its own: a moving hub ref could split a run's version)."""
    from spark_ner import models
    from spark_ner.config import load_config

    monkeypatch.setenv("SPARK_NER_SHIP_DIR", str(tmp_path / "ship"))
    seen: list[str] = []
    real = models.inspect_member

    def counting(model: Any, planned: Any = None) -> Any:
        seen.append(model.name)
        return real(model, planned)

    monkeypatch.setattr(models, "inspect_member", counting)
    kw = {"cache": tmp_path / "cache", "ship_models": True}
    summary = _run(capsys, input=customers, output=tmp_path / "out", config=tiny_config_path, **kw)
    members = [m.name for m in load_config(tiny_config_path).models]
    assert sorted(seen) == sorted(members), seen
    assert summary["models"]["shipped"] and summary["rows_out"] == len(NAMES)


def test_max_error_rows_exit_3(spark, tiny_config_path, customers, tiny_ensemble, tmp_path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    """More error rows than --max-error-rows: exit 3, the output still written, the summary says so."""
    real_score = jobs.score
    failed = NAMES.count("John Smith")

    def failing_score(spark_: Any, prepared: Any, clock: Any) -> Any:  # the real stage, then one name fails
        scored = real_score(spark_, prepared, clock)
        scored.labels.unpersist()
        return dataclasses.replace(scored, labels=_labels_df(spark, tiny_ensemble, failed=("John Smith",)))

    monkeypatch.setattr(jobs, "score", failing_score)
    common = {"input": customers, "config": tiny_config_path, "id_col": "id"}
    out = tmp_path / "out"
    assert jobs.run(job_args(output=out, max_error_rows=failed - 1, **common)) == jobs.EXIT_TOO_MANY_ERRORS
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "too_many_error_rows" and summary["max_error_rows"] == failed - 1
    assert summary["error_rows"] == failed
    rows = spark.read.parquet(str(out)).collect()
    assert len(rows) == len(NAMES) and sum(r["ner_error"] is not None for r in rows) == failed
    ok = _run(capsys, input=customers, output=tmp_path / "ok", config=tiny_config_path, max_error_rows=failed)
    assert ok["status"] == "ok" and ok["error_rows"] == failed
    with pytest.raises(ConfigError, match="--max-error-rows must be 0 or more"):
        jobs.run(job_args(output=tmp_path / "x", max_error_rows=-1, **common))
