"""The label job: resolve -> prepare -> score -> write -> summary, each stage a function with a typed
hand-off (``Resolved``, ``Prepared``, ``Scored``, ``Written``, ``Summary``).

``spark-ner label`` and ``spark-submit jobs/label_customers.py`` run this same code. Why the stages
come in this order (the cheapest refusal first, nothing misleading left behind) is in
docs/architecture.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_ner.config import Config, add_config_arguments, load_config, parse_overrides
from spark_ner.errors import ConfigError, InputColumnError, InputNotFoundError, RowCountMismatchError, SparkNerError
from spark_ner.models import MemberPlan, resolve_members
from spark_ner.spark import ship
from spark_ner.spark.commits import check_table_format
from spark_ner.spark.name_cache import FROM_CACHE, CacheError, NameCache, count_labelled, label_with_cache, new_run_id
from spark_ner.spark.name_cache import is_table as is_cache_table
from spark_ner.spark.outputs import OutputFormat, Target, WriteMode
from spark_ner.spark.session import (
    get_session,
    is_connect,
    jvm_available,
    parse_spark_conf,
    quote_identifier,
    runs_through_connect,
    session_conf,
    task_slots,
)
from spark_ner.spark.telemetry import WorkerStatsParam, rows_scored, summarize_executors
from spark_ner.spark.udf import (
    ARROW_BATCH_KEY,
    COLUMNAR_INPUT_KEY,
    WORKER_FIELD,
    check_string_column,
    map_ner_labels,
    output_columns,
    recommended_arrow_batch_rows,
    scoring_sql_conf,
    with_ner_labels,
    worker_records,
)

if TYPE_CHECKING:
    from pyspark.resource import ResourceProfile
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

__all__ = [
    "InputFormat",
    "LabelArgs",
    "OutputFormat",
    "Prepared",
    "Resolved",
    "Scored",
    "Summary",
    "WriteMode",
    "Written",
    "add_arguments",
    "build_parser",
    "get_session",
    "prepare",
    "resolve",
    "run",
    "score",
    "summarize",
    "write",
]

PREFIX = "ner_"
#: the label columns the job adds (the output contract's fields, prefixed)
LABEL_COLUMNS: tuple[str, ...] = output_columns(PREFIX)
NAME_KEY = "__spark_ner_name"
#: exit code of a run whose error rows exceed ``--max-error-rows`` (2 is a refused run)
EXIT_TOO_MANY_ERRORS = 3


class InputFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"
    TABLE = "table"


# ----------------------------------------------------------------------------- arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The label job's flags (shared by ``spark-ner label`` and ``jobs/label_customers.py``)."""
    parser.add_argument("--input", required=True, help="input path (parquet/csv) or table name")
    parser.add_argument("--output", required=True, help="output path, or table name for tables")
    parser.add_argument("--name-col", default="name", help="string column to label (default: name)")
    parser.add_argument("--id-col", default=None, help="row id column (required by --labels-only)")
    add_config_arguments(parser)
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
    parser.add_argument(
        "--max-error-rows",
        type=int,
        default=None,
        metavar="N",
        help=f"exit {EXIT_TOO_MANY_ERRORS} when more than N rows carry a ner_error (the output is still written "
        "and the summary says so); default: no limit",
    )
    parser.add_argument("--summary", default=None, metavar="PATH", help="write the JSON summary")
    parser.add_argument(
        "--cache",
        default=None,
        metavar="PATH_OR_TABLE",
        help="name cache keyed by model version: score only names not in it, then append them "
        "(a path with '/' is parquet, else a table; see spark_ner/spark/name_cache.py)",
    )
    parser.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[*])")
    parser.add_argument(
        "--remote",
        default=None,
        metavar="sc://HOST:PORT",
        help="run through this Spark Connect server (default: $SPARK_REMOTE when set); not with --master",
    )
    parser.add_argument(
        "--table-format",
        default=None,
        metavar="FORMAT",
        help="format of the tables this job creates (output and --cache table), e.g. delta, parquet, orc "
        "(default: the session's spark.sql.sources.default, Delta on Databricks)",
    )
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
        "--ship-models",
        action="store_true",
        help="send the member folders through Spark (addArchive; addArtifacts on Spark Connect) to executors "
        "that cannot see the driver's copies; each executor verifies them against the driver's digests",
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


