"""The GPU code path's host loop alone, once: CPU microseconds per name, cold then warm.

    # interleave two trees (run from outside the repository, or `python -m` puts the checkout first)
    cd /tmp && for i in 1 2 3 4 5; do
      PYTHONPATH=/tmp/base python /work/main/scripts/host_loop.py
      PYTHONPATH=/work/main python /work/main/scripts/host_loop.py
    done

Why: ``spark-ner bench --sections host`` builds its members, warms up and runs each pass twice, so one
run is a minute and the machine's drift between runs (up to 2x here) hides changes of a few percent.
This runs only :func:`spark_ner.tools.bench.bench_gpu_path`'s loop (the same zero-layer pair, names,
Arrow batches and one feeder thread) in ~20 s, so base and after can alternate many times (BENCHMARKS.md,
eighth session). Prints ``cold warm``: the first pass over 100,000 new names, then the mean of three
more passes over the same names. A dev-time tool: not part of the package.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from spark_ner.config import load_config
from spark_ner.engine import label_arrow_stream
from spark_ner.tools import bench
from spark_ner.tools.random_models import TINY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--warm-passes", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        size = replace(TINY, layers=0)
        path = bench.write_random_config(
            Path(tmp), bench.name_pool(3000, seed=11), size, "fp32", args.batch_size, device="cpu"
        )
        ens = bench.gpu_path_ensemble(load_config(path))
        rows = max(2048, 8 * args.batch_size)  # as bench_gpu_path
        for _ in label_arrow_stream(ens, bench.arrow_chunks(bench.host_names(2 * rows, seed=98), rows)):
            pass
        chunks = bench.arrow_chunks(bench.host_names(args.names, seed=40), rows)
        c0 = time.process_time()
        for _ in label_arrow_stream(ens, chunks):
            pass
        cold = (time.process_time() - c0) / args.names * 1e6
        c0 = time.process_time()
        for _ in range(args.warm_passes):
            for _ in label_arrow_stream(ens, chunks):
                pass
        warm = (time.process_time() - c0) / (args.warm_passes * args.names) * 1e6
    print(f"{cold:.1f} {warm:.1f}")  # noqa: T201 - a script's one line of output


if __name__ == "__main__":
    main()
