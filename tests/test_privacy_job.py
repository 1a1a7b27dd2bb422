"""Issue 8 at job level: customer names never reach logs, stdout/stderr, the summary or error texts.

Names carry a marker string; the marker must be in the output table and nowhere else. The
in-process ``Ensemble.label`` half is ``test_security.py``. Here: the label job in-process (caplog
at DEBUG on the root logger, and the process's file descriptors, which also carry the JVM's and
the Python workers' output), the command line as a subprocess with ``-vv`` where every Python
process of the job (driver, ``pyspark.daemon`` and its workers) logs at DEBUG and the JVM at INFO,
``with_ner_labels``, SQL on a wrong-typed column, and a job whose tasks fail.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_config

from spark_ner.spark import job as jobs
from spark_ner.spark.udf import register_sql, with_ner_labels

MARKER = "Qzvjobmarker"
MARKED: list[str | None] = [
    f"{MARKER} Smith",
    f"{MARKER} & Sons Ltd",
    f"Dr. {MARKER.upper()} García",
    f"Banco {MARKER} S.A.",
    f"{MARKER}@example.com",
    f"{MARKER}\n{MARKER} Ltd",
    f"<b>{MARKER}</b>",
    f"{MARKER}\x00\x1b[31m",
    f"{MARKER} " * 20_000,
    "John Smith",
    None,
    "",
]

LOG4J_INFO = """\
rootLogger.level = info
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
# PySpark counts as an interpreter: unless its gateway's logger is configured, Spark lowers the root to WARN
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = info
"""
#: imported at start-up by every Python process of the subprocess job: all of them log at DEBUG
SITECUSTOMIZE = """\
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(process)d %(levelname)s %(name)s: %(message)s")
"""


def assert_no_marker(**places: str) -> None:
    for where, text in places.items():
        assert MARKER.lower() not in text.lower(), f"a name leaked into {where}"


def assert_marker_in_output(rows: list[dict[str, object]]) -> None:
    """The marker IS in the output table, so the checks above could have seen it: in every marked
    name, and in the entity texts the ensemble found in them."""
    marked = [r for r in rows if MARKER.lower() in str(r["name"]).lower()]
    assert len(marked) == sum(MARKER.lower() in str(n).lower() for n in MARKED)
    texts = [str(e["text"]) for r in marked for e in (r["ner_entities"] if r["ner_entities"] is not None else [])]
    assert any(MARKER.lower() in t.lower() for t in texts), "no entity text holds the marker"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG (py4j included), for this test only."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="spark_ner")
    yield caplog
    root.setLevel(old)


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Messages, arguments and tracebacks of every record."""
    return caplog.text + "\n".join(r.getMessage() for r in caplog.records)


@pytest.fixture
def marked_source(tmp_path: Path) -> Path:
    path = tmp_path / "marked.parquet"
    pd.DataFrame({"id": range(len(MARKED)), "name": MARKED}).to_parquet(path)
    return path


def test_job_in_process_logs_no_names(  # type: ignore[no-untyped-def]
    spark, tiny_config_path, marked_source, tmp_path, debug_logs, capfd
) -> None:
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    argv = ["--input", str(marked_source), "--output", str(out), "--config", str(tiny_config_path)]
    assert jobs.main([*argv, "--id-col", "id", "--summary", str(summary)]) == 0
    captured = capfd.readouterr()
    assert_no_marker(logs=_log_text(debug_logs), stdout=captured.out, stderr=captured.err, summary=summary.read_text())
    rows = [r.asDict() for r in spark.read.parquet(str(out)).collect()]
    assert len(rows) == len(MARKED)
    assert_marker_in_output(rows)


