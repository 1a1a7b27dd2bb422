"""The label job: read a table of names, label each distinct name once, join back, write safely.

``spark-ner label`` and ``spark-submit jobs/label_customers.py`` run this same code. The order is
chosen so that a failure costs as little as possible and never leaves a misleading output:

1. config and member folders are checked on the driver; the output is checked against ``--mode``
   (``error``, the default, fails here if it exists: nothing has run, nothing is written);
2. distinct names are scored by the UDF into a persisted DataFrame (one model call per name);
   with ``--cache``, names already labelled by this model version are joined from the name cache
   instead, and only the new ones are scored and then committed to the cache (``cache.py``);
3. the labels are joined back (null-safe, so null names keep their rows) and rows out are
   counted against rows in BEFORE anything is committed;
4. parquet output is staged in a hidden sibling folder and renamed into place; tables go through
   the catalog (``insertInto`` with dynamic partition overwrite); Delta through its own log.

The summary (printed, and written with ``--summary``) holds counts, timings and per-executor
devices; never a name.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_ner import cache as name_cache
from spark_ner.config import Config, load_config, parse_overrides
from spark_ner.errors import (
    ConfigError,
    InputColumnError,
    OutputExistsError,
    RowCountMismatchError,
    SparkNerError,
)
from spark_ner.udf import (
    ARROW_BATCH_KEY,
    NER_FIELDS,
    WorkerStatsParam,
    check_string_column,
    recommended_arrow_batch_rows,
    with_ner_labels,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

__all__ = [
    "DeltaUnavailableError",
    "InputFormat",
    "OutputFormat",
    "WriteMode",
    "add_arguments",
    "build_parser",
    "get_session",
    "run",
]

PREFIX = "ner_"
OUTPUT_COLUMNS: tuple[str, ...] = tuple(f"{PREFIX}{f}" for f in NER_FIELDS)
NAME_KEY = "__spark_ner_name"
PARTITION_OVERWRITE_KEY = "spark.sql.sources.partitionOverwriteMode"
CATALOG_KEY = "spark.sql.catalogImplementation"
DELTA_CLASS = "org.apache.spark.sql.delta.sources.DeltaDataSource"
DELTA_HELP = (
    "Delta Lake is not on this cluster's classpath, so --output-format delta cannot be written. "
    "Databricks runtimes ship it. Elsewhere add the delta-spark release built for your Spark "
    "version: spark-submit --packages io.delta:delta-spark_2.13:<version> "
    "--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension "
    "--conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
    "(or pip install delta-spark and use delta.configure_spark_with_delta_pip). "
    "Or write --output-format parquet or table."
)


class DeltaUnavailableError(SparkNerError, RuntimeError):
    """``--output-format delta`` on a cluster without the Delta Lake classes."""


class InputFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"
    TABLE = "table"


class OutputFormat(StrEnum):
    PARQUET = "parquet"
    TABLE = "table"
    DELTA = "delta"


class WriteMode(StrEnum):
    """``error`` (default) refuses an existing output before any work is done."""

    OVERWRITE = "overwrite"
    APPEND = "append"
    ERROR = "error"


# ----------------------------------------------------------------------------- arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The label job's flags (shared by ``spark-ner label`` and ``jobs/label_customers.py``)."""
    parser.add_argument("--input", required=True, help="input path (parquet/csv) or table name")
    parser.add_argument("--output", required=True, help="output path, or table name for tables")
    parser.add_argument("--name-col", default="name", help="string column to label (default: name)")
    parser.add_argument("--id-col", default=None, help="row id column (required by --labels-only)")
    parser.add_argument("--config", default=None, help="config TOML (default: $SPARK_NER_CONFIG)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, repeatable, e.g. --set ensemble.batch_size=512",
    )
    parser.add_argument("--input-format", type=InputFormat, choices=list(InputFormat), default=InputFormat.PARQUET)
    parser.add_argument(
        "--output-format",
        type=OutputFormat,
        choices=list(OutputFormat),
        default=OutputFormat.PARQUET,
    )
    parser.add_argument(
        "--mode",
        type=WriteMode,
        choices=list(WriteMode),
        default=WriteMode.ERROR,
        help="when the output exists: overwrite, append, or error (default; fails before running)",
    )
    parser.add_argument(
        "--partition-by",
        action="append",
        default=[],
        metavar="COL[,COL]",
        help="partition the output by these output columns (repeatable or comma-separated)",
    )
    parser.add_argument("--labels-only", action="store_true", help="write only the id column and the ner_* columns")
    parser.add_argument("--summary", default=None, metavar="PATH", help="write the JSON summary")
    parser.add_argument(
        "--cache",
        default=None,
        metavar="PATH_OR_TABLE",
        help="name cache keyed by model version: score only names not in it, then append them "
        "(a path with '/' is parquet, else a table; see spark_ner/cache.py)",
    )
    parser.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[*])")
    parser.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting for the session this job creates (repeatable), e.g. spark.task.cpus=2 "
        "(one Python worker with 2 CPU lanes per 2 cores); under spark-submit use its --conf",
    )
    parser.add_argument(
        "--score-partitions",
        type=int,
        default=None,
        metavar="N",
        help="partitions of distinct names to score (default: 2 x the cluster's task slots)",
    )
    parser.add_argument(
        "--arrow-batch-rows",
        type=int,
        default=None,
        metavar="N",
        help=f"{ARROW_BATCH_KEY} (default: 8 x ensemble.batch_size, at least 2048)",
    )
    parser.add_argument(
        "--catalog-dir",
        default="spark-catalog",
        help="local runs with tables: folder for the warehouse and the embedded Derby metastore",
    )


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser (spark-submit script, notebook)."""
    parser = argparse.ArgumentParser(
        prog="label_customers", description="Label customer names with the spark_ner ensemble."
    )
    add_arguments(parser)
    return parser


def _q(col: str) -> str:
    """A column name quoted for Spark (dots and spaces are literal, not nested fields)."""
    return "`" + col.replace("`", "``") + "`"


def _split_cols(values: Sequence[str]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


# ----------------------------------------------------------------------------- session


def _under_spark_submit() -> bool:
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
    if _under_spark_submit():  # connect to spark-submit's JVM to read what it was given
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
def _session_conf(spark: SparkSession, settings: Mapping[str, str | None]) -> Iterator[None]:
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


def _task_slots(spark: SparkSession) -> int:
    """Tasks the cluster runs at once (Spark's default parallelism; 8 when it cannot be read)."""
    try:
        return max(1, int(spark.sparkContext.defaultParallelism))
    except Exception:  # Spark Connect
        return max(1, int(spark.conf.get("spark.default.parallelism", None) or 8))


def _jvm_available(spark: SparkSession) -> bool:
    try:
        return spark.sparkContext._jvm is not None
    except Exception:  # Spark Connect: no SparkContext on the client
        return False


# ----------------------------------------------------------------------------- outputs


class _HadoopFS:
    """The few file-system calls the parquet commit needs, through Hadoop (works for any scheme)."""

    def __init__(self, spark: SparkSession, path: str) -> None:
        sc = spark.sparkContext
        jvm = sc._jvm
        assert jvm is not None
        self._Path = jvm.org.apache.hadoop.fs.Path
        self.root = self._Path(path)
        self.fs = self.root.getFileSystem(sc._jsc.hadoopConfiguration())  # type: ignore[union-attr]

    def path(self, p: str) -> Any:
        return self._Path(p)

    def exists(self, p: Any) -> bool:
        return bool(self.fs.exists(p))

    def rename(self, src: Any, dst: Any) -> None:
        if not self.fs.rename(src, dst):
            raise OSError(f"could not rename {src.toString()} to {dst.toString()}")

    def delete(self, p: Any) -> None:
        self.fs.delete(p, True)

    def files(self, p: Any) -> list[Any]:
        it = self.fs.listFiles(p, True)
        out = []
        while it.hasNext():
            out.append(it.next().getPath())
        return out


@dataclass
class _Target:
    """Where and how the output is written; ``exists`` is checked before any work is done."""

    spark: SparkSession
    fmt: OutputFormat
    location: str
    mode: WriteMode
    partition_by: list[str]

    @property
    def is_path(self) -> bool:
        if self.fmt == OutputFormat.PARQUET:
            return True
        if self.fmt == OutputFormat.TABLE:
            return False
        return "/" in self.location or ":" in self.location  # delta: a path or a table name

    def exists(self) -> bool:
        if not self.is_path:
            return bool(self.spark.catalog.tableExists(self.location))
        if _jvm_available(self.spark):
            fs = _HadoopFS(self.spark, self.location)
            if self.fmt == OutputFormat.DELTA:
                return fs.exists(fs.path(self.location.rstrip("/") + "/_delta_log"))
            return fs.exists(fs.root)
        return Path(self.location).exists()

    def check_before_run(self) -> None:
        """Refuse an existing output under ``--mode error``; check Delta is there when needed."""
        if self.mode == WriteMode.ERROR and self.exists():
            what = "table" if not self.is_path else "path"
            raise OutputExistsError(
                f"output {what} {self.location!r} already exists; pass --mode overwrite or "
                "--mode append, or choose another --output. Nothing was run or written."
            )
        if self.fmt == OutputFormat.DELTA and not _delta_available(self.spark):
            raise DeltaUnavailableError(DELTA_HELP)
        if not self.is_path and self.spark.conf.get(CATALOG_KEY, None) == "in-memory":
            log.warning(
                "this session has no persistent catalog (%s=in-memory): table %s lasts only as long "
                "as the session; run with Hive support (the job's own local session has it)",
                CATALOG_KEY,
                self.location,
            )

    def write(self, df: DataFrame, expected_rows: int) -> None:
        if self.fmt == OutputFormat.PARQUET:
            self._write_parquet(df, expected_rows)
        elif self.fmt == OutputFormat.TABLE:
            self._write_table(df)
        else:
            self._write_delta(df)

    # ------------------------------------------------------------------ parquet
    def _write_parquet(self, df: DataFrame, expected_rows: int) -> None:
        """Stage in a hidden sibling, verify its row count, then rename into place."""
        if not _jvm_available(self.spark):  # Spark Connect: Spark's own commit protocol only
            log.warning("no JVM access (Spark Connect): writing without staging")
            self._writer(df, self.mode.value).parquet(self.location)
            return
        fs = _HadoopFS(self.spark, self.location)
        final = fs.root
        parent = final.getParent()
        tag = uuid.uuid4().hex[:12]
        staging = fs.path(f"{parent.toString()}/.{final.getName()}.spark-ner-staging-{tag}")
        try:
            self._writer(df, "overwrite").parquet(staging.toString())
            staged = self._count_staged(staging.toString())
            if staged != expected_rows:
                raise RowCountMismatchError(
                    f"staged output holds {staged} rows, expected {expected_rows}; not committed"
                )
            self._commit(fs, staging, final, tag)
        finally:
            if fs.exists(staging):
                fs.delete(staging)

    def _count_staged(self, staging: str) -> int:
        """Rows in the staged files (footers only); the glob skips Spark's hidden-root warning."""
        from pyspark.errors import AnalysisException

        try:
            reader = self.spark.read.option("recursiveFileLookup", "true")
            return int(reader.parquet(f"{staging}/*").count())
        except AnalysisException:  # no data files at all (an empty, partitioned output)
            return 0

    def _commit(self, fs: _HadoopFS, staging: Any, final: Any, tag: str) -> None:
        exists = fs.exists(final)
        if exists and self.mode == WriteMode.ERROR:
            raise OutputExistsError(f"output path {self.location!r} appeared while the job ran; not committed")
        if not exists:
            fs.rename(staging, final)
        elif self.mode == WriteMode.OVERWRITE:
            old = fs.path(f"{final.getParent().toString()}/.{final.getName()}.spark-ner-old-{tag}")
            fs.rename(final, old)
            try:
                fs.rename(staging, final)
            except Exception:
                fs.rename(old, final)  # put the previous output back
                raise
            fs.delete(old)
        else:  # append: move the staged files (part names are unique per write) into place
            base = staging.toUri().getPath().rstrip("/")
            for src in fs.files(staging):
                rel = src.toUri().getPath()[len(base) + 1 :]
                if rel == "_SUCCESS":
                    continue
                dst = fs.path(f"{final.toString().rstrip('/')}/{rel}")
                fs.fs.mkdirs(dst.getParent())
                fs.rename(src, dst)

    def _writer(self, df: DataFrame, mode: str) -> Any:
        writer = df.write.mode(mode)
        if self.partition_by:
            writer = writer.partitionBy(*self.partition_by)
        return writer

    # ------------------------------------------------------------------ tables
    def _write_table(self, df: DataFrame) -> None:
        """New table: ``saveAsTable``; else ``insertInto`` by name, dynamic partition overwrite."""
        spark = self.spark
        if not spark.catalog.tableExists(self.location):
            self._writer(df, "errorifexists").format("parquet").saveAsTable(self.location)
            return
        if self.mode == WriteMode.ERROR:
            raise OutputExistsError(f"output table {self.location!r} appeared while the job ran; not written")
        cols = spark.catalog.listColumns(self.location)
        table_cols = [c.name for c in cols]
        table_parts = [c.name for c in cols if c.isPartition]
        missing = sorted(set(df.columns) - set(table_cols))
        extra = sorted(set(table_cols) - set(df.columns))
        if missing or extra:
            raise InputColumnError(
                f"output table {self.location!r} has other columns than this job writes "
                f"(not in the table: {', '.join(missing) or '-'}; only in the table: "
                f"{', '.join(extra) or '-'}); write to a new table or drop it first"
            )
        if self.partition_by and self.partition_by != table_parts:
            raise InputColumnError(
                f"output table {self.location!r} is partitioned by "
                f"{', '.join(table_parts) or '(nothing)'}, not by {', '.join(self.partition_by)}"
            )
        overwrite = self.mode == WriteMode.OVERWRITE
        with _session_conf(spark, {PARTITION_OVERWRITE_KEY: "dynamic"}):
            df.select(*[_q(c) for c in table_cols]).write.insertInto(self.location, overwrite=overwrite)

    # ------------------------------------------------------------------ delta
    def _write_delta(self, df: DataFrame) -> None:
        mode = "errorifexists" if self.mode == WriteMode.ERROR else self.mode.value
        writer = self._writer(df, mode).format("delta")
        if self.mode == WriteMode.OVERWRITE and self.partition_by:
            writer = writer.option("partitionOverwriteMode", "dynamic")
        try:
            if self.is_path:
                writer.save(self.location)
            else:
                writer.saveAsTable(self.location)
        except Exception as exc:
            text = str(exc)
            missing_class = "ClassNotFound" in text or "Failed to find data source" in text
            if "DATA_SOURCE_NOT_FOUND" in text or ("delta" in text.lower() and missing_class):
                raise DeltaUnavailableError(DELTA_HELP) from None
            raise


def _delta_available(spark: SparkSession) -> bool:
    """Whether the Delta data source class loads on the driver (assumed yes without a JVM)."""
    if not _jvm_available(spark):
        return True
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(DELTA_CLASS, False, loader)
        return True
    except Exception:
        return False


# ----------------------------------------------------------------------------- the job


def _read_input(spark: SparkSession, fmt: InputFormat, location: str) -> DataFrame:
    if fmt == InputFormat.PARQUET:
        return spark.read.parquet(location)
    if fmt == InputFormat.CSV:
        # every column a string; multiLine: a quoted name holding a newline stays one row
        # (without it Spark splits the record and the job labels rows that were never in the input)
        return spark.read.option("header", "true").option("multiLine", "true").csv(location)
    return spark.table(location)


def _output_columns(df: DataFrame, args: argparse.Namespace) -> list[str]:
    if args.labels_only:
        return [args.id_col, *OUTPUT_COLUMNS]
    return [c for c in df.columns if c not in OUTPUT_COLUMNS] + list(OUTPUT_COLUMNS)


def _check_columns(df: DataFrame, args: argparse.Namespace, partition_by: list[str]) -> None:
    """Every column the job needs, checked before it runs; errors name the column."""
    check_string_column(df, args.name_col)
    if args.labels_only and not args.id_col:
        raise InputColumnError("--labels-only needs --id-col (the column that joins labels back)")
    if args.id_col and args.id_col not in df.columns:
        raise InputColumnError(f"--id-col {args.id_col!r} not found; existing columns: {', '.join(df.columns)}")
    if NAME_KEY in df.columns:
        raise InputColumnError(f"column {NAME_KEY!r} is reserved by spark_ner; rename it")
    out_cols = _output_columns(df, args)
    unknown = [c for c in partition_by if c not in out_cols]
    if unknown:
        raise InputColumnError(
            f"--partition-by {', '.join(unknown)}: not an output column; output columns: {', '.join(out_cols)}"
        )
    if partition_by and set(partition_by) == set(out_cols):
        raise InputColumnError("--partition-by cannot use every output column")


def _executors(records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per executor (host + JVM pid): device, load count and, on CUDA, NVML samples."""
    groups: dict[tuple[str, Any], list[Mapping[str, Any]]] = {}
    for rec in records.values():
        groups.setdefault((str(rec.get("host")), rec.get("executor_pid")), []).append(rec)
    out = []
    for (host, epid), recs in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        devices = sorted({str(r.get("device")) for r in recs})
        util_n = sum(int(r.get("util_n") or 0) for r in recs)
        util_sum = sum(float(r.get("util_sum") or 0.0) for r in recs)
        cuda = any(d.startswith("cuda") for d in devices)

        def peak(key: str, rs: list[Mapping[str, Any]] = recs) -> float | None:
            vals = [float(r[key]) for r in rs if r.get(key) is not None]
            return round(max(vals), 1) if vals else None

        out.append(
            {
                "host": host,
                "executor_pid": epid,
                "device": ",".join(devices),
                "python_workers": len(recs),
                "worker_pids": sorted(int(r["pid"]) for r in recs),
                "ensemble_loads": sum(int(r.get("loads") or 0) for r in recs),
                "model_load_s": round(max(float(r.get("load_s") or 0.0) for r in recs), 3),  # longest
                "rows_scored": sum(int(r.get("rows") or 0) for r in recs),
                "busy_s": round(sum(float(r.get("busy_s") or 0.0) for r in recs), 3),
                "gpu_name": next((r["gpu_name"] for r in recs if r.get("gpu_name")), None),
                "gpu_util_mean": round(util_sum / util_n, 1) if cuda and util_n else None,
                "gpu_util_max": peak("util_max") if cuda else None,
                "gpu_mem_used_mb_max": peak("mem_used_mb_max") if cuda else None,
                "gpu_mem_total_mb": peak("gpu_mem_total_mb") if cuda else None,
                "torch_max_alloc_mb": peak("torch_max_alloc_mb") if cuda else None,
            }
        )
    return out


class _Clock:
    """Wall seconds per stage, for the summary."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - t, 3)

    def total(self) -> float:
        return round(time.perf_counter() - self.t0, 3)


def run(args: argparse.Namespace) -> int:
    """Run the label job; returns 0, raises a :class:`SparkNerError` on a refused run."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    clock = _Clock()
    cfg: Config = load_config(args.config, overrides=parse_overrides(args.overrides or []))
    # members (folders, weights headers, pins, label maps) before a JVM starts: a bad member
    # costs a second and leaves nothing behind (no session, no warehouse, no output)
    from spark_ner.models import validate_sources

    validate_sources(cfg)
    partition_by = _split_cols(args.partition_by or [])
    in_fmt, out_fmt, mode = (
        InputFormat(args.input_format),
        OutputFormat(args.output_format),
        WriteMode(args.mode),
    )
    cache_location: str | None = getattr(args, "cache", None)
    hive = in_fmt == InputFormat.TABLE or out_fmt != OutputFormat.PARQUET
    hive = hive or (cache_location is not None and name_cache.is_table(cache_location))
    spark_conf = parse_spark_conf(getattr(args, "spark_conf", None) or [])
    spark, created = get_session(args.master, hive=hive, catalog_dir=args.catalog_dir, conf=spark_conf)
    scored: DataFrame | None = None
    summary: dict[str, Any] = {}
    try:
        target = _Target(spark, out_fmt, args.output, mode, partition_by)
        target.check_before_run()
        cache: name_cache.NameCache | None = None
        cache_version = ""
        if cache_location is not None:
            if cache_location.rstrip("/") in (args.output.rstrip("/"), args.input.rstrip("/")):
                raise name_cache.CacheError("--cache must be its own location, not the input or the output")
            cache = name_cache.NameCache(spark, cache_location)
            cache.check()
            cache_version = name_cache.driver_model_version(cfg)
        arrow_rows = args.arrow_batch_rows
        if arrow_rows is None and created:
            explicit = _jvm_available(spark) and spark.sparkContext.getConf().contains(ARROW_BATCH_KEY)
            arrow_rows = None if explicit else recommended_arrow_batch_rows(cfg)
        with _session_conf(spark, {ARROW_BATCH_KEY: str(arrow_rows) if arrow_rows else None}):
            stats = (
                spark.sparkContext.accumulator({}, WorkerStatsParam())
                if _jvm_available(spark)
                else None  # Spark Connect: no accumulators; the summary lists no executors
            )
            labeler = with_ner_labels(NAME_KEY, cfg, prefix=PREFIX, stats=stats)

            df = _read_input(spark, in_fmt, args.input)
            _check_columns(df, args, partition_by)
            replaced = [c for c in df.columns if c in OUTPUT_COLUMNS]
            if replaced:
                log.warning("input columns %s are replaced by new labels", ", ".join(replaced))
                df = df.drop(*replaced)

            with clock.stage("read"):
                counts = df.agg(
                    F.count(F.lit(1)).alias("rows"),
                    F.count(F.col(_q(args.name_col))).alias("named"),
                ).first()
                assert counts is not None
                rows_in, named = int(counts["rows"]), int(counts["named"])

            parts = args.score_partitions or 2 * _task_slots(spark)
            with clock.stage("score"):
                names = df.select(F.col(_q(args.name_col)).alias(NAME_KEY)).repartition(parts, NAME_KEY).distinct()
                names_cached = 0
                if cache is None:
                    scored = names.transform(labeler).persist(StorageLevel.MEMORY_AND_DISK)
                    distinct_names = scored.count()
                else:  # hits joined from the cache, only misses go through the UDF
                    scored = name_cache.label_with_cache(
                        names, NAME_KEY, labeler, cache, cache_version, PREFIX, parts
                    ).persist(StorageLevel.MEMORY_AND_DISK)
                    distinct_names, names_cached, to_store = name_cache.count_labelled(scored, PREFIX, cache_version)
            log.info("scored %d distinct names in %d partitions", distinct_names, parts)
            names_scored_at_score = _rows_scored(stats.value if stats else {})
            cache_info: dict[str, Any] | None = None
            if cache is not None:
                run_id = name_cache.new_run_id()
                with clock.stage("cache"):  # before the output: a later failure keeps the labels
                    committed = cache.append(
                        scored.where(~F.col(name_cache.FROM_CACHE)), NAME_KEY, PREFIX, cache_version, run_id, to_store
                    )
                cache_info = {"location": cache_location, "batch": run_id, "rows_committed": committed}

            joined = df.join(scored, df[_q(args.name_col)].eqNullSafe(scored[NAME_KEY]), "left")
            result = joined.select(*[_q(c) for c in _output_columns(df, args)])

            with clock.stage("check"):
                by_label = (
                    result.groupBy(F.col(f"{PREFIX}label").alias("label"))
                    .agg(
                        F.count(F.lit(1)).alias("n"),
                        F.count(F.col(f"{PREFIX}error")).alias("errors"),
                    )
                    .collect()
                )
            rows_out = sum(int(r["n"]) for r in by_label)
            if rows_out != rows_in:
                raise RowCountMismatchError(
                    f"labelled rows ({rows_out}) differ from input rows ({rows_in}); nothing was written"
                )
            with clock.stage("write"):
                target.write(result, rows_out)
            log.info("wrote %d rows to %s output %s", rows_out, out_fmt.value, args.output)

            version_row = (
                scored.where(F.col(f"{PREFIX}model_version").isNotNull()).select(f"{PREFIX}model_version").first()
            )
            summary = _summary(
                args=args,
                cfg=cfg,
                spark=spark,
                clock=clock,
                rows_in=rows_in,
                rows_out=rows_out,
                null_names=rows_in - named,
                distinct_names=distinct_names,
                names_scored=_rows_scored(stats.value) if stats else None,
                names_scored_at_score=names_scored_at_score,
                names_cached=names_cached,
                cache_info=cache_info,
                by_label=[(r["label"], int(r["n"]), int(r["errors"])) for r in by_label],
                model_version=version_row[0] if version_row else None,
                executors=_executors(stats.value) if stats else [],
                score_partitions=parts,
                arrow_rows=int(spark.conf.get(ARROW_BATCH_KEY) or 0),
            )
    finally:
        if scored is not None:
            scored.unpersist()
        if created:
            spark.stop()
    text = json.dumps(summary, indent=2, sort_keys=False)
    if args.summary:
        Path(args.summary).expanduser().parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary).expanduser().write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")
    return 0


def _rows_scored(records: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(int(r.get("rows") or 0) for r in records.values())


def _summary(
    *,
    args: argparse.Namespace,
    cfg: Config,
    spark: SparkSession,
    clock: _Clock,
    rows_in: int,
    rows_out: int,
    null_names: int,
    distinct_names: int,
    names_scored: int | None,
    names_scored_at_score: int,
    names_cached: int,
    cache_info: dict[str, Any] | None,
    by_label: list[tuple[str | None, int, int]],
    model_version: str | None,
    executors: list[dict[str, Any]],
    score_partitions: int,
    arrow_rows: int,
) -> dict[str, Any]:
    """Counts, timings and devices; input names never appear here."""
    if names_scored is not None and names_scored > distinct_names:
        log.warning(
            "the UDF scored %d names for %d distinct ones: the persisted labels were recomputed (evicted from cache?)",
            names_scored,
            distinct_names,
        )
    score_s = clock.seconds.get("score", 0.0)
    labels = {("null" if lab is None else str(lab)): n for lab, n, _ in by_label}
    return {
        "job": "spark-ner label",
        "status": "ok",
        "input": {"location": args.input, "format": str(args.input_format)},
        "output": {
            "location": args.output,
            "format": str(args.output_format),
            "mode": str(args.mode),
            "partition_by": _split_cols(args.partition_by or []),
            "labels_only": bool(args.labels_only),
        },
        "model_version": model_version,
        "config_fingerprint": cfg.fingerprint(),
        "rows_in": rows_in,
        "rows_out": rows_out,
        "null_names": null_names,
        "distinct_names": distinct_names,
        "names_scored": names_scored,
        "names_scored_in_score_stage": names_scored_at_score,
        "names_cached": names_cached,
        "cache": cache_info,
        "error_rows": sum(e for _, _, e in by_label),
        "labels": dict(sorted(labels.items())),
        "seconds": {**clock.seconds, "total": clock.total()},
        "names_per_second": round(names_scored_at_score / score_s, 1) if score_s > 0 else None,
        "model_load_s_max": max((float(e["model_load_s"]) for e in executors), default=None),
        "spark": {
            "version": spark.version,
            "master": spark.conf.get("spark.master", None),
            "app_id": spark.conf.get("spark.app.id", None),
            "score_partitions": score_partitions,
            "arrow_batch_rows": arrow_rows,
            "ensemble_batch_size": cfg.ensemble.batch_size,
        },
        "executors": executors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``jobs/label_customers.py``: a refused run exits 2 with one clear line."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except SparkNerError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
