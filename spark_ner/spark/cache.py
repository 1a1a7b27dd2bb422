"""The incremental name cache: labels kept per (name, model version), so reruns score only new names.

Customer tables grow by a few percent a day; re-scoring yesterday's names wastes GPU hours. With
``spark-ner label --cache PATH_OR_TABLE`` the job looks every distinct name up in the cache for the
ensemble's current ``model_version``, scores only the misses, and appends their labels after.

Key. ``name_key`` is the exact input string, the same rule the ensemble dedups by
(:func:`spark_ner.ensemble.factorize`) and the job by (``distinct()``); no normalization, on purpose:
entity spans index the ORIGINAL string (``name[start:end] == text``), so two raw strings may share
a key only if their labels AND spans are identical. NFC changes offsets (a decomposed "é" is two
code points), collapsing whitespace shifts them, and case folding changes ``text`` (and the
ensemble's case restoration only applies to all-caps/all-lower names). A null name is one key too
(its row: null label, no entities), so ``distinct_names == names_cached + names_scored``.

Version. Rows are read for the driver's ``model_version`` only (member names + a hash of weights
and label-relevant config), so a new model never reuses another version's labels; rows the
executors scored under another version (different weights on the workers) are refused. Rows with
an ``error`` (CUDA out of memory, a failing member) are not cached: the next run retries them.

Layout and atomicity. A path cache (any location with a ``/``) is parquet::

    <cache>/model_version=<v>/batch=<run id>/part-*.parquet
    <cache>/.spark-ner-staging-<run id>/...      (a run's write in progress; readers skip dot-dirs)

A run writes its new rows into its own hidden staging folder, checks the staged row count, and
commits with ONE directory rename into ``model_version=<v>/batch=<run id>``: a run killed before
the rename leaves only an invisible staging folder, a run killed after it leaves a complete batch,
which the rerun finds (and so does not score those names again). Each (name, version) is written
once per committed run; only two runs racing over the same new names can both commit one, so
readers also dedup by key (earliest ``scored_at`` wins). Staging folders of dead runs are removed by
later runs once older than :data:`STALE_AFTER_HOURS` (a younger one may belong to a concurrent
run), and by ``spark-ner cache vacuum``. Dropping a version renames its folder away first (atomic),
then deletes it.

A location without ``/`` is a catalog table (``table``, ``schema.table`` or, with Unity Catalog,
``catalog.schema.table``) with the same columns. A table the cache creates takes the session's
default format (``spark.sql.sources.default``: Delta on Databricks) unless ``--table-format`` says
otherwise. A Hive/parquet/orc table is partitioned by ``model_version`` and ``batch``: each run adds
one new partition, which becomes visible when the metastore registers it, and vacuum drops
partitions through the catalog; a half-finished drop only makes names miss (they are rescored),
never wrong. A Delta table is partitioned by ``model_version`` only: new rows go in with ``MERGE
INTO`` keyed on (name key, model version), so racing runs never store a key twice, and vacuum is a
``DELETE`` (Delta has no ``DROP PARTITION``); both are one Delta transaction. The statements are
built by :func:`merge_statement` and :func:`delete_versions_statement`.

Spark Connect (no JVM on the client, so no Hadoop file system): a path cache is read and listed
through Spark itself (:func:`~spark_ner.spark.session.list_files`) and a run's batch is appended by
Spark's own commit protocol into ``model_version=<v>/batch=<run id>`` and counted after, instead of
the staged rename (a killed write can leave part of a batch: those labels are right, the missing
names are rescored). ``vacuum`` of a path cache needs the file system and is refused there with
the fix (run it from a classic session, or use a table cache); table caches work fully.

The cache is written right after scoring, BEFORE the output: the labels are the expensive part, so
a run that fails later (output exists, row-count check) still keeps them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spark_ner.config import OUTPUT_FIELDS
from spark_ner.errors import CacheError
from spark_ner.spark.outputs import DEFAULT_FORMAT_KEY, HadoopFS, check_table_format
from spark_ner.spark.session import get_session, jvm_available, list_files, path_exists, quote_identifier

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

__all__ = [
    "CACHE_COLUMNS",
    "LABEL_FIELDS",
    "STALE_AFTER_HOURS",
    "CacheError",
    "NameCache",
    "add_arguments",
    "cache_schema",
    "new_run_id",
    "run",
]

KEY = "name_key"
VERSION = "model_version"
BATCH = "batch"
SCORED_AT = "scored_at"
#: the label fields a cache row keeps (``model_version`` is its partition)
#: the output fields a cached row keeps (the model version is a partition column of its own)
LABEL_FIELDS: tuple[str, ...] = tuple(f for f in OUTPUT_FIELDS if f != "model_version")
#: every column of the cache, partition columns last (their on-disk order)
CACHE_COLUMNS: tuple[str, ...] = (KEY, *LABEL_FIELDS, SCORED_AT, VERSION, BATCH)
PARTITIONS: tuple[str, ...] = (VERSION, BATCH)
STAGING_PREFIX = ".spark-ner-staging-"
TRASH_PREFIX = ".spark-ner-trash-"
#: a staging folder younger than this may be a concurrent run's write in progress: left alone
STALE_AFTER_HOURS = 6.0
#: the job's marker column: True where the label came from the cache
FROM_CACHE = "__spark_ner_from_cache"
_HIT = "__spark_ner_hit"
_RUN_TIME_FORMAT = "%Y%m%dT%H%M%S"
# Spark's ExternalCatalogUtils.escapePathName: characters escaped in partition folder names
_ESCAPED = set("\"#%'*/:=?\\\x7f{[]^") | {chr(c) for c in range(1, 32)}


def cache_schema() -> Any:
    """The cache's Spark schema: the label fields typed exactly as the UDF returns them."""
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    from spark_ner.spark.udf import NER_STRUCT

    fields = {f.name: f for f in NER_STRUCT.fields}
    return StructType(
        [
            StructField(KEY, StringType()),
            *[StructField(f, fields[f].dataType) for f in LABEL_FIELDS],
            StructField(SCORED_AT, TimestampType()),
            StructField(VERSION, StringType()),
            StructField(BATCH, StringType()),
        ]
    )


