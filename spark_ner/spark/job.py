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
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_ner.config import Config, add_config_arguments, load_config, parse_overrides
from spark_ner.errors import InputColumnError, InputNotFoundError, RowCountMismatchError, SparkNerError
from spark_ner.spark import cache as name_cache
from spark_ner.spark import ship
from spark_ner.spark.outputs import OutputFormat, Target, WriteMode, check_table_format
from spark_ner.spark.session import (
    get_session,
    is_connect,
    jvm_available,
    parse_spark_conf,
    quote_identifier,
    session_conf,
    task_slots,
)
from spark_ner.spark.telemetry import WorkerStatsParam, rows_scored, summarize_executors
from spark_ner.spark.udf import (
    ARROW_BATCH_KEY,
    NER_FIELDS,
    WORKER_FIELD,
    check_string_column,
    recommended_arrow_batch_rows,
    with_ner_labels,
    worker_records,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

__all__ = [
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
    parser.add_argument("--summary", default=None, metavar="PATH", help="write the JSON summary")
    parser.add_argument(
        "--cache",
        default=None,
        metavar="PATH_OR_TABLE",
        help="name cache keyed by model version: score only names not in it, then append them "
        "(a path with '/' is parquet, else a table; see spark_ner/spark/cache.py)",
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
    input_format: InputFormat = InputFormat.PARQUET
    output_format: OutputFormat = OutputFormat.PARQUET
    mode: WriteMode = WriteMode.ERROR
    partition_by: tuple[str, ...] = ()
    labels_only: bool = False
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
        return [args.id_col, *OUTPUT_COLUMNS]
    return [c for c in df.columns if c not in OUTPUT_COLUMNS] + list(OUTPUT_COLUMNS)


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


def run(ns: argparse.Namespace | LabelArgs) -> int:
    """Run the label job; returns 0, raises a :class:`SparkNerError` on a refused run."""
    args = ns if isinstance(ns, LabelArgs) else LabelArgs.from_namespace(ns)
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    clock = _Clock()
    cfg: Config = load_config(args.config, overrides=parse_overrides(list(args.overrides)))
    # members (folders, weights headers, pins, label maps) before a JVM starts: a bad member
    # costs a second and leaves nothing behind (no session, no warehouse, no output)
    from spark_ner.models import validate_sources

    validate_sources(cfg)
    partition_by = list(args.partition_by)
    in_fmt, out_fmt, mode = args.input_format, args.output_format, args.mode
    cache_location = args.cache
    hive = in_fmt == InputFormat.TABLE or out_fmt != OutputFormat.PARQUET
    hive = hive or (cache_location is not None and name_cache.is_table(cache_location))
    spark_conf = parse_spark_conf(args.spark_conf)
    table_format = check_table_format(args.table_format)
    spark, created = get_session(
        args.master, hive=hive, catalog_dir=args.catalog_dir, conf=spark_conf, remote=args.remote
    )
    scored: DataFrame | None = None
    summary: dict[str, Any] = {}
    try:
        target = Target(spark, out_fmt, args.output, mode, partition_by, table_format=table_format)
        target.check_before_run()
        cache: name_cache.NameCache | None = None
        cache_version = ""
        if cache_location is not None:
            if cache_location.rstrip("/") in (args.output.rstrip("/"), args.input.rstrip("/")):
                raise name_cache.CacheError("--cache must be its own location, not the input or the output")
            cache = name_cache.NameCache(spark, cache_location, table_format=table_format)
            cache.check()
            cache_version = name_cache.driver_model_version(cfg)
        arrow_rows = args.arrow_batch_rows
        if arrow_rows is None and created:
            explicit = jvm_available(spark) and spark.sparkContext.getConf().contains(ARROW_BATCH_KEY)
            arrow_rows = None if explicit else recommended_arrow_batch_rows(cfg)
        with session_conf(spark, {ARROW_BATCH_KEY: str(arrow_rows) if arrow_rows else None}):
            # Spark Connect has no accumulators: the workers' records ride with the scored rows instead
            # (a hidden column, read back on the driver from the persisted labels)
            report = not jvm_available(spark)
            stats = None if report else spark.sparkContext.accumulator({}, WorkerStatsParam())
            # members shipped (--ship-models), then resolved on the executors: a problem is one line here
            t_models = time.perf_counter()
            plan = ship.plan_members(spark, cfg, ship=args.ship_models)
            checked = None
            if not ship.shares_driver_disk(spark):
                checked = ship.check_executors(spark, cfg, plan, task_slots(spark))
            models_info = {
                **plan.summary(),
                "executor_checks": checked.checks if checked else 0,  # 0: local, executors share the driver's disk
                "executor_pythons": list(checked.pythons) if checked else [],
                "seconds": round(time.perf_counter() - t_models, 3),
            }
            labeler = with_ner_labels(
                NAME_KEY, cfg, prefix=PREFIX, stats=stats, report=report, ship_models=args.ship_models
            )

            df = _read_input(spark, in_fmt, args.input)
            _check_columns(df, args, partition_by)
            replaced = [c for c in df.columns if c in OUTPUT_COLUMNS]
            if replaced:
                log.warning("input columns %s are replaced by new labels", ", ".join(replaced))
                df = df.drop(*replaced)

            with clock.stage("read"):
                counts = df.agg(
                    F.count(F.lit(1)).alias("rows"),
                    F.count(F.col(quote_identifier(args.name_col))).alias("named"),
                ).first()
                assert counts is not None
                rows_in, named = int(counts["rows"]), int(counts["named"])

            parts = args.score_partitions or 2 * task_slots(spark)
            with clock.stage("score"):
                names = (
                    df.select(F.col(quote_identifier(args.name_col)).alias(NAME_KEY))
                    .repartition(parts, NAME_KEY)
                    .distinct()
                )
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
            records = worker_records(scored) if report else None
            labels = scored.drop(WORKER_FIELD) if report else scored

            def workers() -> dict[str, dict[str, Any]]:
                return records if records is not None else (stats.value if stats else {})

            names_scored_at_score = rows_scored(workers())
            cache_info: dict[str, Any] | None = None
            if cache is not None:
                run_id = name_cache.new_run_id()
                with clock.stage("cache"):  # before the output: a later failure keeps the labels
                    committed = cache.append(
                        labels.where(~F.col(name_cache.FROM_CACHE)), NAME_KEY, PREFIX, cache_version, run_id, to_store
                    )
                cache_info = {
                    "location": cache_location,
                    "batch": run_id,
                    "rows_committed": committed,
                    "commit": cache.commit_method,
                }

            joined = df.join(labels, df[quote_identifier(args.name_col)].eqNullSafe(labels[NAME_KEY]), "left")
            result = joined.select(*[quote_identifier(c) for c in _output_columns(df, args)])

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
                labels.where(F.col(f"{PREFIX}model_version").isNotNull()).select(f"{PREFIX}model_version").first()
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
                models=models_info,
                names_scored=rows_scored(workers()),
                names_scored_at_score=names_scored_at_score,
                names_cached=names_cached,
                cache_info=cache_info,
                by_label=[(r["label"], int(r["n"]), int(r["errors"])) for r in by_label],
                model_version=version_row[0] if version_row else None,
                executors=summarize_executors(workers()),
                score_partitions=parts,
                arrow_rows=int(spark.conf.get(ARROW_BATCH_KEY) or 0),
                connect=is_connect(spark),
                output_commit=target.commit_method,
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


def _summary(
    *,
    args: LabelArgs,
    cfg: Config,
    spark: SparkSession,
    clock: _Clock,
    rows_in: int,
    rows_out: int,
    null_names: int,
    distinct_names: int,
    models: dict[str, Any],
    names_scored: int | None,
    names_scored_at_score: int,
    names_cached: int,
    cache_info: dict[str, Any] | None,
    by_label: list[tuple[str | None, int, int]],
    model_version: str | None,
    executors: list[dict[str, Any]],
    score_partitions: int,
    arrow_rows: int,
    connect: bool = False,
    output_commit: str | None = None,
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
        # how the output became visible: a staged rename (classic), or Spark's own commit with the
        # rows counted after (Spark Connect: the client has no file-system access to stage with)
        "output_commit": output_commit,
        "model_version": model_version,
        "config_fingerprint": cfg.fingerprint(),
        "models": models,
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
            "connect": connect,
            # where the per-executor records came from: Spark Connect has no accumulators, so there
            # each Arrow batch's record rides back with the scored rows (a hidden column)
            "worker_records": "result rows (Spark Connect: no accumulators)" if connect else "accumulator",
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
