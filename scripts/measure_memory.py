"""Peak RSS of the label job's processes at two input sizes: memory follows the batch, not the input.

    python scripts/measure_memory.py --rows 100000 1000000            # tiny test models, local[2]
    python scripts/measure_memory.py --rows 100000 1000000 --config ~/.cache/spark-ner/models/starter.toml

Runs ``spark-ner label`` (a fresh ``local[N]`` session in a subprocess) on N distinct names and
samples every process below it with psutil every 0.25 s: the driver's Python, the JVM (driver and
executor in local mode), the ``pyspark.daemon`` and its forked Python workers (where the ensemble
lives). Prints one JSON line per size and a Markdown table for RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

REPO = Path(__file__).resolve().parents[1]


def tiny_config(root: Path) -> Path:
    """The test suite's tiny random BERT + RoBERTa pair (built here; no download)."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import build_tiny_bert, build_tiny_roberta, write_config

    bert, roberta = root / "bert", root / "roberta"
    if not (bert / "model.safetensors").exists():
        build_tiny_bert(bert)
        build_tiny_roberta(roberta)
    return write_config(root / "tiny.toml", bert, roberta)


def make_input(path: Path, rows: int, vocabulary: str) -> None:
    """``rows`` distinct names, so the job's dedup saves nothing.

    ``unique``: a bench-pool name plus its row number, so every name brings a new word: the worst
    case for each member's word -> token-ids cache (bounded at 2,000,000 words per member).
    ``pool``: two bench-pool names joined, so names are distinct but their words come from a
    realistic, bounded vocabulary (the case the cache is built for).
    """
    from spark_ner.tools.bench import bench_names

    pool = bench_names(20_000, seed=7)
    if vocabulary == "unique":
        names = [f"{pool[i % len(pool)]} {i}" for i in range(rows)]
    else:
        names = [f"{pool[i % len(pool)]} {pool[(i // len(pool) * 7919 + i) % len(pool)]}" for i in range(rows)]
    pd.DataFrame({"id": range(rows), "name": names}).to_parquet(path, row_group_size=100_000)


def _kind(proc: psutil.Process, root_pid: int) -> str:
    if proc.pid == root_pid:
        return "driver_python"
    cmd = " ".join(proc.cmdline())
    if "java" in proc.name() or "/java" in cmd.split(" ")[0]:
        return "jvm"
    if "pyspark.daemon" in cmd:
        parent = proc.parent()
        forked = parent is not None and "pyspark.daemon" in " ".join(parent.cmdline())
        return "python_worker" if forked else "pyspark_daemon"
    return "other"


def measure(config: Path, rows: int, master: str, workdir: Path, vocabulary: str) -> dict[str, Any]:
    src, out = workdir / f"in-{vocabulary}-{rows}.parquet", workdir / f"out-{vocabulary}-{rows}"
    if not src.exists():
        make_input(src, rows, vocabulary)
    summary = workdir / f"summary-{vocabulary}-{rows}.json"
    cmd = [sys.executable, "-m", "spark_ner.cli", "label", "--input", str(src), "--output", str(out)]
    cmd += ["--config", str(config), "--id-col", "id", "--mode", "overwrite", "--master", master]
    cmd += ["--summary", str(summary)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    t0 = time.perf_counter()
    job = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks: dict[int, tuple[str, float]] = {}
    root = psutil.Process(job.pid)
    while job.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:  # a process ended during the walk: sample again
            continue
        for p in procs:
            try:
                rss = p.memory_info().rss / 2**20
                kind = _kind(p, job.pid)  # every time: spark-class execs into the JVM
            except psutil.Error:
                continue
            old = peaks.get(p.pid, (kind, 0.0))[1]
            peaks[p.pid] = (kind, max(rss, old))
        time.sleep(0.25)
    if job.returncode != 0:
        raise SystemExit(f"spark-ner label failed on {rows} rows (exit {job.returncode})")
    data = json.loads(summary.read_text())
    # the job's own summary says which pids were its Python workers (they load the ensemble)
    worker_pids = {int(pid) for e in data["executors"] for pid in e["worker_pids"]}
    for pid in worker_pids & peaks.keys():
        peaks[pid] = ("python_worker", peaks[pid][1])

    def peak(kind: str) -> float | None:
        vals = [rss for k, rss in peaks.values() if k == kind]
        return round(max(vals), 1) if vals else None

    return {
        "rows": rows,
        "vocabulary": vocabulary,
        "distinct_names": data["distinct_names"],
        "rows_out": data["rows_out"],
        "master": master,
        "arrow_batch_rows": data["spark"]["arrow_batch_rows"],
        "ensemble_batch_size": data["spark"]["ensemble_batch_size"],
        "python_workers": len(worker_pids),
        "python_workers_sampled": len(worker_pids & peaks.keys()),
        "python_worker_peak_rss_mb": peak("python_worker"),
        "pyspark_daemon_peak_rss_mb": peak("pyspark_daemon"),
        "jvm_peak_rss_mb": peak("jvm"),
        "driver_python_peak_rss_mb": peak("driver_python"),
        "score_s": data["seconds"]["score"],
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--config", type=Path, default=None, help="default: the tiny test models")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--vocabulary", choices=["unique", "pool"], default="unique", help="see make_input")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="spark-ner-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = args.config or tiny_config(workdir / "models")
    results = []
    for rows in args.rows:
        res = measure(config, rows, args.master, workdir, args.vocabulary)
        results.append(res)
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()
    sys.stdout.write("\n| rows | Python worker peak RSS (MB) | pyspark.daemon | JVM | driver Python | wall s |\n")
    sys.stdout.write("| ---: | ---: | ---: | ---: | ---: | ---: |\n")
    for r in results:
        sys.stdout.write(
            f"| {r['rows']:,} | {r['python_worker_peak_rss_mb']} ({r['python_workers']} workers) | "
            f"{r['pyspark_daemon_peak_rss_mb']} | {r['jvm_peak_rss_mb']} | {r['driver_python_peak_rss_mb']} | "
            f"{r['wall_s']} |\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
