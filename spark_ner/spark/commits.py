"""How a write becomes visible: the one home of spark_ner's commit methods, for outputs and the name cache.

Two ways, chosen by where the data goes (docs/architecture.md says why):

- **staged rename** (:func:`stage_and_publish`): write into a hidden staging folder, count what
  landed, and only on the expected count make it visible with renames; the staging folder goes
  either way. HDFS and local disks, through Hadoop's file system (:class:`HadoopFS`).
- **Spark's own commit, counted after** (:func:`write_then_count`): Spark Connect (the client has
  no Hadoop file system to stage with) and object stores (a rename copies every byte there and is
  not atomic; :func:`on_object_store`). The rows are counted after the write; a wrong count is an
  error that says the data is there.

Tables go through the catalog (``saveAsTable`` / ``insertInto``) or Delta's log (a write, or
``MERGE INTO`` for the name cache); a table spark_ner creates takes ``--table-format`` or the
session's default format (:func:`table_format_for`). :class:`CommitMethod` names each way once;
the summary reports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from spark_ner.errors import ConfigError, RowCountMismatchError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "DEFAULT_FORMAT_KEY",
    "OBJECT_STORE_SCHEMES",
    "CommitMethod",
    "HadoopFS",
    "check_table_format",
    "default_table_format",
    "on_object_store",
    "stage_and_publish",
    "table_format_for",
    "write_then_count",
]

DEFAULT_FORMAT_KEY = "spark.sql.sources.default"
_FORMAT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")
#: schemes whose "rename" is a copy and a delete: parquet there goes through Spark's committer
OBJECT_STORE_SCHEMES = frozenset({"s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "cos", "dbfs"})


class CommitMethod(StrEnum):
    """How a write became visible (the summary's ``output_commit`` and ``cache.commit``)."""

    STAGED_RENAME = "staged-rename"
    SPARK_CONNECT = "spark-commit, rows counted after (Spark Connect: no file-system access to stage with)"
    OBJECT_STORE = "spark-commit, rows counted after (object store: a rename copies every byte and is not atomic)"
    CATALOG_INSERT = "catalog-insert"
    DELTA_LOG = "delta-log"
    MERGE_INTO = "merge-into"


def on_object_store(location: str) -> bool:
    """S3, GCS, ADLS/Blob, DBFS, and Unity Catalog volumes (``/Volumes/...``, object storage underneath).

    There the stage-then-rename commit would copy every byte again and is not atomic, so the data is
    written once through Spark's own commit protocol (the cluster's committer: S3A magic/directory
    committers, the manifest committer on ABFS/GCS, Databricks' transactional commit) and counted after.
    """
    scheme = location.split(":", 1)[0].lower() if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", location) else ""
    return scheme in OBJECT_STORE_SCHEMES or location.startswith("/Volumes/")


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


def table_format_for(spark: SparkSession, table_format: str | None) -> str:
    """The format a table spark_ner creates will have: ``--table-format``, else the session's default."""
    return table_format or default_table_format(spark)


class HadoopFS:
    """The few file-system calls a staged commit needs, through Hadoop (works for any scheme)."""

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


def stage_and_publish(
    fs: HadoopFS,
    staging: Any,
    write: Callable[[], None],
    count: Callable[[], int],
    expected: int,
    publish: Callable[[], None],
    what: str,
) -> None:
    """The staged commit: ``write`` into the hidden ``staging`` folder, ``count`` what landed, and only
    when it is ``expected`` call ``publish`` (the renames that make it visible). ``staging`` is removed
    either way, so a failed or killed run leaves nothing visible."""
    try:
        write()
        staged = count()
        if staged != expected:
            raise RowCountMismatchError(f"staged {what} holds {staged} rows, expected {expected}; not committed")
        publish()
    finally:
        if fs.exists(staging):
            fs.delete(staging)


def write_then_count(write: Callable[[], None], count: Callable[[], int], before: int = 0) -> int:
    """Spark's own commit: ``write`` in place, then the rows it added (``count()`` minus ``before``).
    The caller compares with what it expected and says what a mismatch leaves behind."""
    write()
    return count() - before
