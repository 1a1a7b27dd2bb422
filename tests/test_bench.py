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


def test_gpu_check_names_are_distinct_and_their_spans_fit() -> None:
    names, spans = bench.synthetic_names(3000, seed=5)
    assert len(names) == len(set(names)) == 3000
    labels = set()
    for name, sp in zip(names, spans, strict=True):
        for start, end, label in sp:
            assert 0 <= start < end <= len(name) and name[start:end].strip() == name[start:end]
            labels.add(label)
    assert labels == {"PER", "ORG", "LOC"}
    assert sum(n.isupper() for n in names) > 100  # ALL-CAPS customer names are common in real tables
    assert bench.synthetic_names(50, seed=5) == bench.synthetic_names(50, seed=5)


def test_flop_count_matches_bert_base() -> None:
    """~2 x 85M non-embedding parameters per token for BERT-base, plus attention that grows with T."""

    class Cfg:
        hidden_size, intermediate_size, num_hidden_layers, num_labels = 768, 3072, 12, 9

    one = bench.encoder_flops(Cfg, np.array([1])).sum()
    assert one == pytest.approx(2 * 85e6, rel=0.01)
    two = bench.encoder_flops(Cfg, np.array([8, 8])).sum()
    assert two == pytest.approx(2 * bench.encoder_flops(Cfg, np.array([8])).sum())
    assert bench.peak_tflops("NVIDIA H200") == (989.0, 67.0) and bench.peak_tflops("mystery") == (None, None)


def test_label_agreement_says_not_measured_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 7's fields on a machine without CUDA: a sentence, never a made-up share."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = bench.label_agreement(lambda p, d: "unused.toml", ["Ana Ruiz"])
    assert out == {"names": 0, "fp16_vs_fp32": bench.NOT_MEASURED_NO_CUDA, "cuda_vs_cpu": bench.NOT_MEASURED_NO_CUDA}
    plan = bench.device_plan(cuda=False, quick=True)  # without --cpu-fallback: the GPU sections say "not measured"
    gpu = bench.bench_gpu(None, [], plan)
    assert gpu["measured"] is False and "rows" not in gpu and gpu["label_agreement"] == out
    assert bench.bench_finetune(None, [], [], plan, Path("unused")) == {
        "measured": False,
        "reason": "no CUDA GPU on this machine",
    }
    assert "GPU fp16 vs fp32 | not measured (no CUDA GPU on this machine)" in "\n".join(bench._gpu_rows(gpu))


def test_device_plans_size_the_gpu_check() -> None:
    """The full CUDA run is the issue's (100,000 names, batches 256-4,096, fp16 and fp32, 1/2/4 processes;
    4 under MPS; fp16 at 1,024 and 4,096 and 4 processes again with CUDA graphs); --quick shrinks it;
    without CUDA the members are small and the run takes seconds per section (no graph rounds)."""
    full = bench.device_plan(cuda=True, quick=False)
    assert full.names == full.host_names == full.executor_names == 100_000 and full.executor_procs == (1, 2, 4)
    assert full.executor_mps == (4,) and full.graph_batches == (1024, 4096) and full.executor_graphs == (4,)
    assert full.batches == (256, 1024, 4096) and full.precisions == ("fp16", "fp32")
    assert full.member_size().hidden == 768 and full.member_size().layers == 12
    assert sum(full.boxes.values()) <= 490  # the sections fit the wrapper's default limit
    quick = bench.device_plan(cuda=True, quick=True)
    assert quick.names < full.names and quick.batches == (1024,)
    cpu = bench.device_plan(cuda=False, quick=True, cpu_fallback=True)
    assert cpu.runs_device_sections and cpu.precisions == ("fp32",) and cpu.member_size().hidden == 64
    assert not bench.device_plan(cuda=False, quick=True).runs_device_sections
    assert cpu.graph_batches == cpu.executor_graphs == ()  # CUDA graphs need CUDA


