"""The Spark session the job runs in, and small helpers that need only a session.

The active session is used when there is one (notebook, tests, spark-submit); else the job makes a
local one with Hive support for tables. Nothing here imports the label job or the outputs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spark_ner.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def quote_identifier(col: str) -> str:
    """A column name quoted for Spark (dots and spaces are literal, not nested fields)."""
    return "`" + col.replace("`", "``") + "`"


def under_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands pyspark its gateway through the environment."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def parse_spark_conf(pairs: Sequence[str]) -> dict[str, str]:
    """``["spark.task.cpus=2", ...]`` -> ``{"spark.task.cpus": "2"}``, checked at the boundary."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.startswith("spark.") or not value.strip():
            raise ConfigError(
                f"--spark-conf expects KEY=VALUE with a key starting 'spark.' (e.g. spark.task.cpus=2), got {pair!r}"
            )
        out[key] = value.strip()
    return out


def get_session(
    master: str | None = None,
    hive: bool = False,
    catalog_dir: str | os.PathLike[str] = "spark-catalog",
    conf: Mapping[str, str] | None = None,
) -> tuple[SparkSession, bool]:
    """The active session if there is one (notebook, tests), else a new one; and whether we made it.

    A new local session with ``hive`` gets an embedded Derby metastore and a warehouse under
    ``catalog_dir`` (unless spark-submit configured a metastore), so tables outlive the run.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        if conf:
            log.warning("--spark-conf ignored: a Spark session is already running (%s)", ", ".join(conf))
        return active, False
    submitted: SparkConf | None = None
    if under_spark_submit():  # connect to spark-submit's JVM to read what it was given
        SparkContext._ensure_initialized()
        submitted = SparkConf()
    builder = SparkSession.builder.appName("spark-ner-label")
    if master:
        builder = builder.master(master)
    elif submitted is None or not submitted.contains("spark.master"):
        builder = builder.master("local[*]")
    chosen = master or (submitted.get("spark.master", "local[*]") if submitted else "local[*]")
    if submitted is None or not submitted.contains("spark.python.worker.reuse"):
        builder = builder.config("spark.python.worker.reuse", "true")
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    derby_home: Path | None = None
    if hive:
        builder = builder.enableHiveSupport()
        configured = submitted is not None and (
            submitted.contains("spark.sql.warehouse.dir")
            or submitted.contains("spark.hadoop.javax.jdo.option.ConnectionURL")
        )
        if str(chosen).startswith("local") and not configured:
            derby_home = Path(catalog_dir).expanduser().resolve()
            derby_home.mkdir(parents=True, exist_ok=True)
            url = f"jdbc:derby:;databaseName={derby_home / 'metastore_db'};create=true"
            builder = builder.config("spark.sql.warehouse.dir", str(derby_home / "warehouse"))
            builder = builder.config("spark.hadoop.javax.jdo.option.ConnectionURL", url)
    spark = builder.getOrCreate()
    if derby_home is not None:
        # before the first catalog call boots Derby, so derby.log lands beside the metastore
        jvm = spark.sparkContext._jvm
        if jvm is not None:
            jvm.java.lang.System.setProperty("derby.system.home", str(derby_home))
    return spark, True


@contextlib.contextmanager
def session_conf(spark: SparkSession, settings: Mapping[str, str | None]) -> Iterator[None]:
    """Set runtime SQL confs for the job and restore them after (the session may be the user's)."""
    saved: dict[str, str | None] = {}
    for key, value in settings.items():
        if value is None:
            continue
        saved[key] = spark.conf.get(key, None)
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def task_slots(spark: SparkSession) -> int:
    """Tasks the cluster runs at once (Spark's default parallelism; 8 when it cannot be read)."""
    try:
        return max(1, int(spark.sparkContext.defaultParallelism))
    except Exception:  # Spark Connect
        return max(1, int(spark.conf.get("spark.default.parallelism", None) or 8))


def jvm_available(spark: SparkSession) -> bool:
    try:
        return spark.sparkContext._jvm is not None
    except Exception:  # Spark Connect: no SparkContext on the client
        return False
