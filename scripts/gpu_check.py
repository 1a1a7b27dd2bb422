#!/usr/bin/env python3
"""One-command GPU check for spark_ner (issue 18 item 5), run by ``scripts/gpu_check.sh``.

Why this exists: the GPU rows of BENCHMARKS.md need a CUDA machine that is lent for minutes and
has torch/transformers/accelerate but no pyspark, no Java, no venv and no network. So everything
here runs in-process (``load_config`` + ``load_ensemble`` + ``Ensemble.label``) on members built on
the spot: BERT-base and RoBERTa-base SIZED token classifiers with RANDOM weights (speed does not
depend on the weights; their labels mean nothing) and tokenizers trained on synthetic names.

Stages, each time-boxed (SIGALRM) and guarded (a failure is recorded and the next stage runs):
``setup`` (names, members), ``throughput`` (fp16 vs fp32 names/s per batch size, model FLOP
utilisation, peak memory, NVML utilisation), ``executor`` (N processes share the GPU, each running the
Spark UDF's Arrow loop: ``spark-ner bench --sections executor``), ``host_ceiling`` (near-zero-compute members on all CPU
cores: what tokenization + decoding alone allow), ``oom_split`` (a real CUDA OOM: every row must
still come out labelled), ``finetune`` (fp16 Accelerate steps/s, plus the package's ``train()``
end to end) and ``pytest_gpu`` (``pytest -m gpu tests/test_gpu.py``). Results go to
``gpu_check.json`` and ``gpu_check.md`` (a block for BENCHMARKS.md) after every stage.

Without CUDA it runs a small CPU fallback (tiny members, few names, seconds per stage; the OOM is
simulated), says "no CUDA" and exits 0 when every stage passed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the package is not installed on the GPU machine
    sys.path.insert(0, str(ROOT))

# one harness (issue 22): names, FLOP count, GPU peaks, the label loop and the agreement check are bench's
from spark_ner.tools.bench import (  # noqa: E402
    bench_oom,
    chunk_rows,
    ensemble_flops,
    label_agreement,
    label_all,
    peak_tflops,
    synthetic_names,
)

log = logging.getLogger("gpu_check")

STAGES = ("setup", "throughput", "host_ceiling", "executor", "oom_split", "finetune", "pytest_gpu")
NO_CUDA = "no CUDA: CPU fallback (tiny members, few names); GPU figures not measured"


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """Sizes and time boxes for one run; the CPU fallback shrinks everything to seconds."""

    cuda: bool
    quick: bool
    names: int
    batches: tuple[int, ...]
    precisions: tuple[str, ...]
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    host_names: int
    oom_names: int
    ft_batch: int
    ft_steps: int
    train_steps: int
    train_examples: int
    budgets: dict[str, float] = field(default_factory=dict)
    total_s: float = 420.0

    @staticmethod
    def make(cuda: bool, quick: bool) -> Plan:
        base = {"hidden": 768, "layers": 12, "heads": 12, "intermediate": 3072, "vocab": 30_522}  # BERT-base
        if cuda and not quick:  # the full run: ~6 minutes on an H200
            budgets = {"setup": 75, "throughput": 130, "host_ceiling": 35, "executor": 100, "oom_split": 40}
            return Plan(
                cuda=True, quick=False, names=100_000, batches=(256, 1024, 4096), precisions=("fp16", "fp32"),
                host_names=100_000, oom_names=16_384, ft_batch=128, ft_steps=40, train_steps=40,
                train_examples=20_000, budgets={**budgets, "finetune": 60, "pytest_gpu": 90}, total_s=470, **base,
            )  # fmt: skip
        if cuda:  # a short fix-up run
            budgets = {"setup": 60, "throughput": 50, "host_ceiling": 20, "executor": 60, "oom_split": 30}
            return Plan(
                cuda=True, quick=True, names=20_000, batches=(1024,), precisions=("fp16", "fp32"),
                host_names=20_000, oom_names=16_384, ft_batch=128, ft_steps=15, train_steps=15,
                train_examples=5_000, budgets={**budgets, "finetune": 40, "pytest_gpu": 80}, total_s=360, **base,
            )  # fmt: skip
        # CPU fallback: tiny members, a few seconds per stage (the test runs it with --quick)
        n = 600 if quick else 3000
        # generous boxes: the fallback is a test of the stages, and shared CPU machines run 3-4x slower at times
        budgets = {
            "setup": 120,
            "throughput": 60,
            "host_ceiling": 60,
            "executor": 150,
            "oom_split": 40,
            "finetune": 100,
        }
        return Plan(
            cuda=False, quick=quick, names=n, batches=(64, 256), precisions=("fp32",), hidden=64, layers=2,
            heads=2, intermediate=128, vocab=3000, host_names=n, oom_names=1024, ft_batch=16,
            ft_steps=4 if quick else 10, train_steps=3 if quick else 8, train_examples=300 if quick else 1500,
            budgets={**budgets, "pytest_gpu": 150}, total_s=720 if quick else 900,
        )  # fmt: skip


# ----------------------------------------------------------------------------- helpers


class StageTimeout(Exception):
    """A stage ran past its time box."""


@contextlib.contextmanager
def time_box(seconds: float) -> Iterator[None]:
    """Raise :class:`StageTimeout` in the main thread after ``seconds`` (between bytecodes)."""

    def _alarm(signum: int, frame: Any) -> None:
        raise StageTimeout(f"ran past its {seconds:.0f} s time box")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.5))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _sync(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.synchronize()


def _free_cuda(cuda: bool) -> None:
    gc.collect()
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.empty_cache()



class NvmlSampler:
    """GPU utilisation/memory sampled with NVML in a thread (what the Spark UDF reports per executor)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.handle: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
            ident = visible[0] if visible else "0"
            self.handle = (
                pynvml.nvmlDeviceGetHandleByIndex(int(ident))
                if ident.isdigit()
                else pynvml.nvmlDeviceGetHandleByUUID(ident)
            )
        except Exception as exc:  # no NVML: figures stay null
            log.info("NVML unavailable: %s", exc)

    def __enter__(self) -> NvmlSampler:
        if self.handle is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                util = float(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)
                mem = self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used / 2**20
            except Exception:
                return
            self.samples.append((util, mem))
            time.sleep(self.interval)

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {"gpu_util_mean": None, "gpu_util_max": None, "nvml_mem_used_mb_max": None}
        util = [s[0] for s in self.samples]
        return {
            "gpu_util_mean": round(float(np.mean(util)), 1),
            "gpu_util_max": max(util),
            "nvml_mem_used_mb_max": round(max(s[1] for s in self.samples)),
            "nvml_samples": len(self.samples),
        }


