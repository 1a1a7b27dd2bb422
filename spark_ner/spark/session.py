"""The Spark session the job runs in, and small helpers that need only a session.

The active session is used when there is one (notebook, tests, spark-submit); else the job makes a
Spark Connect session for ``--remote sc://HOST:PORT`` (or ``SPARK_REMOTE``), or a local one with
Hive support for tables. A Connect session (Databricks serverless and shared clusters, Databricks
Connect, any ``SparkSession.builder.remote``) has no ``sparkContext``, no ``_jvm`` and no
accumulators: :func:`is_connect` tells them apart by the session's class alone, without touching the
JVM, and :func:`path_exists` / :func:`list_files` look at storage through Spark itself, so they work
on both. Nothing here imports the label job or the outputs, and nothing needs ``pyspark.core`` (the
``pyspark-client`` package has none).
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

#: the environment variable pyspark itself reads for a Spark Connect URL
REMOTE_ENV = "SPARK_REMOTE"


def is_connect(spark: object) -> bool:
    """A Spark Connect session (its class lives in ``pyspark.sql.connect``); no JVM is touched."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def remote_url(remote: str | None = None) -> str | None:
    """``--remote`` if given, else ``$SPARK_REMOTE``; checked to look like ``sc://HOST[:PORT][/;params]``."""
    url = remote or os.environ.get(REMOTE_ENV) or None
    if url is not None and not url.startswith("sc://"):
        where = "--remote" if remote else REMOTE_ENV
        raise ConfigError(
            f"{where} expects a Spark Connect URL like sc://HOST:PORT, got {url!r}. "
            "Fix: pass e.g. --remote sc://localhost:15002"
        )
    return url


def runs_through_connect(remote: str | None, master: str | None) -> bool:
    """Whether a run's session is (or will be) a Spark Connect one: the active session's kind, else
    ``remote`` (or ``$SPARK_REMOTE``) without ``master``. Asks no server, starts no JVM."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return is_connect(active)
    return remote_url(remote) is not None and not master


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
    remote: str | None = None,
) -> tuple[SparkSession, bool]:
    """The active session if there is one (notebook, tests), else a new one; and whether we made it.

    ``remote`` (or ``$SPARK_REMOTE``): a Spark Connect session on that server; no master is ever
    set on it (pyspark refuses one), ``hive`` and ``catalog_dir`` are the server's business, and
    ``conf`` holds runtime SQL settings only. A new local session with ``hive`` gets an embedded
    Derby metastore and a warehouse under ``catalog_dir`` (unless spark-submit configured a
    metastore), so tables outlive the run.
    """
    from pyspark.sql import SparkSession

    url = remote_url(remote)
    if url is not None and master:
        raise ConfigError(
            f"--master {master!r} and a Spark Connect URL ({url}) were both given; a Connect session's "
            f"master is the server's. Fix: drop --master, or drop --remote / unset {REMOTE_ENV}"
        )
    active = SparkSession.getActiveSession()
    if active is not None:
        if conf:
            log.warning("--spark-conf ignored: a Spark session is already running (%s)", ", ".join(conf))
        if remote and not is_connect(active):
            log.warning("--remote ignored: a classic Spark session is already running in this process")
        return active, False
    if url is not None:
        return _connect_session(url, conf or {}), True
    from pyspark import SparkConf, SparkContext

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


def _connect_session(url: str, conf: Mapping[str, str]) -> SparkSession:
    """A Spark Connect session: the builder takes only the URL; settings go to the session after."""
    from pyspark.sql import SparkSession

    try:
        spark = SparkSession.builder.remote(url).getOrCreate()
    except ImportError as exc:  # grpcio and friends: pyspark[connect] / the connect extra
        raise ConfigError(
            f"a Spark Connect session ({url}) needs the Connect client libraries ({exc}). "
            "Fix: pip install 'spark-ner[connect]' (or 'pyspark[connect]')"
        ) from None
    for key, value in conf.items():
        spark.conf.set(key, value)
    log.info("Spark Connect session on %s (Spark %s)", url, spark.version)
    return spark


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
    if not is_connect(spark):
        try:
            return max(1, int(spark.sparkContext.defaultParallelism))
        except Exception:
            pass
    try:  # Spark Connect: what the server was given, else a guess from a local master
        value = spark.conf.get("spark.default.parallelism", None)
        if value:
            return max(1, int(value))
        master = str(spark.conf.get("spark.master", None) or "")
        if master.startswith("local[") and master[6:-1].isdigit():
            return max(1, int(master[6:-1]))
    except Exception:
        pass
    return 8


def jvm_available(spark: SparkSession) -> bool:
    """Whether the driver can reach the JVM (py4j); never on a Spark Connect session."""
    if is_connect(spark):
        return False
    try:
        return spark.sparkContext._jvm is not None
    except Exception:
        return False


# ----------------------------------------------------------------------------- storage through Spark


def _missing_path(exc: Exception) -> bool:
    return "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc)


def path_exists(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` (a file or folder, any scheme the cluster reads) exists, asked through Spark.

    Works without JVM access (Spark Connect): the ``binaryFile`` source resolves the path on the
    server (its schema is fixed, so nothing is read).
    """
    from pyspark.errors import AnalysisException

    try:
        spark.read.format("binaryFile").load(path).schema  # noqa: B018 (analysis checks the path)
        return True
    except AnalysisException as exc:
        if _missing_path(exc):
            return False
        raise


def list_files(spark: SparkSession, path: str) -> list[tuple[str, int]]:
    """``(path relative to `path`, bytes)`` of every visible file under ``path``, through Spark.

    Hidden entries (names starting with ``.`` or ``_``, e.g. staging folders and ``_SUCCESS``) are
    skipped, as Spark's readers skip them; the file contents are not read. Missing path: ``[]``.
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    try:
        listing = (
            spark.read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .load(path)
            .select(F.col("path"), F.col("length"))
            .collect()
        )
    except AnalysisException as exc:
        if _missing_path(exc):
            return []
        raise
    root = _path_tail(path)
    out = []
    for row in listing:
        full = _path_tail(str(row["path"]))
        if full.startswith(root + "/"):
            rel = full[len(root) + 1 :]
        elif f"/{root}/" in full:  # a relative path, resolved by the server against its own folder
            rel = full.split(f"/{root}/", 1)[1]
        else:  # the path is the file itself
            rel = full.rsplit("/", 1)[-1]
        out.append((rel, int(row["length"])))
    return sorted(out)


def _path_tail(path: str) -> str:
    """A path without scheme and authority, unquoted, no trailing slash (to compare listings)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(path)
    if not parts.scheme or len(parts.scheme) == 1:  # a plain (or Windows drive) path
        return os.path.normpath(path).rstrip("/") if path.startswith("/") else path.strip("/")
    return unquote(parts.path).rstrip("/")