def test_attention_rows_and_the_kernels_part_are_reported() -> None:
    """Graph rows run with another ``ensemble.attention`` say which; the ``kernels`` part gives a row per
    member and shape (each variant's ms, the fastest, a variant's error), the top kernels and the GEMM
    ceiling; without CUDA it says so."""
    row = {
        "names": 1000, "call_rows": 8192, "tokens_per_name": 5.5, "gflop_per_name": 1.9, "achieved_tflops": 90.0,
        "split_s": {}, "names_per_s": 90_000, "precision": "fp16", "batch": 4096, "cuda_graphs": True,
    }  # fmt: skip
    kernels = {
        "by_member": {
            "bert": {
                "non_embedding_params_m": 85.0,
                "4096x8": {
                    "auto": {"ms": 27.0, "tflops": 200.0, "max_abs_diff": 0.0},
                    "matmul": {"ms": 15.0, "tflops": 360.0, "max_abs_diff": 0.002},
                    "flash": {"error": "RuntimeError: No available kernel"},
                },
                "kernels": {"shape": "4096x8", "device_ms": 30.0, "top": [
                    {"name": "flash_fwd_kernel", "calls": 12, "ms": 13.0, "share": 0.43},
                ]},
            }
        },
        "gemm": {"32768x768x3072": {"ms": 0.23, "tflops": 678.0}},
    }  # fmt: skip
    gpu = {"device": "cuda", "rows": [{**row, "attention": "matmul"}], "kernels": kernels}
    text = "\n".join(bench._gpu_rows(gpu))
    assert "| GPU in-process fp16 with CUDA graphs, attention matmul, batch 4,096 (names/s;" in text
    assert (
        "auto 27.0 ms (200.0 TFLOP/s, diff 0.0); matmul 15.0 ms" in text and "| best: matmul | auto 27.0 ms |" in text
    )
    assert "flash: RuntimeError: No available kernel" in text
    assert "top CUDA kernels by device time (flash_fwd_kernel 13.0 ms x12 (43%)) | 30.0 ms" in text
    assert "| GPU plain fp16 GEMM 32768x768x3072 (CUDA graph replay; the FFN's shape) | 678.0 TFLOP/s" in text
    none = "\n".join(bench._gpu_rows({"device": "cpu", "rows": [], "kernels": {"not_measured": "no CUDA"}}))
    assert "| GPU forward by attention kernel (CUDA graph replay) | not measured: no CUDA |" in none


def test_cuda_graph_rounds_are_reported_apart() -> None:
    """The gpu section's rows and the executor rounds with ``ensemble.cuda_graphs`` on get rows of their own
    (with captures, eager forwards and a capture failure), and the fp16/fp32 ratio ignores them."""
    row = {
        "names": 1000, "call_rows": 8192, "tokens_per_name": 5.5, "gflop_per_name": 1.9, "achieved_tflops": 90.0,
        "split_s": {}, "names_per_s": 90_000,
    }  # fmt: skip
    failed = ["x 8x4: RuntimeError: no"]
    captured = {"shapes": 40, "replays": 5000, "eager": 12, "failures": failed, "captures_timed": 0}
    graph_row = {"precision": "fp16", "batch": 1024, "cuda_graphs": True, **row, "graphs": captured}
    gpu = {"device": "cuda", "rows": [{"precision": "fp16", "batch": 1024, **row}, graph_row]}
    text = "\n".join(bench._gpu_rows(gpu))
    assert "| GPU in-process fp16, batch 1,024 (names/s;" in text
    assert "| GPU in-process fp16 with CUDA graphs, batch 1,024 (names/s;" in text
    assert "40 graphs (0 captured while timed), 5,000 replays, 12 eager forwards; capture failed: x 8x4: Runt" in text
    ex = {"rows": 100, "wall_s": 1.0, "names_per_s": 100, "host_cpu_us_per_name": 9.0, "padded_per_real": 1.0}
    graphs = {"graph_captures": 30, "graph_captures_timed": 1, "graph_replays": 900, "graph_eager": 4}
    graphs["graph_failures"] = []
    results = {
        "sections": {"executor": {"status": "timeout"}},  # the rounds that finished are still reported
        "executor": {
            "by_processes": {"1": ex},
            "by_processes_graphs": {"1": {**ex, **graphs}},
            "by_processes_mps_graphs": {"4": {**ex, **graphs}},
        },
    }
    lines = "\n".join(bench.markdown_table(results))
    assert "| executor: 1 process(es) sharing the device, `label_arrow_stream`" in lines
    assert "| executor: 1 process(es) sharing the device, CUDA graphs, `label_arrow_stream`" in lines
    assert "| executor: 4 process(es) sharing the device under MPS, CUDA graphs," in lines
    assert lines.count("30 graphs captured (1 while timed), 4 eager forwards") == 2
    results["executor"]["graph_attention"] = "matmul"  # `--attention auto,matmul`: the rounds ran the last
    lines = "\n".join(bench.markdown_table(results))
    assert "| executor: 1 process(es) sharing the device, CUDA graphs, attention matmul, `label_arrow_stream`" in lines
    assert "| executor: 4 process(es) sharing the device under MPS, CUDA graphs, attention matmul," in lines