def new_run_id(now: datetime | None = None) -> str:
    """``20250102T030405Z-<12 hex>``: sortable by time, unique per run; names its batch and staging."""
    now = now or datetime.now(UTC)
    return f"{now.strftime(_RUN_TIME_FORMAT)}Z-{uuid.uuid4().hex[:12]}"


def _run_time(run_id: str) -> datetime | None:
    try:
        return datetime.strptime(run_id.split("Z-", 1)[0], _RUN_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def escape_partition_value(value: str) -> str:
    """A partition value as Spark writes it in a folder name (``a/b`` -> ``a%2Fb``)."""
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in value)


def is_table(location: str) -> bool:
    """The CLI's rule: a location without ``/`` is a catalog table (``db.name``), else a path."""
    return "/" not in location


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_table_name(name: str) -> str:
    """``cat.schema.table`` quoted part by part for SQL text (a name already holding backticks is kept)."""
    if "`" in name:
        return name
    return ".".join(quote_identifier(part) for part in name.split("."))


def merge_statement(table: str, source_view: str, version: str) -> str:
    """Delta cache: insert the new rows of ``source_view`` whose (name key, model version) is not in
    ``table`` yet; the literal version lets Delta prune to that partition. Null keys match null keys."""
    cols = ", ".join(quote_identifier(c) for c in CACHE_COLUMNS)
    values = ", ".join(f"s.{quote_identifier(c)}" for c in CACHE_COLUMNS)
    key, ver = quote_identifier(KEY), quote_identifier(VERSION)
    return (
        f"MERGE INTO {sql_table_name(table)} AS t USING {quote_identifier(source_view)} AS s "
        f"ON t.{ver} = {_sql_string(version)} AND t.{ver} = s.{ver} AND t.{key} <=> s.{key} "
        f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})"
    )


def delete_versions_statement(table: str, versions: Sequence[str]) -> str:
    """Delta cache: drop whole model versions in one transaction (Delta has no DROP PARTITION)."""
    if not versions:
        raise ValueError("no versions to delete")
    listed = ", ".join(_sql_string(v) for v in versions)
    return f"DELETE FROM {sql_table_name(table)} WHERE {quote_identifier(VERSION)} IN ({listed})"


