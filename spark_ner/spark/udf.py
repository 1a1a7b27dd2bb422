"""The Spark face of the ensemble: one iterator UDF (Arrow; Pandas before pyspark 4.1), `df.transform` and SQL.

The UDF is built on the driver from a resolved :class:`~spark_ner.config.Config` and nothing
heavier than pandas: torch and transformers are imported only inside the executor's Python
worker, where the ensemble is loaded lazily, once per worker, through :class:`EnsembleCache`.

Arrow batch size. Spark hands the UDF ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows at a
time (default 10,000); each Arrow batch is de-duplicated, and the distinct names of consecutive
batches fill the pipeline's steps (``Ensemble.label_stream``: 32,768 names or more), which are
length-bucketed into ``ensemble.batch_size`` forward passes, so a small Arrow batch no longer makes
small forward passes. The job still sets :func:`recommended_arrow_batch_rows` (8 x ``batch_size``,
at least 2,048): fewer, larger batches cost Spark less per row.

Row output. Since Spark 4.2 (SPARK-56350), an Arrow UDF over a Parquet scan takes a "columnar input"
path that turns the UDF's output rows back into on-heap column vectors, which the next operator reads
as rows again: for the contract's struct (an array of entity structs in it) that extra copy costs the
JVM more than the columnar input saves. The job therefore scores with :data:`COLUMNAR_INPUT_KEY` off
(:func:`scoring_sql_conf`) unless the session set it; notebook users can set it themselves.

CPU threads. A CPU worker runs ``spark.task.cpus`` threads (unless ``ensemble.num_threads`` says
otherwise) as lanes, each taking whole forward passes (``ensemble.cpu_parallel``). With the default
``spark.task.cpus=1`` an executor of k cores runs k workers, k ensemble copies; ``spark.task.cpus=k``
runs one worker, one copy, k lanes, at about the same speed (BENCHMARKS.md).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
import pyarrow as pa
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)

from spark_ner.config import ENTITY_FIELDS, OUTPUT_FIELDS, Config, load_config
from spark_ner.engine import label_arrow_stream, not_a_string_column
from spark_ner.errors import InputColumnError, RowCountMismatchError
from spark_ner.models import MemberPlan
from spark_ner.spark.session import is_connect, quote_identifier
from spark_ner.spark.telemetry import WorkerReport, WorkerStatsParam

if TYPE_CHECKING:
    from pyspark.accumulators import Accumulator
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.udf import UserDefinedFunction

    from spark_ner.ensemble import Ensemble

log = logging.getLogger(__name__)

__all__ = [
    "ENTITY_STRUCT",
    "NER_FIELDS",
    "NER_STRUCT",
    "WORKER_FIELD",
    "EnsembleCache",
    "WorkerStatsParam",
    "check_string_column",
    "label_record_batches",
    "map_ner_labels",
    "ner_udf",
    "output_columns",
    "recommended_arrow_batch_rows",
    "register_sql",
    "scoring_sql_conf",
    "with_ner_labels",
]

#: Spark types of the contract's fields (``spark_ner.config.OUTPUT_FIELDS`` / ``ENTITY_FIELDS``).
_ENTITY_TYPES = {
    "text": StringType(),
    "label": StringType(),
    "start": IntegerType(),
    "end": IntegerType(),
    "score": DoubleType(),
}
#: One entity span; ``name[start:end] == text`` in the ORIGINAL input string.
ENTITY_STRUCT = StructType([StructField(f, _ENTITY_TYPES[f]) for f in ENTITY_FIELDS])
_OUTPUT_TYPES = {
    "label": StringType(),
    "score": DoubleType(),
    "agreement": DoubleType(),
    "entities": ArrayType(ENTITY_STRUCT),
    "model_version": StringType(),
    "error": StringType(),
}
#: The contract's output struct, in the order of ``OUTPUT_FIELDS``.
NER_STRUCT = StructType([StructField(f, _OUTPUT_TYPES[f]) for f in OUTPUT_FIELDS])
NER_FIELDS: tuple[str, ...] = OUTPUT_FIELDS

#: hidden field/column carrying worker records with the rows (``report=True``; Spark Connect has no accumulators)
WORKER_FIELD = "__spark_ner_worker"
#: the struct returned with ``report=True``: the contract's fields plus the hidden worker record (JSON)
NER_REPORT_STRUCT = StructType([*NER_STRUCT.fields, StructField(WORKER_FIELD, StringType())])


def output_columns(prefix: str = "ner_") -> tuple[str, ...]:
    """The contract's fields as the columns :func:`with_ner_labels` (and the label job) add."""
    return tuple(f"{prefix}{f}" for f in NER_FIELDS)


