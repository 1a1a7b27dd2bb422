"""Where the label job writes, and how it commits: parquet staged then renamed, catalog tables, Delta.

``Target.check_before_run`` refuses an existing output under ``--mode error`` before any work is
done; ``Target.write`` verifies the row count of what it staged before anything becomes visible.

Tables. A table the job creates takes the session's default format (``spark.sql.sources.default``:
Delta on Databricks, which Unity Catalog requires of managed tables) unless ``--table-format`` names
one; names may have three parts (``catalog.schema.table``). How each kind of write commits (staged
rename, or Spark's own commit counted after) lives in :mod:`spark_ner.spark.commits`;
:attr:`Target.commit_method` says which way was taken, and the summary shows it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from spark_ner.errors import (
    DeltaUnavailableError,
    InputColumnError,
    OutputExistsError,
    RowCountMismatchError,
)
from spark_ner.spark.commits import (
    CommitMethod,
    HadoopFS,
    default_table_format,
    on_object_store,
    stage_and_publish,
    write_then_count,
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


class OutputFormat(StrEnum):
    PARQUET = "parquet"
    TABLE = "table"
    DELTA = "delta"


class WriteMode(StrEnum):
    """``error`` (default) refuses an existing output before any work is done."""

    OVERWRITE = "overwrite"
    APPEND = "append"
    ERROR = "error"


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
    def commit_method(self) -> CommitMethod:
        """How the output becomes visible (reported in the summary)."""
        if not self.is_path:
            return CommitMethod.CATALOG_INSERT
        if self.fmt == OutputFormat.DELTA:
            return CommitMethod.DELTA_LOG
        if not jvm_available(self.spark):
            return CommitMethod.SPARK_CONNECT
        return CommitMethod.OBJECT_STORE if on_object_store(self.location) else CommitMethod.STAGED_RENAME

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
        if self.commit_method != CommitMethod.STAGED_RENAME:
            self._write_parquet_in_place(df, expected_rows)
            return
        fs = HadoopFS(self.spark, self.location)
        final = fs.root
        tag = uuid.uuid4().hex[:12]
        staging = fs.path(f"{final.getParent().toString()}/.{final.getName()}.spark-ner-staging-{tag}")
        stage_and_publish(
            fs,
            staging,
            write=lambda: self._writer(df, "overwrite").parquet(staging.toString()),
            count=lambda: self._count_staged(fs, staging),
            expected=expected_rows,
            publish=lambda: self._publish(fs, staging, final, tag),
            what="output",
        )

    def _write_parquet_in_place(self, df: DataFrame, expected_rows: int) -> None:
        """Spark Connect (no Hadoop file system on the client to stage and rename with) and object
        stores: Spark's own commit protocol writes in place (``_SUCCESS`` marks a finished write) and
        the rows are counted after; a mismatch is an error that says the output is there but wrong."""
        mode = "error" if self.mode == WriteMode.ERROR else self.mode.value
        why = "Spark Connect cannot stage it" if not jvm_available(self.spark) else "object stores are not staged"
        log.info("parquet output committed by Spark's protocol (%s: no staged rename); counting after", why)
        written = write_then_count(
            lambda: self._writer(df, mode).parquet(self.location),
            self._count_output,
            before=self._count_output() if self.mode == WriteMode.APPEND else 0,
        )
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

    def _count_staged(self, fs: HadoopFS, staging: Any) -> int:
        """Rows in the staged data files (footers only), read as an explicit file list: Spark warns with
        a stack trace when the root is hidden, or when it is a glob (its metadata-log check)."""
        data = [f.toString() for f in fs.files(staging) if not f.getName().startswith(("_", "."))]
        return int(self.spark.read.parquet(*data).count()) if data else 0

    def _publish(self, fs: HadoopFS, staging: Any, final: Any, tag: str) -> None:
        """The renames that make the staged output visible (``--mode`` decides how it meets an old one)."""
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
