"""The UDF, the transform and SQL agree with in-process labels, row by row, whatever the batching."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from helpers import NAMES, assert_rows_match

from spark_ner.errors import InputColumnError


@pytest.fixture(scope="module")
def customers(spark):  # type: ignore[no-untyped-def]
    rows = [(i, n) for i, n in enumerate(NAMES)]
    return spark.createDataFrame(rows, "id long, name string").repartition(3)


@pytest.fixture(scope="module")
def expected(tiny_ensemble):  # type: ignore[no-untyped-def]
    return tiny_ensemble.label(NAMES)


def test_struct_is_the_contract() -> None:
    from spark_ner.spark.udf import NER_FIELDS, NER_STRUCT

    assert NER_FIELDS == ("label", "score", "agreement", "entities", "model_version", "error")
    assert NER_STRUCT.simpleString() == (
        "struct<label:string,score:double,agreement:double,entities:array<struct<text:string,"
        "label:string,start:int,end:int,score:double>>,model_version:string,error:string>"
    )


def test_transform_matches_in_process(spark, tiny_config, customers, expected) -> None:  # type: ignore[no-untyped-def]
    from spark_ner.spark.udf import with_ner_labels

    out = customers.transform(with_ner_labels("name", tiny_config))
    assert out.columns == [
        "id",
        "name",
        "ner_label",
        "ner_score",
        "ner_agreement",
        "ner_entities",
        "ner_model_version",
        "ner_error",
    ]
    rows = sorted(out.collect(), key=lambda r: r["id"])
    got = [{k[4:]: v for k, v in r.asDict().items() if k.startswith("ner_")} for r in rows]
    assert_rows_match(got, expected)
    for r in rows:  # spans point into the ORIGINAL string
        for e in r["ner_entities"] or []:
            assert r["name"][e["start"] : e["end"]] == e["text"]


def test_udf_and_sql_match_in_process(spark, tiny_config, customers, expected) -> None:  # type: ignore[no-untyped-def]
    from spark_ner.spark.udf import ner_udf, register_sql

    udf = ner_udf(tiny_config)
    direct = customers.select("id", udf("name").alias("n")).select("id", "n.*")
    rows = sorted(direct.collect(), key=lambda r: r["id"])
    assert_rows_match([r.asDict() for r in rows], expected)

    register_sql(spark, "ner_label", tiny_config)
    customers.createOrReplaceTempView("customers_udf_test")
    one = spark.sql("SELECT id, ner_label(name).label AS label FROM customers_udf_test")
    labels = {r["id"]: r["label"] for r in one.collect()}
    assert [labels[i] for i in range(len(NAMES))] == list(expected["label"])
    full = spark.sql("SELECT id, n.* FROM (SELECT id, ner_label(name) AS n FROM customers_udf_test)")
    rows = sorted(full.collect(), key=lambda r: r["id"])
    assert_rows_match([r.asDict() for r in rows], expected)


def test_advice_on_spark_columnar_input(spark, tiny_config, caplog) -> None:  # type: ignore[no-untyped-def]
    """Building the UDF where Spark 4.2+ would take its columnar-input path logs the fix once; not when
    the session turned it off (as the label job does while it scores)."""
    from spark_ner.spark.udf import COLUMNAR_INPUT_KEY, with_ner_labels

    def advised() -> bool:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="spark_ner.spark.udf"):
            with_ner_labels("name", tiny_config)
        return any(COLUMNAR_INPUT_KEY in r.getMessage() for r in caplog.records)

    major, minor = (int(x) for x in spark.version.split(".")[:2])
    assert spark.conf.get(COLUMNAR_INPUT_KEY, None) is None
    assert advised() is ((major, minor) >= (4, 2)), spark.version
    for setting, expected in (("true", True), ("false", False)):
        spark.conf.set(COLUMNAR_INPUT_KEY, setting)
        try:
            assert advised() is expected, setting
        finally:
            spark.conf.unset(COLUMNAR_INPUT_KEY)


def test_small_arrow_batches_and_empty_partitions(spark, tiny_config, tiny_ensemble, caplog) -> None:  # type: ignore[no-untyped-def]
    """Arrow batches of 2 rows (several per partition, below batch_size: a warning) and
    empty partitions (3 rows over 8 partitions); an empty DataFrame gives an empty result."""
    from spark_ner.spark.udf import ARROW_BATCH_KEY, with_ner_labels

    names = ["John Smith", None, "Acme Corp", "", "Banco Santander S.A."]
    df = spark.createDataFrame(list(enumerate(names)), "id long, name string")
    old = spark.conf.get(ARROW_BATCH_KEY)
    spark.conf.set(ARROW_BATCH_KEY, "2")
    try:
        with caplog.at_level(logging.WARNING, logger="spark_ner.spark.udf"):
            transform = with_ner_labels("name", tiny_config)
        assert any(ARROW_BATCH_KEY in r.getMessage() for r in caplog.records)
        rows = sorted(df.coalesce(1).transform(transform).collect(), key=lambda r: r["id"])
    finally:
        spark.conf.set(ARROW_BATCH_KEY, old)
    got = [{k[4:]: v for k, v in r.asDict().items() if k.startswith("ner_")} for r in rows]
    assert_rows_match(got, tiny_ensemble.label(names))

    sparse = df.limit(3).repartition(8).transform(with_ner_labels("name", tiny_config))
    assert sparse.rdd.getNumPartitions() == 8
    assert sorted(r["id"] for r in sparse.collect()) == [0, 1, 2]

    empty = df.where("id < 0").transform(with_ner_labels("name", tiny_config))
    assert empty.collect() == []
    assert "ner_entities" in empty.columns


def test_wrong_column_type_names_column_and_type(spark, tiny_config) -> None:  # type: ignore[no-untyped-def]
    from spark_ner.spark.udf import with_ner_labels

    df = spark.createDataFrame([(1, 2)], "id long, code int")
    with pytest.raises(InputColumnError, match=r"'code' has type int, expected string"):
        df.transform(with_ner_labels("code", tiny_config))


def test_unknown_column_lists_existing(spark, tiny_config) -> None:  # type: ignore[no-untyped-def]
    from spark_ner.spark.udf import with_ner_labels

    df = spark.createDataFrame([(1, "x")], "id long, full_name string")
    with pytest.raises(InputColumnError, match=r"'name' not found; existing columns: id, full_name"):
        df.transform(with_ner_labels("name", tiny_config))


def test_existing_label_columns_are_replaced(spark, tiny_config) -> None:  # type: ignore[no-untyped-def]
    from spark_ner.spark.udf import with_ner_labels

    df = spark.createDataFrame([(1, "Acme Corp", "OLD")], "id long, name string, ner_label string")
    out = df.transform(with_ner_labels("name", tiny_config))
    assert out.columns.count("ner_label") == 1
    assert out.first()["ner_label"] != "OLD"


def test_building_the_udf_imports_no_torch(tiny_config_path) -> None:  # type: ignore[no-untyped-def]
    """The driver builds and validates the UDF without torch or transformers."""
    code = (
        "import sys\n"
        "from spark_ner.config import load_config\n"
        "from spark_ner.spark.udf import ner_udf\n"
        f"ner_udf(load_config({str(tiny_config_path)!r}))\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_cache_loads_once_per_config_and_device(tiny_config, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from spark_ner import models
    from spark_ner.config import load_config
    from spark_ner.spark.udf import EnsembleCache

    class Fake:
        model_version = "fake"
        device = "cpu"

    loads: list[str] = []

    def loader(cfg, plan):  # type: ignore[no-untyped-def]
        loads.append(cfg.fingerprint())
        return Fake()

    EnsembleCache.clear()
    monkeypatch.setattr(models, "task_gpu_index", lambda: None)
    a = EnsembleCache.get(tiny_config, loader=loader)
    assert EnsembleCache.get(tiny_config, loader=loader) is a
    assert len(loads) == 1
    other = load_config(tiny_config.source, overrides={"ensemble.strategy": "max"})
    b = EnsembleCache.get(other, loader=loader)
    assert b is not a
    assert len(loads) == 2
    assert EnsembleCache.get(tiny_config, loader=loader) is a  # a hit: now the most recently used copy
    # the same config on another GPU: the old copy is evicted, not kept beside the new one (plain
    # LRU at capacity 2 would have dropped `other` instead and kept `a`)
    monkeypatch.setattr(models, "task_gpu_index", lambda: 1)
    on_gpu1 = EnsembleCache.get(tiny_config, loader=loader)
    assert len(loads) == 3
    assert EnsembleCache.get(tiny_config, loader=loader) is on_gpu1 and len(loads) == 3
    # back on the first device: its copy was evicted, so it loads again
    monkeypatch.setattr(models, "task_gpu_index", lambda: None)
    assert EnsembleCache.get(tiny_config, loader=loader) is not a
    assert len(loads) == 4
    assert EnsembleCache.get(other, loader=loader) is b and len(loads) == 4  # kept all along
    EnsembleCache.clear()


def test_cache_freezes_what_it_loads_and_frees_what_it_drops(tiny_config, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A reused worker runs ``gc.collect()`` after every task (pyspark's daemon): the cache freezes its
    loaded copies so that walk skips them, and unfreezes before it drops one, so that a dropped copy's
    reference cycles (torch modules hold some) are still collected."""
    import gc
    import weakref

    from spark_ner import models
    from spark_ner.config import load_config
    from spark_ner.spark.udf import EnsembleCache

    class Cyclic:
        model_version = "fake"
        device = "cpu"

        def __init__(self) -> None:
            self.me = self

    def loader(cfg, plan):  # type: ignore[no-untyped-def]
        return Cyclic()

    EnsembleCache.clear()
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(models, "task_gpu_index", lambda: None)
    first = EnsembleCache.get(tiny_config, loader=loader)
    assert gc.get_freeze_count() > 0
    assert not any(o is first for o in gc.get_objects())  # out of the collector's walk
    gone = weakref.ref(first)
    del first
    for strategy in ("max", "vote"):  # two more configs: at capacity 2 the first copy is dropped
        EnsembleCache.get(load_config(tiny_config.source, overrides={"ensemble.strategy": strategy}), loader=loader)
    assert gone() is None, "the dropped copy's reference cycle was frozen, never collected"
    EnsembleCache.clear()
    assert gc.get_freeze_count() == 0


