"""In-process names/s of one config with ``ensemble.attention`` = auto and = matmul, taking turns, and
their label agreement (issue 22, seventeenth session): what the matmul attention does on a CPU.

    python scripts/attention_cpu.py ~/.cache/spark-ner/models/starter.toml [--names 20000] [--rounds 3]

Prints one JSON line: names/s per round for each choice, the share of equal labels and the largest score
difference over the first 5,000 names. The names are the host bench's (``bench.host_names``: distinct,
with never-seen words).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

from spark_ner.config import load_config
from spark_ner.ensemble import load_ensemble
from spark_ner.tools.bench import host_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--names", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    names = pd.Series(host_names(args.names, seed=3))
    ens = {a: load_ensemble(load_config(args.config, overrides={"ensemble.attention": a})) for a in ("auto", "matmul")}
    for e in ens.values():  # warm: word caches, allocator
        e.label(names[:2000])
    rates: dict[str, list[int]] = {a: [] for a in ens}
    for _ in range(args.rounds):
        for a, e in ens.items():
            t0 = time.perf_counter()
            e.label(names)
            rates[a].append(round(len(names) / (time.perf_counter() - t0)))
    a, b = ens["auto"].label(names[:5000]), ens["matmul"].label(names[:5000])
    same = float((a["label"] == b["label"]).mean())
    diff = float((a["score"] - b["score"]).abs().max())
    sys.stdout.write(json.dumps({"names_per_s": rates, "labels_equal": same, "max_score_diff": diff}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
