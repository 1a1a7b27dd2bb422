"""Worker telemetry: what each Python worker reports back to the driver (numbers, never names).

Each task adds one record ``{"host:pid": {...}}`` to an accumulator of :class:`WorkerStatsParam`:
rows, batches, busy seconds, ensemble loads, and on CUDA the NVML samples of :class:`GpuSampler`.
The keys of a record are defined here and nowhere else (:data:`SUM_KEYS`, :data:`MAX_KEYS`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyspark.accumulators import AccumulatorParam

if TYPE_CHECKING:
    from spark_ner.ensemble import Ensemble

log = logging.getLogger(__name__)

#: record keys that add up across tasks and workers
SUM_KEYS: tuple[str, ...] = (
    "rows", "batches", "busy_s", "loads", "load_s", "util_sum", "util_n", "tasks", "graph_captures", "graph_eager",
)  # fmt: skip
#: record keys that keep their peak
MAX_KEYS: tuple[str, ...] = ("util_max", "mem_used_mb_max", "torch_max_alloc_mb")


class WorkerStatsParam(AccumulatorParam):  # type: ignore[type-arg]
    """Merges per-worker records ``{"host:pid": {...}}`` sent back by tasks (no names, numbers).

    Counters add up, peaks take the max, descriptive fields keep the latest value. The label job
    passes an accumulator of this type to :func:`ner_udf` to build its per-executor summary.
    """

    def zero(self, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {}

    def addInPlace(  # pyspark's name
        self, acc: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        for key, rec in other.items():
            cur = acc.setdefault(key, {})
            for k, v in rec.items():
                if k in SUM_KEYS:
                    cur[k] = cur.get(k, 0) + v
                elif k in MAX_KEYS:
                    cur[k] = v if cur.get(k) is None else max(cur[k], v if v is not None else cur[k])
                elif v is not None or k not in cur:
                    cur[k] = v
        return acc


class GpuSampler:
    """Samples one GPU's utilisation and memory with NVML every ``interval`` s while a worker runs.

    Started on the first CUDA load of a worker; a daemon thread, so it never keeps a worker alive.
    Where ``nvidia-ml-py`` is missing the fields stay null.
    """

    def __init__(self, device: str, interval: float = 0.5) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self.util_sum = 0.0
        self.util_n = 0
        self.util_max: float | None = None
        self.mem_max: float | None = None
        self.mem_total: float | None = None
        self.name: str | None = None
        self._handle: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = self._handle_for(device)
            self.name = str(pynvml.nvmlDeviceGetName(self._handle))
            self.mem_total = pynvml.nvmlDeviceGetMemoryInfo(self._handle).total / 2**20
        except Exception as exc:  # no NVML, no driver, or no such device: report nulls
            log.info("GPU sampling unavailable (%s); GPU fields will be null", type(exc).__name__)
            self._handle = None
            return
        threading.Thread(target=self._run, name="spark-ner-gpu-sampler", daemon=True).start()

    def _handle_for(self, device: str) -> Any:
        """NVML counts physical GPUs; torch's ``cuda:N`` counts those in CUDA_VISIBLE_DEVICES."""
        idx = int(device.split(":")[1]) if ":" in device else 0
        visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v]
        if visible and idx < len(visible):
            ident = visible[idx]
            if ident.isdigit():
                return self._nvml.nvmlDeviceGetHandleByIndex(int(ident))
            return self._nvml.nvmlDeviceGetHandleByUUID(ident)
        return self._nvml.nvmlDeviceGetHandleByIndex(idx)

    def _run(self) -> None:
        while True:
            try:
                util = float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
                mem = self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used / 2**20
            except Exception:  # the driver went away: stop sampling, keep what we have
                return
            with self._lock:
                self.util_sum += util
                self.util_n += 1
                self.util_max = util if self.util_max is None else max(self.util_max, util)
                self.mem_max = mem if self.mem_max is None else max(self.mem_max, mem)
            time.sleep(self.interval)

    def drain(self) -> dict[str, Any]:
        """Samples since the last drain (sums/counts) plus the peaks so far."""
        with self._lock:
            out = {
                "util_sum": self.util_sum,
                "util_n": self.util_n,
                "util_max": self.util_max,
                "mem_used_mb_max": self.mem_max,
            }
            self.util_sum, self.util_n = 0.0, 0
        return out


