#!/usr/bin/env python3
"""The report of ``bash scripts/gpu_check.sh [--quick] [--cpu] [--out DIR]``: gpu_check.json and gpu_check.md.

The wrapper runs ``spark-ner bench --sections gpu,oom,finetune,host,executor --cpu-fallback`` (every figure
is measured there, in ``spark_ner/tools/bench.py``: one harness, issue 22), then ``pytest -m gpu
tests/test_gpu.py``, then this script. Flags of the wrapper: ``--quick`` (small sizes: a short GPU fix-up
run; the CI test with ``--cpu``), ``--cpu`` (hide the GPUs), ``--out DIR`` (default ``$OUT``, else
out/gpu_check); any other flag goes to the bench.

Why a script apart from the bench: the GPU machine's report needs what the bench does not know, the
pytest step, the wrapper's exit codes (a bench stopped at the time limit) and the check's pass/fail,
and a block for BENCHMARKS.md under the GPU machine's own header. It measures nothing itself; it
reads ``OUT/bench.json`` (rewritten by the bench after every section) and ``OUT/pytest_gpu.log``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the package is not installed on the GPU machine
    sys.path.insert(0, str(ROOT))

from spark_ner.tools.bench import NO_CUDA, markdown_table  # noqa: E402

log = logging.getLogger("gpu_check")

#: the bench sections the wrapper asks for, in the order they run
SECTIONS = ("gpu", "host", "executor", "oom", "finetune")
STOPPED = (124, 137)  # timeout's exit codes: the time limit stopped the command


def pytest_summary(text: str, rc: int | None) -> dict[str, Any]:
    """Return code, the summary line and its counts from a ``pytest -q`` log."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    pattern = r"\b(passed|failed|skipped|errors?|no tests ran|not run)\b"
    summary = next((ln for ln in reversed(lines) if re.search(pattern, ln)), "")
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", summary)}
    return {
        "command": "pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py",
        "returncode": rc,
        "summary": summary.strip("= ").strip(),
        "counts": counts,
        "output_tail": text[-3000:],
    }


def report(
    bench: dict[str, Any], pytest: dict[str, Any], command: str, bench_rc: int | None, seconds: float | None
) -> dict[str, Any]:
    """gpu_check.json: every section's status, the bench's figures and the pytest step; ``ok`` when all passed."""
    cuda = bool(bench.get("machine", {}).get("gpu"))
    done = bench.get("sections", {})
    stopped = bench_rc in STOPPED
    sections: dict[str, dict[str, Any]] = {}
    for name in bench.get("sections_requested") or SECTIONS:
        st = dict(done.get(name) or {})
        if not st or st.get("status") == "running":
            why = "the bench was stopped at the time limit" if stopped else f"the bench exited {bench_rc} before it"
            st.update(status="not finished", error=why)
        sections[name] = st
    rc = pytest.get("returncode")
    pt = {"status": "ok" if rc == 0 else "timeout" if rc in STOPPED else "error", **pytest}
    if cuda and rc == 0 and not pytest.get("counts", {}).get("passed"):
        pt.update(status="error", error="no GPU test passed on a CUDA machine")
    elif rc != 0:
        pt["error"] = f"pytest exited {rc}: {pytest.get('summary')}"
    sections["pytest_gpu"] = pt
    return {
        "schema": 2,
        "cuda": cuda,
        "note": None if cuda else NO_CUDA,
        "command": command,
        "machine": bench.get("machine", {}),
        "sections": sections,
        "bench_returncode": bench_rc,
        "ok": bench_rc == 0 and all(v.get("status") == "ok" for v in sections.values()),
        "total_seconds": seconds,
        "random_weights": "members have random weights: the figures are speed only, labels are meaningless",
        "bench": bench,
    }


