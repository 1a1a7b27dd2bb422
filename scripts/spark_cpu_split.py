"""Where the label job's CPU goes in Spark local[2]: the JVM, the Python workers, the driver (core-us per row).

    python scripts/spark_cpu_split.py --work /tmp/split      # ~3 minutes on 2 cores

The zero-layer pair of ``spark-ner bench --sections host`` (the GPU path's host side) over 100,000 distinct
names in two partitions, against the identity Pandas UDF over the same column, with and without the input
column kept; five rounds taking turns, the best of the last three. CPU time is read from ``/proc`` for every
process the driver started (the JVM and the Python workers it forks), before and after each job. Why: the
bench reports names/s and a bound; this says which side of the Arrow boundary a gap is on (sixteenth
session: the Python workers' full ``gc.collect()`` after each task, BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc

from spark_ner.config import load_config
from spark_ner.models import resolve_members
from spark_ner.spark.session import get_session, session_conf
from spark_ner.spark.udf import (
    ARROW_BATCH_KEY,
    NER_STRUCT,
    map_ner_labels,
    ner_arrow_type,
    recommended_arrow_batch_rows,
    scoring_sql_conf,
    with_ner_labels,
)
from spark_ner.tools import bench
from spark_ner.tools.random_models import TINY


def children_cpu() -> tuple[float, float]:
    """CPU seconds of the driver's child JVM and of its Python processes (the workers), now."""
    jvm = py = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            java = p.name().startswith("java")
        except psutil.Error:
            continue
        if java:
            jvm += t.user + t.system
        else:
            py += t.user + t.system
    return jvm, py


def prebuilt(entities: bool) -> Callable[[Iterator[pa.Array]], Iterator[pa.Array]]:
    """An Arrow UDF body returning the contract's struct built from the name alone (one PER entity spanning
    it, or null entities): what the JVM pays for the struct, with almost no Python work."""
    out_type = ner_arrow_type()
    ent_type = out_type.field("entities").type

    def body(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        for arr in batches:
            m = len(arr)
            ends = pc.utf8_length(arr).cast(pa.int32())
            zeros, score = pa.array(np.zeros(m, np.int32)), pa.array(np.full(m, 0.9))
            one = pa.StructArray.from_arrays(
                [arr, pa.array(["PER"] * m), zeros, ends, score], fields=list(ent_type.value_type)
            )
            ents = pa.ListArray.from_arrays(pa.array(np.arange(m + 1, dtype=np.int32)), one, type=ent_type)
            cols = [
                pa.array(["PERSON"] * m),
                score,
                pa.array(np.ones(m)),
                ents if entities else pa.nulls(m, ent_type),
                pa.array(["minilm-names+roberta-names+lexicon@e7d7c56145bc"] * m),
                pa.nulls(m, pa.string()),
            ]
            yield pa.StructArray.from_arrays(cols, fields=list(out_type))

    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--names", type=int, default=100_000)
    args = parser.parse_args()
    from pyspark.sql import functions as F
    from pyspark.sql.functions import arrow_udf, pandas_udf

    n, work = args.names, args.work
    work.mkdir(parents=True, exist_ok=True)
    cfg_path = bench.write_random_config(
        work / "zero-layer", bench.name_pool(3000, seed=11), replace(TINY, layers=0), "fp32", 1024, device="cpu"
    )
    cfg = load_config(cfg_path)
    names = bench.host_names(n, 2)
    src = work / "names"
    src.mkdir(exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(n), 2)):
        pd.DataFrame({"name": [names[j] for j in part]}).to_parquet(src / f"part-{i:03d}.parquet")
    conf = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", "spark.python.worker.reuse": "true"}
    spark, _ = get_session(master="local[2]", conf=conf)
    df = spark.read.parquet(str(src))
    ident = pandas_udf(bench._identity_batches, "string")  # type: ignore[call-overload]

    def struct_udf(entities: bool) -> Any:
        return arrow_udf(prebuilt(entities), NER_STRUCT)

    plan = resolve_members(cfg)
    jobs = {
        "with_ner_labels": (df.transform(with_ner_labels("name", cfg)), True),
        "map_ner_labels (mapInArrow: flat columns, no struct)": (map_ner_labels(df, "name", cfg, plan), True),
        "identity": (df.select(ident(F.col("name")).alias("name")), False),
        "Arrow UDF returning a prebuilt contract struct": (df.select(struct_udf(True)(F.col("name"))), False),
        "the same with null entities": (df.select(struct_udf(False)(F.col("name"))), False),
        "identity keeping its input": (df.select("name", ident(F.col("name")).alias("out")), False),
    }
    runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in jobs}
    for r in range(5):
        for key, (frame, scoring) in jobs.items():
            settings = scoring_sql_conf(spark)
            if scoring:
                settings = {ARROW_BATCH_KEY: str(recommended_arrow_batch_rows(cfg)), **settings}
            with session_conf(spark, settings):
                jvm0, py0 = children_cpu()
                t = time.perf_counter()
                frame.write.format("noop").mode("overwrite").save()
                wall = time.perf_counter() - t
                jvm1, py1 = children_cpu()
            if r >= 2:
                runs[key].append((n / wall, (jvm1 - jvm0) / n * 1e6, (py1 - py0) / n * 1e6))
    for key, got in runs.items():
        rate, jvm, py = max(got)
        rounds = ", ".join(f"{g[0]:,.0f}" for g in got)
        sys.stdout.write(f"{key}: {rate:,.0f} names/s (rounds {rounds}); JVM {jvm:.1f}, Python {py:.1f} core-us/row\n")
    spark.stop()


if __name__ == "__main__":
    main()