def test_time_box_stops_a_section() -> None:
    """--budget-s boxes each section with SIGALRM; the error is not an Exception, so a broad except in the
    measured code cannot swallow it."""
    import time

    with pytest.raises(bench.SectionTimeout, match="time box"), bench.time_box(0.3):
        try:
            time.sleep(3)
        except Exception:  # pragma: no cover - must not catch it
            pytest.fail("the time box was swallowed")
    with bench.time_box(None):
        time.sleep(0.01)


def test_a_failing_section_is_recorded_and_the_next_runs(tmp_path: Path) -> None:
    """One section failing (here: zero executor processes) leaves its error in bench.json and the report,
    the next section still runs, and the run exits 1."""
    from spark_ner.cli import main

    md = tmp_path / "BENCHMARKS.md"
    argv = ["bench", "--output", str(tmp_path / "o"), "--markdown", str(md), "--sections", "executor,oom"]
    assert main([*argv, "--executor-procs", "0", "--quick"]) == 1
    data = json.loads((tmp_path / "o" / "bench.json").read_text())
    assert data["sections_requested"] == ["executor", "oom"]
    assert data["sections"]["executor"]["status"] == "error" and not data["executor"]["by_processes"]
    assert data["sections"]["oom"]["status"] == "ok" and data["oom"]["rows_labelled"] == 1024
    assert "| section `executor` | error |" in md.read_text()


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


def test_host_names_are_distinct_with_never_seen_words() -> None:
    a, b = bench.host_names(500, seed=1), bench.host_names(500, seed=2)
    assert len(set(a)) == 500 and len(set(b)) == 500
    new_a = {w for n in a for w in n.split()[-2:]}
    new_b = {w for n in b for w in n.split()[-2:]}
    assert len(new_a) == 1000 and not new_a & new_b  # two words per name, never shared between runs


@pytest.mark.slow
def test_bench_host_section_runs_in_process_and_through_spark(tmp_path: Path) -> None:
    """The host ceiling rows: both member pairs, cold and warm, Spark with warm workers, a profile."""
    md = tmp_path / "BENCHMARKS.md"
    from spark_ner.cli import main

    argv = ["bench", "--out", str(tmp_path / "o"), "--markdown", str(md), "--sections", "host"]
    assert main([*argv, "--host-names", "400", "--host-batch", "32"]) == 0
    host = json.loads((tmp_path / "o" / "bench.json").read_text())["host"]
    assert set(host["pairs"]) == {"2-layer", "0-layer"}
    for pair in host["pairs"].values():
        assert pair["cold_names_per_s"] > 0 and pair["warm_names_per_s"] > 0 and pair["spark_warm_names_per_s"] > 0
        assert 0 < pair["warm_model_us_per_name"] < pair["warm_cpu_us_per_name"]
    assert host["identity_udf_names_per_s"] > 0 and host["identity_udf_keep_input_names_per_s"] > 0
    assert any("label" in row["function"] for row in host["profile"])
    g = host["gpu_path"]  # the GPU code path's host side on one thread (issue 22)
    assert 0 < g["warm_model_us_per_name"] < g["warm_cpu_us_per_name"] and g["cold_cpu_us_per_name"] > 0
    assert 0 <= g["cold_sys_us_per_name"] < g["cold_cpu_us_per_name"] and g["warm_sys_us_per_name"] >= 0
    assert g["padded_per_real"] <= 1.10 and g["demo_names_padded_per_real"] <= 1.10
    assert g["graphs_padded_per_real"] >= g["padded_per_real"]  # the bucket rows computed like padding
    rv = host["gpu_path_real_vocab"]  # the same loop, members that split names like a real tokenizer
    assert rv["warm_cpu_us_per_name"] > 0 and rv["padded_per_real"] <= 1.10
    assert rv["tokens_per_name"] < g["tokens_per_name"] and rv["demo_tokens_per_name"] < g["demo_tokens_per_name"]
    b = host["spark_bound"]
    assert b["ratio"] > 0 and b["bound_names_per_s"] > 0 and b["ratio_gpu_path_figure"] > 0
    assert b["ratio_keep_input"] > 0 and b["spark_us_per_row_keep_input"] > 0
    assert len(b["host_us_per_name_runs"]) == 3 and b["host_us_per_name"] == min(b["host_us_per_name_runs"]) > 0
    text = md.read_text()
    assert "host ceiling (2-layer pair), Spark local[" in text and "Host profile" in text
    assert "GPU code path's host side, one thread" in text and "device batch plan, padded / real" in text
    assert "the same with real-sized vocabularies" in text
    assert "measured between the Spark jobs" in text and "keeps its input column" in text
    assert "the same with `ensemble.cuda_graphs`" in text