def _split_cols(values: Sequence[str]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


@dataclass(frozen=True)
class LabelArgs:
    """The label job's arguments, typed; built from the CLI's namespace or directly in Python."""

    input: str
    output: str
    name_col: str = "name"
    id_col: str | None = None
    config: str | None = None
    overrides: tuple[str, ...] = ()
    model_dir: str | None = None
    input_format: InputFormat = InputFormat.PARQUET
    output_format: OutputFormat = OutputFormat.PARQUET
    mode: WriteMode = WriteMode.ERROR
    partition_by: tuple[str, ...] = ()
    labels_only: bool = False
    max_error_rows: int | None = None
    summary: str | None = None
    cache: str | None = None
    master: str | None = None
    remote: str | None = None
    table_format: str | None = None
    spark_conf: tuple[str, ...] = ()
    score_partitions: int | None = None
    arrow_batch_rows: int | None = None
    catalog_dir: str = "spark-catalog"
    ship_models: bool = False

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> LabelArgs:
        """Every field from ``ns`` (parsed by :func:`add_arguments`); lists become tuples, choices enums."""
        values = {f.name: getattr(ns, f.name) for f in dataclasses.fields(cls) if hasattr(ns, f.name)}
        for key in ("overrides", "partition_by", "spark_conf"):
            values[key] = tuple(values.get(key) or ())
        values["partition_by"] = tuple(_split_cols(values["partition_by"]))
        values["input_format"] = InputFormat(values.get("input_format", InputFormat.PARQUET))
        values["output_format"] = OutputFormat(values.get("output_format", OutputFormat.PARQUET))
        values["mode"] = WriteMode(values.get("mode", WriteMode.ERROR))
        return cls(**values)


# ----------------------------------------------------------------------------- the job


#: Spark's error conditions that mean "the input is not there or is not that format"
_INPUT_CONDITIONS = ("PATH_NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND", "UNABLE_TO_INFER_SCHEMA", "SCHEMA_NOT_FOUND")


def _read_input(spark: SparkSession, fmt: InputFormat, location: str) -> DataFrame:
    """The input DataFrame; a missing or unreadable input is one :class:`InputNotFoundError` line."""
    from pyspark.errors import AnalysisException

    try:
        if fmt == InputFormat.PARQUET:
            return spark.read.parquet(location)
        if fmt == InputFormat.CSV:
            # every column a string; multiLine: a quoted name holding a newline stays one row
            # (without it Spark splits the record and the job labels rows that were never in the input)
            return spark.read.option("header", "true").option("multiLine", "true").csv(location)
        return spark.table(location)
    except AnalysisException as exc:
        condition = next((c for c in _INPUT_CONDITIONS if c in str(exc)), None)
        if condition is None:
            raise
        what = "table" if fmt == InputFormat.TABLE else f"{fmt.value} path"
        raise InputNotFoundError(
            f"--input {location!r}: no readable {what} ({condition}). Fix: check the path or table name, "
            f"and --input-format (parquet, csv or table; it is {fmt.value})"
        ) from None


def _output_columns(df: DataFrame, args: LabelArgs) -> list[str]:
    if args.labels_only and args.id_col:
        return [args.id_col, *LABEL_COLUMNS]
    return [c for c in df.columns if c not in LABEL_COLUMNS] + list(LABEL_COLUMNS)


def _check_columns(df: DataFrame, args: LabelArgs, partition_by: list[str]) -> None:
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


class StageClock:
    """Wall seconds per step, for the summary."""

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


# ----------------------------------------------------------------------------- stage 0: resolve (no Spark)


@dataclass(frozen=True)
class Resolved:
    """The run's arguments, config and members, resolved ONCE on the driver before any JVM starts:
    a bad member costs a second and leaves nothing behind (no session, no warehouse, no output)."""

    args: LabelArgs
    cfg: Config
    plan: MemberPlan | None  # None: resolved where the models are, once the session exists (Spark Connect)
    table_format: str | None
    spark_conf: Mapping[str, str]

    @property
    def hive(self) -> bool:
        """Whether the session needs a catalog (tables in, out, or as the name cache)."""
        a = self.args
        cache_table = a.cache is not None and is_cache_table(a.cache)
        return a.input_format == InputFormat.TABLE or a.output_format != OutputFormat.PARQUET or cache_table


def resolve(args: LabelArgs) -> Resolved:
    """Config, members (one resolution: folders, hub commits, digests) and flags checked, no Spark."""
    cfg = load_config(args.config, overrides=parse_overrides(list(args.overrides)), model_dir=args.model_dir)
    if args.max_error_rows is not None and args.max_error_rows < 0:
        raise ConfigError(
            f"--max-error-rows must be 0 or more, got {args.max_error_rows}. Fix: e.g. --max-error-rows 100"
        )
    # Spark Connect: the client needs only the config; the members are resolved where the models are,
    # on the server's executors (prepare), unless this client ships its own copies
    plan = None if runs_through_connect(args.remote, args.master) and not args.ship_models else resolve_members(cfg)
    if args.cache is not None and args.cache.rstrip("/") in (args.output.rstrip("/"), args.input.rstrip("/")):
        raise CacheError("--cache must be its own location, not the input or the output")
    return Resolved(args, cfg, plan, check_table_format(args.table_format), parse_spark_conf(args.spark_conf))


# ----------------------------------------------------------------------------- stage 1: prepare


@dataclass(frozen=True)
class Prepared:
    """Everything checked against the session before any name is scored: the output (``--mode``),
    the name cache, the members on the executors (shipped with ``--ship-models``), the input's columns."""

    resolved: Resolved
    plan: MemberPlan  # the resolved plan, with archives when shipped
    target: Target
    cache: NameCache | None
    input: DataFrame  # the input, without columns the new labels replace
    out_columns: tuple[str, ...]
    arrow_rows: int | None  # the Arrow batch size this job sets (None: the session's)
    models: Mapping[str, Any]  # the summary's "models" part
    scoring_profile: ResourceProfile | None = None  # the scoring stage's own resources ([spark] in the config)

    @property
    def args(self) -> LabelArgs:
        return self.resolved.args


def prepare(spark: SparkSession, resolved: Resolved, created: bool = False) -> Prepared:
    """Check output, cache, executors and input in that order (cheapest refusal first); nothing runs
    on the data yet. ``created``: the job made the session (then it also picks the Arrow batch size)."""
    args, cfg = resolved.args, resolved.cfg
    profile = scoring_profile(spark, cfg)
    target = Target(spark, args.output_format, args.output, args.mode, list(args.partition_by), resolved.table_format)
    target.check_before_run()
    cache = None
    if args.cache is not None:
        cache = NameCache(spark, args.cache, table_format=resolved.table_format)
        cache.check()
    arrow_rows = args.arrow_batch_rows
    if arrow_rows is None and created:
        explicit = jvm_available(spark) and spark.sparkContext.getConf().contains(ARROW_BATCH_KEY)
        arrow_rows = None if explicit else recommended_arrow_batch_rows(cfg)
    # members shipped (--ship-models), then resolved on the executors: a problem is one line here
    t_models = time.perf_counter()
    plan = resolved.plan if resolved.plan is not None else ship.resolve_on_executors(spark, cfg)
    if args.ship_models:
        plan = ship.ship_members(spark, cfg, plan)
    checked = None
    if not ship.shares_driver_disk(spark):
        checked = ship.check_executors(spark, cfg, plan, task_slots(spark))
    models = {
        **plan.summary(),
        "executor_checks": checked.checks if checked else 0,  # 0: local, executors share the driver's disk
        "executor_pythons": list(checked.pythons) if checked else [],
        "seconds": round(time.perf_counter() - t_models, 3),
    }
    df = _read_input(spark, args.input_format, args.input)
    _check_columns(df, args, list(args.partition_by))
    replaced = [c for c in df.columns if c in LABEL_COLUMNS]
    if replaced:
        log.warning("input columns %s are replaced by new labels", ", ".join(replaced))
        df = df.drop(*replaced)
    out_columns = tuple(_output_columns(df, args))
    return Prepared(resolved, plan, target, cache, df, out_columns, arrow_rows, models, profile)


# ----------------------------------------------------------------------------- the scoring stage's profile

#: a task resource profile needs one of these cluster managers (Spark's ResourceProfileManager)
_PROFILE_MASTERS = ("spark://", "local-cluster", "yarn", "k8s://")
EXECUTOR_GPUS_KEY = "spark.executor.resource.gpu.amount"
TASK_GPUS_KEY = "spark.task.resource.gpu.amount"


def _profile_problem(spark: SparkSession, cfg: Config) -> str | None:
    """Why this session cannot run the scoring stage under its own profile (None: it can)."""
    from pyspark.sql import DataFrame

    if is_connect(spark):
        return "this job runs it on classic sessions only (under Spark Connect its worker records ride in rows)"
    if "profile" not in inspect.signature(DataFrame.mapInArrow).parameters:
        return f"it needs pyspark 4.0+ (DataFrame.mapInArrow(profile=)); this is pyspark {spark.version}"
    conf = spark.sparkContext.getConf()
    master = conf.get("spark.master", "") or ""
    if not master.startswith(_PROFILE_MASTERS):
        return (
            f"Spark schedules task resource profiles on standalone, YARN and Kubernetes clusters only; this "
            f"session's master is {master!r}"
        )
    gpus, cpus = cfg.spark.scoring_task_gpus, cfg.spark.scoring_task_cpus
    executor_gpus = float(conf.get(EXECUTOR_GPUS_KEY, "0") or 0)
    if gpus > executor_gpus:
        return f"each scoring task asks for {gpus:g} GPU but executors have {executor_gpus:g} ({EXECUTOR_GPUS_KEY})"
    executor_cores = conf.get("spark.executor.cores")
    if executor_cores is not None and cpus > int(executor_cores):
        return f"each scoring task asks for {cpus} cores but executors have {executor_cores} (spark.executor.cores)"
    return None


def scoring_profile(spark: SparkSession, cfg: Config) -> ResourceProfile | None:
    """The scoring stage's ``ResourceProfile`` from ``[spark]`` (None when both keys are 0): task
    requests only (cores, GPUs), so the stage runs on the executors the session has, and the read,
    join and write stages keep the default profile's slots. A session that cannot schedule it is
    one line naming the keys, what is missing and the fix (a run never hangs on tasks no executor fits)."""
    sc = cfg.spark
    if not sc.scoring_profile:
        return None
    problem = _profile_problem(spark, cfg)
    if problem is not None:
        raise ConfigError(
            f"spark.scoring_task_gpus = {sc.scoring_task_gpus:g}, spark.scoring_task_cpus = {sc.scoring_task_cpus}: "
            f"the scoring stage cannot run under its own ResourceProfile: {problem}. Fix: run on such a cluster "
            "(docs/gpu.md, stage-level scheduling), or set both to 0 (--set spark.scoring_task_gpus=0 "
            "--set spark.scoring_task_cpus=0) and size spark.task.resource.gpu.amount instead"
        )
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    requests = TaskResourceRequests()
    if sc.scoring_task_cpus:
        requests.cpus(sc.scoring_task_cpus)
    if sc.scoring_task_gpus:
        requests.resource("gpu", sc.scoring_task_gpus)
    profile = ResourceProfileBuilder().require(requests).build
    default_gpus = spark.sparkContext.getConf().get(TASK_GPUS_KEY)
    if sc.scoring_task_gpus and default_gpus:
        log.warning(
            "%s=%s: every task of the job (reads, joins, writes) still holds that much GPU; with "
            "spark.scoring_task_gpus set, leave %s unset so only the scoring stage asks for GPUs",
            TASK_GPUS_KEY,
            default_gpus,
            TASK_GPUS_KEY,
        )
    log.info(
        "scoring stage: ResourceProfile %s (task cpus %s, task gpus %s); other stages: the default profile",
        profile.id,
        sc.scoring_task_cpus or "spark.task.cpus",
        f"{sc.scoring_task_gpus:g}",
    )
    return profile


# ----------------------------------------------------------------------------- stage 2: score


class WorkerRecords:
    """The Python workers' records (rows, devices, loads): an accumulator on a classic session, the
    hidden column of the persisted labels under Spark Connect (no accumulators there)."""

    def __init__(self, spark: SparkSession) -> None:
        self.in_rows = not jvm_available(spark)
        self.accumulator = None if self.in_rows else spark.sparkContext.accumulator({}, WorkerStatsParam())
        self._read: dict[str, dict[str, Any]] | None = None

    def read_rows(self, scored: DataFrame) -> DataFrame:
        """Under Connect: take the records out of ``scored`` (once) and return it without them."""
        if not self.in_rows:
            return scored
        self._read = worker_records(scored)
        return scored.drop(WORKER_FIELD)

    def now(self) -> dict[str, dict[str, Any]]:
        if self.in_rows:
            return self._read or {}
        return self.accumulator.value if self.accumulator is not None else {}


@dataclass(frozen=True)
class Scored:
    """Stage 2's result: one row per distinct name (``NAME_KEY`` + the label columns), persisted; with
    a name cache, hits and new labels side by side (``FROM_CACHE``). Nothing is written yet."""

    labels: DataFrame
    rows_in: int
    null_names: int
    distinct_names: int
    names_cached: int
    names_to_store: int
    names_scored: int  # what the workers reported at the end of this stage
    partitions: int
    workers: WorkerRecords


def score(spark: SparkSession, prepared: Prepared, clock: StageClock) -> Scored:
    """Count the input, then label each distinct name once (cache hits joined, not scored)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    args, df = prepared.args, prepared.input
    workers = WorkerRecords(spark)
    parts = args.score_partitions or 2 * task_slots(spark)
    labeler = _labeler(prepared, workers, parts)
    with clock.stage("read"):
        counts = df.agg(
            F.count(F.lit(1)).alias("rows"),
            F.count(F.col(quote_identifier(args.name_col))).alias("named"),
        ).first()
        assert counts is not None
        rows_in, named = int(counts["rows"]), int(counts["named"])
    with clock.stage("score"):
        names = df.select(F.col(quote_identifier(args.name_col)).alias(NAME_KEY)).repartition(parts, NAME_KEY)
        names = names.distinct()
        names_cached = to_store = 0
        if prepared.cache is None:
            scored = names.transform(labeler).persist(StorageLevel.MEMORY_AND_DISK)
            distinct_names = scored.count()
        else:  # hits joined from the cache, only misses go through the UDF
            version = prepared.plan.model_version
            scored = label_with_cache(names, NAME_KEY, labeler, prepared.cache, version, PREFIX, parts)
            scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
            distinct_names, names_cached, to_store = count_labelled(scored, PREFIX, version)
    log.info("scored %d distinct names in %d partitions", distinct_names, parts)
    labels = workers.read_rows(scored)
    return Scored(
        labels=labels,
        rows_in=rows_in,
        null_names=rows_in - named,
        distinct_names=distinct_names,
        names_cached=names_cached,
        names_to_store=to_store,
        names_scored=rows_scored(workers.now()),
        partitions=parts,
        workers=workers,
    )


def _labeler(prepared: Prepared, workers: WorkerRecords, parts: int) -> Callable[[DataFrame], DataFrame]:
    """Distinct names -> names + label columns: the Arrow UDF, or, with a scoring profile, the same
    worker loop through ``mapInArrow`` under that profile, followed by a shuffle.

    Why the shuffle: Spark gives a stage the profile of every RDD it reaches through narrow
    dependencies, cached ones included, so without it every later stage that reads the persisted
    labels (the cache commit, the join, the write) would ask for the scoring stage's GPUs too.
    """
    cfg, plan = prepared.resolved.cfg, prepared.plan
    profile = prepared.scoring_profile
    if profile is None:
        return with_ner_labels(
            NAME_KEY, cfg, prefix=PREFIX, plan=plan, stats=workers.accumulator, report=workers.in_rows
        )

    def labeler(names: DataFrame) -> DataFrame:
        labelled = map_ner_labels(names, NAME_KEY, cfg, plan, PREFIX, stats=workers.accumulator, profile=profile)
        return labelled.repartition(parts, NAME_KEY)

    return labeler


# ----------------------------------------------------------------------------- stage 3: write


@dataclass(frozen=True)
class Written:
    """Stage 3's result: what was committed, and how."""

    rows_out: int
    by_label: tuple[tuple[str | None, int, int], ...]  # (label, rows, rows with an error)
    output_commit: str
    cache: Mapping[str, Any] | None
    model_version: str | None


def write(prepared: Prepared, labels: DataFrame, scored: Scored | None, clock: StageClock) -> Written:
    """Commit new labels to the name cache (before the output: a later failure keeps them), join the
    labels back onto every input row, check rows out == rows in, then commit the output.

    ``labels``: one row per distinct name (``NAME_KEY`` + the label columns, ``FROM_CACHE`` with a
    cache), as :func:`score` makes them; ``scored`` gives the counts the cache commit checks against.
    """
    from pyspark.sql import functions as F

    args, df = prepared.args, prepared.input
    cache_info: dict[str, Any] | None = None
    if prepared.cache is not None:
        cache, run_id = prepared.cache, new_run_id()
        expected = scored.names_to_store if scored is not None else None
        with clock.stage("cache"):
            committed = cache.append(
                labels.where(~F.col(FROM_CACHE)), NAME_KEY, PREFIX, prepared.plan.model_version, run_id, expected
            )
        cache_info = {"location": cache.location, "batch": run_id, "rows_committed": committed}
        cache_info["commit"] = cache.commit_method
    joined = df.join(labels, df[quote_identifier(args.name_col)].eqNullSafe(labels[NAME_KEY]), "left")
    result = joined.select(*[quote_identifier(c) for c in prepared.out_columns])
    with clock.stage("check"):
        by_label = (
            result.groupBy(F.col(f"{PREFIX}label").alias("label"))
            .agg(F.count(F.lit(1)).alias("n"), F.count(F.col(f"{PREFIX}error")).alias("errors"))
            .collect()
        )
    rows_out = sum(int(r["n"]) for r in by_label)
    rows_in = scored.rows_in if scored is not None else df.count()
    if rows_out != rows_in:
        raise RowCountMismatchError(
            f"labelled rows ({rows_out}) differ from input rows ({rows_in}); nothing was written"
        )
    with clock.stage("write"):
        prepared.target.write(result, rows_out)
    log.info("wrote %d rows to %s output %s", rows_out, args.output_format.value, args.output)
    version = labels.where(F.col(f"{PREFIX}model_version").isNotNull()).select(f"{PREFIX}model_version").first()
    return Written(
        rows_out=rows_out,
        by_label=tuple((r["label"], int(r["n"]), int(r["errors"])) for r in by_label),
        output_commit=prepared.target.commit_method,
        cache=cache_info,
        model_version=version[0] if version else None,
    )


# ----------------------------------------------------------------------------- stage 4: summary


@dataclass(frozen=True)
class Summary:
    """Counts, timings and devices of one run; input names never appear here."""

    args: LabelArgs
    config_fingerprint: str
    ensemble_batch_size: int
    models: Mapping[str, Any]
    scored: Scored
    written: Written
    names_scored: int | None  # what the workers reported by the end of the run (more: labels recomputed)
    seconds: Mapping[str, float]
    executors: tuple[Mapping[str, Any], ...]
    spark_version: str
    master: str | None
    app_id: str | None
    arrow_batch_rows: int
    connect: bool
    scoring_profile: Mapping[str, Any] | None = None
    arrow_columnar_input: str | None = None

    @property
    def error_rows(self) -> int:
        return sum(e for _, _, e in self.written.by_label)

    @property
    def too_many_errors(self) -> bool:
        """More rows carry an error than ``--max-error-rows`` allows (the output is written all the same)."""
        return self.args.max_error_rows is not None and self.error_rows > self.args.max_error_rows

    def to_dict(self) -> dict[str, Any]:
        """The summary JSON (``--summary``, and printed), in its documented key order."""
        a, s, w = self.args, self.scored, self.written
        score_s = self.seconds.get("score", 0.0)
        labels = {("null" if lab is None else str(lab)): n for lab, n, _ in w.by_label}
        limit = {} if a.max_error_rows is None else {"max_error_rows": a.max_error_rows}
        return {
            "job": "spark-ner label",
            "status": "too_many_error_rows" if self.too_many_errors else "ok",
            **limit,
            "input": {"location": a.input, "format": str(a.input_format)},
            "output": {
                "location": a.output,
                "format": str(a.output_format),
                "mode": str(a.mode),
                "partition_by": _split_cols(a.partition_by or []),
                "labels_only": bool(a.labels_only),
            },
            # how the output became visible: a staged rename (classic), or Spark's own commit with the
            # rows counted after (Spark Connect: the client has no file-system access to stage with)
            "output_commit": w.output_commit,
            "model_version": w.model_version,
            "config_fingerprint": self.config_fingerprint,
            "models": dict(self.models),
            "rows_in": s.rows_in,
            "rows_out": w.rows_out,
            "null_names": s.null_names,
            "distinct_names": s.distinct_names,
            "names_scored": self.names_scored,
            "names_scored_in_score_stage": s.names_scored,
            "names_cached": s.names_cached,
            "cache": dict(w.cache) if w.cache is not None else None,
            "error_rows": self.error_rows,
            "labels": dict(sorted(labels.items())),
            "seconds": dict(self.seconds),
            "names_per_second": round(s.names_scored / score_s, 1) if score_s > 0 else None,
            "model_load_s_max": max((float(e["model_load_s"]) for e in self.executors), default=None),
            "spark": {
                "version": self.spark_version,
                "master": self.master,
                "app_id": self.app_id,
                "score_partitions": s.partitions,
                "arrow_batch_rows": self.arrow_batch_rows,
                # Spark 4.2+'s columnar-input switch while scoring ("false": the job's own choice, udf.scoring_sql_conf)
                "arrow_columnar_input": self.arrow_columnar_input,
                "ensemble_batch_size": self.ensemble_batch_size,
                "connect": self.connect,
                # where the per-executor records came from: Spark Connect has no accumulators, so there
                # each Arrow batch's record rides back with the scored rows (a hidden column)
                "worker_records": "result rows (Spark Connect: no accumulators)" if self.connect else "accumulator",
                # the scoring stage's own task resources ([spark] in the config), null: the session's
                "scoring_profile": dict(self.scoring_profile) if self.scoring_profile is not None else None,
            },
            "executors": [dict(e) for e in self.executors],
        }


def summarize(spark: SparkSession, prepared: Prepared, scored: Scored, written: Written, clock: StageClock) -> Summary:
    """Stage 4: the run's :class:`Summary` (workers' records read now, after the write)."""
    records = scored.workers.now()
    names_scored = rows_scored(records)
    if names_scored > scored.distinct_names:
        log.warning(
            "the UDF scored %d names for %d distinct ones: the persisted labels were recomputed (evicted from cache?)",
            names_scored,
            scored.distinct_names,
        )
    cfg = prepared.resolved.cfg
    return Summary(
        args=prepared.args,
        config_fingerprint=cfg.fingerprint(),
        ensemble_batch_size=cfg.ensemble.batch_size,
        models=prepared.models,
        scored=scored,
        written=written,
        names_scored=names_scored,
        seconds={**clock.seconds, "total": clock.total()},
        executors=tuple(summarize_executors(records)),
        spark_version=spark.version,
        master=spark.conf.get("spark.master", None),
        app_id=spark.conf.get("spark.app.id", None),
        arrow_batch_rows=int(spark.conf.get(ARROW_BATCH_KEY) or 0),
        arrow_columnar_input=spark.conf.get(COLUMNAR_INPUT_KEY, None),
        connect=is_connect(spark),
        scoring_profile=_profile_summary(prepared),
    )


def _profile_summary(prepared: Prepared) -> dict[str, Any] | None:
    profile, sc = prepared.scoring_profile, prepared.resolved.cfg.spark
    if profile is None:
        return None
    return {"id": profile.id, "task_cpus": sc.scoring_task_cpus or None, "task_gpus": sc.scoring_task_gpus or None}


# ----------------------------------------------------------------------------- the job


def run(ns: argparse.Namespace | LabelArgs) -> int:
    """Run the label job (resolve -> prepare -> score -> write -> summary); returns 0, raises a
    :class:`SparkNerError` on a refused run."""
    args = ns if isinstance(ns, LabelArgs) else LabelArgs.from_namespace(ns)
    clock = StageClock()
    resolved = resolve(args)
    spark, created = get_session(
        args.master, hive=resolved.hive, catalog_dir=args.catalog_dir, conf=resolved.spark_conf, remote=args.remote
    )
    try:
        _stage(spark, "prepare", "output, name cache, members on the executors, input columns")
        prepared = prepare(spark, resolved, created)
        arrow = str(prepared.arrow_rows) if prepared.arrow_rows else None
        with session_conf(spark, {ARROW_BATCH_KEY: arrow, **scoring_sql_conf(spark)}):
            _stage(spark, "score", "labelling each distinct name once")
            scored = score(spark, prepared, clock)
            try:
                log.info(
                    "label: score done: %d rows in, %d distinct names (%d from the cache)",
                    scored.rows_in,
                    scored.distinct_names,
                    scored.names_cached,
                )
                _stage(spark, "write", "%d rows to %s", scored.rows_in, args.output)
                written = write(prepared, scored.labels, scored, clock)
                log.info("label: write done: %d rows out (%s)", written.rows_out, written.output_commit)
                summary = summarize(spark, prepared, scored, written, clock)
            finally:
                scored.labels.unpersist()
                _stage(spark, None)
    finally:
        if created:
            spark.stop()
    text = json.dumps(summary.to_dict(), indent=2, sort_keys=False)
    if args.summary:
        Path(args.summary).expanduser().parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary).expanduser().write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")
    if summary.too_many_errors:
        log.error(
            "%d rows carry a ner_error, more than --max-error-rows %d; the output is written (see the summary)",
            summary.error_rows,
            args.max_error_rows,
        )
        return EXIT_TOO_MANY_ERRORS
    return 0


#: the tag of the stage running now under Spark Connect (jobs carry tags there, not descriptions)
_TAG_PREFIX = "spark-ner-label-"


def _stage(spark: SparkSession, name: str | None, detail: str = "", *values: Any) -> None:
    """Name the Spark jobs of a stage (``setJobDescription``; a job tag under Spark Connect) and log the
    stage's start; ``None`` clears it. Counts and locations only: never a name from the data."""
    if name is not None:
        log.info("label: %s: " + detail, name, *values)
    if jvm_available(spark):
        spark.sparkContext.setJobDescription(f"spark-ner label: {name}" if name else None)  # type: ignore[arg-type]
        return
    tags = getattr(spark, "getTags", None)
    if tags is None:  # a Connect client without job tags (pyspark < 3.5)
        return
    for tag in list(tags()):  # a copy: removeTag changes the set
        if tag.startswith(_TAG_PREFIX):
            spark.removeTag(tag)
    if name is not None:
        spark.addTag(_TAG_PREFIX + name)


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