ARROW_BATCH_KEY = "spark.sql.execution.arrow.maxRecordsPerBatch"
WORKER_REUSE_KEY = "spark.python.worker.reuse"
_STRING_DTYPES = ("object", "string", "str")


#: Spark 4.2+'s switch for Arrow UDFs that read columnar batches (see the module docstring); older Spark
#: has no such key and ignores it
COLUMNAR_INPUT_KEY = "spark.sql.execution.arrow.pythonUDF.columnarInput.enabled"


def scoring_sql_conf(spark: SparkSession) -> dict[str, str | None]:
    """Runtime SQL confs for the stages that run the UDF: :data:`COLUMNAR_INPUT_KEY` off, unless the
    session set it (then ``None``: :func:`~spark_ner.spark.session.session_conf` leaves it alone).

    Why: Spark 4.2+'s columnar-input path converts the output struct rows to column vectors and back; with
    it off the same labels cost Spark ~3 CPU us less per row (BENCHMARKS.md, "The Spark gap found")."""
    return {COLUMNAR_INPUT_KEY: None if spark.conf.get(COLUMNAR_INPUT_KEY, None) is not None else "false"}


def recommended_arrow_batch_rows(cfg: Config) -> int:
    """8 forward batches per Arrow batch (at least 2,048 rows): little tail waste, room to sort."""
    return max(8 * cfg.ensemble.batch_size, 2048)


# ----------------------------------------------------------------------------- per-worker cache


