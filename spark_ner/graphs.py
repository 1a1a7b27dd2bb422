"""CUDA graphs of the members' forward passes: one per (member, rows bucket, length), captured once per
worker, replayed for every exact-length batch of that shape (issue 22, item 3).

Why: an eager forward of a 12-layer member launches ~160 kernels, ~5 ms of one CPU thread; names are
5-7 tokens, so that launch time, not the GPU's compute, set the pace of the H200 run of 2026-12-04
(BENCHMARKS.md). A replayed graph is one launch. What a graph needs is a fixed shape: batches of one
length (``tokenize.uniform_batches``) vary only in rows, so a batch's rows are rounded up to a bucket
(:func:`row_bucket`) and the extra rows are computed and never read. Rows are independent without an
attention mask (attention, LayerNorm and the classifier work within a row), so what the extra rows hold,
left over from an earlier batch, cannot change a real row's output. Batches with a mask (rare lengths
packed together) run eagerly.

Spark requirements: none beyond the ensemble's: a Python worker's graphs live as long as the worker (its
cached ensemble), one feeder thread replays them on its current stream, in launch order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["GraphStats", "StaticForwards", "row_bucket"]

#: above this many rows a batch is rounded up to a multiple of it, below to the next power of two
ROW_STEP = 128
#: graphs one worker keeps (all members): beyond, new shapes run eagerly. Each keeps its output (rows x
#: length x hidden) in the shared pool: BERT-base fp16 at 1,024 rows of 8 tokens is 12 MB
MAX_GRAPHS = 160
#: a shape is captured the time it is met for the CAPTURE_AFTER-th time (the ensemble's setting on CUDA);
#: before, it runs eagerly. Why: names with new words bring rare lengths, and a shape met once costs a
#: capture (two warm-up forwards, the capture, the graph's set-up: several forwards' time) for nothing;
#: on the H200 run of 2026-12-04 the executor section's graph rounds captured 15-42 shapes while timed
#: and ran slower than eager (26,054 vs 33,920 names/s at one process). A shape met twice is met again.
CAPTURE_AFTER = 2


def row_bucket(rows: int, batch_size: int) -> int:
    """The rows a forward of ``rows`` is computed at: the next power of two up to :data:`ROW_STEP`, then
    the next multiple of it, never more than ``batch_size`` (a full batch is its own bucket). At most
    ``ROW_STEP - 1`` extra rows above the step, at most 2x below it."""
    if rows <= 0 or rows > batch_size:
        raise ValueError(f"row_bucket: expected 1..{batch_size} rows (ensemble.batch_size), got {rows}")
    bucket = 1 << (rows - 1).bit_length() if rows <= ROW_STEP else -(-rows // ROW_STEP) * ROW_STEP
    return min(bucket, batch_size)


@dataclass
class GraphStats:
    """What the graphs did, for a bench or a job summary (numbers only)."""

    captures: int = 0
    replays: int = 0
    #: forwards that ran eagerly although graphs are on: a masked batch, a full cache, a failed capture,
    #: a shape not yet met ``capture_after`` times
    eager: int = 0
    padded_tokens: int = 0  # tokens computed in rows above the batches' own (bucket rounding)
    failures: list[str] = field(default_factory=list)


@dataclass
class _Static:
    """One shape's static input ids, its output (both on the device) and its graph (None: eager)."""

    ids: Any
    out: Any
    graph: Any


