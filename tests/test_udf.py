"""The UDF, the transform and SQL agree with in-process labels, row by row, whatever the batching."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from typing import Any

import pytest
from conftest import SAMPLE_NAMES

from spark_ner.errors import InputColumnError

NAMES: list[str | None] = [
    *SAMPLE_NAMES,
    None,
    "",
    "   ",
    "John Smith",  # duplicates, also across partitions
    "JOHN SMITH",
    None,
    "acme corp",
]


def _same(a: Any, b: Any) -> bool:
    """Spark null == pandas NaN/None; floats to 1e-5 (batch padding may differ in the last bits)."""
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), abs_tol=1e-5)
    return bool(a == b)


def _entities(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    return [e.asDict() if hasattr(e, "asDict") else dict(e) for e in value]


def assert_rows_match(got: list[dict[str, Any]], expected: Any) -> None:
    """``got``: Spark rows as dicts with the contract's field names, in input order."""
    assert len(got) == len(expected)
    for i, (row, (_, exp)) in enumerate(zip(got, expected.iterrows(), strict=True)):
        for field in ("label", "score", "agreement", "model_version", "error"):
            assert _same(row[field], exp[field]), f"row {i} field {field}"
        g, e = _entities(row["entities"]), _entities(exp["entities"])
        assert (g is None) == (e is None), f"row {i} entities"
        if g is not None and e is not None:
            assert len(g) == len(e), f"row {i} entities"
            for ge, ee in zip(g, e, strict=True):
                assert all(_same(ge[k], ee[k]) for k in ("text", "label", "start", "end", "score"))


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

    def loader(cfg):  # type: ignore[no-untyped-def]
        loads.append(cfg.fingerprint())
        return Fake()

    EnsembleCache.clear()
    monkeypatch.setattr(models, "task_gpu_index", lambda: None)
    a = EnsembleCache.get(tiny_config, loader)
    assert EnsembleCache.get(tiny_config, loader) is a
    assert len(loads) == 1
    other = load_config(tiny_config.source, overrides={"ensemble.strategy": "max"})
    assert EnsembleCache.get(other, loader) is not a
    assert len(loads) == 2
    # the same config on another GPU: the old copy is evicted, not kept beside the new one
    monkeypatch.setattr(models, "task_gpu_index", lambda: 1)
    EnsembleCache.get(tiny_config, loader)
    assert len(loads) == 3
    assert sum(k.startswith(EnsembleCache.config_key(tiny_config)) for k in EnsembleCache._entries) == 1
    EnsembleCache.clear()


def test_stats_param_merges_counts_and_peaks() -> None:
    from spark_ner.spark.udf import WorkerStatsParam

    p = WorkerStatsParam()
    acc = p.zero({})
    p.addInPlace(acc, {"h:1": {"rows": 3, "loads": 1, "util_max": None, "device": "cpu"}})
    p.addInPlace(acc, {"h:1": {"rows": 2, "loads": 0, "util_max": 40.0, "device": "cpu"}})
    p.addInPlace(acc, {"h:1": {"rows": 1, "loads": 0, "util_max": 10.0, "device": None}})
    assert acc == {"h:1": {"rows": 6, "loads": 1, "util_max": 40.0, "device": "cpu"}}