def test_with_ner_labels_logs_no_names(spark, tiny_config, debug_logs, capfd) -> None:  # type: ignore[no-untyped-def]
    df = spark.createDataFrame(list(enumerate(MARKED)), "id long, name string").repartition(2)
    rows = [r.asDict() for r in df.transform(with_ner_labels("name", tiny_config)).collect()]
    captured = capfd.readouterr()
    assert_no_marker(logs=_log_text(debug_logs), stdout=captured.out, stderr=captured.err)
    assert all(MARKER.lower() not in str(r["ner_error"]).lower() for r in rows)
    assert_marker_in_output(rows)


@pytest.mark.parametrize(
    ("ddl", "value"),
    [
        ("array<string>", [f"{MARKER} Smith"]),
        ("binary", bytearray(f"{MARKER} Smith".encode())),
        ("struct<first:string,last:string>", (MARKER, "Smith")),
    ],
)
def test_wrong_type_errors_hold_no_values(spark, tiny_config, debug_logs, capfd, ddl, value) -> None:  # type: ignore[no-untyped-def]
    """The worker refuses a non-string column naming its type, never one of its values."""
    df = spark.createDataFrame([(1, value)], f"id long, name {ddl}")
    register_sql(spark, "ner_label_private", tiny_config)
    df.createOrReplaceTempView("private_names")
    with pytest.raises(Exception) as err:
        spark.sql("SELECT ner_label_private(name) FROM private_names").collect()
    assert "expects a string column" in str(err.value)
    captured = capfd.readouterr()
    assert_no_marker(error=str(err.value), logs=_log_text(debug_logs), stderr=captured.err, stdout=captured.out)


def test_failed_tasks_hold_no_names(spark, tiny_models, tmp_path, debug_logs, capfd) -> None:  # type: ignore[no-untyped-def]
    """Tasks that fail on marked names (the model folder vanished after the driver's check): the
    job's exception, the logs and the task failures on stderr name the path, not a row."""
    from spark_ner.config import load_config

    bert = tmp_path / "bert"
    shutil.copytree(tiny_models[0], bert)
    cfg = load_config(write_config(tmp_path / "c.toml", bert, tiny_models[1]))
    transform = with_ner_labels("name", cfg)
    shutil.rmtree(bert)
    df = spark.createDataFrame(list(enumerate(MARKED)), "id long, name string")
    with pytest.raises(Exception) as err:
        df.transform(transform).collect()
    assert str(bert) in str(err.value)
    captured = capfd.readouterr()
    assert_no_marker(error=str(err.value), logs=_log_text(debug_logs), stderr=captured.err, stdout=captured.out)


@pytest.mark.slow
def test_cli_at_debug_in_every_process_logs_no_names(tiny_config_path, marked_source, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``spark-ner -vv label`` in a fresh process: the driver, the Python daemon and its workers at
    DEBUG (a ``sitecustomize`` on their path), the JVM at INFO; stdout, stderr and the summary."""
    hooks, conf = tmp_path / "hooks", tmp_path / "spark-conf"
    hooks.mkdir()
    conf.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    (conf / "log4j2.properties").write_text(LOG4J_INFO, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")])),
        "SPARK_CONF_DIR": str(conf),
        "HF_HUB_OFFLINE": "1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "spark_ner.cli", "-vv", "label", "--input", str(marked_source)]
    cmd += ["--output", str(out), "--config", str(tiny_config_path), "--id-col", "id", "--summary", str(summary)]
    cmd += ["--master", "local[2]", "--score-partitions", "2"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the hooks worked: DEBUG lines from the driver and from a Python worker, INFO from the JVM
    assert " DEBUG py4j" in proc.stderr and "INFO SparkContext" in proc.stderr
    assert "INFO spark_ner.spark.udf: worker" in proc.stderr, "the Python workers' logs were not seen"
    assert_no_marker(stdout=proc.stdout, stderr=proc.stderr, summary=summary.read_text())
    assert json.loads(summary.read_text())["rows_out"] == len(MARKED)
    rows = pd.read_parquet(out).to_dict("records")
    assert len(rows) == len(MARKED)
    assert_marker_in_output(rows)