def write_config(path: Path, members: Sequence[tuple[str, Path]], **ensemble: Any) -> Path:
    """A config TOML over ``members`` (schema: spark_ner/default_config.toml)."""
    lines = ["[ensemble]"]
    for key, value in ensemble.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        else:
            lines.append(f"{key} = {value}")
    for name, folder in members:
        lines += ["", "[[models]]", f'name = "{name}"', f'path = "{folder}"', "weight = 1.0"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ensemble(cfg_path: Path, **overrides: Any) -> Any:
    from spark_ner import load_config, load_ensemble

    return load_ensemble(load_config(cfg_path, overrides={f"ensemble.{k}": v for k, v in overrides.items()}))


def _stats_delta(ens: Any, before: dict[str, float]) -> dict[str, float]:
    """Seconds per phase (tokenize/forward/decode) the ensemble counted since ``before``."""
    return {k: round(v - before.get(k, 0.0), 3) for k, v in ens.stats.seconds.items()}


# ----------------------------------------------------------------------------- stages


@dataclass
class Ctx:
    """What stages share: the plan, the work dir, the names and the members built in ``setup``."""

    plan: Plan
    work: Path
    names: list[str] = field(default_factory=list)
    spans: list[list[tuple[int, int, str]]] = field(default_factory=list)
    bert: Path | None = None
    roberta: Path | None = None
    host_bert: Path | None = None
    host_roberta: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return self.plan.cuda


def stage_setup(ctx: Ctx, rec: dict[str, Any]) -> None:
    """Names, then the two benchmark members and the two near-zero-compute host members."""
    from spark_ner.tools.random_models import Size, build_random_bert, build_random_roberta

    p = ctx.plan
    t0 = time.perf_counter()
    ctx.names, ctx.spans = synthetic_names(max(p.names, p.host_names, p.oom_names), seed=0)
    rec["names"] = len(ctx.names)
    rec["names_seconds"] = round(time.perf_counter() - t0, 2)
    rec["examples"] = ctx.names[:8]
    corpus = ctx.names[:50_000]
    size = Size(hidden=p.hidden, layers=p.layers, heads=p.heads, intermediate=p.intermediate, vocab=p.vocab)
    t0 = time.perf_counter()
    ctx.bert = build_random_bert(ctx.work / "bert-base-random", corpus, size)
    ctx.roberta = build_random_roberta(ctx.work / "roberta-base-random", corpus, size)
    rec["build_seconds"] = round(time.perf_counter() - t0, 2)
    host = Size(hidden=16, layers=1, heads=1, intermediate=16, vocab=p.vocab)
    ctx.host_bert = build_random_bert(ctx.work / "bert-host", corpus, host)
    ctx.host_roberta = build_random_roberta(ctx.work / "roberta-host", corpus, host)
    for key, folder in (("bert", ctx.bert), ("roberta", ctx.roberta)):
        cfg = json.loads((folder / "config.json").read_text())
        n_params = (folder / "model.safetensors").stat().st_size / 4  # fp32 on disk
        rec[key] = {
            "layers": cfg["num_hidden_layers"],
            "hidden": cfg["hidden_size"],
            "heads": cfg["num_attention_heads"],
            "intermediate": cfg["intermediate_size"],
            "vocab": cfg["vocab_size"],
            "params_m": round(n_params / 1e6, 1),
        }


def stage_throughput(ctx: Ctx, rec: dict[str, Any], deadline: float) -> None:
    """fp16 vs fp32 names/s per batch size through ``Ensemble.label``, with MFU and peak memory."""
    import torch

    p = ctx.plan
    assert ctx.bert and ctx.roberta, "setup did not build the members"
    members = [("bert-base-random", ctx.bert), ("roberta-base-random", ctx.roberta)]
    names = ctx.names[: p.names]
    gpu = torch.cuda.get_device_name(0) if ctx.cuda else None
    peak16, peak32 = peak_tflops(gpu)
    rec["peak_tflops"] = {"fp16": peak16, "fp32": peak32}
    rec["fp32_matmul_precision"] = torch.get_float32_matmul_precision()
    rec["tf32_matmul_allowed"] = bool(torch.backends.cuda.matmul.allow_tf32)
    rows: list[dict[str, Any]] = []
    rec["rows"] = rows
    device = "cuda" if ctx.cuda else "cpu"
    for precision in p.precisions:
        peak = peak16 if precision in ("fp16", "bf16") else peak32
        for batch in p.batches:
            row: dict[str, Any] = {"precision": precision, "batch": batch}
            rows.append(row)
            if time.monotonic() > deadline - 10:
                row["skipped"] = "time box"
                continue
            try:
                _throughput_one(ctx, row, members, names, precision, device, batch, peak)
            except StageTimeout:
                raise
            except Exception as exc:  # one configuration failing must not hide the others
                row["error"] = f"{type(exc).__name__}: {exc}"
                log.exception("throughput %s batch %d failed", precision, batch)
            finally:
                _free_cuda(ctx.cuda)
    by = {(r["precision"], r["batch"]): r.get("names_per_s") for r in rows if "batch" in r}
    agree_names = names[: 5000 if ctx.cuda else 200]
    rec["label_agreement"] = label_agreement(
        lambda precision, device: write_config(
            ctx.work / f"agree-{precision}-{device}.toml", members, precision=precision, device=device, batch_size=1024
        ),
        agree_names,
    )
    rec["fp16_over_fp32"] = {
        str(b): round(by[("fp16", b)] / by[("fp32", b)], 2)
        for b in p.batches
        if by.get(("fp16", b)) and by.get(("fp32", b))
    }
    ctx.results["throughput_rows"] = rows


def _throughput_one(
    ctx: Ctx,
    row: dict[str, Any],
    members: list[tuple[str, Path]],
    names: list[str],
    precision: str,
    device: str,
    batch: int,
    peak: float | None,
) -> None:
    """One (precision, batch) figure: a fresh ensemble, warm word caches and kernels, one timed pass.

    Why a fresh load per batch size: the config is the only supported way to set the batch, and a
    forward hook checks that the passes really had that many rows.
    """
    import torch

    from spark_ner.tokenize import split_words

    cfg = write_config(
        ctx.work / f"bench-{precision}-{batch}.toml", members, precision=precision, device=device, batch_size=batch
    )
    _free_cuda(ctx.cuda)
    base = torch.cuda.memory_allocated() if ctx.cuda else 0
    t0 = time.perf_counter()
    ens = _ensemble(cfg)
    row["load_s"] = round(time.perf_counter() - t0, 2)
    if ctx.cuda:
        row["weights_mem_mb"] = round((torch.cuda.memory_allocated() - base) / 2**20)
    row["member_dtypes"] = sorted({str(next(m.model.parameters()).dtype) for m in ens.members})
    # the word caches hold every name's words (steady state of a long job); then kernels and allocator
    e = ens.cfg.ensemble
    split = split_words(names, e.max_length, e.case_restore)
    for wt in ens.tokenizers:
        wt.encode(split)
    chunk = chunk_rows(batch)
    probe_n = min(len(names), chunk)
    label_all(ens, names[:probe_n], chunk)
    probe_s, _, _ = label_all(ens, names[:probe_n], chunk)
    target_s = 5.0 if ctx.cuda else 1.5
    n = int(min(len(names), max(probe_n, probe_n / max(probe_s, 1e-9) * target_s)))
    n = max(chunk, n // chunk * chunk) if n >= chunk else n
    widest: list[int] = []

    def count_rows(mod: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            widest.append(int(ids.shape[0]))

    hooks = [m.model.register_forward_pre_hook(count_rows, with_kwargs=True) for m in ens.members]
    _sync(ctx.cuda)
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    before = dict(ens.stats.seconds)
    try:
        with NvmlSampler() if ctx.cuda else contextlib.nullcontext() as sampler:
            secs, out_rows, errors = label_all(ens, names[:n], chunk)
            _sync(ctx.cuda)
    finally:
        for h in hooks:
            h.remove()
    flops = ensemble_flops(ens, names[:n])
    rate = n / secs
    row.update(
        names=n,
        rows_out=out_rows,
        row_errors=errors,
        seconds=round(secs, 3),
        names_per_s=round(rate),
        call_rows=chunk,
        forward_passes=len(widest),
        forward_rows_max=max(widest, default=0),
        tokens_per_name=round(flops["tokens_per_name"], 2),
        gflop_per_name=round(flops["real"] / n / 1e9, 3),
        achieved_tflops=round(flops["real"] / secs / 1e12, 2),
        split_s=_stats_delta(ens, before),
    )
    if peak:
        row["mfu"] = round(flops["real"] / secs / (peak * 1e12), 4)
        row["mfu_padded"] = round(flops["padded"] / secs / (peak * 1e12), 4)
    if ctx.cuda:
        row["peak_mem_mb"] = round((torch.cuda.max_memory_allocated() - base) / 2**20)
    if isinstance(sampler, NvmlSampler):
        row.update(sampler.summary())
    log.info("throughput %s batch %d: %s names/s", precision, batch, f"{rate:,.0f}")
    del ens
    if row["forward_rows_max"] > batch:  # (fewer is right: exact-length batches hold one length's rows)
        raise AssertionError(f"forward passes of up to {row['forward_rows_max']} rows, configured {batch}")


def stage_host_ceiling(ctx: Ctx, rec: dict[str, Any]) -> None:
    """names/s when the forward pass costs ~nothing: the host side (split, tokenize, batch, decode).

    Near-zero-compute members (1 layer, hidden 16) on the CPU with one lane per core; cold = a freshly
    loaded ensemble (empty word caches), warm = the same names again.
    """
    import torch

    assert ctx.host_bert and ctx.host_roberta, "setup did not build the host members"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    batch = 1024 if ctx.cuda else 256
    cfg = write_config(
        ctx.work / "host.toml",
        [("bert-host", ctx.host_bert), ("roberta-host", ctx.host_roberta)],
        device="cpu",
        precision="fp32",
        batch_size=batch,
        num_threads=cores,
        cpu_parallel="batches",
    )
    threads = torch.get_num_threads()
    try:
        ens = _ensemble(cfg)
        names = ctx.names[: ctx.plan.host_names]
        chunk = chunk_rows(batch)
        rec.update(cores=cores, lanes=ens.lanes, batch=batch, call_rows=chunk, names=len(names))
        before = dict(ens.stats.seconds)
        cold_s, rows, errors = label_all(ens, names, chunk)
        rec["cold_split_s"] = _stats_delta(ens, before)
        before = dict(ens.stats.seconds)
        warm_s, rows2, errors2 = label_all(ens, names, chunk)
        rec["warm_split_s"] = _stats_delta(ens, before)
        rec.update(
            names_per_s_cold=round(len(names) / cold_s),
            names_per_s_warm=round(len(names) / warm_s),
            rows_out=rows + rows2,
            row_errors=errors + errors2,
        )
        if rows != len(names) or rows2 != len(names):
            raise AssertionError(f"{rows}/{rows2} rows out for {len(names)} names")
    finally:
        torch.set_num_threads(threads)  # load_ensemble set 1 intra-op thread for the lanes


def stage_executor(ctx: Ctx, rec: dict[str, Any]) -> None:
    """N processes share the GPU, each running the Spark UDF's own Arrow loop, as N tasks of one executor
    would (issue 22): ``spark-ner bench``'s executor section, one harness. The GPU members in fp16 on
    CUDA; the near-zero-compute members on a CPU (one process: it only shows the stage runs)."""
    from spark_ner.tools.bench import bench_executor

    if ctx.cuda:
        members, precision = [("bert", ctx.bert), ("roberta", ctx.roberta)], "fp16"
    else:
        members, precision = [("bert", ctx.host_bert), ("roberta", ctx.host_roberta)], "fp32"
    if any(m is None for _, m in members):
        raise RuntimeError("setup did not build the members")
    batch = 1024 if ctx.cuda else 64
    cfg = write_config(
        ctx.work / "executor.toml", [(n, p) for n, p in members if p], precision=precision, batch_size=batch
    )
    procs = (1, 2, 4) if ctx.cuda and not ctx.plan.quick else (1, 2) if ctx.cuda else (1,)
    rec.update(bench_executor(str(cfg), ctx.plan.names, procs, rows=max(2048, 8 * batch)))


def stage_oom_split(ctx: Ctx, rec: dict[str, Any]) -> None:
    """An oversize batch under a real CUDA OOM: the ensemble must halve it and label every row.

    CUDA: a blocker tensor takes all free GPU memory but a headroom sized from the measured
    activations, so the full batch cannot fit. CPU: the OOM is simulated (members raise
    ``torch.cuda.OutOfMemoryError`` above a row count), which exercises the same split path.
    """
    assert ctx.bert and ctx.roberta, "setup did not build the members"
    p = ctx.plan
    names = ctx.names[: p.oom_names]
    big = len(names)
    cfg = write_config(
        ctx.work / "oom.toml",
        [("bert-base-random", ctx.bert), ("roberta-base-random", ctx.roberta)],
        precision="fp16" if ctx.cuda else "fp32",
        device="cuda" if ctx.cuda else "cpu",
        batch_size=big,
    )
    bench_oom(cfg, names, ctx.cuda, rec)


def _word_tags(name: str, spans: list[tuple[int, int, str]]) -> tuple[list[str], list[str]]:
    """Words (as the package splits them, no case restore) and their BIO tags from char spans."""
    from spark_ner.tokenize import split_name

    words, starts, ends = split_name(name, 10**6, case_restore=False)
    tags = ["O"] * len(words)
    for lo, hi, label in spans:
        first = True
        for w, (ws, we) in enumerate(zip(starts, ends, strict=True)):
            if ws < hi and we > lo and tags[w] == "O":
                tags[w] = ("B-" if first else "I-") + label
                first = False
    return words, tags


def stage_finetune(ctx: Ctx, rec: dict[str, Any], deadline: float) -> None:
    """fp16 fine-tuning of the BERT-base member with Accelerate: a bare loop for steps/s, then the
    package's own ``train()`` end to end (data, model, steps, dev F1, save)."""
    import torch
    from accelerate import Accelerator
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from spark_ner.config import TAGS

    assert ctx.bert, "setup did not build the members"
    p = ctx.plan
    tag_id = {t: i for i, t in enumerate(TAGS)}
    tok = AutoTokenizer.from_pretrained(str(ctx.bert), local_files_only=True)
    n_batches = 4
    batches = []
    for b in range(n_batches):
        words, labels = [], []
        for i in range(b * p.ft_batch, (b + 1) * p.ft_batch):
            w, t = _word_tags(ctx.names[i], ctx.spans[i])
            words.append(w or ["-"])
            labels.append(t or ["O"])
        enc = tok(words, is_split_into_words=True, truncation=True, max_length=32, padding=True, return_tensors="pt")
        lab = torch.full(enc["input_ids"].shape, -100, dtype=torch.long)
        for r in range(len(words)):
            prev = None
            for pos, wid in enumerate(enc.word_ids(r)):
                if wid is not None and wid != prev:
                    lab[r, pos] = tag_id[labels[r][wid]]
                prev = wid
        batches.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": lab})
    precision = "fp16" if ctx.cuda else "no"
    acc = Accelerator(mixed_precision=precision, cpu=not ctx.cuda)
    model = AutoModelForTokenClassification.from_pretrained(str(ctx.bert), local_files_only=True)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    model, opt = acc.prepare(model, opt)
    model.train()
    warm = 3
    losses: list[float] = []
    steps_done = 0
    t0 = time.perf_counter()
    for step in range(warm + p.ft_steps):
        if step == warm:
            _sync(ctx.cuda)
            t0 = time.perf_counter()
        batch = {k: v.to(acc.device, non_blocking=True) for k, v in batches[step % n_batches].items()}
        out = model(**batch)
        acc.backward(out.loss)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step in (0, warm + p.ft_steps - 1):
            losses.append(round(float(out.loss.detach()), 4))
        if step >= warm:
            steps_done += 1
        if time.monotonic() > deadline - (25 if ctx.cuda else 5):  # leave time for train() below
            break
    _sync(ctx.cuda)
    secs = time.perf_counter() - t0
    tokens = float(sum(int(b["attention_mask"].sum()) for b in batches)) / n_batches
    n_params = sum(p_.numel() for p_ in acc.unwrap_model(model).parameters())
    rec["loop"] = {
        "mixed_precision": precision,
        "batch_names": p.ft_batch,
        "tokens_per_batch": round(tokens),
        "steps": steps_done,
        "seconds": round(secs, 3),
        "steps_per_s": round(steps_done / secs, 2) if secs > 0 and steps_done else None,
        "names_per_s": round(steps_done * p.ft_batch / secs) if secs > 0 and steps_done else None,
        "loss_first_last": losses,
        "params_m": round(n_params / 1e6, 1),
    }
    if ctx.cuda and steps_done:
        peak16, _ = peak_tflops(torch.cuda.get_device_name(0))
        train_flops = 6.0 * n_params * tokens * steps_done  # forward + backward ~ 3x forward
        rec["loop"]["approx_tflops"] = round(train_flops / secs / 1e12, 1)
        if peak16:
            rec["loop"]["approx_mfu"] = round(train_flops / secs / (peak16 * 1e12), 4)
    del model, opt, acc
    _free_cuda(ctx.cuda)

    if time.monotonic() > deadline - (20 if ctx.cuda else 8):
        rec["train"] = {"skipped": "time box"}
        return
    import pandas as pd

    from spark_ner.starter.train import TrainArgs, train

    n = min(p.train_examples, len(ctx.names))
    data = pd.DataFrame(
        {
            "name": ctx.names[:n],
            "spans": [json.dumps([{"start": s, "end": e, "label": lab} for s, e, lab in sp]) for sp in ctx.spans[:n]],
        }
    )
    train_file = ctx.work / "train.parquet"
    data.to_parquet(train_file, index=False)
    args = TrainArgs(
        train_file=train_file,
        output_dir=ctx.work / "finetuned",
        init=ctx.bert,
        mixed_precision="fp16",
        epochs=1,
        max_steps=p.train_steps,
        batch_size=64 if ctx.cuda else 16,
        eval_batch_size=512 if ctx.cuda else 64,
        max_eval_examples=1000 if ctx.cuda else 50,
        progress=False,
    )
    t0 = time.perf_counter()
    metrics = train(args)
    rec["train"] = {
        "wall_s": round(time.perf_counter() - t0, 2),
        "seconds": metrics.get("seconds"),
        "steps": metrics.get("steps"),
        "batch": args.batch_size,
        "train_examples": metrics.get("train_examples"),
        "mixed_precision": metrics.get("mixed_precision"),
        "dev_f1": (metrics.get("dev") or {}).get("f1"),
    }
    _free_cuda(ctx.cuda)


def stage_pytest(ctx: Ctx, rec: dict[str, Any], deadline: float) -> None:
    """``pytest -m gpu tests/test_gpu.py`` in a subprocess (skipped tests without CUDA)."""
    _free_cuda(ctx.cuda)
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests/test_gpu.py"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(ROOT), env.get("PYTHONPATH", "")) if x)
    limit = max(5.0, deadline - time.monotonic() - 3)
    rec["command"] = " ".join(cmd[1:])
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit)
        output, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out_b = exc.stdout or b""
        output = out_b.decode() if isinstance(out_b, bytes) else out_b
        rc = None
        rec["timed_out_after_s"] = round(limit)
    rec["returncode"] = rc
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    summary = next((ln for ln in reversed(lines) if re.search(r"\b(passed|failed|skipped|error|no tests)\b", ln)), "")
    rec["summary"] = summary.strip("= ").strip()
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", summary)}
    rec["counts"] = counts
    rec["output_tail"] = output[-3000:]
    if rc != 0:
        raise AssertionError(f"pytest exited {rc}: {rec['summary']}")
    if ctx.cuda and counts.get("passed", 0) == 0:
        raise AssertionError(f"no GPU test passed on a CUDA machine: {rec['summary']}")


# ----------------------------------------------------------------------------- report


def machine_info(cuda: bool) -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "cuda": cuda,
    }
    try:
        import accelerate

        info["accelerate"] = accelerate.__version__
    except ImportError:
        info["accelerate"] = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info.setdefault("cpu", platform.processor() or platform.machine())
    if cuda:
        prop = torch.cuda.get_device_properties(0)
        info.update(
            gpu=torch.cuda.get_device_name(0),
            gpu_mem_gib=round(prop.total_memory / 2**30, 1),
            gpu_capability=f"{prop.major}.{prop.minor}",
            cuda_runtime=torch.version.cuda,
        )
        try:
            import pynvml

            pynvml.nvmlInit()
            info["driver"] = str(pynvml.nvmlSystemGetDriverVersion())
        except Exception:
            info["driver"] = None
    else:
        info["gpu"] = None
    return info


def _n(v: Any, digits: int = 0) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and not digits:
        return f"{v:,.0f}"
    if isinstance(v, int | float):
        return f"{v:,.{digits}f}" if digits else f"{v:,}"
    return str(v)


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def markdown(res: dict[str, Any]) -> str:
    """A block to paste into BENCHMARKS.md: machine, versions, date, command, every figure."""
    m = res["machine"]
    st = res["stages"]
    lines = [f"## GPU check of {m['date'][:10]}", ""]
    lines.append(f"Command: `{res['command']}`  ")
    gpu = f"{m['gpu']} ({m.get('gpu_mem_gib')} GiB, CUDA {m.get('cuda_runtime')}, driver {m.get('driver')})"
    lines.append(
        f"Machine: {gpu if m.get('gpu') else 'no CUDA GPU'}; {m.get('cpu')}, {m['cores']} cores; Python "
        f"{m['python']}, torch {m['torch']}, transformers {m['transformers']}, accelerate {m.get('accelerate')}; "
        f"{m['date']}.  "
    )
    if not res["cuda"]:
        lines += ["", f"**{NO_CUDA}.** The figures below only show that every stage runs.", ""]
    setup = st.get("setup", {})
    if "bert" in setup:
        b, r = setup["bert"], setup["roberta"]
        lines.append(
            f"Members: RANDOM weights (speed only; labels meaningless): BERT {b['layers']}x{b['hidden']} "
            f"({b['params_m']}M params, WordPiece vocab {b['vocab']:,} trained on the names) + RoBERTa "
            f"{r['layers']}x{r['hidden']} ({r['params_m']}M params, byte-level BPE vocab {r['vocab']:,}). "
            f"Names: {setup.get('names', 0):,} distinct synthetic customer names (persons, households, "
            "companies, places, junk; 12% ALL CAPS)."
        )
    lines += ["", "| measure | value | notes |", "| --- | --- | --- |"]
    tp = st.get("throughput", {})
    peak = tp.get("peak_tflops", {})
    for row in tp.get("rows", []):
        if "names_per_s" not in row:
            why = str(row.get("skipped") or row.get("error", "")).replace("|", "/")
            lines.append(f"| in-process {row['precision']} batch {row.get('batch', '')} | not run | {why} |")
            continue
        prec = row["precision"]
        notes = [
            f"{row['names']:,} names in calls of {row['call_rows']:,} rows",
            f"{row['tokens_per_name']} tokens/name/member, {row['gflop_per_name']} GFLOP/name",
            f"{row['achieved_tflops']} TFLOP/s",
        ]
        if row.get("mfu") is not None:
            notes.append(f"MFU {_pct(row['mfu'])} of {peak.get(prec if prec == 'fp32' else 'fp16')} TFLOP/s "
                         f"({_pct(row.get('mfu_padded'))} counting padding)")  # fmt: skip
        if row.get("peak_mem_mb") is not None:
            notes.append(f"peak mem {row['peak_mem_mb']:,} MB (weights {row['weights_mem_mb']:,})")
        if row.get("gpu_util_mean") is not None:
            notes.append(f"NVML util mean {row['gpu_util_mean']}% max {row['gpu_util_max']}%")
        sp = row.get("split_s", {})
        notes.append(f"tokenize/forward/decode {sp.get('tokenize')}/{sp.get('forward')}/{sp.get('decode')} s")
        if row.get("row_errors"):
            notes.append(f"**{row['row_errors']} row errors**")
        lines.append(
            f"| in-process {prec}, batch {row['batch']:,} (names/s) | {_n(row['names_per_s'])} | {'; '.join(notes)} |"
        )
    for b, ratio in tp.get("fp16_over_fp32", {}).items():
        lines.append(f"| fp16 / fp32, batch {int(b):,} | {ratio}x | |")
    ag = tp.get("label_agreement")
    if ag:
        for key, what in (("fp16_vs_fp32", "fp16 vs fp32 (CUDA)"), ("cuda_vs_cpu", "CUDA vs CPU (fp32)")):
            v = ag.get(key)
            shown = f"{100 * v:.2f}%" if isinstance(v, float) else str(v)
            lines.append(f"| label agreement, {what} | {shown} | share of the same {ag.get('names', 0):,} names |")
    hc = st.get("host_ceiling", {})
    if "names_per_s_warm" in hc:
        lines.append(
            f"| host-side ceiling, near-zero-compute members on CPU, {hc['lanes']} lanes (names/s) | "
            f"{_n(hc['names_per_s_warm'])} warm / {_n(hc['names_per_s_cold'])} cold word cache | "
            f"{hc['names']:,} names, batch {hc['batch']}, calls of {hc['call_rows']:,} rows; "
            f"warm tokenize/forward/decode {hc['warm_split_s'].get('tokenize')}/{hc['warm_split_s'].get('forward')}/"
            f"{hc['warm_split_s'].get('decode')} s |"
        )
    for k, e in st.get("executor", {}).get("by_processes", {}).items():
        busy = (
            f"device busy {_pct(e['device_busy_share'])} of wall (CUDA events); " if e.get("device_busy_share") else ""
        )
        launches = f"{e['launches_per_forward']} kernel launches per forward; " if e.get("launches_per_forward") else ""
        lines.append(
            f"| executor: {k} process(es) sharing the GPU, each the Spark UDF's Arrow loop (summed names/s) "
            f"| {_n(e['names_per_s'])} | {e['rows']:,} names; host CPU {e['host_cpu_us_per_name']} us/name; "
            f"{busy}{launches}padded/real tokens {e['padded_per_real']} |"
        )
    oom = st.get("oom_split", {})
    if "rows_out" in oom:
        how = "simulated OOM (CPU)" if oom.get("simulated") else "real CUDA OOM (blocker tensor leaves "
        if not oom.get("simulated") and oom.get("attempts"):
            how += (
                f"{oom['attempts'][-1]['headroom_mb']:,} MB; full batch needs {oom['full_batch_activation_mb']:,} MB)"
            )
        lines.append(
            f"| OOM split, one batch of {oom['batch_size']:,} names | {oom['rows_labelled']:,}/{oom['rows_out']:,} "
            f"rows labelled, {oom['oom_splits']} halvings | {how} |"
        )
    ft = st.get("finetune", {})
    if "loop" in ft:
        lp = ft["loop"]
        extra = f"; ~{lp['approx_tflops']} TFLOP/s, MFU ~{_pct(lp.get('approx_mfu'))}" if "approx_tflops" in lp else ""
        mp = "fp32" if lp["mixed_precision"] == "no" else lp["mixed_precision"]
        lines.append(
            f"| fine-tune BERT member, Accelerate {mp}, batch {lp['batch_names']} names "
            f"(steps/s) | {lp['steps_per_s']} ({_n(lp['names_per_s'])} names/s) | {lp['steps']} steps, "
            f"{lp['tokens_per_batch']:,} tokens/batch, loss {lp['loss_first_last']}{extra} |"
        )
    if isinstance(ft.get("train"), dict) and "wall_s" in ft["train"]:
        tr = ft["train"]
        tmp = "fp32" if tr["mixed_precision"] == "no" else tr["mixed_precision"]
        lines.append(
            f"| `spark_ner.starter.train.train()` end to end ({tmp}) | {tr['wall_s']} s | "
            f"{tr['steps']} steps of {tr['batch']}, {tr['train_examples']:,} examples, dev eval + save |"
        )
    pt = st.get("pytest_gpu", {})
    if "summary" in pt:
        lines.append(f"| `pytest -m gpu tests/test_gpu.py` | {pt['summary']} | |")
    bad = {k: v for k, v in st.items() if v.get("status") not in ("ok", None)}
    for name, v in bad.items():
        lines.append(f"| stage `{name}` | {v.get('status')} | {str(v.get('error', ''))[:200].replace('|', '/')} |")
    secs = ", ".join(f"{k} {v.get('seconds')}" for k, v in st.items())
    lines += ["", f"Stage seconds: {secs}.", ""]
    return "\n".join(lines)


def write_outputs(res: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "gpu_check.json.tmp"
    tmp.write_text(json.dumps(res, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(out / "gpu_check.json")
    (out / "gpu_check.md").write_text(markdown(res), encoding="utf-8")


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", help="output folder (default: $OUT if set, else out/gpu_check)")
    ap.add_argument("--quick", action="store_true", help="smallest sizes (tests; a short GPU fix-up run)")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma list of {', '.join(STAGES)}")
    ap.add_argument("--budget-s", type=float, help="total time box (default: 420 s on CUDA, less on CPU)")
    ap.add_argument("--cpu", action="store_true", help="behave as if there were no CUDA (to try the fallback)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder with the built members")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("spark_ner").setLevel(logging.WARNING)
    for noisy in ("transformers", "accelerate", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    with contextlib.suppress(Exception):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    out = Path(args.out or os.environ.get("OUT") or ROOT / "out" / "gpu_check")
    if args.cpu:  # hide the GPUs from this process and the pytest stage alike
        os.environ["CUDA_VISIBLE_DEVICES"] = ""

    import torch

    cuda = torch.cuda.is_available() and not args.cpu
    plan = Plan.make(cuda, args.quick)
    total = args.budget_s or plan.total_s
    started = time.monotonic()
    deadline_all = started + total
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(STAGES))
    if unknown:
        ap.error(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    res: dict[str, Any] = {
        "schema": 1,
        "cuda": cuda,
        "note": None if cuda else NO_CUDA,
        "command": "bash scripts/gpu_check.sh" + (" " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else ""),
        "machine": machine_info(cuda),
        "plan": {k: v for k, v in plan.__dict__.items()},
        "random_weights": "members have random weights: the figures are speed only, labels are meaningless",
        "stages": {},
    }
    if not cuda:
        print(f"gpu_check: {NO_CUDA}", flush=True)  # noqa: T201
    work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
    ctx = Ctx(plan, work)
    runners: dict[str, Callable[[dict[str, Any], float], None]] = {
        "setup": lambda rec, dl: stage_setup(ctx, rec),
        "throughput": lambda rec, dl: stage_throughput(ctx, rec, dl),
        "host_ceiling": lambda rec, dl: stage_host_ceiling(ctx, rec),
        "executor": lambda rec, dl: stage_executor(ctx, rec),
        "oom_split": lambda rec, dl: stage_oom_split(ctx, rec),
        "finetune": lambda rec, dl: stage_finetune(ctx, rec, dl),
        "pytest_gpu": lambda rec, dl: stage_pytest(ctx, rec, dl),
    }
    ok = True
    try:
        for name in STAGES:
            if name != "setup" and name not in wanted:
                continue
            left = deadline_all - time.monotonic()
            box = min(plan.budgets.get(name, 60.0), left - 2)
            rec: dict[str, Any] = {"status": "running", "time_box_s": round(box, 1)}
            res["stages"][name] = rec
            if box < 3:
                rec.update(status="skipped", error="no time left in the total time box")
                ok = False
                continue
            log.info("stage %s (time box %.0f s)", name, box)
            t0 = time.monotonic()
            threads = torch.get_num_threads()
            try:
                with time_box(box):
                    runners[name](rec, t0 + box)
                rec["status"] = "ok"
            except StageTimeout as exc:
                rec.update(status="timeout", error=str(exc))
            except BaseException as exc:  # a stage may fail in any way; record it and go on
                if isinstance(exc, KeyboardInterrupt):
                    raise
                rec.update(
                    status="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-2500:]
                )
            rec["seconds"] = round(time.monotonic() - t0, 1)
            torch.set_num_threads(threads)  # load_ensemble sets 1 intra-op thread when CPU lanes run batches
            if rec["status"] != "ok":
                ok = False
                log.error("stage %s: %s %s", name, rec["status"], rec.get("error"))
                with contextlib.suppress(Exception):
                    _free_cuda(cuda)
            res["total_seconds"] = round(time.monotonic() - started, 1)
            write_outputs(res, out)
    finally:
        res["total_seconds"] = round(time.monotonic() - started, 1)
        write_outputs(res, out)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown(res), flush=True)  # noqa: T201
    done = f"gpu_check: wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'} in {res['total_seconds']} s"
    print(done, flush=True)  # noqa: T201
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