class EnsembleCache:
    """This Python worker's loaded ensembles and what it has reported of them: the ONE piece of
    process-wide mutable state in spark_ner, on purpose (loading an ensemble costs seconds).

    Modelled on ``pyspark.ml.model_cache.ModelCache`` and with its requirements: it only saves work
    when Spark reuses Python workers (``spark.python.worker.reuse=true``, the default); with reuse off
    every task starts a fresh worker with an empty cache and reloads the models. Idle workers are
    killed after about a minute, which empties the cache too. Tasks of one worker run one at a time,
    but the lock keeps it safe for threads (a worker may serve several UDFs of one stage).

    Keyed by config fingerprint, member paths, speed knobs, the run's resolved members (the plan's
    ``model_version`` and where shipped copies lie) and the GPU Spark gave the task, because a reused
    worker may serve tasks of different GPUs. A new device for a config already cached evicts the old
    copy first, so one worker holds one copy per config, not one per GPU it ever saw. ``loads`` /
    ``load_seconds`` and ``report`` (what was already reported to the driver, the GPU sampler) are
    the worker's telemetry, kept with the copies they describe.

    After each load everything alive in the worker is moved out of the cyclic garbage collector's reach
    (``gc.freeze()``, :meth:`_settle`): a reused worker runs a full ``gc.collect()`` after every task
    (pyspark's daemon does), and with torch, transformers and an ensemble loaded that walked ~440k
    objects, ~0.25 s of CPU per task (5 us per row of a 50,000-row partition, half the host's whole
    cost per name on the GPU path). Frozen objects are still freed by reference counting; before a copy
    is dropped they are unfrozen, so its reference cycles are collected too.
    """

    _entries: ClassVar[OrderedDict[str, Ensemble]] = OrderedDict()
    _capacity: int = 2
    _lock = threading.Lock()
    loads: int = 0
    load_seconds: float = 0.0
    report: ClassVar[WorkerReport] = WorkerReport()

    @staticmethod
    def config_key(cfg: Config, plan: MemberPlan | None = None) -> str:
        """Fingerprint (what changes labels) + paths and speed knobs (what changes the load) + the plan."""
        paths = ",".join(f"{m.name}={m.path}" for m in cfg.models)
        e = cfg.ensemble
        knobs = f"{e.device}/{e.batch_size}/{e.num_threads}/{e.cpu_parallel}/{e.compile}"
        planned = "" if plan is None else f"{plan.model_version}:" + ",".join(str(m.folder) for m in plan.members)
        return f"{cfg.fingerprint()}|{paths}|{knobs}|{planned}"

    @classmethod
    def get(
        cls,
        cfg: Config,
        plan: MemberPlan | None = None,
        *,
        loader: Callable[[Config, MemberPlan | None], Ensemble] | None = None,
    ) -> Ensemble:
        """The worker's ensemble for ``cfg`` (members as ``plan`` resolved them) on the task's GPU
        (or CPU), loading it on a miss."""
        from spark_ner.models import task_gpu_index

        base = cls.config_key(cfg, plan)
        gpu = task_gpu_index()
        key = f"{base}|gpu={gpu}"
        with cls._lock:
            hit = cls._entries.get(key)
            if hit is not None:
                cls._entries.move_to_end(key)
                return hit
            stale = [k for k in cls._entries if k.startswith(f"{base}|")]
            if stale:
                log.info("evicting this worker's ensemble copy for another device (GPU %s)", gpu)
                cls._drop(stale)
            if loader is None:
                from spark_ner.ensemble import load_ensemble

                loader = load_ensemble
            t0 = time.perf_counter()
            ens = loader(cfg, plan)
            cls.load_seconds += time.perf_counter() - t0
            cls.loads += 1
            cls._entries[key] = ens
            if len(cls._entries) > cls._capacity:
                cls._drop(list(cls._entries)[: len(cls._entries) - cls._capacity])  # the least recently used
            cls._settle()
            log.info(
                "worker %d loaded ensemble %s on %s in %.1fs",
                os.getpid(),
                ens.model_version,
                getattr(ens, "device", "?"),
                time.perf_counter() - t0,
            )
            return ens

    @classmethod
    def clear(cls) -> None:
        """Drop every cached ensemble (tests; or to free GPU memory in a long-lived worker)."""
        with cls._lock:
            cls._drop(list(cls._entries))

    @classmethod
    def _drop(cls, keys: list[str]) -> None:
        """Drop these copies and free what they held, their reference cycles too (unfrozen first, one
        collection for all), before the device's cache is emptied: a new copy may be about to load there."""
        gc.unfreeze()
        for key in keys:
            del cls._entries[key]
        gc.collect()
        _free_cuda()

    @staticmethod
    def _settle() -> None:
        """Collect once, then freeze what is left (see the class docstring): later collections, pyspark's
        after each task among them, skip the loaded libraries and ensembles."""
        t0 = time.perf_counter()
        gc.collect()
        gc.freeze()
        log.debug("froze %d objects in %.2fs", gc.get_freeze_count(), time.perf_counter() - t0)


def _free_cuda() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- the UDF


def _value_kind(value: Any) -> str:
    """Spark's name for what Arrow handed over (array and binary columns arrive as object dtype)."""
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return "array"
    if isinstance(value, bytes | bytearray):
        return "binary"
    if isinstance(value, list | dict):
        return "map"
    return type(value).__name__


#: the Python types of a column that holds only names
_NAME_KINDS = {str, type(None)}


def _as_names(series: pd.Series | pd.DataFrame) -> list[str | None]:
    """Arrow gives str or None; anything else means the argument is not a string column.

    Array and binary columns arrive as object dtype and would otherwise pass as all-null rows, a
    struct arrives as a DataFrame. The worker cannot know the column's name (Spark passes
    arguments as ``_0``): the message names the type and the fix; ``with_ner_labels`` and the job
    name the column on the driver already. The check is one C-level pass over the values' types.
    """
    if isinstance(series, pd.DataFrame):
        got = f"a struct (fields {', '.join(map(str, series.columns))})"
    elif str(series.dtype) not in _STRING_DTYPES:
        got = f"values of type {series.dtype}"
    else:
        values = series.tolist()
        kinds = set(map(type, values))
        if kinds <= _NAME_KINDS:
            return values
        bad = next((v for v in values if not (v is None or v is pd.NA or isinstance(v, str | float))), None)
        if bad is None:
            return [v if isinstance(v, str) else None for v in values]
        got = f"values of type {_value_kind(bad)}"
    raise not_a_string_column(got)