def markdown(res: dict[str, Any]) -> str:
    """A block to paste into BENCHMARKS.md: machine, versions, date, command, every figure."""
    m = res["machine"]
    bench = res["bench"]
    lines = [f"## GPU check of {m.get('date', 'an unknown date')}", "", f"Command: `{res['command']}`  "]
    if m:
        gpu = (
            f"{m['gpu']} ({m.get('gpu_mem_gib')} GiB, CUDA {m.get('cuda_runtime')}, driver {m.get('driver')})"
            if m.get("gpu")
            else "no CUDA GPU"
        )
        lines.append(
            f"Machine: {gpu}; {m.get('cpu')}, {m.get('cores')} cores; Python {m.get('python')}, torch "
            f"{m.get('torch')}, transformers {m.get('transformers')}, accelerate {m.get('accelerate')}; "
            f"{m.get('time_utc', m.get('date'))}.  "
        )
    if not res["cuda"]:
        lines += ["", f"**{NO_CUDA}.** The figures below only show that every section runs.", ""]
    dm = bench.get("device_members")
    if dm:
        b, r = dm["bert"], dm["roberta"]
        lines.append(
            f"Members: RANDOM weights (speed only; labels meaningless): BERT {b['layers']}x{b['hidden']} "
            f"({b['params_m']}M params, WordPiece vocab {b['vocab']:,} trained on the names) + RoBERTa "
            f"{r['layers']}x{r['hidden']} ({r['params_m']}M params, byte-level BPE vocab {r['vocab']:,}). "
            f"Names: distinct synthetic customer names (`synthetic_names`: persons, households, companies, "
            f"places, junk; 12% ALL CAPS); host names: {bench.get('names_source')} plus two never-seen words "
            f"each; executor names: {(bench.get('executor') or {}).get('names_from', 'as the host names')}."
        )
    # the bench's own table, with the statuses above (a section the bench never finished says so)
    view = {"machine": m, **bench, "sections": {k: v for k, v in res["sections"].items() if k != "pytest_gpu"}}
    pt = res["sections"]["pytest_gpu"]
    why = f" ({str(pt['error'])[:200]})" if pt.get("error") else ""
    row = f"| `pytest -m gpu tests/test_gpu.py` | {pt.get('summary') or pt['status']}{why} | | | |"
    lines += ["", *markdown_table(view, extra=[row])]
    secs = ", ".join(f"{k} {v.get('seconds')}" for k, v in res["sections"].items() if v.get("seconds") is not None)
    lines += ["", f"Section seconds: {secs}; total {res.get('total_seconds')} s.", ""]
    return "\n".join(lines)


def write_outputs(res: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "gpu_check.json.tmp"
    tmp.write_text(json.dumps(res, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(out / "gpu_check.json")
    (out / "gpu_check.md").write_text(markdown(res), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", required=True, help="the folder holding bench.json and pytest_gpu.log")
    ap.add_argument("--command", default="bash scripts/gpu_check.sh", help="the command line, for the report")
    ap.add_argument("--bench-rc", type=int, default=None, help="the bench's exit code")
    ap.add_argument("--pytest-rc", type=int, default=None, help="the pytest step's exit code")
    ap.add_argument("--seconds", type=float, default=None, help="the wrapper's seconds so far")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    out = Path(args.out)
    bench_file = out / "bench.json"
    bench: dict[str, Any] = json.loads(bench_file.read_text()) if bench_file.exists() else {}
    if not bench:
        log.error("%s is missing: the bench wrote nothing (exit code %s)", bench_file, args.bench_rc)
    log_file = out / "pytest_gpu.log"
    pytest = pytest_summary(log_file.read_text() if log_file.exists() else "", args.pytest_rc)
    res = report(bench, pytest, args.command, args.bench_rc, args.seconds)
    write_outputs(res, out)
    if not res["cuda"]:
        print(f"gpu_check: {NO_CUDA}", flush=True)  # noqa: T201
    print(markdown(res), flush=True)  # noqa: T201
    bad = [f"{k} ({v.get('status')})" for k, v in res["sections"].items() if v.get("status") != "ok"]
    verdict = "every section passed" if res["ok"] else f"FAILED: {', '.join(bad) or f'bench exit {args.bench_rc}'}"
    print(f"gpu_check: wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}; {verdict}", flush=True)  # noqa: T201
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
