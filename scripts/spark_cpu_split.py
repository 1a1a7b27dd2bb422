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
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from spark_ner.config import load_config
from spark_ner.spark.session import get_session, session_conf
from spark_ner.spark.udf import ARROW_BATCH_KEY, recommended_arrow_batch_rows, scoring_sql_conf, with_ner_labels
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--names", type=int, default=100_000)
    args = parser.parse_args()
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

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
    jobs = {
        "with_ner_labels": (df.transform(with_ner_labels("name", cfg)), True),
        "identity": (df.select(ident(F.col("name")).alias("name")), False),
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
