"""Catalog tables the way Unity Catalog wants them: the session's default format, three-part names,
Delta's MERGE INTO / DELETE for the name cache (as statements: Delta's jars cannot be had here), and
the flags that pick a Spark Connect server.

Delta itself cannot run on this machine, so its statements are checked twice: as text, and by
Spark's own SQL parser (run against a non-Delta table, they must fail for the table's kind, never
for their syntax). The non-Delta paths run end to end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import NAMES, assert_rows_match, job_args, labels_by_id

from spark_ner.errors import ConfigError
from spark_ner.spark import job as jobs
from spark_ner.spark import name_cache
from spark_ner.spark.commits import check_table_format
from spark_ner.spark.session import get_session, is_connect, list_files, path_exists, remote_url, session_conf
from spark_ner.spark.udf import WORKER_FIELD, with_ner_labels, worker_records


@pytest.fixture(scope="module")
def expected(tiny_ensemble):  # type: ignore[no-untyped-def]
    return tiny_ensemble.label(NAMES)


@pytest.fixture(scope="module")
def customers(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("catalog-in") / "customers.parquet"
    spark.createDataFrame(list(enumerate(NAMES)), "id long, name string").write.parquet(str(path))
    return path


def _run(capsys, **kw: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert jobs.run(job_args(**kw)) == 0
    out = capsys.readouterr().out
    return dict(json.loads(out[out.index("{") :]))


def _provider(spark, table: str) -> str | None:  # type: ignore[no-untyped-def]
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {name_cache.sql_table_name(table)}").collect()
    return name_cache.provider_from_describe(rows)


# ----------------------------------------------------------------------------- statements as text


def test_merge_statement_keys_on_name_and_version() -> None:
    sql = name_cache.merge_statement("main.crm.ner_cache", "new_rows", "bert+roberta@abc'1")
    assert sql.startswith("MERGE INTO `main`.`crm`.`ner_cache` AS t USING `new_rows` AS s ON ")
    assert "t.`model_version` = 'bert+roberta@abc\\'1'" in sql  # partition pruning, quote escaped
    assert "t.`model_version` = s.`model_version` AND t.`name_key` <=> s.`name_key`" in sql  # null-safe key
    assert "WHEN NOT MATCHED THEN INSERT (" in sql and "WHEN MATCHED" not in sql  # never rewrites a row
    cols = ", ".join(f"`{c}`" for c in name_cache.CACHE_COLUMNS)
    assert f"INSERT ({cols}) VALUES (" in sql


def test_delete_and_drop_statements() -> None:
    assert name_cache.delete_versions_statement("main.crm.c", ["v1", "v'2"]) == (
        "DELETE FROM `main`.`crm`.`c` WHERE `model_version` IN ('v1', 'v\\'2')"
    )
    with pytest.raises(ValueError):
        name_cache.delete_versions_statement("c", [])
    assert name_cache.drop_partition_statement("db.c", "v1") == (
        "ALTER TABLE `db`.`c` DROP IF EXISTS PARTITION (`model_version` = 'v1')"
    )
    assert name_cache.sql_table_name("`odd.name`") == "`odd.name`"


def test_describe_and_merge_result_parsing() -> None:
    rows = [("name_key", "string", None), ("", "", ""), ("Provider", "delta", ""), ("Location", "s3://x", "")]
    assert name_cache.provider_from_describe(rows) == "delta"
    assert name_cache.provider_from_describe([("a", "b", "")]) is None
    assert name_cache.inserted_rows({"num_affected_rows": 3, "num_inserted_rows": 3}) == 3
    assert name_cache.inserted_rows(None) is None


def test_delta_statements_parse_in_spark(spark) -> None:  # type: ignore[no-untyped-def]
    """Against a parquet cache table Spark refuses MERGE and DELETE for the table's kind, which
    means its parser accepted the statements Delta will get."""
    spark.sql("DROP TABLE IF EXISTS spark_catalog.default.parse_cache")
    spark.createDataFrame([], name_cache.cache_schema()).write.format("parquet").partitionBy(
        *name_cache.PARTITIONS
    ).saveAsTable("spark_catalog.default.parse_cache")
    spark.createDataFrame([], name_cache.cache_schema()).createOrReplaceTempView("parse_new")
    for sql in (
        name_cache.merge_statement("spark_catalog.default.parse_cache", "parse_new", "v1"),
        name_cache.delete_versions_statement("spark_catalog.default.parse_cache", ["v1", "v2"]),
    ):
        with pytest.raises(Exception) as info:
            spark.sql(sql).collect()
        text = str(info.value)
        assert "PARSE_SYNTAX_ERROR" not in text and "UNRESOLVED" not in text, text[:500]
    spark.sql(name_cache.drop_partition_statement("spark_catalog.default.parse_cache", "v1"))  # runs here
    spark.sql("DROP TABLE spark_catalog.default.parse_cache")


# ----------------------------------------------------------------------------- the session's default format


@pytest.mark.slow
def test_tables_take_the_session_default_format(spark, tiny_config_path, customers, expected, capsys) -> None:  # type: ignore[no-untyped-def]
    """spark.sql.sources.default=orc: the job's output table and cache table are ORC without
    --table-format (on Databricks the default is Delta); --table-format parquet overrides it."""
    out, cache = "spark_catalog.default.fmt_labels", "spark_catalog.default.fmt_cache"
    out_pq = "spark_catalog.default.fmt_labels_pq"
    for t in (out, cache, out_pq):
        spark.sql(f"DROP TABLE IF EXISTS {t}")
    common = {"input": customers, "config": tiny_config_path, "id_col": "id", "output_format": "table"}
    with session_conf(spark, {"spark.sql.sources.default": "orc"}):
        first = _run(capsys, **common, output=out, cache=cache)
        assert _provider(spark, out) == "orc" and _provider(spark, cache) == "orc"
        assert first["cache"]["commit"] == "catalog-insert" and first["output_commit"] == "catalog-insert"
        second = _run(capsys, **common, output=out_pq, cache=cache, table_format="parquet")
        assert _provider(spark, out_pq) == "parquet"
    assert second["names_cached"] == first["distinct_names"]
    for table in (out, out_pq):
        assert_rows_match(labels_by_id(spark.table(table).collect()), expected)
    # three-part names all the way: stats, then vacuum by DROP PARTITION (not Delta)
    c = name_cache.NameCache(spark, cache)
    assert not c.is_delta()
    versions = c.stats(distinct=True)
    assert [v["rows"] for v in versions] == [first["distinct_names"]] and versions[0]["bytes"] > 0
    c.drop_versions([versions[0]["model_version"]])
    assert c.stats(distinct=False) == []
    for t in (out, cache, out_pq):
        spark.sql(f"DROP TABLE {t}")


def test_new_delta_cache_is_recognised_before_it_exists(spark) -> None:  # type: ignore[no-untyped-def]
    assert name_cache.NameCache(spark, "spark_catalog.default.nope_cache", table_format="delta").is_delta()
    with session_conf(spark, {"spark.sql.sources.default": "delta"}):
        c = name_cache.NameCache(spark, "spark_catalog.default.nope_cache")
        assert c.is_delta() and c.commit_method == "merge-into"
    assert not name_cache.NameCache(spark, "spark_catalog.default.nope_cache", table_format="orc").is_delta()


def test_table_format_flag_is_checked() -> None:
    assert check_table_format(None) is None and check_table_format("Delta") == "delta"
    with pytest.raises(ConfigError, match=r"--table-format.*Fix"):
        check_table_format("delta; DROP TABLE x")


# ----------------------------------------------------------------------------- Connect flags, no server needed


def test_remote_flags_are_checked(spark, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    assert remote_url(None) is None and remote_url("sc://h:1") == "sc://h:1"
    with pytest.raises(ConfigError, match=r"--remote.*sc://.*Fix"):
        remote_url("http://h:1")
    monkeypatch.setenv("SPARK_REMOTE", "sc://localhost:15002")
    assert remote_url(None) == "sc://localhost:15002"
    with pytest.raises(ConfigError, match=r"--master.*Fix"):
        get_session("local[1]")  # SPARK_REMOTE and --master: refused before any session is made
    assert not is_connect(spark)


def test_storage_helpers_through_spark(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The Connect-safe listing (binaryFile) skips hidden entries and resolves the path on the 'server'."""
    (tmp_path / "model_version=a" / "batch=1").mkdir(parents=True)
    (tmp_path / "model_version=a" / "batch=1" / "part-0.parquet").write_bytes(b"x" * 10)
    (tmp_path / ".spark-ner-staging-x").mkdir()
    (tmp_path / ".spark-ner-staging-x" / "f").write_bytes(b"y")
    (tmp_path / "_SUCCESS").write_bytes(b"")
    assert list_files(spark, str(tmp_path)) == [("model_version=a/batch=1/part-0.parquet", 10)]
    assert list_files(spark, f"file://{tmp_path}/") == [("model_version=a/batch=1/part-0.parquet", 10)]
    assert path_exists(spark, str(tmp_path / "model_version=a")) and not path_exists(spark, str(tmp_path / "no"))
    assert list_files(spark, str(tmp_path / "no")) == []


def test_worker_records_ride_with_the_rows(spark, tiny_config) -> None:  # type: ignore[no-untyped-def]
    """report=True (what the job uses under Spark Connect): one record per Arrow batch in a hidden
    column, merged on the driver into the same per-worker shape the accumulator gives."""
    df = spark.createDataFrame([(n,) for n in NAMES], "name string").repartition(2)
    labelled = df.transform(with_ner_labels("name", tiny_config, report=True)).persist()
    try:
        assert labelled.columns[-1] == WORKER_FIELD
        records = worker_records(labelled)
        assert sum(r["rows"] for r in records.values()) == len(NAMES)
        assert all(r["device"] == "cpu" and r["tasks"] >= 1 for r in records.values())
        assert labelled.drop(WORKER_FIELD).count() == len(NAMES)
    finally:
        labelled.unpersist()
