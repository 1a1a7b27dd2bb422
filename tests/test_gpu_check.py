"""``scripts/gpu_check.sh``: its CPU fallback runs every bench section here, and its GPU report renders.

Why: the GPU machine is lent for minutes, so the script must be known to work before it gets there.
The wrapper runs ``spark-ner bench`` (gpu, host, executor, oom, finetune) and ``pytest -m gpu``; with
``--cpu --quick`` the same sections run with small members, few names and a simulated OOM. The
GPU-only parts of the report are rendered from a made-up CUDA result.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_check", mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_cpu_fallback_runs_every_section_and_reports_no_cuda(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="", OUT=str(tmp_path / "not-used"))
    env["GPU_CHECK_LIMIT_S"] = "880"  # the fallback's own time boxes are generous (shared CPU machines)
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--quick", "--cpu", "--out", str(out)],
        cwd=tmp_path,  # the wrapper must find the repository by itself
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "no CUDA" in proc.stdout
    res = json.loads((out / "gpu_check.json").read_text())
    assert res["cuda"] is False and "no CUDA" in res["note"] and res["ok"] is True
    assert res["machine"]["gpu"] is None and res["machine"]["torch"]
    assert res["command"] == f"bash scripts/gpu_check.sh --quick --cpu --out {out}"
    sections = res["sections"]
    assert list(sections) == ["gpu", "host", "executor", "oom", "finetune", "pytest_gpu"]
    assert {k: v["status"] for k, v in sections.items()} == dict.fromkeys(sections, "ok")
    bench = res["bench"]  # the figures are the bench's own (one harness)
    assert bench["plan"]["quick"] is True and bench["plan"]["cpu_fallback"] is True
    assert json.loads((out / "bench.json").read_text())["sections_requested"] == list(sections)[:-1]

    g = bench["gpu"]  # the throughput loop, on the CPU with small members
    assert g["measured"] is False and g["device"] == "cpu"
    assert [(r["precision"], r["batch"]) for r in g["rows"]] == [("fp32", 64), ("fp32", 256)]
    for r in g["rows"]:
        assert r["names_per_s"] > 0 and r["row_errors"] == 0 and r["rows_out"] == r["names"]
        assert r["gflop_per_name"] > 0 and "mfu" not in r  # no peak known for a CPU
        assert set(r["split_s"]) >= {"tokenize", "forward", "decode"}
    agree = g["label_agreement"]  # item 7: measured on CUDA only, and it says so here
    assert agree == {"names": 0, "fp16_vs_fp32": "not measured: no CUDA", "cuda_vs_cpu": "not measured: no CUDA"}

    host = bench["host"]  # the GPU path's host side on one thread, and the CPU lanes
    assert host["gpu_path"]["warm_cpu_us_per_name"] > 0 and host["gpu_path"]["padded_per_real"] <= 1.10
    assert set(host["pairs"]) == {"2-layer", "0-layer"} and "spark_bound" not in host  # no Spark on a GPU machine

    ex = bench["executor"]["by_processes"]["1"]  # the Spark UDF's Arrow loop in a process of its own
    assert ex["rows"] == bench["executor"]["names"] > 0 and ex["names_per_s"] > 0 and ex["host_cpu_us_per_name"] > 0
    assert ex["padded_per_real"] <= 1.10 and ex["device_busy_s"] is None and ex["launches_per_forward"] is None

    oom = bench["oom"]
    assert oom["simulated"] is True and oom["oom_splits"] > 0
    assert oom["rows_labelled"] == oom["rows_out"] == oom["names"] and oom["row_errors"] == 0

    ft = bench["finetune"]
    assert ft["loop"]["steps"] > 0 and ft["loop"]["steps_per_s"] > 0 and ft["loop"]["mixed_precision"] == "no"
    assert ft["train"]["steps"] >= 1 and ft["train"]["mixed_precision"] == "no"

    pt = sections["pytest_gpu"]
    assert pt["returncode"] == 0 and pt["counts"].get("skipped", 0) >= 5 and not pt["counts"].get("failed")

    md = (out / "gpu_check.md").read_text()
    assert "no CUDA" in md and "| measure | ours | baseline | ratio | target |" in md
    assert "CPU fallback (small members; not a GPU figure) in-process fp32, batch 64" in md
    assert "GPU code path's host side, one thread" in md and "OOM split: one batch of 1,024 names" in md
    assert "fine-tune the BERT member, Accelerate fp32" in md and "`pytest -m gpu tests/test_gpu.py` |" in md
    assert not (tmp_path / "not-used").exists(), "--out must win over $OUT"


def test_a_stopped_bench_reports_what_finished(tmp_path: Path) -> None:
    """The time limit stopped the bench inside its third section: the first two stay, the rest say why."""
    gc = _module()
    bench = {
        "machine": {"date": "2026-12-02", "gpu": None, "cpu": "x", "cores": 2, "python": "3.12", "torch": "2"},
        "sections_requested": ["gpu", "host", "executor", "oom", "finetune"],
        "sections": {
            "gpu": {"status": "ok", "seconds": 3.0},
            "host": {"status": "error", "seconds": 1.0, "error": "ValueError: boom"},
            "executor": {"status": "running"},
        },
        "gpu": {"measured": False, "reason": "no CUDA GPU on this machine"},
    }
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    (tmp_path / "pytest_gpu.log").write_text("....\n6 skipped in 2.0s\n")
    argv = ["--out", str(tmp_path), "--bench-rc", "124", "--pytest-rc", "0", "--command", "bash scripts/gpu_check.sh"]
    assert gc.main(argv) == 1
    res = json.loads((tmp_path / "gpu_check.json").read_text())
    st = {k: v["status"] for k, v in res["sections"].items()}
    assert st == {
        "gpu": "ok",
        "host": "error",
        "executor": "not finished",
        "oom": "not finished",
        "finetune": "not finished",
        "pytest_gpu": "ok",
    }
    assert res["sections"]["oom"]["error"] == "the bench was stopped at the time limit" and res["ok"] is False
    md = (tmp_path / "gpu_check.md").read_text()
    assert "| section `host` | error | ValueError: boom |" in md
    assert "| section `oom` | not finished | the bench was stopped at the time limit |" in md
    assert "| `pytest -m gpu tests/test_gpu.py` | 6 skipped in 2.0s |" in md


def test_gpu_report_renders_every_figure() -> None:
    """The CUDA branches of the markdown, from a made-up H200 result (keys as the bench writes them)."""
    gc = _module()
    tp_row = {
        "names": 100_000,
        "rows_out": 100_000,
        "row_errors": 0,
        "seconds": 2.0,
        "names_per_s": 50_000,
        "call_rows": 8192,
        "tokens_per_name": 6.1,
        "gflop_per_name": 2.1,
        "achieved_tflops": 105.0,
        "split_s": {"tokenize": 0.5, "forward": 1.2, "decode": 0.3},
        "mfu": 0.106,
        "mfu_padded": 0.14,
        "peak_mem_mb": 2100,
        "weights_mem_mb": 480,
        "gpu_util_mean": 61.0,
        "gpu_util_max": 100.0,
    }
    ok = {"status": "ok", "seconds": 10.0}
    bench: dict[str, Any] = {
        "machine": {
            "date": "2026-12-01",
            "time_utc": "2026-12-01 10:00 UTC",
            "gpu": "NVIDIA H200",
            "gpu_mem_gib": 139.8,
            "cuda_runtime": "12.8",
            "driver": "570.1",
            "cpu": "Intel Xeon",
            "cores": 16,
            "python": "3.12.3",
            "torch": "2.11.0",
            "transformers": "5.17.0",
            "accelerate": "1.15.0",
        },
        "names_source": "synthetic_names (no faker installed)",
        "sections_requested": ["gpu", "oom", "finetune"],
        "sections": {"gpu": ok, "oom": ok, "finetune": {"status": "timeout", "error": "ran past its 60 s time box"}},
        "device_members": {
            "build_s": 9.0,
            "bert": {"layers": 12, "hidden": 768, "params_m": 90.1, "vocab": 9000},
            "roberta": {"layers": 12, "hidden": 768, "params_m": 91.0, "vocab": 9200},
        },
        "gpu": {
            "measured": True,
            "device": "cuda",
            "peak_tflops": {"fp16": 989.0, "fp32": 67.0},
            "rows": [
                {"precision": "fp16", "batch": 1024, **tp_row},
                {"precision": "fp32", "batch": 1024, **tp_row, "names_per_s": 20_000},
                {"precision": "fp32", "batch": 4096, "skipped": "time box"},
            ],
            "fp16_over_fp32": {"1024": 2.5},
            "label_agreement": {"names": 5000, "fp16_vs_fp32": 0.9986, "cuda_vs_cpu": 1.0},
            "spark": {"not_measured": "no pyspark"},
        },
        "oom": {
            "simulated": False,
            "batch_size": 16_384,
            "names": 16_384,
            "full_batch_activation_mb": 6000,
            "attempts": [{"headroom_mb": 1500, "oom_splits": 3}],
            "oom_splits": 3,
            "rows_out": 16_384,
            "rows_labelled": 16_384,
        },
        "finetune": {
            "measured": True,
            "loop": {
                "mixed_precision": "fp16",
                "batch_names": 128,
                "tokens_per_batch": 1200,
                "steps": 40,
                "steps_per_s": 12.5,
                "names_per_s": 1600,
                "loss_first_last": [2.2, 1.1],
                "approx_tflops": 8.1,
                "approx_mfu": 0.008,
            },
            "train": {"skipped": "time box"},
        },
    }
    pytest_log = "5 passed, 1 skipped in 20.1s"
    res = gc.report(bench, gc.pytest_summary(pytest_log, 0), "bash scripts/gpu_check.sh", 1, 200.0)
    assert res["cuda"] is True and res["ok"] is False  # finetune ran past its box
    md = gc.markdown(res)
    for needle in (
        "Machine: NVIDIA H200 (139.8 GiB, CUDA 12.8, driver 570.1); Intel Xeon, 16 cores",
        "BERT 12x768 (90.1M params, WordPiece vocab 9,000",
        "| GPU in-process fp16, batch 1,024 (names/s; 100,000 names in Arrow batches of 8,192 rows through",
        "| 50,000 | | | >= 120,000 (H100/H200) |",
        "MFU 10.6% of 989.0 TFLOP/s (14.0% counting padding)",
        "MFU 10.6% of 67.0 TFLOP/s",
        "peak mem 2,100 MB (weights 480)",
        "NVML util mean 61.0% max 100.0%",
        "tokenize/forward/decode 0.5/1.2/0.3 s",
        "| GPU in-process fp32, batch 4,096 | not run: time box |",
        "| GPU fp16 / fp32, batch 1,024 | 2.5x |",
        "| GPU label agreement, fp16 vs fp32 (CUDA), share of the same 5,000 names | 99.86% |",
        "| GPU label agreement, CUDA vs CPU (fp32), share of the same 5,000 names | 100.00% |",
        "| GPU Spark local mode vs in-process | not measured: no pyspark |",
        "| OOM split: one batch of 16,384 names (real CUDA OOM) | 16,384/16,384 rows labelled after 3 halvings |",
        "Accelerate fp16, batch 128 names (steps/s; 40 steps, 1,200 tokens/batch, loss [2.2, 1.1]; ~8.1 TFLOP/s",
        "| 12.5 (1,600 names/s) |",
        "| section `finetune` | timeout | ran past its 60 s time box |",
        "| `pytest -m gpu tests/test_gpu.py` | 5 passed, 1 skipped in 20.1s | | | |",
    ):
        assert needle in md, f"{needle!r} missing from:\n{md}"
    assert "no CUDA" not in md
