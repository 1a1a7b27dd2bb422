"""``scripts/gpu_check.sh``: its CPU fallback runs every stage here, and its GPU report renders.

Why: the GPU machine is lent for minutes, so the script must be known to work before it gets there.
The fallback (``--cpu --quick``) goes through the same stages with tiny members and a simulated OOM;
the GPU-only parts of the report are rendered from a made-up CUDA result.
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
def test_cpu_fallback_runs_every_stage_and_reports_no_cuda(tmp_path: Path) -> None:
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
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "no CUDA" in proc.stdout
    res = json.loads((out / "gpu_check.json").read_text())
    assert res["cuda"] is False and "no CUDA" in res["note"]
    assert res["machine"]["gpu"] is None and res["machine"]["torch"]
    stages = res["stages"]
    assert list(stages) == ["setup", "throughput", "host_ceiling", "executor", "oom_split", "finetune", "pytest_gpu"]
    assert {k: v["status"] for k, v in stages.items()} == dict.fromkeys(stages, "ok")

    host = stages["host_ceiling"]
    assert host["names_per_s_cold"] > 0 and host["names_per_s_warm"] > 0
    assert host["rows_out"] == 2 * host["names"] and host["row_errors"] == 0
    assert host["lanes"] >= 1 and set(host["warm_split_s"]) == {"tokenize", "forward", "decode"}

    rows = stages["throughput"]["rows"]
    assert [(r["precision"], r["batch"]) for r in rows] == [("fp32", 64), ("fp32", 256)]
    for r in rows:
        assert r["names_per_s"] > 0 and r["row_errors"] == 0 and r["rows_out"] == r["names"]
        assert r["gflop_per_name"] > 0 and "mfu" not in r  # no peak known for a CPU

    agree = stages["throughput"]["label_agreement"]  # item 7: measured on CUDA only, and it says so here
    assert agree == {"names": 0, "fp16_vs_fp32": "not measured: no CUDA", "cuda_vs_cpu": "not measured: no CUDA"}

    ex = stages["executor"]["by_processes"]["1"]  # the Spark UDF's Arrow loop in a process of its own
    assert ex["rows"] == stages["executor"]["names"] > 0 and ex["names_per_s"] > 0 and ex["host_cpu_us_per_name"] > 0
    assert ex["padded_per_real"] <= 1.10 and ex["device_busy_s"] is None and ex["launches_per_forward"] is None

    oom = stages["oom_split"]
    assert oom["simulated"] is True and oom["oom_splits"] > 0
    assert oom["rows_labelled"] == oom["rows_out"] == oom["names"] and oom["row_errors"] == 0

    ft = stages["finetune"]
    assert ft["loop"]["steps"] > 0 and ft["loop"]["steps_per_s"] > 0 and ft["loop"]["mixed_precision"] == "no"
    assert ft["train"]["steps"] >= 1 and ft["train"]["mixed_precision"] == "no"

    pt = stages["pytest_gpu"]
    assert pt["returncode"] == 0 and pt["counts"].get("skipped", 0) >= 5 and not pt["counts"].get("failed")

    md = (out / "gpu_check.md").read_text()
    assert "no CUDA" in md and "host-side ceiling" in md and "| measure | value | notes |" in md
    assert not (tmp_path / "not-used").exists(), "--out must win over $OUT"


def test_gpu_report_renders_every_figure() -> None:
    """The CUDA branches of the markdown, from a made-up H200 result (keys as the stages write them)."""
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
    res: dict[str, Any] = {
        "cuda": True,
        "command": "bash scripts/gpu_check.sh",
        "machine": {
            "date": "2026-12-01 10:00 UTC",
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
        "stages": {
            "setup": {
                "status": "ok",
                "seconds": 20.0,
                "names": 100_000,
                "bert": {"layers": 12, "hidden": 768, "params_m": 90.1, "vocab": 9000},
                "roberta": {"layers": 12, "hidden": 768, "params_m": 91.0, "vocab": 9200},
            },
            "throughput": {
                "status": "ok",
                "seconds": 90.0,
                "peak_tflops": {"fp16": 989.0, "fp32": 67.0},
                "rows": [
                    {"precision": "fp16", "batch": 1024, **tp_row},
                    {"precision": "fp32", "batch": 1024, **tp_row, "names_per_s": 20_000},
                    {"precision": "fp32", "batch": 4096, "skipped": "time box"},
                ],
                "fp16_over_fp32": {"1024": 2.5},
                "label_agreement": {"names": 5000, "fp16_vs_fp32": 0.9986, "cuda_vs_cpu": 1.0},
            },
            "host_ceiling": {
                "status": "ok",
                "seconds": 10.0,
                "lanes": 16,
                "names": 100_000,
                "batch": 1024,
                "call_rows": 8192,
                "names_per_s_cold": 90_000,
                "names_per_s_warm": 150_000,
                "warm_split_s": {"tokenize": 0.3, "forward": 0.2, "decode": 0.2},
            },
            "oom_split": {
                "status": "ok",
                "seconds": 12.0,
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
                "status": "ok",
                "seconds": 30.0,
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
                "train": {
                    "wall_s": 20.0,
                    "steps": 40,
                    "batch": 64,
                    "train_examples": 19_000,
                    "mixed_precision": "fp16",
                },
            },
            "pytest_gpu": {"status": "error", "seconds": 40.0, "summary": "5 passed, 1 skipped", "error": "boom | x"},
        },
    }
    md = gc.markdown(res)
    for needle in (
        "NVIDIA H200 (139.8 GiB",
        "| in-process fp16, batch 1,024 (names/s) | 50,000 |",
        "MFU 10.6% of 989.0 TFLOP/s",
        "MFU 10.6% of 67.0 TFLOP/s",
        "peak mem 2,100 MB (weights 480)",
        "NVML util mean 61.0%",
        "| in-process fp32 batch 4096 | not run | time box |",
        "| fp16 / fp32, batch 1,024 | 2.5x |",
        "| label agreement, fp16 vs fp32 (CUDA) | 99.86% | share of the same 5,000 names |",
        "| label agreement, CUDA vs CPU (fp32) | 100.00% |",
        "150,000 warm / 90,000 cold",
        "16,384/16,384 rows labelled, 3 halvings | real CUDA OOM",
        "| 12.5 (1,600 names/s) |",
        "Accelerate fp16",
        "| 20.0 s |",
        "| `pytest -m gpu tests/test_gpu.py` | 5 passed, 1 skipped |",
        "| stage `pytest_gpu` | error | boom / x |",
    ):
        assert needle in md, f"{needle!r} missing from:\n{md}"
    assert "no CUDA" not in md