class StaticForwards:
    """Forward passes at static shapes, keyed by (member, rows bucket, length).

    ``capture=True`` (CUDA): the ``capture_after``-th batch of a shape (earlier ones run eagerly) warms the
    forward on a side stream, captures it into a graph (all graphs share one memory pool) and replays it;
    later batches copy their ids into the static input and replay. ``capture=False``: the same static
    buffers and rounding, the forward run eagerly on them (how the CPU tests check that bucket rows change
    no output).

    A graph's output stays valid until the next replay of any graph (the pool is shared): the caller
    must enqueue what reads it (``index_select`` of the picked positions) before its next forward, on
    the same stream. One thread at a time (a lock makes it so).
    """

    def __init__(
        self, batch_size: int, capture: bool = True, max_graphs: int = MAX_GRAPHS, capture_after: int = 1
    ) -> None:
        if capture_after < 1:
            raise ValueError(f"StaticForwards: capture_after must be 1 or more, got {capture_after}")
        self.batch_size = batch_size
        self.capture = capture
        self.max_graphs = max_graphs
        self.capture_after = capture_after
        self._met: dict[tuple[str, int, int], int] = {}  # shapes not made yet: times met
        self.stats = GraphStats()
        self._shapes: dict[tuple[str, int, int], _Static] = {}
        self._pool: Any = None
        self._off: set[str] = set()  # members whose capture failed: eager from then on
        self._skip: set[tuple[str, int, int]] = set()  # shapes whose capture ran out of memory: eager
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._shapes)

    def forward(self, member: str, fn: Callable[[Any], Any], ids: Any) -> Any | None:
        """``fn(ids)`` for ids [rows, length] of one length, computed at the rows' bucket: the output's
        first ``rows`` rows, or None where this shape runs eagerly (the caller calls ``fn`` itself).

        ``fn`` must depend on nothing but its argument and tensors that live as long as the worker (the
        member's weights, its shared position row): a graph replays exactly what it captured."""
        rows, length = int(ids.shape[0]), int(ids.shape[1])
        if member in self._off or not 0 < rows <= self.batch_size:
            return self._eager()
        key = (member, row_bucket(rows, self.batch_size), length)
        with self._lock:
            static = self._shapes.get(key)
            if static is None:
                if len(self._shapes) >= self.max_graphs or key in self._skip:
                    return self._eager()
                met = self._met.get(key, 0) + 1
                if met < self.capture_after:
                    self._met[key] = met
                    return self._eager()
                self._met.pop(key, None)
                static = self._make(key, fn, ids)
                if static is None:
                    return self._eager()
            static.ids[:rows].copy_(ids, non_blocking=True)
            if static.graph is not None:
                static.graph.replay()
                self.stats.replays += 1
                out = static.out
            else:
                out = fn(static.ids)
            self.stats.padded_tokens += (key[1] - rows) * length
            return out[:rows]

    def _eager(self) -> Any | None:
        """None: the caller runs this forward eagerly (counted)."""
        self.stats.eager += 1
        return None

    def _make(self, key: tuple[str, int, int], fn: Callable[[Any], Any], ids: Any) -> _Static | None:
        """A new shape's static ids (the first rows of ``ids`` repeated: valid token ids) and, on CUDA, its
        graph. A capture that fails turns graphs off for that member, one that runs out of memory for that
        shape (logged); the batch itself then runs eagerly."""
        import torch

        member, bucket, _ = key
        static_ids = ids[torch.arange(bucket, device=ids.device) % ids.shape[0]].contiguous()
        if not self.capture:
            self._shapes[key] = _Static(static_ids, None, None)
            return self._shapes[key]
        try:
            side = torch.cuda.Stream(device=ids.device)
            side.wait_stream(torch.cuda.current_stream(ids.device))
            with torch.cuda.stream(side):  # warm-up off the capture: cuBLAS handles, kernel choice
                for _ in range(2):
                    fn(static_ids)
            torch.cuda.current_stream(ids.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
                out = fn(static_ids)
            if self._pool is None:
                self._pool = graph.pool()
        except Exception as exc:  # an op capture does not allow (a host sync): this member runs eagerly
            why = f"{member} {key[1]}x{key[2]}: {type(exc).__name__}: {exc}"[:300]
            self.stats.failures.append(why)
            if isinstance(exc, torch.cuda.OutOfMemoryError):  # this shape only: smaller ones may fit
                self._skip.add(key)
                log.warning("CUDA graph capture ran out of memory (%s); that shape runs eagerly", why)
            else:
                self._off.add(member)
                log.warning("CUDA graph capture failed (%s); member %s runs eagerly from now on", why, member)
            return None
        self.stats.captures += 1
        self._shapes[key] = _Static(static_ids, out, graph)
        return self._shapes[key]
