"""The incremental name cache: labels kept per (name, model version), so reruns score only new names.

:class:`NameCache` is the one interface the label job and ``spark-ner cache`` use; behind it one
store per kind of location (:class:`PathStore`, :class:`ConnectPathStore`, :class:`TableStore`) does
what differs, and :mod:`spark_ner.spark.commits` holds the commit methods it shares with outputs.
The key (the exact input string), versions, layout, atomicity and what Spark Connect changes are
described in docs/architecture.md ("The name cache").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spark_ner.config import OUTPUT_FIELDS
from spark_ner.errors import CacheError, RowCountMismatchError
from spark_ner.spark.commits import (
    CommitMethod,
    HadoopFS,
    check_table_format,
    stage_and_publish,
    table_format_for,
    write_then_count,
)
from spark_ner.spark.session import jvm_available, list_files, path_exists, quote_identifier

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

__all__ = [
    "CACHE_COLUMNS",
    "LABEL_FIELDS",
    "STALE_AFTER_HOURS",
    "CacheError",
    "ConnectPathStore",
    "NameCache",
    "PathStore",
    "TableStore",
    "cache_schema",
    "count_labelled",
    "is_table",
    "label_with_cache",
    "new_run_id",
]

KEY = "name_key"
VERSION = "model_version"
BATCH = "batch"
SCORED_AT = "scored_at"
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


# ----------------------------------------------------------------------------- one store per kind


class PathStore:
    """A parquet cache folder reached through Hadoop's file system (classic sessions): staged batches
    committed with one directory rename, versions dropped by rename-then-delete."""

    kind = "path"
    commit_method = CommitMethod.STAGED_RENAME

    def __init__(self, spark: SparkSession, location: str) -> None:
        self.spark, self.location = spark, location
        self.root = location.rstrip("/")

    def _fs(self) -> HadoopFS:
        fs = HadoopFS(self.spark, self.root)
        fs.root = fs.fs.makeQualified(fs.root)  # relative paths: resolved once, the same for Spark and Hadoop
        return fs

    def _children(self, fs: HadoopFS) -> list[Any]:
        if not fs.exists(fs.root):
            return []
        return [st.getPath() for st in fs.fs.listStatus(fs.root)]

    def _version_dir(self, fs: HadoopFS, version: str) -> Any:
        return fs.path(f"{fs.root.toString()}/{VERSION}={escape_partition_value(version)}")

    def check(self) -> None:
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

    def read(self, version: str) -> DataFrame | None:
        fs = self._fs()
        vdir = self._version_dir(fs, version)
        if not fs.exists(vdir):
            return None
        reader = self.spark.read.schema(cache_schema()).option("basePath", fs.root.toString())
        return reader.parquet(vdir.toString())

    def read_all(self) -> DataFrame | None:
        fs = self._fs()
        if not any(p.getName().startswith(f"{VERSION}=") for p in self._children(fs)):
            return None
        return self.spark.read.schema(cache_schema()).parquet(fs.root.toString())

    def commit(self, out: DataFrame, version: str, run_id: str, expected: int) -> int:
        """Stage in a hidden folder inside the cache, verify the count, commit with one rename."""
        self.clean_staging(older_than_hours=STALE_AFTER_HOURS)  # leftovers of runs killed long ago
        fs = self._fs()
        staging = fs.path(f"{fs.root.toString()}/{STAGING_PREFIX}{run_id}")
        leaf_rel = f"{VERSION}={escape_partition_value(version)}/{BATCH}={escape_partition_value(run_id)}"
        staged_leaf = fs.path(f"{staging.toString()}/{leaf_rel}")
        final_leaf = fs.path(f"{fs.root.toString()}/{leaf_rel}")

        def count() -> int:
            if not fs.exists(staged_leaf):
                raise CacheError("the staged cache batch is not where it was expected; not committed")
            return int(self.spark.read.parquet(staged_leaf.toString()).count())

        def publish() -> None:
            if fs.exists(final_leaf):
                raise CacheError("a cache batch with this run id exists already; not committed")
            fs.fs.mkdirs(final_leaf.getParent())  # the version folder; empty until the rename, so invisible
            fs.rename(staged_leaf, final_leaf)

        stage_and_publish(
            fs,
            staging,
            write=lambda: out.write.mode("overwrite").partitionBy(*PARTITIONS).parquet(staging.toString()),
            count=count,
            expected=expected,
            publish=publish,
            what="cache batch",
        )
        return expected

    def version_bytes(self, versions: Sequence[str]) -> dict[str, int]:
        fs = HadoopFS(self.spark, self.root)
        out = {}
        for v in versions:
            p = self._version_dir(fs, v)
            if fs.exists(p):
                out[v] = int(fs.fs.getContentSummary(p).getLength())
        return out

    def drop_versions(self, versions: Sequence[str]) -> None:
        fs = self._fs()
        tag = new_run_id()
        for i, v in enumerate(versions):
            vdir = self._version_dir(fs, v)
            if not fs.exists(vdir):
                continue
            trash = fs.path(f"{fs.root.toString()}/{TRASH_PREFIX}{tag}-{i}")
            fs.rename(vdir, trash)  # readers stop seeing the version here, in one step
            fs.delete(trash)

    def stale_staging(self, older_than_hours: float) -> list[Any]:
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
        stale = self.stale_staging(older_than_hours)
        if stale:
            fs = self._fs()
            for p in stale:
                fs.delete(p)
            log.info("name cache: removed %d leftover staging folders of dead runs", len(stale))
        return len(stale)


class ConnectPathStore:
    """A parquet cache folder seen through Spark only (Spark Connect: no Hadoop file system on the
    client): read and listed through Spark, a batch appended by Spark's commit and counted after."""

    kind = "path"
    commit_method = CommitMethod.SPARK_CONNECT

    def __init__(self, spark: SparkSession, location: str) -> None:
        self.spark, self.location = spark, location
        self.root = location.rstrip("/")

    def _version_path(self, version: str) -> str:
        return f"{self.root}/{VERSION}={escape_partition_value(version)}"

    def check(self) -> None:
        top = {rel.split("/", 1)[0] for rel, _ in list_files(self.spark, self.root)}
        foreign_names = sorted(t for t in top if not t.startswith(f"{VERSION}="))
        if foreign_names:
            raise CacheError(
                f"cache path {self.location!r} holds other data ({len(foreign_names)} entries not named "
                f"{VERSION}=...); it is not a spark_ner name cache. Fix: choose another --cache"
            )

    def read(self, version: str) -> DataFrame | None:
        vpath = self._version_path(version)
        if not path_exists(self.spark, vpath):
            return None
        return self.spark.read.schema(cache_schema()).option("basePath", self.root).parquet(vpath)

    def read_all(self) -> DataFrame | None:
        if not any(rel.startswith(f"{VERSION}=") for rel, _ in list_files(self.spark, self.root)):
            return None
        return self.spark.read.schema(cache_schema()).parquet(self.root)

    def commit(self, out: DataFrame, version: str, run_id: str, expected: int) -> int:
        """Spark's commit protocol appends the batch into its own partition folder; its rows are counted
        after. A short count is an error; the rows that are there are right."""
        leaf = f"{self._version_path(version)}/{BATCH}={escape_partition_value(run_id)}"
        if path_exists(self.spark, leaf):
            raise CacheError("a cache batch with this run id exists already; not committed")
        got = write_then_count(
            lambda: out.write.mode("append").partitionBy(*PARTITIONS).parquet(self.root),
            lambda: int(self.spark.read.schema(cache_schema()).option("basePath", self.root).parquet(leaf).count()),
        )
        if got != expected:
            raise RowCountMismatchError(
                f"cache batch {run_id} holds {got} rows, expected {expected} (Spark Connect writes without a "
                "staged rename). The stored labels are right; missing names are scored again. Fix: rerun"
            )
        return expected

    def version_bytes(self, versions: Sequence[str]) -> dict[str, int]:
        return _listed_bytes(self.spark, self.root, versions)

    def drop_versions(self, versions: Sequence[str]) -> None:
        raise CacheError(
            f"dropping versions from path cache {self.location!r} needs Hadoop file-system access, which a "
            "Spark Connect session does not give. Fix: run `spark-ner cache vacuum` with a classic session "
            "(--master, or on the cluster), or keep the cache in a table"
        )

    def stale_staging(self, older_than_hours: float) -> list[Any]:
        """None are seen: Spark's listing hides dot-folders, and Connect runs stage nothing (a classic
        session's ``spark-ner cache vacuum`` removes those of classic runs)."""
        return []

    def clean_staging(self, older_than_hours: float) -> int:
        return 0