def test_gpu_path_measure_runs_the_arrow_loop_on_one_thread(tmp_path: Path) -> None:
    """What the host section reports for the GPU path: CPU per name cold and warm, and the plan's padding."""
    from dataclasses import replace

    cfg = load_config(bench.write_random_config(tmp_path, bench.bench_names(300), replace(TINY, layers=0), "fp32", 32))
    g = bench.bench_gpu_path(cfg, 300, repeat=1)
    assert g["cold_cpu_us_per_name"] > 0 and g["warm_cpu_us_per_name"] > 0 and g["arrow_rows"] == 2048
    assert g["real_tokens"] > 0 and g["padded_tokens"] <= 1.10 * g["real_tokens"]
    assert g["graphs_padded_per_real"] >= g["padded_per_real"]


def test_bench_oom_section_halves_the_batch_and_labels_every_row(tmp_path: Path) -> None:
    """The ``oom`` section (gpu_check's ``oom_split`` stage runs the same function): simulated on a CPU."""
    from spark_ner.cli import main

    md = tmp_path / "BENCHMARKS.md"
    argv = ["bench", "--out", str(tmp_path / "o"), "--markdown", str(md), "--sections", "oom"]
    assert main(argv) == 0
    oom = json.loads((tmp_path / "o" / "bench.json").read_text())["oom"]
    assert oom["simulated"] is True and oom["oom_splits"] > 0 and oom["row_errors"] == 0
    assert oom["rows_labelled"] == oom["rows_out"] == oom["names"] == oom["batch_size"] == 1024
    assert "OOM split: one batch of 1,024 names (simulated OOM, CPU) | 1,024/1,024 rows labelled" in md.read_text()


