"""The bench runs end to end on tiny members and writes its report; no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spark_ner.config import load_config
from spark_ner.ensemble import load_ensemble
from spark_ner.tools import bench
from spark_ner.tools.random_models import TINY


def test_flops_count_matches_a_hand_count() -> None:
    class Cfg:
        hidden_size, intermediate_size, num_hidden_layers, num_labels = 4, 8, 2, 9

    # per token: 2 layers * (8*16 + 4*32) + 2*4*9 = 584; attention 2 layers * 4*4*T*T
    assert bench.encoder_flops(Cfg, np.array([3]))[0] == 3 * 584 + 2 * 16 * 9


def test_random_members_for_the_gpu_bench_build_and_label(tmp_path: Path) -> None:
    names = bench.bench_names(300)
    cfg = load_config(bench.write_random_config(tmp_path, names, TINY, "fp32", 64))
    out = load_ensemble(cfg).label(names[:50])
    assert out.error.isna().all() and len(out) == 50


@pytest.mark.slow
def test_bench_writes_json_png_and_replaces_its_block(tiny_config_path: Path, tmp_path: Path) -> None:
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nkept text\n")
    from spark_ner.cli import main

    argv = ["bench", "--config", str(tiny_config_path), "--out", str(tmp_path / "o"), "--markdown", str(md)]
    argv += ["--sections", "tokenize,inprocess,memory,gpu", "--tokenize-names", "2000", "--names", "60"]
    argv += ["--pipeline-names", "20", "--memory-rows", "200,400", "--memory-chunk", "100"]
    assert main(argv) == 0
    assert main(argv) == 0  # a second run replaces the block, it does not append
    text = md.read_text()
    assert text.count("<!-- bench:start -->") == 1 and "kept text" in text
    data = json.loads((tmp_path / "o" / "bench.json").read_text())
    assert data["tokenize"]["names"] == 2000 and data["inprocess"]["ensemble_names_per_s"] > 0
    assert set(data["memory"]["by_rows"]) == {"200", "400"}
    assert (tmp_path / "o" / "bench.png").stat().st_size > 0
    assert "not measured" in text  # no GPU here: the GPU rows say so


@pytest.mark.slow
def test_bench_spark_and_cache_sections(tiny_config_path: Path, tmp_path: Path) -> None:
    """The Spark and cache rows come from real jobs: the rerun scores exactly the 1% new names."""
    from spark_ner.cli import main

    md = tmp_path / "BENCHMARKS.md"
    argv = ["bench", "--config", str(tiny_config_path), "--out", str(tmp_path / "o"), "--markdown", str(md)]
    argv += ["--sections", "spark,cache", "--spark-names", "150", "--cache-rows", "400", "--cores", "2"]
    assert main(argv) == 0
    data = json.loads((tmp_path / "o" / "bench.json").read_text())
    spark = data["spark"]
    assert spark["python_workers"] >= 1 and spark["spark_worker_names_per_s"] > 0
    assert spark["lanes"]["python_workers"] == 1  # spark.task.cpus=2 on local[2]: one worker, 2 lanes
    cold, rerun = data["cache"]["cold"], data["cache"]["rerun_1pct_new"]
    assert cold["names_cached"] == 0 and cold["names_scored"] == cold["distinct_names"]
    assert rerun["names_scored"] == data["cache"]["new_names"] == 4
    assert rerun["names_cached"] == cold["distinct_names"]
    text = md.read_text()
    assert "Python workers' own rate" in text and "spark.task.cpus=2" in text
    assert "incremental: rerun with `--cache`" in text