def test_stats_param_merges_counts_and_peaks() -> None:
    from spark_ner.spark.udf import WorkerStatsParam

    p = WorkerStatsParam()
    acc = p.zero({})
    p.addInPlace(acc, {"h:1": {"rows": 3, "loads": 1, "util_max": None, "device": "cpu"}})
    p.addInPlace(acc, {"h:1": {"rows": 2, "loads": 0, "util_max": 40.0, "device": "cpu"}})
    p.addInPlace(acc, {"h:1": {"rows": 1, "loads": 0, "util_max": 10.0, "device": None}})
    assert acc == {"h:1": {"rows": 6, "loads": 1, "util_max": 40.0, "device": "cpu"}}


def test_worker_records_count_cuda_graphs_and_the_summary_adds_them(tiny_config) -> None:  # type: ignore[no-untyped-def]
    """With ``ensemble.cuda_graphs`` (here the CPU's static buffers stand in for the GPU's graphs, whose
    counters are the same object), each task's record carries the captures and eager forwards since the
    worker's last record, a reloaded ensemble starts again from 0, and the executor summary sums them."""
    from spark_ner.ensemble import load_ensemble
    from spark_ner.graphs import StaticForwards
    from spark_ner.spark.telemetry import WorkerReport, WorkerStatsParam, summarize_executors

    ens = load_ensemble(tiny_config)
    report = WorkerReport()
    assert "graph_captures" not in report.record(ens, 1, 1, 0.1, 1, 0.5)  # no graphs: no fields
    ens.graphs = StaticForwards(8, capture=False)
    ens.graphs.stats.captures, ens.graphs.stats.eager = 5, 2
    first = report.record(ens, 1, 1, 0.1, 1, 0.5)
    ens.graphs.stats.captures, ens.graphs.stats.eager = 7, 2
    ens.graphs.stats.failures.append("bert 8x5: RuntimeError: capture")
    second = report.record(ens, 1, 1, 0.1, 1, 0.5)
    assert (first["graph_captures"], first["graph_eager"], first["graph_failure"]) == (5, 2, None)
    assert (second["graph_captures"], second["graph_eager"]) == (2, 0)
    ens.graphs = StaticForwards(8, capture=False)  # a reloaded ensemble: its own counters
    ens.graphs.stats.captures = 1
    third = report.record(ens, 1, 1, 0.1, 1, 0.5)
    assert third["graph_captures"] == 1
    p = WorkerStatsParam()
    acc = p.zero({})
    for rec in (first, second, third):
        p.addInPlace(acc, {"h:1": rec})
    (summary,) = summarize_executors(acc)
    assert summary["cuda_graph_captures"] == 8 and summary["cuda_graph_eager_forwards"] == 2
    assert summary["cuda_graph_failure"] == "bert 8x5: RuntimeError: capture"  # a null does not hide it