def test_mps_daemon_starts_and_stops_the_control_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor section's MPS rounds: the control program started as a daemon with the pipe and log
    folders in the environment the spawned workers inherit, told to quit on exit, the environment
    restored; no program on PATH: no MPS, and the report says it was not measured."""
    import os

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with bench.mps_daemon(tmp_path / "a") as running:
        assert running is False
    calls = tmp_path / "calls.txt"
    tool = tmp_path / "bin" / "nvidia-cuda-mps-control"
    tool.parent.mkdir()
    tool.write_text(f'#!/bin/sh\necho "$* pipe=$CUDA_MPS_PIPE_DIRECTORY" >> {calls}\ncat >> {calls}\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}:/usr/bin:/bin")
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    with bench.mps_daemon(tmp_path / "b") as running:
        assert running is True
        assert os.environ["CUDA_MPS_PIPE_DIRECTORY"] == str(tmp_path / "b" / "pipe")
    assert "CUDA_MPS_PIPE_DIRECTORY" not in os.environ
    lines = calls.read_text().splitlines()
    assert lines[0] == f"-d pipe={tmp_path / 'b' / 'pipe'}" and "quit" in lines[1:]
    row = {"processes": 4, "rows": 10, "wall_s": 1.0, "names_per_s": 10, "host_cpu_us_per_name": 1.0}
    row |= {"device_busy_s": None, "device_busy_share": None, "forwards": 2, "padded_per_real": 1.0}
    ex = {"by_processes": {"4": row}, "by_processes_mps": {"4": row}, "mps": True}
    ok = {"executor": {"status": "ok"}}
    table = "\n".join(bench.markdown_table({"executor": ex, "sections": ok}))
    assert "4 process(es) sharing the device, `label_arrow_stream`" in table
    assert "4 process(es) sharing the device under MPS" in table
    ex = {"by_processes": {"4": row}, "mps": False}
    assert "executor under MPS | not measured" in "\n".join(bench.markdown_table({"executor": ex, "sections": ok}))


def test_graph_rows_report_replay_against_eager_and_capture_failures() -> None:
    """The gpu section's ``graphs`` part (CUDA only): a row per member and shape with the replay, eager and
    host-launch milliseconds, or why capture failed; without CUDA one row says it was not measured."""
    shape = {"eager_ms": 5.0, "eager_host_launch_ms": 4.8, "graph_ms": 1.0, "graph_host_launch_ms": 0.02}
    shape |= {"max_abs_diff": 0.001, "speedup": 5.0}
    failed = {"eager_ms": 4.0, "eager_host_launch_ms": 3.9, "graph_error": "RuntimeError: capture | x"}
    g = {"rows": [], "device": "cuda", "graphs": {"by_member": {"bert": {"1024x8": shape, "256x8": failed}}}}
    table = "\n".join(bench.markdown_table({"gpu": g, "sections": {"gpu": {"status": "ok"}}}))
    assert "GPU bert fp16 forward, 1024x8 tokens, eager vs CUDA graph replay" in table
    assert "| graph 1.0 (host 0.02) | eager 5.0 (host launch 4.8) | 5.0x |" in table
    assert "capture failed: RuntimeError: capture / x" in table
    g = {"rows": [], "device": "cpu", "graphs": {"not_measured": "no CUDA"}}
    table = "\n".join(bench.markdown_table({"gpu": g, "sections": {"gpu": {"status": "ok"}}}))
    assert "CUDA graph replay vs eager forward | not measured: no CUDA" in table


def test_graph_rows_and_rounds_run_their_code_on_a_cpu(tmp_path: Path) -> None:
    """The gpu section's graph rows and the executor's graph rounds are CUDA figures; their code runs here
    with ``cuda_graphs`` on (a CPU: no graphs, eager forwards, every row labelled), so a lent GPU's short
    run does not meet a mistake in them first."""
    from spark_ner.tools.random_models import Size

    names = bench.synthetic_names(600, seed=3)[0]
    members = bench.Members.build(tmp_path / "m", names, Size(**bench.CPU_SMALL))
    row: dict[str, object] = {"precision": "fp32", "batch": 64, "cuda_graphs": True}
    bench._throughput_one(members, row, names, "fp32", False, 64, None, graphs=True)
    assert row["rows_out"] == row["names"] and row["names_per_s"] and "graphs" not in row
    graphs = str(members.config("fp32", 64, "cpu", cuda_graphs=True))
    ex = bench.bench_executor(str(members.config("fp32", 64, "cpu")), 600, (), 256, graphs=(graphs, (1,)), names=names)
    got = ex["by_processes_graphs"]["1"]
    assert ex["by_processes"] == {} and got["rows"] == 600 and "graph_captures" not in got
    assert ex["names_from"] == "the gpu section's names"  # the same names as the gpu section's rows (issue 22)
    with pytest.raises(ValueError, match="600 names given for n = 601"):
        bench.bench_executor(str(members.config("fp32", 64, "cpu")), 601, (1,), 256, names=names)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [("--attention", ",", "--attention: got ','"), ("--attention", "fast", "--attention: unknown fast"),
     ("--gpu-batches", "abc", "--gpu-batches: got 'abc'"), ("--gpu-batches", "0", "whole numbers above 0")],
)  # fmt: skip
def test_bench_refuses_bad_attention_and_batches(tmp_path: Path, capsys, flag: str, value: str, says: str) -> None:  # type: ignore[no-untyped-def]
    from spark_ner.cli import main

    argv = ["bench", "--output", str(tmp_path / "o"), "--sections", "host", flag, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "Fix" in err