class _ScoringTask:
    """One Spark task's use of the worker's ensemble: gets it from :class:`EnsembleCache` at the first
    non-empty batch (loading it on a miss, and starting GPU sampling when an accumulator collects
    records), counts the task's rows, batches and busy seconds, and adds its record to ``stats``."""

    def __init__(self, cfg: Config, plan: MemberPlan, stats: Accumulator[dict[str, Any]] | None) -> None:
        self.cfg, self.plan, self.stats = cfg, plan, stats
        self.ens: Ensemble | None = None
        self.rows = self.batches = 0
        self.busy = 0.0

    def ensemble(self) -> Ensemble:
        if self.ens is None:
            self.ens = EnsembleCache.get(self.cfg, self.plan)
            if self.stats is not None:
                EnsembleCache.report.start_sampling(self.ens)
        return self.ens

    def done(self, n: int, got: int, t0: float) -> None:
        if got != n:
            raise RowCountMismatchError(f"the ensemble returned {got} rows for a batch of {n}")
        self.count(n, time.perf_counter() - t0)

    def count(self, rows: int, busy_s: float) -> None:
        """One batch handed back: its rows, and the seconds spent labelling it."""
        self.busy += busy_s
        self.rows += rows
        self.batches += 1

    def report(self) -> None:
        if self.stats is not None and self.ens is not None:
            record = EnsembleCache.report.record(
                self.ens, self.rows, self.batches, self.busy, EnsembleCache.loads, EnsembleCache.load_seconds
            )
            self.stats.add({f"{socket.gethostname()}:{os.getpid()}": record})


# Under Spark Connect the job's worker records come from _with_worker_records, which wraps
# _label_batches from the outside and needs only that it yields one DataFrame per input batch, rows in
# order, and loads the ensemble through EnsembleCache.get(cfg, plan).
def _label_batches(
    cfg: Config, plan: MemberPlan, batches: Iterator[pd.Series], stats: Accumulator[dict[str, Any]] | None
) -> Iterator[pd.DataFrame]:
    """Worker side (Pandas UDF): the cached ensemble labels each Arrow batch; one output row per input row."""
    task = _ScoringTask(cfg, plan, stats)
    for series in batches:
        if len(series) == 0:
            yield pd.DataFrame({f: pd.Series([], dtype=object) for f in NER_FIELDS})
            continue
        names = _as_names(series)
        ens = task.ensemble()
        t0 = time.perf_counter()
        out = ens.label(names)
        task.done(len(names), len(out), t0)
        yield out if tuple(out.columns) == NER_FIELDS else out.loc[:, list(NER_FIELDS)].reset_index(drop=True)
    task.report()


def _label_arrow_batches(
    cfg: Config, plan: MemberPlan, batches: Iterator[pa.Array], stats: Accumulator[dict[str, Any]] | None
) -> Iterator[pa.Array]:
    """Worker side (Arrow UDF, pyspark 4.1+): the runtime's Arrow loop (:func:`spark_ner.engine.label_arrow_stream`,
    the same function ``spark-ner bench`` measures) with this task's counters and record around it.

    No pandas in or out, and one pipeline across the task's Arrow batches: batch k+1 is read and its
    forward passes started before batch k is decoded and handed back. An empty partition never loads
    the ensemble.
    """
    task = _ScoringTask(cfg, plan, stats)
    yield from label_arrow_stream(task.ensemble, batches, ner_arrow_type(), on_batch=task.count)
    task.report()