class TableStore:
    """A catalog table (``table``, ``schema.table``, ``catalog.schema.table``): a new partition per run
    through the catalog, or on Delta one ``MERGE INTO`` transaction; works alike under Connect."""

    kind = "table"

    def __init__(self, spark: SparkSession, location: str, table_format: str | None) -> None:
        self.spark, self.location, self.table_format = spark, location, table_format

    @property
    def commit_method(self) -> CommitMethod:
        return CommitMethod.MERGE_INTO if self.is_delta() else CommitMethod.CATALOG_INSERT

    def is_delta(self) -> bool:
        """Whether the cache is (or, not existing yet, will be created as) a Delta table."""
        if self.spark.catalog.tableExists(self.location):
            rows = self.spark.sql(f"DESCRIBE TABLE EXTENDED {sql_table_name(self.location)}").collect()
            return provider_from_describe(rows) == "delta"
        return table_format_for(self.spark, self.table_format) == "delta"

    def check(self) -> None:
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

    def read(self, version: str) -> DataFrame | None:
        from pyspark.sql import functions as F

        if not self.spark.catalog.tableExists(self.location):
            return None
        return self.spark.table(self.location).where(F.col(VERSION) == F.lit(version))

    def read_all(self) -> DataFrame | None:
        return self.spark.table(self.location) if self.spark.catalog.tableExists(self.location) else None

    def commit(self, out: DataFrame, version: str, run_id: str, expected: int) -> int:
        inserted = self._append_table(out, version)
        if inserted is not None and inserted != expected:  # MERGE skipped keys a racing run stored
            log.info("name cache: %d of %d rows were new to the cache", inserted, expected)
            return inserted
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

    def _table_location(self) -> str | None:
        try:
            rows = self.spark.sql(f"DESCRIBE TABLE EXTENDED {sql_table_name(self.location)}").collect()
        except Exception:
            return None
        return next((str(r[1]) for r in rows if str(r[0]).strip() == "Location"), None)

    def version_bytes(self, versions: Sequence[str]) -> dict[str, int]:
        root = self._table_location()
        if not root:
            return {}
        if not jvm_available(self.spark):  # Spark Connect: sum the listing Spark gives
            return _listed_bytes(self.spark, root, versions)
        fs = HadoopFS(self.spark, root)
        out = {}
        for v in versions:
            p = fs.path(f"{fs.root.toString()}/{VERSION}={escape_partition_value(v)}")
            if fs.exists(p):
                out[v] = int(fs.fs.getContentSummary(p).getLength())
        return out

    def drop_versions(self, versions: Sequence[str]) -> None:
        if self.is_delta():
            self.spark.sql(delete_versions_statement(self.location, versions))
            return
        for v in versions:
            self.spark.sql(drop_partition_statement(self.location, v))

    def stale_staging(self, older_than_hours: float) -> list[Any]:
        return []

    def clean_staging(self, older_than_hours: float) -> int:
        return 0