def drop_partition_statement(table: str, version: str) -> str:
    """Hive-style cache table: drop one model version's partitions through the catalog."""
    return (
        f"ALTER TABLE {sql_table_name(table)} DROP IF EXISTS PARTITION "
        f"({quote_identifier(VERSION)} = {_sql_string(version)})"
    )


def provider_from_describe(rows: Sequence[Any]) -> str | None:
    """The ``Provider`` (delta, parquet, hive, ...) in ``DESCRIBE TABLE EXTENDED`` rows, lower case."""
    for row in rows:
        if str(row[0]).strip().lower() == "provider":
            return str(row[1]).strip().lower() or None
    return None


def inserted_rows(row: Any) -> int | None:
    """Rows a ``MERGE INTO`` inserted, from the row Delta returns (None where the engine says nothing)."""
    if row is None:
        return None
    data = row.asDict() if hasattr(row, "asDict") else dict(row)
    value = data.get("num_inserted_rows")
    return int(value) if value is not None else None


@dataclass
class NameCache:
    """One cache location (parquet path or catalog table) and the operations the jobs need."""

    spark: SparkSession
    location: str
    #: format of a cache table this cache creates; None: the session's ``spark.sql.sources.default``
    table_format: str | None = None

    def __post_init__(self) -> None:
        self.table_format = check_table_format(self.table_format)

    @property
    def is_table(self) -> bool:
        return is_table(self.location)

    @property
    def commit_method(self) -> str:
        """How a run's rows become visible (reported in the job's summary)."""
        if self.is_table:
            return "merge-into" if self.is_delta() else "catalog-insert"
        if self.via_spark:
            return "spark-append, rows counted after (Spark Connect: no file-system access to stage with)"
        return "staged-rename"

    @property
    def via_spark(self) -> bool:
        """A path cache seen through Spark only (Spark Connect): no Hadoop file-system calls."""
        return not self.is_table and not jvm_available(self.spark)

    def is_delta(self) -> bool:
        """Whether the cache is (or, not existing yet, will be created as) a Delta table."""
        if not self.is_table:
            return False
        if self.spark.catalog.tableExists(self.location):
            rows = self.spark.sql(f"DESCRIBE TABLE EXTENDED {sql_table_name(self.location)}").collect()
            return provider_from_describe(rows) == "delta"
        fmt = self.table_format or str(self.spark.conf.get(DEFAULT_FORMAT_KEY, None) or "parquet")
        return fmt.lower() == "delta"

    # ------------------------------------------------------------------ file system
    def _root(self) -> str:
        return self.location.rstrip("/")

    def _version_path(self, version: str) -> str:
        return f"{self._root()}/{VERSION}={escape_partition_value(version)}"

    def _fs(self) -> Any:
        if not jvm_available(self.spark):  # callers take the Spark-only way first
            raise CacheError("this path-cache operation needs Hadoop file-system access, which Spark Connect lacks")
        fs = HadoopFS(self.spark, self.location.rstrip("/"))
        fs.root = fs.fs.makeQualified(fs.root)  # relative paths: resolved once, the same for Spark and Hadoop
        return fs

    def _children(self, fs: Any) -> list[Any]:
        if not fs.exists(fs.root):
            return []
        return [st.getPath() for st in fs.fs.listStatus(fs.root)]

    def _version_dir(self, fs: Any, version: str) -> Any:
        return fs.path(f"{fs.root.toString()}/{VERSION}={escape_partition_value(version)}")

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Refuse, before any work, a location that exists but is not a spark_ner cache."""
        if self.is_table:
            if not self.spark.catalog.tableExists(self.location):
                return
            cols = self.spark.catalog.listColumns(self.location)
            names = [c.name for c in cols]
            parts = [c.name for c in cols if c.isPartition]
            if sorted(names) != sorted(CACHE_COLUMNS) or parts not in (list(PARTITIONS), [VERSION]):
                raise CacheError(
                    f"table {self.location!r} is not a spark_ner name cache (columns: {', '.join(names)}; "
                    f"expected {', '.join(CACHE_COLUMNS)} partitioned by {', '.join(PARTITIONS)}, or by "
                    f"{VERSION} for Delta). Fix: choose another --cache"
                )
            return
        if self.via_spark:
            top = {rel.split("/", 1)[0] for rel, _ in list_files(self.spark, self._root())}
            foreign_names = sorted(t for t in top if not t.startswith(f"{VERSION}="))
            if foreign_names:
                raise CacheError(
                    f"cache path {self.location!r} holds other data ({len(foreign_names)} entries not named "
                    f"{VERSION}=...); it is not a spark_ner name cache. Fix: choose another --cache"
                )
            return
        fs = self._fs()
        if fs.exists(fs.root) and not fs.fs.getFileStatus(fs.root).isDirectory():
            raise CacheError(f"cache path {self.location!r} is a file, not a cache folder; choose another --cache")
        foreign = [
            p.getName()
            for p in self._children(fs)
            if not p.getName().startswith((".", "_")) and not p.getName().startswith(f"{VERSION}=")
        ]
        if foreign:
            raise CacheError(
                f"cache path {self.location!r} holds other data ({len(foreign)} entries not named "
                f"{VERSION}=...); it is not a spark_ner name cache; choose another --cache"
            )

    # ------------------------------------------------------------------ read
    def read(self, version: str) -> DataFrame:
        """Every stored row of ``version`` (may hold a key twice after racing runs; see :meth:`lookup`)."""
        from pyspark.sql import functions as F

        schema = cache_schema()
        empty = self.spark.createDataFrame([], schema)
        if self.is_table:
            if not self.spark.catalog.tableExists(self.location):
                return empty
            return self.spark.table(self.location).where(F.col(VERSION) == F.lit(version)).select(*CACHE_COLUMNS)
        if self.via_spark:
            vpath = self._version_path(version)
            if not path_exists(self.spark, vpath):
                return empty
            reader = self.spark.read.schema(schema).option("basePath", self._root())
            return reader.parquet(vpath).select(*CACHE_COLUMNS)
        fs = self._fs()
        vdir = self._version_dir(fs, version)
        if not fs.exists(vdir):
            return empty
        reader = self.spark.read.schema(schema).option("basePath", fs.root.toString())
        return reader.parquet(vdir.toString()).select(*CACHE_COLUMNS)

    def lookup(self, names: DataFrame, name_col: str, version: str) -> DataFrame:
        """``names`` (distinct, nulls included) with the cached label fields and a hit flag, one row per name.

        Duplicate cache rows of a key (two racing runs) collapse to the earliest one, so the join back
        can never multiply rows.
        """
        from pyspark.sql import functions as F

        cached = self.read(version).withColumn(_HIT, F.lit(True))
        joined = names.join(cached, names[name_col].eqNullSafe(cached[KEY]), "left")
        picked = F.min_by(
            F.struct(F.col(_HIT), *[F.col(f) for f in LABEL_FIELDS]),
            F.struct(F.col(SCORED_AT), F.col(BATCH)),
        )
        return (
            joined.groupBy(names[name_col])
            .agg(picked.alias("__r"))
            .select(
                F.col(quote_identifier(name_col)),
                F.col(f"__r.{_HIT}").isNotNull().alias(_HIT),
                *[f"__r.{f}" for f in LABEL_FIELDS],
            )
        )

    # ------------------------------------------------------------------ write
    def append(
        self, rows: DataFrame, name_col: str, prefix: str, version: str, run_id: str, expected: int | None = None
    ) -> int:
        """Commit ``rows`` (the job's newly scored names, ``prefix``-ed label columns) as one batch.

        Returns the rows committed. Rows with an error or another model version are not written
        (the job refused other versions already); an empty batch writes nothing. ``expected``: the
        rows that will be stored, when the caller counted them already (saves a pass).
        """
        from pyspark.sql import functions as F

        new = rows.where(F.col(f"{prefix}error").isNull() & (F.col(f"{prefix}model_version") == F.lit(version)))
        out = new.select(
            F.col(quote_identifier(name_col)).alias(KEY),
            *[F.col(f"{prefix}{f}").alias(f) for f in LABEL_FIELDS],
            F.current_timestamp().alias(SCORED_AT),
            F.lit(version).alias(VERSION),
            F.lit(run_id).alias(BATCH),
        )
        if not self.is_table:
            self.clean_staging(older_than_hours=STALE_AFTER_HOURS)  # leftovers of runs killed long ago
        if expected is None:
            expected = out.count()
        if expected == 0:
            log.info("name cache: nothing new to store")
            return 0
        if self.is_table:
            inserted = self._append_table(out, version)
            if inserted is not None and inserted != expected:  # MERGE skipped keys a racing run stored
                log.info("name cache: %d of %d rows were new to the cache", inserted, expected)
                expected = inserted
        elif self.via_spark:
            self._append_via_spark(out, version, run_id, expected)
        else:
            self._append_path(out, version, run_id, expected)
        log.info("name cache: committed %d rows for model version %s (batch %s)", expected, version, run_id)
        return expected

    def _append_table(self, out: DataFrame, version: str) -> int | None:
        """A new table in the session's (or ``table_format``) format; then a new partition per run
        (visible once the metastore registers it), or on Delta one ``MERGE INTO`` transaction.
        Returns the rows inserted when the engine says (Delta's MERGE), else None."""
        if not self.spark.catalog.tableExists(self.location):
            delta = self.is_delta()
            writer = out.write.mode("error")
            if self.table_format:
                writer = writer.format(self.table_format)
            # Delta: one partition per version (a partition per run would make many small ones)
            writer.partitionBy(*((VERSION,) if delta else PARTITIONS)).saveAsTable(self.location)
            return None
        self.check()
        if self.is_delta():
            view = f"spark_ner_cache_new_{uuid.uuid4().hex[:12]}"
            out.createOrReplaceTempView(view)
            try:
                return inserted_rows(self.spark.sql(merge_statement(self.location, view, version)).first())
            finally:
                self.spark.catalog.dropTempView(view)
        cols = [c.name for c in self.spark.catalog.listColumns(self.location)]
        out.select(*[quote_identifier(c) for c in cols]).write.insertInto(self.location, overwrite=False)
        return None

    def _append_via_spark(self, out: DataFrame, version: str, run_id: str, expected: int) -> None:
        """Spark Connect: Spark's commit protocol appends the batch into its own partition folder; its
        rows are counted after. A short count is an error; the rows that are there are right."""
        from spark_ner.errors import RowCountMismatchError

        root = self._root()
        leaf = f"{self._version_path(version)}/{BATCH}={escape_partition_value(run_id)}"
        if path_exists(self.spark, leaf):
            raise CacheError("a cache batch with this run id exists already; not committed")
        out.write.mode("append").partitionBy(*PARTITIONS).parquet(root)
        got = self.spark.read.schema(cache_schema()).option("basePath", root).parquet(leaf).count()
        if got != expected:
            raise RowCountMismatchError(
                f"cache batch {run_id} holds {got} rows, expected {expected} (Spark Connect writes without a "
                "staged rename). The stored labels are right; missing names are scored again. Fix: rerun"
            )

    def _append_path(self, out: DataFrame, version: str, run_id: str, expected: int) -> None:
        """Stage in a hidden folder inside the cache, verify the count, commit with one rename."""
        from spark_ner.errors import RowCountMismatchError

        fs = self._fs()
        staging = fs.path(f"{fs.root.toString()}/{STAGING_PREFIX}{run_id}")
        leaf_rel = f"{VERSION}={escape_partition_value(version)}/{BATCH}={escape_partition_value(run_id)}"
        staged_leaf = fs.path(f"{staging.toString()}/{leaf_rel}")
        final_leaf = fs.path(f"{fs.root.toString()}/{leaf_rel}")
        try:
            out.write.mode("overwrite").partitionBy(*PARTITIONS).parquet(staging.toString())
            if not fs.exists(staged_leaf):
                raise CacheError("the staged cache batch is not where it was expected; not committed")
            staged = self.spark.read.parquet(staged_leaf.toString()).count()
            if staged != expected:
                raise RowCountMismatchError(
                    f"staged cache batch holds {staged} rows, expected {expected}; not committed"
                )
            if fs.exists(final_leaf):
                raise CacheError("a cache batch with this run id exists already; not committed")
            self._commit(fs, staged_leaf, final_leaf)
        finally:
            if fs.exists(staging):
                fs.delete(staging)

    def _commit(self, fs: Any, staged: Any, final: Any) -> None:
        """The step that makes a batch visible (one directory rename); separate so tests can kill here."""
        fs.fs.mkdirs(final.getParent())  # the version folder; empty until the rename, so invisible
        fs.rename(staged, final)

    # ------------------------------------------------------------------ maintenance
    def stale_staging(self, older_than_hours: float) -> list[Any]:
        """Staging folders of runs started more than ``older_than_hours`` ago (path caches only).

        Through Spark Connect none are seen (Spark's listing hides dot-folders, and Connect runs
        stage nothing); a classic session's ``spark-ner cache vacuum`` removes those of classic runs.
        """
        if self.is_table or self.via_spark:
            return []
        fs = self._fs()
        limit = datetime.now(UTC) - timedelta(hours=older_than_hours)
        out = []
        for p in self._children(fs):
            name = p.getName()
            if name.startswith(TRASH_PREFIX):
                out.append(p)  # a dropped version whose delete was interrupted: already invisible
            elif name.startswith(STAGING_PREFIX):
                started = _run_time(name[len(STAGING_PREFIX) :])
                if started is not None and started <= limit:
                    out.append(p)
        return out

    def clean_staging(self, older_than_hours: float) -> int:
        """Delete what :meth:`stale_staging` finds; returns how many folders went."""
        stale = self.stale_staging(older_than_hours)
        if stale:
            fs = self._fs()
            for p in stale:
                fs.delete(p)
            log.info("name cache: removed %d leftover staging folders of dead runs", len(stale))
        return len(stale)

    def stats(self, distinct: bool = True) -> list[dict[str, Any]]:
        """Per model version: rows, distinct keys, batches, first/last ``scored_at``, bytes; latest first."""
        from pyspark.sql import functions as F

        df = self._read_all()
        if df is None:
            return []
        aggs = [
            F.count(F.lit(1)).alias("rows"),
            F.countDistinct(F.col(BATCH)).alias("batches"),
            F.min(SCORED_AT).alias("first"),
            F.max(SCORED_AT).alias("last"),
        ]
        if distinct:
            # count_distinct skips nulls; the null-name key counts once
            aggs.append((F.countDistinct(F.col(KEY)) + F.max(F.col(KEY).isNull().cast("int"))).alias("distinct_names"))
        rows = df.groupBy(VERSION).agg(*aggs).collect()
        sizes = self._version_bytes([str(r[VERSION]) for r in rows])
        out = []
        for r in sorted(rows, key=lambda r: str(r["last"] or ""), reverse=True):
            item: dict[str, Any] = {
                "model_version": r[VERSION],
                "rows": int(r["rows"]),
                "batches": int(r["batches"]),
                "first_scored_at": r["first"].isoformat() if r["first"] else None,
                "last_scored_at": r["last"].isoformat() if r["last"] else None,
                "bytes": sizes.get(str(r[VERSION])),
            }
            if distinct:
                item["distinct_names"] = int(r["distinct_names"])
                item["duplicate_rows"] = int(r["rows"]) - int(r["distinct_names"])
            out.append(item)
        return out

    def _read_all(self) -> DataFrame | None:
        if self.is_table:
            return self.spark.table(self.location) if self.spark.catalog.tableExists(self.location) else None
        if self.via_spark:
            if not any(rel.startswith(f"{VERSION}=") for rel, _ in list_files(self.spark, self._root())):
                return None
            return self.spark.read.schema(cache_schema()).parquet(self._root())
        fs = self._fs()
        if not any(p.getName().startswith(f"{VERSION}=") for p in self._children(fs)):
            return None
        return self.spark.read.schema(cache_schema()).parquet(fs.root.toString())

    def _table_location(self) -> str | None:
        try:
            rows = self.spark.sql(f"DESCRIBE TABLE EXTENDED {sql_table_name(self.location)}").collect()
        except Exception:
            return None
        return next((str(r[1]) for r in rows if str(r[0]).strip() == "Location"), None)

    def _version_bytes(self, versions: Sequence[str]) -> dict[str, int]:
        """Bytes on storage per version, from the file system's summary (no data read)."""
        root = self._table_location() if self.is_table else self.location.rstrip("/")
        if not root:
            return {}
        if not jvm_available(self.spark):  # Spark Connect: sum the listing Spark gives
            wanted = {f"{VERSION}={escape_partition_value(v)}": v for v in versions}
            sizes: dict[str, int] = {}
            for rel, size in list_files(self.spark, root):
                v = wanted.get(rel.split("/", 1)[0])
                if v is not None:
                    sizes[v] = sizes.get(v, 0) + size
            return sizes
        fs = HadoopFS(self.spark, root)
        out = {}
        for v in versions:
            p = self._version_dir(fs, v)
            if fs.exists(p):
                out[v] = int(fs.fs.getContentSummary(p).getLength())
        return out

    def drop_versions(self, versions: Sequence[str]) -> None:
        """Drop whole versions: a folder rename (atomic) then delete; on a table the catalog's DROP
        PARTITION, or on Delta one ``DELETE`` (Delta has no partitions to drop)."""
        if not versions:
            return
        if self.is_table:
            if self.is_delta():
                self.spark.sql(delete_versions_statement(self.location, versions))
                return
            for v in versions:
                self.spark.sql(drop_partition_statement(self.location, v))
            return
        if self.via_spark:
            raise CacheError(
                f"dropping versions from path cache {self.location!r} needs Hadoop file-system access, which a "
                "Spark Connect session does not give. Fix: run `spark-ner cache vacuum` with a classic session "
                "(--master, or on the cluster), or keep the cache in a table"
            )
        fs = self._fs()
        tag = new_run_id()
        for i, v in enumerate(versions):
            vdir = self._version_dir(fs, v)
            if not fs.exists(vdir):
                continue
            trash = fs.path(f"{fs.root.toString()}/{TRASH_PREFIX}{tag}-{i}")
            fs.rename(vdir, trash)  # readers stop seeing the version here, in one step
            fs.delete(trash)


# ----------------------------------------------------------------------------- the label job's part


def label_with_cache(
    names: DataFrame,
    name_col: str,
    labeler: Callable[[DataFrame], DataFrame],
    cache: NameCache,
    version: str,
    prefix: str,
    partitions: int,
) -> DataFrame:
    """Distinct ``names`` with label columns: cache hits joined, misses scored by ``labeler``.

    The result carries :data:`FROM_CACHE` and is NOT persisted; the job persists and counts it, so
    the UDF runs once per miss. Misses are re-partitioned to ``partitions`` before scoring (the
    lookup's shuffle would otherwise decide how many scoring tasks run).
    """
    from pyspark.sql import functions as F

    looked = cache.lookup(names, name_col, version)
    misses = (
        looked.where(~F.col(_HIT))
        .select(F.col(quote_identifier(name_col)), F.lit(False).alias(FROM_CACHE))
        .repartition(partitions, F.col(quote_identifier(name_col)))
    )
    scored = misses.transform(labeler)
    hits = looked.where(F.col(_HIT)).select(
        F.col(quote_identifier(name_col)),
        F.lit(True).alias(FROM_CACHE),
        *[F.col(f).alias(f"{prefix}{f}") for f in LABEL_FIELDS],
        F.lit(version).alias(f"{prefix}model_version"),
    )
    # the labeler may add columns of its own (worker records under Spark Connect): null for hits
    return scored.unionByName(hits, allowMissingColumns=True)


def driver_model_version(cfg: Any) -> str:
    """The ensemble's ``model_version`` computed on the driver (weights are hashed once per process)."""
    from spark_ner.models import model_version, validate_sources

    return model_version(cfg, validate_sources(cfg))


def count_labelled(scored: DataFrame, prefix: str, version: str) -> tuple[int, int, int]:
    """(distinct names, names from the cache, new rows to store) in one pass over the persisted labels.

    Names the executors scored under another version than the driver's (other model files on the
    workers) would be stored under the wrong key and mixed with cached labels: refused here.
    """
    from pyspark.sql import functions as F

    fresh = ~F.col(FROM_CACHE)
    got = F.col(f"{prefix}model_version")
    other = fresh & got.isNotNull() & (got != version)
    store = fresh & F.col(f"{prefix}error").isNull() & (got == version)
    row = scored.agg(
        F.count(F.lit(1)).alias("n"),
        F.coalesce(F.sum(F.col(FROM_CACHE).cast("long")), F.lit(0)).alias("cached"),
        F.coalesce(F.sum(other.cast("long")), F.lit(0)).alias("other"),
        F.coalesce(F.sum(store.cast("long")), F.lit(0)).alias("store"),
    ).first()
    assert row is not None
    _check_versions(int(row["other"]), version)
    return int(row["n"]), int(row["cached"]), int(row["store"])


def _check_versions(other: int, version: str) -> None:
    if other:
        raise CacheError(
            f"{other} names were scored under another model version than the driver's {version}: the "
            "executors see other model files than the driver. Nothing was cached or written; make the "
            "members' paths hold the same weights everywhere."
        )


# ----------------------------------------------------------------------------- spark-ner cache


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``spark-ner cache stats|vacuum --cache PATH_OR_TABLE``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--cache", required=True, help="cache path (parquet) or table name (no '/')")
        p.add_argument("--master", default=None, help="Spark master (default: local[*])")
        p.add_argument("--remote", default=None, metavar="sc://HOST:PORT", help="a Spark Connect server instead")
        p.add_argument(
            "--catalog-dir",
            default="spark-catalog",
            help="local runs with tables: folder of the warehouse and the embedded Derby metastore",
        )

    stats = sub.add_parser("stats", help="rows, distinct names, batches and bytes per model version (JSON)")
    common(stats)
    stats.add_argument("--no-distinct", action="store_true", help="skip the distinct-name count (a full scan)")
    vacuum = sub.add_parser("vacuum", help="drop old model versions and leftovers of killed runs")
    common(vacuum)
    keep = vacuum.add_mutually_exclusive_group(required=True)
    keep.add_argument("--keep-version", action="append", metavar="V", help="keep this version (repeatable)")
    keep.add_argument("--keep-latest", type=int, metavar="N", help="keep the N most recently written versions")
    vacuum.add_argument(
        "--stale-after",
        type=float,
        default=STALE_AFTER_HOURS,
        metavar="HOURS",
        help=f"remove staging folders of runs started this long ago (default {STALE_AFTER_HOURS:g}; 0 when "
        "no job is writing the cache)",
    )
    vacuum.add_argument("--dry-run", action="store_true", help="report what would go; change nothing")


def run(args: argparse.Namespace) -> int:
    """``stats`` or ``vacuum``; prints JSON (counts and versions, never names)."""

    spark, created = get_session(
        args.master, hive=is_table(args.cache), catalog_dir=args.catalog_dir, remote=getattr(args, "remote", None)
    )
    try:
        cache = NameCache(spark, args.cache)
        cache.check()
        result = _stats(cache, distinct=not args.no_distinct) if args.action == "stats" else _vacuum(cache, args)
    finally:
        if created:
            spark.stop()
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


def _stats(cache: NameCache, distinct: bool) -> dict[str, Any]:
    versions = cache.stats(distinct=distinct)
    sizes = [v["bytes"] for v in versions if v["bytes"] is not None]
    return {
        "cache": cache.location,
        "kind": "table" if cache.is_table else "path",
        "versions": versions,
        "total_rows": sum(v["rows"] for v in versions),
        "total_bytes": sum(sizes) if len(sizes) == len(versions) else None,
        "stale_staging": len(cache.stale_staging(STALE_AFTER_HOURS)),
    }


def _vacuum(cache: NameCache, args: argparse.Namespace) -> dict[str, Any]:
    if args.keep_latest is not None and args.keep_latest < 1:
        raise CacheError("--keep-latest must be at least 1 (use --keep-version to choose what stays)")
    if args.stale_after < 0:
        raise CacheError("--stale-after must be >= 0 hours")
    versions = cache.stats(distinct=False)  # latest first
    present = [v["model_version"] for v in versions]
    if args.keep_version:
        missing = [v for v in args.keep_version if v not in present]
        if missing:
            raise CacheError(
                f"--keep-version {', '.join(missing)}: not in the cache (versions: {', '.join(present) or '-'}); "
                "nothing was dropped"
            )
        keep = [v for v in present if v in args.keep_version]
    else:
        keep = present[: args.keep_latest]
    drop = [v for v in present if v not in keep]
    rows = {v["model_version"]: v["rows"] for v in versions}
    stale = cache.stale_staging(args.stale_after)
    if not args.dry_run:
        cache.drop_versions(drop)
        cache.clean_staging(args.stale_after)
    log.info("name cache: %s %d versions", "would drop" if args.dry_run else "dropped", len(drop))
    return {
        "cache": cache.location,
        "dry_run": bool(args.dry_run),
        "kept": keep,
        "dropped": drop,
        "rows_dropped": sum(rows[v] for v in drop),
        "staging_removed": len(stale),
    }