class WorkerReport:
    """What this worker has not yet reported: loads since the last report, and the GPU sampler.

    One per Python worker, held by the worker's ensemble cache (``spark_ner.spark.udf.EnsembleCache``):
    the records are deltas against what this object last reported.
    """

    def __init__(self) -> None:
        self.reported_loads = 0
        self.reported_load_s = 0.0
        self.sampler: GpuSampler | None = None
        #: the CUDA graphs last reported on (a reloaded ensemble brings new ones) and their counts then
        self.reported_graphs: tuple[Any, int, int] = (None, 0, 0)

    def record(
        self, ens: Ensemble, rows: int, batches: int, busy_s: float, loads: int, load_s: float
    ) -> dict[str, Any]:
        """This task's record; ``loads``/``load_s``: the worker's ensemble loads so far (all tasks)."""
        device = str(getattr(ens, "device", "cpu"))
        rec: dict[str, Any] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "executor_pid": executor_pid(),
            "device": device,
            "model_version": ens.model_version,
            "rows": rows,
            "batches": batches,
            "busy_s": busy_s,
            "tasks": 1,
            "loads": loads - self.reported_loads,
            "load_s": load_s - self.reported_load_s,
            "gpu_name": None,
            "gpu_mem_total_mb": None,
            "util_sum": 0.0,
            "util_n": 0,
            "util_max": None,
            "mem_used_mb_max": None,
            "torch_max_alloc_mb": None,
        }
        self.reported_loads = loads
        self.reported_load_s = load_s
        graphs = getattr(ens, "graphs", None)
        if graphs is not None:  # ensemble.cuda_graphs on a GPU: captures and eager forwards since the last report
            seen, captures, eager = self.reported_graphs
            if seen is not graphs:
                captures = eager = 0
            st = graphs.stats
            rec["graph_captures"], rec["graph_eager"] = st.captures - captures, st.eager - eager
            rec["graph_failure"] = st.failures[0] if st.failures else None
            self.reported_graphs = (graphs, st.captures, st.eager)
        if device.startswith("cuda"):
            if self.sampler is None:
                self.sampler = GpuSampler(device)
            rec.update(self.sampler.drain())
            rec["gpu_name"] = self.sampler.name
            rec["gpu_mem_total_mb"] = self.sampler.mem_total
            import torch

            rec["torch_max_alloc_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        return rec

    def start_sampling(self, ens: Ensemble) -> None:
        """Start sampling as soon as the ensemble sits on a GPU, so the first batch is seen."""
        device = str(getattr(ens, "device", "cpu"))
        if device.startswith("cuda") and self.sampler is None:
            self.sampler = GpuSampler(device)


def executor_pid() -> int | None:
    """The executor JVM's pid (worker -> pyspark daemon -> JVM), Linux only; else null."""
    try:
        with open(f"/proc/{os.getppid()}/stat", encoding="ascii") as fh:
            stat = fh.read()
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


# ----------------------------------------------------------------------------- driver side


def rows_scored(records: Mapping[str, Mapping[str, Any]]) -> int:
    """Rows the workers scored, over every record."""
    return sum(int(r.get("rows") or 0) for r in records.values())


def summarize_executors(records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per executor (host + JVM pid): device, load count and, on CUDA, NVML samples."""
    groups: dict[tuple[str, Any], list[Mapping[str, Any]]] = {}
    for rec in records.values():
        groups.setdefault((str(rec.get("host")), rec.get("executor_pid")), []).append(rec)
    out = []
    for (host, epid), recs in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        devices = sorted({str(r.get("device")) for r in recs})
        util_n = sum(int(r.get("util_n") or 0) for r in recs)
        util_sum = sum(float(r.get("util_sum") or 0.0) for r in recs)
        cuda = any(d.startswith("cuda") for d in devices)

        def peak(key: str, rs: list[Mapping[str, Any]] = recs) -> float | None:
            vals = [float(r[key]) for r in rs if r.get(key) is not None]
            return round(max(vals), 1) if vals else None

        out.append(
            {
                "host": host,
                "executor_pid": epid,
                "device": ",".join(devices),
                "python_workers": len(recs),
                "worker_pids": sorted(int(r["pid"]) for r in recs),
                "ensemble_loads": sum(int(r.get("loads") or 0) for r in recs),
                "model_load_s": round(max(float(r.get("load_s") or 0.0) for r in recs), 3),  # longest
                "rows_scored": sum(int(r.get("rows") or 0) for r in recs),
                "busy_s": round(sum(float(r.get("busy_s") or 0.0) for r in recs), 3),
                "gpu_name": next((r["gpu_name"] for r in recs if r.get("gpu_name")), None),
                "gpu_util_mean": round(util_sum / util_n, 1) if cuda and util_n else None,
                "gpu_util_max": peak("util_max") if cuda else None,
                "gpu_mem_used_mb_max": peak("mem_used_mb_max") if cuda else None,
                "gpu_mem_total_mb": peak("gpu_mem_total_mb") if cuda else None,
                "torch_max_alloc_mb": peak("torch_max_alloc_mb") if cuda else None,
                **_graph_summary(recs),
            }
        )
    return out


def _graph_summary(recs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """With ``ensemble.cuda_graphs`` on a GPU: graphs captured, forwards that ran eagerly, and the first
    capture failure (null: none); nothing otherwise."""
    with_graphs = [r for r in recs if "graph_captures" in r]
    if not with_graphs:
        return {}
    return {
        "cuda_graph_captures": sum(int(r.get("graph_captures") or 0) for r in with_graphs),
        "cuda_graph_eager_forwards": sum(int(r.get("graph_eager") or 0) for r in with_graphs),
        "cuda_graph_failure": next((r["graph_failure"] for r in with_graphs if r.get("graph_failure")), None),
    }
