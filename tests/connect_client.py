"""A Spark Connect client for tests/test_connect.py, run as its own process.

Connecting sets process-wide state in pyspark (``SPARK_CONNECT_MODE_ENABLED``), so the test suite
never opens a Connect session in its own process: it runs this script instead, which writes what it
saw as JSON. Usage: ``python connect_client.py ACTION URL CONFIG OUT_JSON [ARGS...]``.

* ``udf INPUT``: ``with_ner_labels`` and the SQL UDF over the parquet file INPUT (columns id, name).
* ``table NAME``: the rows of table NAME and its provider (``DESCRIBE TABLE EXTENDED``).
* ``cli ARGS...``: ``spark_ner.cli.main(ARGS)`` in this process (its stdout and exit code).

Every result also says which of CONFIG's member folders this process sees (``members_visible``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from typing import Any


def _rows(df: Any) -> list[dict[str, Any]]:
    return [r.asDict(recursive=True) for r in df.collect()]


def main(argv: list[str]) -> int:
    action, url, config_path, out = argv[:4]
    rest = argv[4:]
    from pyspark.sql import SparkSession

    from spark_ner import load_config
    from spark_ner.spark.name_cache import provider_from_describe, sql_table_name
    from spark_ner.spark.session import is_connect, jvm_available
    from spark_ner.spark.udf import register_sql, with_ner_labels

    # which member folders this process sees (a client may hold none: tests/test_connect.py hides them)
    result: dict[str, Any] = {
        "members_visible": {m.name: os.path.exists(m.path) for m in load_config(config_path).models}
    }
    if action == "cli":
        from spark_ner import cli

        buf, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
            result["rc"] = cli.main(rest)
        result["stdout"], result["stderr"] = buf.getvalue(), err.getvalue()
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, default=str)
        return 0
    spark = SparkSession.builder.remote(url).getOrCreate()
    try:
        result["is_connect"] = is_connect(spark)
        result["jvm_available"] = jvm_available(spark)
        if action == "udf":
            cfg = load_config(config_path)
            df = spark.read.parquet(rest[0])
            labelled = df.transform(with_ner_labels("name", cfg)).orderBy("id")
            result["columns"] = labelled.columns
            result["udf"] = _rows(labelled)
            register_sql(spark, "ner_label", cfg)
            df.createOrReplaceTempView("customers")
            result["sql_label"] = _rows(spark.sql("SELECT id, ner_label(name).label AS label FROM customers"))
            result["sql_struct"] = _rows(
                spark.sql("SELECT id, n.* FROM (SELECT id, ner_label(name) AS n FROM customers) ORDER BY id")
            )
        elif action == "table":
            name = rest[0]
            result["rows"] = _rows(spark.table(name))
            described = spark.sql(f"DESCRIBE TABLE EXTENDED {sql_table_name(name)}").collect()
            result["provider"] = provider_from_describe(described)
        else:
            raise SystemExit(f"unknown action {action!r}")
    finally:
        spark.stop()
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