def _listed_bytes(spark: SparkSession, root: str, versions: Sequence[str]) -> dict[str, int]:
    """Bytes per version from Spark's own listing of ``root`` (no Hadoop file system needed)."""
    wanted = {f"{VERSION}={escape_partition_value(v)}": v for v in versions}
    sizes: dict[str, int] = {}
    for rel, size in list_files(spark, root):
        v = wanted.get(rel.split("/", 1)[0])
        if v is not None:
            sizes[v] = sizes.get(v, 0) + size
    return sizes


Store = PathStore | ConnectPathStore | TableStore


# ----------------------------------------------------------------------------- the interface


@dataclass
class NameCache:
    """One cache location (parquet path or catalog table) and the operations the jobs need; what
    differs by kind of location is done by its store (:attr:`store`)."""

    spark: SparkSession
    location: str
    #: format of a cache table this cache creates; None: the session's ``spark.sql.sources.default``
    table_format: str | None = None
    store: Store = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.table_format = check_table_format(self.table_format)
        if is_table(self.location):
            self.store = TableStore(self.spark, self.location, self.table_format)
        elif jvm_available(self.spark):
            self.store = PathStore(self.spark, self.location)
        else:
            self.store = ConnectPathStore(self.spark, self.location)

    @property
    def is_table(self) -> bool:
        return isinstance(self.store, TableStore)

    @property
    def commit_method(self) -> CommitMethod:
        """How a run's rows become visible (reported in the job's summary)."""
        return self.store.commit_method

    def is_delta(self) -> bool:
        """Whether the cache is (or, not existing yet, will be created as) a Delta table."""
        return isinstance(self.store, TableStore) and self.store.is_delta()

    def check(self) -> None:
        """Refuse, before any work, a location that exists but is not a spark_ner cache."""
        self.store.check()

    def read(self, version: str) -> DataFrame:
        """Every stored row of ``version`` (may hold a key twice after racing runs; see :meth:`lookup`)."""
        df = self.store.read(version)
        if df is None:
            return self.spark.createDataFrame([], cache_schema())
        return df.select(*CACHE_COLUMNS)

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
        if expected is None:
            expected = out.count()
        if expected == 0:
            log.info("name cache: nothing new to store")
            return 0
        committed = self.store.commit(out, version, run_id, expected)
        log.info("name cache: committed %d rows for model version %s (batch %s)", committed, version, run_id)
        return committed

    def stale_staging(self, older_than_hours: float) -> list[Any]:
        """Staging folders (and interrupted drops) of runs started more than ``older_than_hours`` ago."""
        return self.store.stale_staging(older_than_hours)

    def clean_staging(self, older_than_hours: float) -> int:
        """Delete what :meth:`stale_staging` finds; returns how many folders went."""
        return self.store.clean_staging(older_than_hours)

    def stats(self, distinct: bool = True) -> list[dict[str, Any]]:
        """Per model version: rows, distinct keys, batches, first/last ``scored_at``, bytes; latest first."""
        from pyspark.sql import functions as F

        df = self.store.read_all()
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
        sizes = self.store.version_bytes([str(r[VERSION]) for r in rows])
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

    def drop_versions(self, versions: Sequence[str]) -> None:
        """Drop whole versions: a folder rename (atomic) then delete; on a table the catalog's DROP
        PARTITION, or on Delta one ``DELETE`` (Delta has no partitions to drop)."""
        if versions:
            self.store.drop_versions(versions)


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