def label_record_batches(
    cfg: Config,
    plan: MemberPlan,
    batches: Iterator[pa.RecordBatch],
    name_col: str,
    prefix: str = "ner_",
    stats: Accumulator[dict[str, Any]] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Worker side of :func:`map_ner_labels` (``DataFrame.mapInArrow``): each record batch comes back
    with all its columns plus the contract's fields as ``{prefix}*`` columns, labelled by the Arrow UDF's
    own loop (:func:`_label_arrow_batches`: the worker's :class:`EnsembleCache`, this task's record in
    ``stats``). ``plan`` as the driver resolved it; shipped members are found in this worker here."""
    from spark_ner.spark.ship import unpacked

    pending: deque[pa.RecordBatch] = deque()  # the loop reads batch k+1 before it hands back batch k

    def names() -> Iterator[pa.Array]:
        for batch in batches:
            pending.append(batch)
            yield batch.column(batch.schema.get_field_index(name_col))

    added = [f"{prefix}{f}" for f in NER_FIELDS]
    for labels in _label_arrow_batches(cfg, unpacked(plan), names(), stats):
        batch = pending.popleft()
        yield pa.RecordBatch.from_arrays([*batch.columns, *labels.flatten()], names=[*batch.schema.names, *added])


def map_ner_labels(
    df: DataFrame,
    col: str,
    cfg: Config,
    plan: MemberPlan,
    prefix: str = "ner_",
    *,
    stats: Accumulator[dict[str, Any]] | None = None,
    profile: Any = None,
) -> DataFrame:
    """``df`` plus the ``{prefix}*`` columns through ``df.mapInArrow`` instead of a UDF: the same labels
    (:func:`label_record_batches`), and the stage can carry a ``pyspark.resource.ResourceProfile``
    (``profile``; ``mapInArrow(profile=)`` is pyspark 4.0+), so only it asks for GPUs. The caller
    checks ``col`` (:func:`check_string_column`) and that ``df`` has no ``{prefix}*`` columns yet."""
    from pyspark.sql.types import StructField, StructType

    schema = StructType([*df.schema.fields, *[StructField(f"{prefix}{f.name}", f.dataType) for f in NER_STRUCT.fields]])

    def label(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return label_record_batches(cfg, plan, batches, col, prefix, stats)

    if profile is None:
        return df.mapInArrow(label, schema)
    return df.mapInArrow(label, schema, profile=profile)


def ner_arrow_type() -> pa.DataType:
    """The Arrow type of :data:`NER_STRUCT` (pyspark's own mapping: one definition of the types)."""
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(NER_STRUCT)


def _arrow_udf() -> Callable[..., Any] | None:
    """pyspark's ``arrow_udf`` (4.1+), or None on older pyspark (the Pandas UDF is used there)."""
    try:
        from pyspark.sql.functions import arrow_udf
    except ImportError:
        return None
    return arrow_udf  # type: ignore[no-any-return]


def _check_session(cfg: Config) -> None:
    """Driver-side advice from the active session's settings (worker reuse, Arrow batch size)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        return
    try:
        if is_connect(spark):  # no SparkContext: the server answers for its own settings
            reuse = spark.conf.get(WORKER_REUSE_KEY, "true")
        else:
            reuse = spark.sparkContext.getConf().get(WORKER_REUSE_KEY, "true")
    except Exception:  # a server that will not say: nothing to advise
        return
    if str(reuse).lower() != "true":
        log.warning(
            "%s=%s: every task starts a new Python worker and reloads the ensemble; set it to true",
            WORKER_REUSE_KEY,
            reuse,
        )
    _advise_row_output(spark)
    try:
        arrow = int(spark.conf.get(ARROW_BATCH_KEY) or 10000)
    except (ValueError, TypeError):
        return
    if arrow < cfg.ensemble.batch_size:
        log.warning(
            "%s=%d is smaller than ensemble.batch_size=%d: forward passes run part-empty; recommended: %d",
            ARROW_BATCH_KEY,
            arrow,
            cfg.ensemble.batch_size,
            recommended_arrow_batch_rows(cfg),
        )


def _advise_row_output(spark: SparkSession) -> None:
    """One INFO line when the UDF will take Spark 4.2+'s columnar-input path (the label job turns it off
    while it scores, so its own UDFs never log this; a notebook's ``with_ner_labels`` does)."""
    try:
        setting = spark.conf.get(COLUMNAR_INPUT_KEY, None)
        version = tuple(int(x) for x in re.findall(r"\d+", spark.version)[:2])
    except Exception:  # a server that will not say: nothing to advise
        return
    if (setting or "").lower() == "true" or (setting is None and version >= (4, 2)):
        log.info(
            "%s is on: Spark copies the label struct into column vectors and back (~20%% slower scoring "
            "measured on Spark 4.3); set it to false for this session (docs/spark.md, 'Row output')",
            COLUMNAR_INPUT_KEY,
        )


def _plan_for(cfg: Config, plan: MemberPlan | None, spark: SparkSession | None, ship_models: bool) -> MemberPlan:
    """The run's members: ``plan`` if given; else resolved on this machine, except under Spark Connect
    (``spark``, else the active session) without ``ship_models``: a Connect client may hold no models
    (a laptop driving a cluster whose members are in a Volume), so they are resolved where they are,
    in one small task on the server's executors (:func:`spark_ner.spark.ship.resolve_on_executors`;
    a member missing there is one line naming it, the host and the fix). With ``ship_models`` the
    client's own copies are resolved here and sent."""
    if plan is not None:
        return plan
    if spark is None and not ship_models:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
    if spark is not None and not ship_models and is_connect(spark):
        from spark_ner.spark.ship import resolve_on_executors

        return resolve_on_executors(spark, cfg)
    from spark_ner.models import resolve_members

    return resolve_members(cfg)


def ner_udf(
    config: Config | None = None,
    *,
    plan: MemberPlan | None = None,
    stats: Accumulator[dict[str, Any]] | None = None,
    report: bool = False,
    ship_models: bool = False,
    spark: SparkSession | None = None,
) -> UserDefinedFunction:
    """The iterator UDF ``string -> NER_STRUCT``; validates the members on the driver first.

    An Arrow UDF on pyspark 4.1+ (Arrow batches in and out, no pandas), else a Pandas UDF; the
    same rows either way (``report=True`` is always the Pandas UDF).

    ``config`` defaults to :func:`~spark_ner.config.load_config` (``$SPARK_NER_CONFIG`` or the
    built-in defaults). ``plan``: the members as the driver resolved them for this run
    (:func:`spark_ner.models.resolve_members`); resolved from ``config`` when not given: here, or, under
    Spark Connect (``spark`` or the active session), where the models are (one small task on the server's
    executors: the client may hold none; with ``ship_models`` its own copies, resolved here). Every
    worker loads exactly those members (a hub member at the plan's commit) and refuses a copy whose
    digest differs. ``stats``: an accumulator of :class:`WorkerStatsParam` to which each task
    adds its worker's device, rows, load count and GPU samples (the label job's summary uses it).
    ``report``: the same records without an accumulator (Spark Connect has none): the struct gets a
    hidden :data:`WORKER_FIELD`, a JSON record on the last row of each Arrow batch, null elsewhere;
    :func:`worker_records` reads them back on the driver.
    ``ship_models``: send the member folders through Spark (``spark`` or the active session) to
    executors that cannot see them (:mod:`spark_ner.spark.ship`).
    """
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import pandas_udf

    from spark_ner.spark.ship import ship_members, unpacked

    cfg = config if config is not None else load_config()
    members = _plan_for(cfg, plan, spark, ship_models)  # checks every member first
    if ship_models:
        members = ship_members(spark if spark is not None else SparkSession.getActiveSession(), cfg, members)
    _check_session(cfg)

    def ner(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        return _label_batches(cfg, unpacked(members), batches, stats)

    def ner_reporting(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        here = unpacked(members)
        return _with_worker_records(cfg, here, _label_batches(cfg, here, batches, None))

    def ner_arrow(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        return _label_arrow_batches(cfg, unpacked(members), batches, stats)

    if report:
        return pandas_udf(ner_reporting, returnType=NER_REPORT_STRUCT)  # type: ignore[call-overload,no-any-return]
    arrow_udf = _arrow_udf()  # Arrow in and out where pyspark has it (no pandas round trip)
    if arrow_udf is not None:
        return arrow_udf(ner_arrow, returnType=NER_STRUCT)  # type: ignore[no-any-return]
    return pandas_udf(ner, returnType=NER_STRUCT)  # type: ignore[call-overload,no-any-return]


def _with_worker_records(cfg: Config, plan: MemberPlan, labelled: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Worker side of ``report=True``: each batch's record (a delta: rows, seconds, loads, GPU samples
    since the previous record) rides on the batch's last row, so the driver can add them up.

    Wraps :func:`_label_batches` from the outside: the busy time is the wall time of each batch minus
    the ensemble loads it contained.
    """
    first = True
    while True:
        t0 = time.perf_counter()
        loads0 = EnsembleCache.load_seconds
        try:
            out = next(labelled)
        except StopIteration:
            return
        records: list[str | None] = [None] * len(out)
        if len(out):
            ens = EnsembleCache.get(cfg, plan)  # the batch loaded it: a cache hit
            busy = time.perf_counter() - t0 - (EnsembleCache.load_seconds - loads0)
            rec = EnsembleCache.report.record(ens, len(out), 1, busy, EnsembleCache.loads, EnsembleCache.load_seconds)
            rec["tasks"] = int(first)
            first = False
            records[-1] = json.dumps(rec)
        yield out.assign(**{WORKER_FIELD: records})


def worker_records(df: DataFrame, col: str = WORKER_FIELD) -> dict[str, dict[str, Any]]:
    """Driver side of ``report=True``: the records in ``df[col]`` merged per worker (``host:pid``),
    the same shape an accumulator of :class:`WorkerStatsParam` holds."""
    from pyspark.sql import functions as F

    merged: dict[str, dict[str, Any]] = {}
    param = WorkerStatsParam()
    for row in df.where(F.col(col).isNotNull()).select(col).collect():
        rec = json.loads(row[0])
        param.addInPlace(merged, {f"{rec.get('host')}:{rec.get('pid')}": rec})
    return merged


def check_string_column(df: DataFrame, col: str) -> None:
    """Fail on the driver, naming the column: missing (listing those that exist) or not a string."""
    fields = {f.name: f for f in df.schema.fields}
    if col not in fields:
        raise InputColumnError(
            f"column {col!r} not found; existing columns: {', '.join(df.columns) or '(none)'}. "
            "Fix: pass the name column (--name-col, or the col argument)"
        )
    dtype = fields[col].dataType
    if not isinstance(dtype, StringType):
        raise InputColumnError(
            f"column {col!r} has type {dtype.simpleString()}, expected string. "
            f"Fix: cast it first, e.g. df.withColumn({col!r}, df[{col!r}].cast('string'))"
        )


def with_ner_labels(
    col: str,
    config: Config | None = None,
    prefix: str = "ner_",
    *,
    plan: MemberPlan | None = None,
    stats: Accumulator[dict[str, Any]] | None = None,
    report: bool = False,
    ship_models: bool = False,
) -> Callable[[DataFrame], DataFrame]:
    """``df.transform(with_ner_labels("name", cfg))``: every column plus ``{prefix}label`` etc.

    Existing columns with those names are replaced (re-labelling a labelled table), with a warning.
    ``plan``: the run's resolved members (see :func:`ner_udf`); resolved once, now, when not given (under
    Spark Connect on the server's executors, where the models are).
    ``report=True`` adds the hidden :data:`WORKER_FIELD` column last (see :func:`ner_udf`).
    ``ship_models=True`` sends the member folders through the DataFrame's session (see :func:`ner_udf`).
    """
    cfg = config if config is not None else load_config()
    members = _plan_for(cfg, plan, None, ship_models)  # members checked now (see ner_udf)
    udf = None if ship_models else ner_udf(cfg, plan=members, stats=stats, report=report)

    def transform(df: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        check_string_column(df, col)
        labeler = udf
        if labeler is None:  # through the DataFrame's own session (a notebook's, a Connect client's)
            labeler = ner_udf(cfg, plan=members, stats=stats, report=report, ship_models=True, spark=df.sparkSession)
        outputs = output_columns(prefix)
        replaced = [c for c in df.columns if c in outputs]
        if replaced:
            log.warning("replacing existing columns %s with new labels", ", ".join(replaced))
        tmp = "__spark_ner_struct"
        keep = [F.col(quote_identifier(c)) for c in df.columns if c not in outputs]
        labelled = df.withColumn(tmp, labeler(F.col(quote_identifier(col))))
        fields = [F.col(f"{tmp}.{f}").alias(f"{prefix}{f}") for f in NER_FIELDS]
        if report:
            fields.append(F.col(f"{tmp}.{WORKER_FIELD}").alias(WORKER_FIELD))
        return labelled.select(*keep, *fields)

    return transform


def register_sql(
    spark: SparkSession,
    name: str = "ner_label",
    config: Config | None = None,
    *,
    plan: MemberPlan | None = None,
    ship_models: bool = False,
) -> UserDefinedFunction:
    """Register the UDF for SQL: ``SELECT ner_label(name).label FROM customers``.

    All fields: ``SELECT n.* FROM (SELECT ner_label(name) AS n FROM customers)`` (Spark's parser
    rejects ``ner_label(name).*``). ``ship_models=True``: the member folders go through ``spark``.
    """
    udf = ner_udf(config, plan=plan, ship_models=ship_models, spark=spark)
    spark.udf.register(name, udf)
    return udf
