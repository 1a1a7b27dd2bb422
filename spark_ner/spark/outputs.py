"""Where the label job writes, and how it commits: parquet staged then renamed, catalog tables, Delta.

``Target.check_before_run`` refuses an existing output under ``--mode error`` before any work is
done; ``Target.write`` verifies the row count of what it staged before anything becomes visible.

Tables. A table the job creates takes the session's default format (``spark.sql.sources.default``:
Delta on Databricks, which Unity Catalog requires of managed tables) unless ``--table-format`` names
one; names may have three parts (``catalog.schema.table``). Spark Connect: the client cannot reach
Hadoop's file system, so parquet output is written by Spark's own commit protocol and its rows are
counted after the write (:attr:`Target.commit_method` says which way was taken; the summary shows it).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from spark_ner.errors import (
    ConfigError,
    DeltaUnavailableError,
    InputColumnError,
    OutputExistsError,
    RowCountMismatchError,
)
from spark_ner.spark.session import jvm_available, path_exists, quote_identifier, session_conf

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

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


DEFAULT_FORMAT_KEY = "spark.sql.sources.default"
_FORMAT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")
#: how an output becomes visible (the summary's ``output_commit``)
COMMIT_STAGED = "staged-rename"
COMMIT_SPARK = "spark-commit, rows counted after (Spark Connect: no file-system access to stage with)"
COMMIT_OBJECT_STORE = "spark-commit, rows counted after (object store: a rename copies every byte and is not atomic)"
#: schemes whose "rename" is a copy and a delete: parquet output there goes through Spark's committer
OBJECT_STORE_SCHEMES = frozenset({"s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "cos", "dbfs"})


def on_object_store(location: str) -> bool:
    """S3, GCS, ADLS/Blob, DBFS, and Unity Catalog volumes (``/Volumes/...``, object storage underneath).

    There the stage-then-rename commit would copy every byte again and is not atomic, so the output
    is written once through Spark's own commit protocol (the cluster's committer: S3A magic/directory
    committers, the manifest committer on ABFS/GCS, Databricks' transactional commit) and counted after.
    """
    scheme = location.split(":", 1)[0].lower() if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", location) else ""
    return scheme in OBJECT_STORE_SCHEMES or location.startswith("/Volumes/")


COMMIT_CATALOG = "catalog"


def check_table_format(value: str | None) -> str | None:
    """``--table-format``: a data source name (delta, parquet, orc, iceberg, ...) or None (the session's)."""
    if value is None or value == "":
        return None
    if not _FORMAT_RE.match(value):
        raise ConfigError(
            f"--table-format expects a data source name such as delta, parquet or orc, got {value!r}. "
            f"Fix: pass one, or leave it out to use the session's {DEFAULT_FORMAT_KEY}"
        )
    return value.lower()


def default_table_format(spark: SparkSession) -> str:
    """The format ``saveAsTable`` uses when none is given (Delta on Databricks)."""
    return str(spark.conf.get(DEFAULT_FORMAT_KEY, None) or "parquet").lower()


class OutputFormat(StrEnum):
    PARQUET = "parquet"
    TABLE = "table"
    DELTA = "delta"


class WriteMode(StrEnum):
    """``error`` (default) refuses an existing output before any work is done."""

    OVERWRITE = "overwrite"
    APPEND = "append"
    ERROR = "error"


class HadoopFS:
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
class Target:
    """Where and how the output is written; ``exists`` is checked before any work is done."""

    spark: SparkSession
    fmt: OutputFormat
    location: str
    mode: WriteMode
    partition_by: list[str]
    #: format of a table this target creates; None: the session's ``spark.sql.sources.default``
    table_format: str | None = None

    @property
    def commit_method(self) -> str:
        """How the output becomes visible (reported in the summary)."""
        if not self.is_path:
            return COMMIT_CATALOG
        if self.fmt == OutputFormat.DELTA:
            return "delta-log"
        if not jvm_available(self.spark):
            return COMMIT_SPARK
        return COMMIT_OBJECT_STORE if on_object_store(self.location) else COMMIT_STAGED

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
        if jvm_available(self.spark):
            fs = HadoopFS(self.spark, self.location)
            if self.fmt == OutputFormat.DELTA:
                return fs.exists(fs.path(self.location.rstrip("/") + "/_delta_log"))
            return fs.exists(fs.root)
        # Spark Connect: ask the server, which sees the storage the job writes to
        if self.fmt == OutputFormat.DELTA:
            return path_exists(self.spark, self.location.rstrip("/") + "/_delta_log")
        return path_exists(self.spark, self.location)

    def check_before_run(self) -> None:
        """Refuse an existing output under ``--mode error``; check Delta is there when needed."""
        if self.mode == WriteMode.ERROR and self.exists():
            what = "table" if not self.is_path else "path"
            raise OutputExistsError(
                f"output {what} {self.location!r} already exists; nothing was run or written. "
                "Fix: pass --mode overwrite or --mode append, or choose another --output"
            )
        if self.fmt == OutputFormat.DELTA and not delta_available(self.spark):
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
        """Stage in a hidden sibling, verify its row count, then rename into place (HDFS, local disks).

        Object stores and Spark Connect: written in place by Spark's committer, counted after.
        """
        if not jvm_available(self.spark) or on_object_store(self.location):
            self._write_parquet_connect(df, expected_rows)
            return
        fs = HadoopFS(self.spark, self.location)
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

    def _write_parquet_connect(self, df: DataFrame, expected_rows: int) -> None:
        """Spark Connect: no Hadoop file system on the client to stage and rename with, so Spark's own
        commit protocol writes in place (``_SUCCESS`` marks a finished write) and the rows are counted
        after; a mismatch is an error that says the output is there but wrong."""
        before = self._count_output() if self.mode == WriteMode.APPEND else 0
        mode = "error" if self.mode == WriteMode.ERROR else self.mode.value
        why = "Spark Connect cannot stage it" if not jvm_available(self.spark) else "object stores are not staged"
        log.info("parquet output committed by Spark's protocol (%s: no staged rename); counting after", why)
        self._writer(df, mode).parquet(self.location)
        written = self._count_output() - before
        if written != expected_rows:
            raise RowCountMismatchError(
                f"output {self.location!r} received {written} rows, expected {expected_rows}; the write is "
                f"committed ({why}). Fix: rerun with --mode overwrite"
            )

    def _count_output(self) -> int:
        from pyspark.errors import AnalysisException

        try:
            return int(self.spark.read.parquet(self.location).count())
        except AnalysisException:  # nothing there yet
            return 0

    def _count_staged(self, staging: str) -> int:
        """Rows in the staged files (footers only); the glob skips Spark's hidden-root warning."""
        from pyspark.errors import AnalysisException

        try:
            reader = self.spark.read.option("recursiveFileLookup", "true")
            return int(reader.parquet(f"{staging}/*").count())
        except AnalysisException:  # no data files at all (an empty, partitioned output)
            return 0

    def _commit(self, fs: HadoopFS, staging: Any, final: Any, tag: str) -> None:
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
        """New table: ``saveAsTable`` in ``table_format`` or the session's default format; else
        ``insertInto`` by name, dynamic partition overwrite."""
        spark = self.spark
        if not spark.catalog.tableExists(self.location):
            writer = self._writer(df, "error")
            if self.table_format:
                writer = writer.format(self.table_format)
            log.info("creating table %s as %s", self.location, self.table_format or default_table_format(spark))
            writer.saveAsTable(self.location)
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
        with session_conf(spark, {PARTITION_OVERWRITE_KEY: "dynamic"}):
            df.select(*[quote_identifier(c) for c in table_cols]).write.insertInto(self.location, overwrite=overwrite)

    # ------------------------------------------------------------------ delta
    def _write_delta(self, df: DataFrame) -> None:
        mode = "error" if self.mode == WriteMode.ERROR else self.mode.value
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


def delta_available(spark: SparkSession) -> bool:
    """Whether the Delta data source class loads on the driver (assumed yes without a JVM)."""
    if not jvm_available(spark):
        return True
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(DELTA_CLASS, False, loader)
        return True
    except Exception:
        return False
