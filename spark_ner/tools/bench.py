"""``spark-ner bench``: every pair the project claims, measured in one run on the same names and cores.

Sections (each can be chosen with ``--sections``):

- ``roofline``  fp32 matmul FLOP/s of this machine with the threads the ensemble uses;
- ``tokenize``  the project's word-cache tokenization vs each member's HF tokenizer called directly;
- ``inprocess`` ``Ensemble.label`` vs an HF ``pipeline(aggregation_strategy="first")`` per member with
  a per-row vote in Python (the hand-written pandas-UDF way), plus model FLOP utilisation;
- ``spark``     ``spark-ner label`` in local mode on the same all-distinct names vs in-process;
- ``dedup``     the realistic sample table (repeated names) vs as many distinct names, through Spark;
- ``memory``    peak RSS of one Python worker holding the ensemble, at two input sizes;
- ``gpu``       fp16 vs fp32 names/s per batch size on CUDA, with model FLOP utilisation, peak memory,
  NVML utilisation and fp16/fp32 and CUDA/CPU label agreement (rows say "not measured" without a GPU);
- ``host``      the host-side ceiling: near-zero-compute random members, cold and warm word cache,
  in-process and through Spark local[N] with warm workers, plus a profile of the cold run; and the GPU
  code path's host CPU per name on one thread (zero-layer members, Arrow in and out, the device batch
  plan) with the plan's padded/real tokens;
- ``executor``  N processes (``--executor-procs``) sharing this machine's device, each running the Spark
  UDF's own Arrow loop (``spark_ner.engine.label_arrow_stream``) as N tasks would: summed names/s,
  host CPU per name, device-busy seconds from CUDA events, padded/real tokens, launches per forward;
- ``oom``       one oversize batch under a CUDA out-of-memory (simulated without CUDA): every row labelled;
- ``finetune``  fp16 Accelerate training steps/s of the BERT-base sized member, then the package's
  ``train()`` end to end.

The device sections (gpu, oom, executor, finetune) share one random BERT-base + RoBERTa-base pair built
on synthetic names (:class:`DevicePlan` sizes them; ``--quick`` shrinks them). Without CUDA the gpu and
finetune sections say "not measured", unless ``--cpu-fallback`` runs them on the CPU with small members:
``scripts/gpu_check.sh`` (the GPU machine's one command) runs these sections with it, so its CPU test
goes through the same code. Each section is guarded (a failure is recorded, the next runs; exit 1) and
time-boxed under ``--budget-s``; ``bench.json`` is rewritten after every section, so a killed run keeps
what finished. None of the device sections needs pyspark or faker.

Results go to ``OUT/bench.json``, ``OUT/bench.png`` and a block of ``BENCHMARKS.md`` (with the
command, machine and date). Benchmarks are not tests: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import importlib.util
import json
import logging
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from spark_ner.cliargs import add_output_argument
from spark_ner.config import ENTITY_TYPES, NAME_LABELS, Attention, Config, CpuParallel, Precision, load_config
from spark_ner.ensemble import (
    Ensemble,
    attention_kernels,
    configure_threads,
    load_ensemble,
    sdpa_backend,
    split_names,
    worker_threads,
)
from spark_ner.errors import ConfigError
from spark_ner.graphs import StaticForwards
from spark_ner.models import canonical_tag, use_attention
from spark_ner.tokenize import split_words

log = logging.getLogger(__name__)

SECTIONS = (
    "roofline", "tokenize", "inprocess", "spark", "dedup", "cache", "memory", "gpu", "host", "executor", "oom",
    "finetune",
)  # fmt: skip
#: sections that build their own members: the config's need not exist for them
OWN_MEMBERS = frozenset({"gpu", "host", "executor", "oom", "finetune"})
#: sections whose report rows show what a failed or stopped run of them measured
PARTIAL_OK = frozenset({"gpu", "finetune", "executor"})
#: parts of the gpu section (``--gpu-parts``)
GPU_PARTS = ("throughput", "agreement", "spark", "graphs", "kernels")
MARK_START = "<!-- bench:start -->"
MARK_END = "<!-- bench:end -->"


# ----------------------------------------------------------------------------- names


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


GIVEN = _words(
    "John Mary James Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan Joseph "
    "Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Margaret Paul Sandra Steven "
    "Ashley Andrew Kimberly Kevin Emily Brian Donna George Michelle Edward Carol Ronald Amanda Timothy Melissa "
    "Jason Deborah Jeffrey Stephanie Ryan Rebecca Jacob Laura Gary Sharon Nicholas Cynthia Eric Kathleen "
    "María José Juan Ana Luis Carmen Carlos Lucía Javier Sofía Miguel Isabel Pedro Elena Pablo Marta Diego "
    "Paula Alejandro Laura Jean Marie Pierre Camille Louis Chloé Antoine Léa Hans Anna Klaus Jürgen Greta "
    "Lukas Hanna Giuseppe Giulia Marco Francesca Luca Chiara Wei Li Ming Mei Hiroshi Yuki Kenji Aiko Ahmed "
    "Fatima Mohammed Aisha Omar Leila Raj Priya Arjun Ananya Olga Ivan Dmitri Natalia Sergei Svetlana "
    "Piotr Agnieszka Tomasz Katarzyna Lars Ingrid Erik Astrid Sean Siobhan Liam Aoife Kwame Ama Chinedu Ngozi"
)
SURNAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
    "Rivera Campbell Mitchell Carter Roberts García López Pérez Fernández Muñoz Álvarez Jiménez Ruiz Díaz "
    "Moreno Romero Navarro Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Rossi "
    "Russo Ferrari Esposito Bianchi Romano Colombo Ricci Dubois Lefebvre Moreau Laurent Simon Michel Wang "
    "Zhang Liu Chen Yang Huang Tanaka Suzuki Takahashi Watanabe Khan Ali Hussain Patel Sharma Singh Kumar "
    "Ivanov Petrov Smirnov Kowalski Nowak Wiśniewski Jensen Nielsen Hansen Johansson Larsson O'Brien "
    "O'Connor Murphy Kelly Okafor Mensah Osei Mbeki Dlamini Silva Santos Oliveira Souza Costa Pereira"
)
ROOTS = _words(
    "Kowal Berg Ander Peter Johan Nov Mart Fern Gonz Rodr Schmid Hoff Lind Holm Dub Ross Bian Esposit Wald "
    "Stein Gold Rosen Feld Korn Mill Brook Ash Thorn Black White Green Fair Hart Wes Nor Sou Eas Kirk Dal Mor "
    "Pol Jab Wis Grab Kaz Mak Tar Vol Bel Kras Zel Ost Petr Ivan Sokol Orl Kuz Grig Step Mikh Yar Bor Vas"
)
ENDINGS = _words(
    "son sen sson ez es ov ova enko ski ska czyk er mann berg strom ini elli ard ois ley ton field wood "
    "hurst worth ham ford well stone ridge dale man ek ak ić ović escu opoulos idis oglu"
)
CITIES = _words(
    "London Paris Madrid Berlin Rome Lisbon Vienna Prague Warsaw Dublin Amsterdam Brussels Zürich Geneva "
    "Milan Naples Barcelona Valencia Seville Lyon Marseille Munich Hamburg Cologne Frankfurt Stockholm Oslo "
    "Copenhagen Helsinki Athens Istanbul Cairo Lagos Nairobi Johannesburg Mumbai Delhi Bangalore Shanghai "
    "Beijing Tokyo Osaka Seoul Sydney Melbourne Toronto Montreal Vancouver Chicago Houston Phoenix Boston "
    "Seattle Denver Atlanta Miami Dallas Austin Portland Detroit Lima Bogotá Santiago Quito Caracas "
    "Monterrey Guadalajara Springfield Riverside Georgetown Salem Franklin Clinton Madison Arlington"
)
MULTI_CITIES = ("New York", "Los Angeles", "San Francisco", "Buenos Aires", "São Paulo", "Rio de Janeiro",
                "Mexico City", "Hong Kong", "Kuala Lumpur", "Cape Town", "Tel Aviv", "Las Vegas")  # fmt: skip
PLACE_ENDS = ("ville", "burg", "ton", "field", "haven", "port", "ford", "bridge", "mouth", "stadt")
REGIONS = ("CA", "NY", "TX", "Ontario", "Bavaria", "Catalonia", "Lombardy", "Queensland", "Texas", "Provence")
INDUSTRY = _words(
    "Consulting Logistics Foods Holdings Motors Trading Solutions Systems Partners Capital Construction "
    "Pharma Energy Textiles Media Insurance Bakery Hardware Dental Legal Architects Electric Plumbing "
    "Software Imports Exports Farms Realty Transport Shipping Aviation Robotics Analytics Studios"
)
LEGAL = ("Ltd", "Inc", "LLC", "GmbH", "S.A.", "S.p.A.", "S.L.", "AG", "B.V.", "Corp.", "PLC", "Co.", "SARL", "Pty Ltd")
ORG_WORDS = _words(
    "Acme Global United Pacific Atlantic Summit Pioneer Apex Vertex Nova Stellar Horizon Evergreen Silver "
    "Golden Royal Crown Eagle Falcon Lion Phoenix Delta Omega Alpha Prime Blue Red Northern Southern Eastern"
)
BRANDS = ("Walmart", "Tesco", "Carrefour", "Lidl", "Aldi", "Costco", "Target", "Starbucks", "Shell", "Zara")
TITLES = ("Mr", "Mrs", "Ms", "Dr.", "Prof.", "Sr.", "Sra.", "Herr", "Frau", "M.")
JUNK = ("cash customer", "N/A", "unknown", "TEST CUSTOMER", "walk in", "do not use", "???", "-", "none")


class _Name:
    """A name being built piece by piece, with its entity spans (start, end, label)."""

    def __init__(self) -> None:
        self.text = ""
        self.spans: list[tuple[int, int, str]] = []

    def add(self, piece: str, label: str | None = None, sep: str = " ") -> _Name:
        if self.text and sep:
            self.text += sep
        start = len(self.text)
        self.text += piece
        if label:
            self.spans.append((start, len(self.text), label))
        return self


def synthetic_names(n: int, seed: int = 0) -> tuple[list[str], list[list[tuple[int, int, str]]]]:
    """``n`` distinct customer-like names with entity spans: persons (several orders and cases),
    households, companies with legal forms and store numbers, places, junk.

    Why synthetic: no data may be downloaded, and the real generators need faker, which the GPU
    machine lacks. Surnames, places and companies are partly composed from roots + endings, so the
    vocabulary is large enough that rarer words split into several sub-tokens, as real names do.
    """
    rng = np.random.default_rng(seed)

    def pick(seq: Sequence[str]) -> str:
        return seq[int(rng.integers(len(seq)))]

    def surname() -> str:
        return pick(SURNAMES) if rng.random() < 0.55 else pick(ROOTS) + pick(ENDINGS)

    def city() -> str:
        r = rng.random()
        if r < 0.55:
            return pick(CITIES)
        if r < 0.7:
            return pick(MULTI_CITIES)
        return pick(ROOTS) + pick(PLACE_ENDS)

    out: dict[str, list[tuple[int, int, str]]] = {}
    guard = 0
    while len(out) < n and guard < 50 * n + 1000:
        guard += 1
        r = rng.random()
        nm = _Name()
        if r < 0.40:
            nm.add(f"{pick(GIVEN)} {surname()}", "PER")
        elif r < 0.48:
            nm.add(f"{pick(GIVEN)} {pick(GIVEN)[0]}. {surname()}", "PER")
        elif r < 0.55:
            nm.add(pick(TITLES)).add(f"{pick(GIVEN)} {surname()}", "PER")
        elif r < 0.61:
            nm.add(surname(), "PER").add(pick(GIVEN), "PER", sep=", ")
        elif r < 0.65:
            nm.add(f"{pick(GIVEN)} {surname()}-{surname()}", "PER")
        elif r < 0.70:
            if rng.random() < 0.6:
                nm.add("Mr & Mrs").add(surname(), "PER")
            else:
                nm.add("The").add(surname(), "PER").add("Family")
        elif r < 0.76:
            nm.add(f"{surname()} & Sons {pick(LEGAL)}", "ORG")
        elif r < 0.82:
            nm.add(f"{surname()} {pick(INDUSTRY)} {pick(LEGAL)}", "ORG")
        elif r < 0.86:
            nm.add(f"{pick(ORG_WORDS)} {pick(INDUSTRY)} Group", "ORG")
        elif r < 0.88:
            nm.add(f"Banco {city()}" if rng.random() < 0.5 else f"{city()} {pick(INDUSTRY)}", "ORG")
        elif r < 0.90:
            nm.add(pick(BRANDS), "ORG").add(f"#{int(rng.integers(1, 9999))}")
        elif r < 0.93:
            nm.add(f"{surname()}-{surname()} {pick(LEGAL)}", "ORG")
        elif r < 0.97:
            if rng.random() < 0.5:
                nm.add(city(), "LOC")
            else:
                nm.add(city(), "LOC").add(pick(REGIONS), "LOC", sep=", ")
        else:
            nm.add(pick(JUNK) + ("" if rng.random() < 0.5 else f" {int(rng.integers(1, 999))}"))
        text = nm.text
        c = rng.random()
        if c < 0.12 and len(text.upper()) == len(text):
            text = text.upper()
        elif c < 0.16 and len(text.lower()) == len(text):
            text = text.lower()
        out.setdefault(text, nm.spans)
    names = list(out)
    rng.shuffle(names)  # type: ignore[arg-type]
    return names, [out[x] for x in names]


def bench_names(n: int, seed: int = 0, distinct: bool = True) -> list[str]:
    """``n`` customer names from the demo generator (all distinct, or the realistic repeat mix)."""
    from spark_ner.tools.demo import sample_table

    if distinct:
        frame = sample_table(int(n * 1.05) + 10, seed=seed, dup_share=0.0, null_share=0.0, blank_share=0.0)
        names = list(dict.fromkeys(str(x) for x in frame["name"] if isinstance(x, str) and x.strip()))
        return names[:n]
    return [str(x) for x in sample_table(n, seed=seed)["name"] if isinstance(x, str)]


def have_faker() -> bool:
    """Whether the demo generator can run (the GPU machine has no faker)."""
    return importlib.util.find_spec("faker") is not None


def name_pool(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct names: the demo generator's where faker is installed, else :func:`synthetic_names`.

    Why: the host and executor sections must run on the GPU machine too, which has no faker; the run
    records which source it used (``names_source`` in bench.json).
    """
    return bench_names(n, seed=seed) if have_faker() else synthetic_names(n, seed=seed)[0]


class SectionTimeout(BaseException):
    """A section ran past its time box (``--budget-s``). A BaseException, so that the ``except Exception``
    of the code measured does not swallow it."""


@contextlib.contextmanager
def time_box(seconds: float | None) -> Iterator[None]:
    """Raise :class:`SectionTimeout` in the main thread after ``seconds`` (None: no box)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _alarm(signum: int, frame: Any) -> None:
        raise SectionTimeout(f"ran past its {seconds:.0f} s time box")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.5))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


# ----------------------------------------------------------------------------- roofline + FLOPs


def matmul_gflops(threads: int, size: int = 1536, seconds: float = 3.0) -> float:
    """Sustained fp32 GEMM GFLOP/s with ``threads`` threads: the CPU roofline the models are held to."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return 2 * size**3 * n / (time.perf_counter() - t0) / 1e9


def encoder_flops(model_config: Any, tokens: np.ndarray) -> np.ndarray:
    """Forward FLOPs of a BERT/RoBERTa-style token classifier for sequences of ``tokens`` length.

    Per layer and token: Q,K,V,O projections 8h^2, feed-forward 4hi, attention scores and
    weighted sum 4hT; plus the classifier 2hL. Embedding lookups and norms are not counted.
    """
    h = int(getattr(model_config, "hidden_size", 0) or getattr(model_config, "dim", 0))
    i = int(getattr(model_config, "intermediate_size", 0) or getattr(model_config, "hidden_dim", 4 * h))
    layers = int(getattr(model_config, "num_hidden_layers", 0) or getattr(model_config, "n_layers", 0))
    labels = int(model_config.num_labels)
    t = tokens.astype(np.float64)
    return t * (layers * (8 * h * h + 4 * h * i) + 2 * h * labels) + layers * 4 * h * t * t


def ensemble_flops_per_name(ens: Ensemble, names: list[str]) -> float:
    """Mean FLOPs per name over all members, from their configs and the names' real token counts."""
    cfg = ens.cfg.ensemble
    split = split_names(names, cfg)
    total = 0.0
    for member, wt in ens.transformers():  # a lexicon member runs no forward pass
        total += float(encoder_flops(member.model.config, wt.encode(split).lengths).mean())
    return total


# ----------------------------------------------------------------------------- sections


def bench_tokenize(ens: Ensemble, names: list[str]) -> dict[str, Any]:
    """names/s of the project's tokenization (split once + every member) vs HF direct per member."""
    cfg = ens.cfg.ensemble
    direct: dict[str, float] = {}
    for member, _ in ens.transformers():
        tok = member.tokenizer
        secs = _timed(partial(tok, names, truncation=True, max_length=cfg.max_length))
        direct[member.source.name] = len(names) / secs
    # the project's path, warm word cache (names reuse a small vocabulary: the cache is the point)
    fresh = [type(wt)(wt.tokenizer, wt.max_length) for _, wt in ens.transformers()]
    t = time.perf_counter()
    split = split_names(names, cfg)
    for wt in fresh:
        wt.encode(split)
    cold = time.perf_counter() - t

    def ours() -> None:
        sp = split_names(names, cfg)
        for wt in fresh:
            wt.encode(sp)

    warm = _timed(ours)
    hf_all = len(names) / sum(len(names) / v for v in direct.values())  # all members, one after another
    return {
        "names": len(names),
        "hf_direct_names_per_s": {k: round(v) for k, v in direct.items()},
        "hf_direct_all_members_names_per_s": round(hf_all),
        "ours_all_members_names_per_s_cold": round(len(names) / cold),
        "ours_all_members_names_per_s": round(len(names) / warm),
        "speedup": round(len(names) / warm / hf_all, 2),
        "speedup_cold": round(len(names) / cold / hf_all, 2),
    }


def _pipeline_labels(ens: Ensemble, names: list[str]) -> list[str]:
    """The naive baseline: an HF pipeline per member, then a per-row vote in Python."""
    from transformers import pipeline

    per_member = []
    for member, _ in ens.transformers():
        pipe = pipeline(
            "token-classification",
            model=member.model,
            tokenizer=member.tokenizer,
            aggregation_strategy="first",
            device=member.model.device,
        )
        per_member.append((member, pipe(names, batch_size=ens.cfg.ensemble.batch_size)))
    labels = []
    for row in range(len(names)):
        votes = dict.fromkeys(NAME_LABELS, 0.0)
        for member, results in per_member:
            label_map = dict(next(m.label_map for m in ens.cfg.models if m.name == member.source.name))
            chars = dict.fromkeys(ENTITY_TYPES, 0)
            for ent in results[row]:
                tag = canonical_tag(f"B-{ent['entity_group']}", label_map, member.source.name)
                if tag != "O":
                    chars[tag[2:]] += int(ent["end"]) - int(ent["start"])
            best = max(chars, key=lambda k: chars[k])
            own = NAME_LABELS[ENTITY_TYPES.index(best) + 1] if chars[best] > 0 else "NONE"
            votes[own] += member.source.weight
        labels.append(max(votes, key=lambda k: votes[k]))
    return labels


def bench_inprocess(ens: Ensemble, names: list[str], pipeline_names: int, peak_gflops: float) -> dict[str, Any]:
    """Ensemble.label vs the pipeline baseline on the same distinct names, plus roofline share."""
    import torch

    ours_rate = _label_rate(ens, names)
    base = names[:pipeline_names]
    threads = worker_threads(ens.cfg)
    ours_intra = torch.get_num_threads()
    torch.set_num_threads(threads)  # the baseline as users run it: torch's per-op threads on every core
    try:
        _pipeline_labels(ens, base[:16])
        base_s = _timed(lambda: _pipeline_labels(ens, base), repeat=3)
    finally:
        torch.set_num_threads(ours_intra)
    base_rate = len(base) / base_s
    fpn = ensemble_flops_per_name(ens, names)
    base_fpn = ensemble_flops_per_name(ens, base)
    return {
        "names": len(names),
        "cpu_lanes": ens.lanes,
        "pipeline_threads": threads,
        "pipeline_names": len(base),
        "ensemble_names_per_s": round(ours_rate, 1),
        "pipeline_names_per_s": round(base_rate, 1),
        "speedup": round(ours_rate / base_rate, 2),
        "gflop_per_name": round(fpn / 1e9, 4),
        "roofline_share": round(ours_rate * fpn / (peak_gflops * 1e9), 3),
        "pipeline_roofline_share": round(base_rate * base_fpn / (peak_gflops * 1e9), 3),
        **(_int8(ens, names) if ens.device == "cpu" and ens.cfg.ensemble.precision != Precision.INT8 else {}),
        **(_ops(ens, names) if ens.lanes > 1 else {}),
    }


def _label_rate(ens: Ensemble, names: list[str]) -> float:
    """``Ensemble.label`` names/s after a warm-up (allocator, thread pools), best of 3 (noise is +-10%)."""
    ens.label(names[:64])
    return len(names) / _timed(lambda: ens.label(names), repeat=3)


def _ops(ens: Ensemble, names: list[str]) -> dict[str, Any]:
    """The same names with ``cpu_parallel = "ops"`` (torch's per-op threads), to show what lanes buy."""
    cfg = ens.cfg
    ops = load_ensemble(replace(cfg, ensemble=replace(cfg.ensemble, cpu_parallel=CpuParallel.OPS)))
    try:
        rate = _label_rate(ops, names)
    finally:
        configure_threads(cfg)  # back to the lanes' single-threaded ops
    return {"ops_names_per_s": round(rate, 1)}


def _int8(ens: Ensemble, names: list[str]) -> dict[str, Any]:
    """The opt-in int8 CPU path on the same names: names/s and how often its label equals fp32's."""
    cfg = ens.cfg
    q = load_ensemble(replace(cfg, ensemble=replace(cfg.ensemble, precision=Precision.INT8)))
    rate = _label_rate(q, names)
    same = float((q.label(names)["label"].to_numpy() == ens.label(names)["label"].to_numpy()).mean())
    return {"int8_names_per_s": round(rate, 1), "int8_label_agreement_with_fp32": round(same, 4)}


def _spark_label(
    config: str, names: Sequence[str | None], workdir: Path, cores: int, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """Run ``spark-ner label`` (local mode) over ``names`` and return its summary plus wall time."""
    import pandas as pd

    src = workdir / f"in-{len(names)}.parquet"
    pd.DataFrame({"customer_id": np.arange(len(names)), "name": pd.Series(names, dtype=object)}).to_parquet(src)
    out = workdir / f"out-{len(names)}-{time.monotonic_ns()}"
    summary = workdir / f"summary-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "spark_ner.cli", "label", "--input", str(src), "--output", str(out)]
    cmd += ["--name-col", "name", "--id-col", "customer_id", "--mode", "overwrite"]
    cmd += ["--config", config, "--summary", str(summary), "--master", f"local[{cores}]", *extra]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    data: dict[str, Any] = json.loads(summary.read_text())
    data["wall_s"] = round(wall, 2)
    return data


def bench_spark(config: str, names: list[str], inproc_rate: float, workdir: Path, cores: int) -> dict[str, Any]:
    """Spark path names/s against in-process, on the same cores.

    Run twice: Spark's default (one Python worker per core, one thread each) and
    ``spark.task.cpus`` = every core (one worker, its threads as CPU lanes, one ensemble copy).
    Reported three ways: the scoring stage (includes what a job pays once: Python workers started,
    the ensemble loaded in each, stages scheduled), end to end, and the workers' own rate (rows
    over the time each spent inside ``Ensemble.label``, workers running side by side), which is
    what the stage tends to as the job grows.
    """
    out = _spark_figures(_spark_label(config, names, workdir, cores), len(names), inproc_rate)
    if cores > 1:  # one Python worker with `cores` CPU lanes (spark.task.cpus) instead of `cores` workers
        extra = ["--spark-conf", f"spark.task.cpus={cores}"]
        out["lanes"] = _spark_figures(_spark_label(config, names, workdir, cores, extra), len(names), inproc_rate)
    return out


def _spark_figures(full: dict[str, Any], n: int, inproc_rate: float) -> dict[str, Any]:
    rate = float(full.get("names_per_second") or 0.0)
    ex = full.get("executors") or []
    workers = sum(int(e.get("python_workers") or 0) for e in ex)
    busy = sum(float(e.get("busy_s") or 0.0) for e in ex)
    rows = sum(int(e.get("rows_scored") or 0) for e in ex)
    worker_rate = rows / (busy / workers) if busy > 0 and workers else None
    score_s = float(full["seconds"]["score"])
    return {
        "names": n,
        "spark_names_per_s": rate,
        "spark_end_to_end_names_per_s": round(n / full["wall_s"], 1),
        "spark_worker_names_per_s": round(worker_rate, 1) if worker_rate else None,
        "python_workers": workers,
        "once_per_job_s": round(score_s - busy / workers, 1) if workers else None,
        "model_load_s": full.get("model_load_s_max"),
        "in_process_names_per_s": round(inproc_rate, 1),
        "ratio": round(rate / inproc_rate, 3) if inproc_rate else None,
        "worker_ratio": round(worker_rate / inproc_rate, 3) if worker_rate and inproc_rate else None,
        "job_wall_s": full["wall_s"],
        "stages_s": full.get("seconds"),
    }


def bench_dedup(config: str, rows: int, workdir: Path, cores: int) -> dict[str, Any]:
    """Rows/s through the job on the realistic table (repeats) vs the same number of distinct names."""
    from spark_ner.tools.demo import sample_table

    table = [x if isinstance(x, str) else None for x in sample_table(rows, seed=1)["name"]]
    distinct = bench_names(rows, seed=2)
    out = {}
    for key, names in (("realistic", table), ("all_distinct", distinct)):
        s = _spark_label(config, list(names), workdir, cores)
        out[key] = {
            "rows": len(names),
            "distinct_names": s.get("distinct_names"),
            "names_scored": s.get("names_scored"),
            "wall_s": s["wall_s"],
            "rows_per_s": round(len(names) / s["wall_s"], 1),
        }
    out["speedup"] = round(out["realistic"]["rows_per_s"] / out["all_distinct"]["rows_per_s"], 2)
    return out


def bench_cache(config: str, rows: int, workdir: Path, cores: int) -> dict[str, Any]:
    """Incremental labelling: a cold run with ``--cache`` on the sample table, then a rerun on the
    same table grown by 1% new rows (new names), against the same cache."""
    from spark_ner.tools.demo import sample_table

    table = [x if isinstance(x, str) else None for x in sample_table(rows, seed=21)["name"]]
    known = set(table)
    extra = [n for n in bench_names(rows // 100 * 3, seed=22) if n not in known][: rows // 100]
    cache = ["--cache", str(workdir / f"name-cache-{time.monotonic_ns()}")]
    out: dict[str, Any] = {}
    for key, names in (("cold", table), ("rerun_1pct_new", table + extra)):
        s = _spark_label(config, list(names), workdir, cores, cache)
        out[key] = {
            "rows": len(names),
            "distinct_names": s.get("distinct_names"),
            "names_scored": s.get("names_scored"),
            "names_cached": s.get("names_cached"),
            "score_s": (s.get("seconds") or {}).get("score"),
            "wall_s": s["wall_s"],
        }
    out["new_names"] = len(extra)
    out["speedup_wall"] = round(out["cold"]["wall_s"] / out["rerun_1pct_new"]["wall_s"], 2)
    return out


RSS_PROBE = """
import json, sys
def hwm():  # VmHWM is this process's own peak; ru_maxrss survives exec and reports the parent's
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from spark_ner.config import load_config
from spark_ner.ensemble import load_ensemble
from spark_ner.tools.bench import bench_names
cfg = load_config(sys.argv[1]); rows = int(sys.argv[2]); chunk = int(sys.argv[3])
ens = load_ensemble(cfg)
loaded = hwm()
pool = bench_names(min(rows, 20000), seed=3)
done = 0
while done < rows:
    n = min(chunk, rows - done)
    batch = [pool[(done + k) % len(pool)] + f" {done + k}" for k in range(n)]  # distinct names
    ens.label(batch)
    done += n
peak = hwm()
print(json.dumps({"rows": rows, "rss_after_load_mb": round(loaded, 1), "peak_rss_mb": round(peak, 1)}))
"""


def bench_memory(config: str, sizes: Sequence[int], chunk: int) -> dict[str, Any]:
    """Peak RSS of a worker-like process that loads the ensemble and labels ``size`` rows in Arrow-sized chunks."""
    out = {}
    for rows in sizes:
        proc = subprocess.run(
            [sys.executable, "-c", RSS_PROBE, config, str(rows), str(chunk)],
            check=True,
            capture_output=True,
            text=True,
        )
        out[str(rows)] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"chunk_rows": chunk, "by_rows": out}


#: Dense peak TFLOP/s by GPU name: (fp16/bf16 tensor cores, plain fp32 without TF32).
PEAK_TFLOPS: dict[str, tuple[float, float]] = {
    "H200": (989.0, 67.0),
    "H100 PCIe": (756.0, 51.0),
    "H100": (989.0, 67.0),
    "A100": (312.0, 19.5),
    "L40S": (362.0, 91.6),
    "L4": (121.0, 30.3),
    "A10": (125.0, 31.2),
}


def peak_tflops(gpu: str | None) -> tuple[float | None, float | None]:
    """(fp16, fp32) dense peak for a GPU name, or (None, None) when unknown."""
    if not gpu:
        return None, None
    for key, val in PEAK_TFLOPS.items():
        if key in gpu:
            return val
    return None, None


def ensemble_flops(ens: Any, names: list[str]) -> dict[str, float]:
    """Model FLOPs for labelling ``names`` once: on real tokens, and on the padded batches run."""
    from spark_ner.tokenize import uniform_batches

    e = ens.cfg.ensemble
    split = split_names(names, e)
    real = padded = tokens = 0.0
    for member, wt in ens.transformers():  # a lexicon member runs no forward pass
        lengths = wt.encode(split).lengths
        tokens += float(lengths.sum())
        real += float(encoder_flops(member.model.config, lengths).sum())
        pad = np.empty_like(lengths)
        for rows in uniform_batches(lengths, e.batch_size, min_rows=max(32, e.batch_size // 8)):
            pad[rows] = int(lengths[rows].max())  # the ensemble's exact-length plan
        padded += float(encoder_flops(member.model.config, pad).sum())
    return {
        "real": real,
        "padded": padded,
        "tokens_per_name": tokens / max(1, len(names)) / max(1, len(list(ens.transformers()))),
    }


def chunk_rows(batch_size: int) -> int:
    """Rows per ``label`` call: the job's Arrow batch (8 x batch_size, at least 2,048; README)."""
    return max(2048, 8 * batch_size)


def label_all(ens: Any, names: list[str], chunk: int) -> tuple[float, int, int]:
    """Label ``names`` as the Spark UDF does: Arrow batches of ``chunk`` rows through ``label_arrow_stream``,
    one pipeline across them, Arrow output (issue 22 item 6: per-chunk ``label()`` calls with pandas output
    left the device idle while each chunk was decoded and turned into Python objects). (seconds, rows out,
    rows with an error); the input batches are made before the clock starts, as Spark hands them over."""
    from spark_ner.engine import label_arrow_stream

    batches = arrow_chunks(names, chunk)
    t0 = time.perf_counter()
    rows = errors = 0
    for out in label_arrow_stream(ens, batches):
        rows += len(out)
        errors += len(out) - out.field("error").null_count
    return time.perf_counter() - t0, rows, errors


#: what the agreement fields say where they could not be measured
NOT_MEASURED_NO_CUDA = "not measured: no CUDA"


def label_agreement(config_for: Callable[[str, str], Path | str], names: list[str]) -> dict[str, Any]:
    """Share of ``names`` whose label agrees between fp16 and fp32 (both on CUDA) and between CUDA and
    CPU (both fp32), on the same names (issue 22 item 7: a kernel change must keep labels).

    ``config_for(precision, device)`` gives the config path of one ensemble; each is loaded, labels the
    names once and is freed before the next. Without CUDA the fields say so instead of a figure.
    """
    import torch

    if not torch.cuda.is_available():
        return {"names": 0, "fp16_vs_fp32": NOT_MEASURED_NO_CUDA, "cuda_vs_cpu": NOT_MEASURED_NO_CUDA}
    labels: dict[tuple[str, str], np.ndarray] = {}
    for precision, device in (("fp16", "cuda"), ("fp32", "cuda"), ("fp32", "cpu")):
        ens = load_ensemble(load_config(config_for(precision, device)))
        out = ens.label(names)
        if len(out) != len(names):
            raise AssertionError(f"{len(out)} rows out for {len(names)} names ({precision} on {device})")
        labels[(precision, device)] = out["label"].to_numpy(dtype=object)
        del ens
        torch.cuda.empty_cache()

    def share(a: tuple[str, str], b: tuple[str, str]) -> float:
        return round(float((labels[a] == labels[b]).mean()), 4)

    return {
        "names": len(names),
        "fp16_vs_fp32": share(("fp16", "cuda"), ("fp32", "cuda")),
        "cuda_vs_cpu": share(("fp32", "cuda"), ("fp32", "cpu")),
    }


def _toml_config(path: Path, members: Sequence[tuple[str, Path]], **ensemble: Any) -> Path:
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


@dataclass(frozen=True)
class Members:
    """A random BERT + RoBERTa pair built once under ``root``, and configs over it."""

    root: Path
    bert: Path
    roberta: Path

    @staticmethod
    def build(root: Path, corpus: Sequence[str], size: Any) -> Members:
        """Build both members (tokenizers trained on ``corpus``) unless ``root`` already holds them."""
        from spark_ner.tools.random_models import build_random_bert, build_random_roberta

        bert, roberta = root / "bert", root / "roberta"
        if not (bert / "model.safetensors").exists():
            build_random_bert(bert, corpus, size)
        if not (roberta / "model.safetensors").exists():
            build_random_roberta(roberta, corpus, size)
        return Members(root, bert, roberta)

    def config(self, precision: str, batch_size: int, device: str = "auto", **ensemble: Any) -> Path:
        """A config over both members; one file per distinct setting."""
        tag = "-".join(str(v) for v in (precision, batch_size, device, *ensemble.values()))
        return _toml_config(
            self.root / f"random-{tag}.toml",
            [("bert-base-random", self.bert), ("roberta-base-random", self.roberta)],
            precision=precision,
            batch_size=batch_size,
            device=device,
            **ensemble,
        )

    def describe(self) -> dict[str, dict[str, Any]]:
        """Layers, width, parameters and trained vocabulary of each member (for the report)."""
        out = {}
        for key, folder in (("bert", self.bert), ("roberta", self.roberta)):
            cfg = json.loads((folder / "config.json").read_text())
            out[key] = {
                "layers": cfg["num_hidden_layers"],
                "hidden": cfg["hidden_size"],
                "heads": cfg["num_attention_heads"],
                "intermediate": cfg["intermediate_size"],
                "vocab": cfg["vocab_size"],
                "params_m": round((folder / "model.safetensors").stat().st_size / 4 / 1e6, 1),  # fp32 on disk
            }
        return out


def write_random_config(
    root: Path, names: list[str], size: Any, precision: str, batch_size: int, device: str = "auto"
) -> Path:
    """A BERT + RoBERTa ensemble of random members of ``size`` (built once under ``root``)."""
    return Members.build(root, names, size).config(precision, batch_size, device)


@dataclass(frozen=True)
class DevicePlan:
    """Sizes and time boxes of the device sections (gpu, host, executor, oom, finetune).

    Three plans: a full CUDA run (~6 minutes on an H200: what BENCHMARKS.md's GPU rows come from), a
    ``--quick`` CUDA fix-up run, and without CUDA the CPU plan (small members; with ``--quick`` few names
    and seconds per section: the CPU-fallback test of ``scripts/gpu_check.sh``).
    """

    cuda: bool
    quick: bool
    cpu_fallback: bool
    size: dict[str, int]
    names: int
    batches: tuple[int, ...]
    precisions: tuple[str, ...]
    agree_names: int
    host_names: int
    host_batch: int
    executor_names: int
    executor_procs: tuple[int, ...]
    oom_names: int
    ft_batch: int
    ft_steps: int
    train_steps: int
    train_examples: int
    boxes: Mapping[str, float] = field(default_factory=dict)
    #: process counts run again under NVIDIA MPS (CUDA plans only, where the daemon is on PATH)
    executor_mps: tuple[int, ...] = ()
    #: CUDA plans: fp16 batch sizes measured again, and process counts (plain and under MPS) run again,
    #: with ``ensemble.cuda_graphs`` on (spark_ner.graphs)
    graph_batches: tuple[int, ...] = ()
    #: ``ensemble.attention`` choices the CUDA-graph rows run with (``--attention``)
    attentions: tuple[str, ...] = ("auto",)
    executor_graphs: tuple[int, ...] = ()

    @property
    def runs_device_sections(self) -> bool:
        """Whether the gpu and finetune sections measure (CUDA) or run their CPU fallback."""
        return self.cuda or self.cpu_fallback

    def member_size(self) -> Any:
        from spark_ner.tools.random_models import Size

        return Size(**self.size)


#: BERT-base / RoBERTa-base shapes; the vocabulary is what the tokenizer trainer reaches on the names
GPU_BASE = {"hidden": 768, "layers": 12, "heads": 12, "intermediate": 3072, "vocab": 30_522}
#: the CPU plan's members: small enough for seconds per section on two cores
CPU_SMALL = {"hidden": 64, "layers": 2, "heads": 2, "intermediate": 128, "vocab": 3000}


def device_plan(cuda: bool, quick: bool, cpu_fallback: bool = False) -> DevicePlan:
    """The :class:`DevicePlan` for this machine and run."""
    if cuda and not quick:
        return DevicePlan(
            cuda=True, quick=False, cpu_fallback=cpu_fallback, size=GPU_BASE, names=100_000,
            batches=(256, 1024, 4096), precisions=("fp16", "fp32"), agree_names=5000, host_names=100_000,
            host_batch=1024, executor_names=100_000, executor_procs=(1, 2, 4), oom_names=16_384, ft_batch=128,
            ft_steps=40, train_steps=40, train_examples=20_000, executor_mps=(4,), graph_batches=(1024, 4096),
            executor_graphs=(4,), boxes={"gpu": 200, "host": 50, "executor": 150, "oom": 30, "finetune": 50},
        )  # fmt: skip
    if cuda:
        return DevicePlan(
            cuda=True, quick=True, cpu_fallback=cpu_fallback, size=GPU_BASE, names=20_000, batches=(1024,),
            precisions=("fp16", "fp32"), agree_names=5000, host_names=20_000, host_batch=1024,
            executor_names=20_000, executor_procs=(1, 2), oom_names=16_384, ft_batch=128, ft_steps=15,
            train_steps=15, train_examples=5000, graph_batches=(1024,), executor_graphs=(1,),
            boxes={"gpu": 100, "host": 40, "executor": 70, "oom": 30, "finetune": 40},
        )  # fmt: skip
    # no CUDA: generous boxes, shared CPU machines run 3-4x slower at times
    boxes = {"gpu": 150, "host": 150, "executor": 150, "oom": 60, "finetune": 120}
    if quick:
        return DevicePlan(
            cuda=False, quick=True, cpu_fallback=cpu_fallback, size=CPU_SMALL, names=600, batches=(64, 256),
            precisions=("fp32",), agree_names=200, host_names=600, host_batch=64, executor_names=600,
            executor_procs=(1,), oom_names=1024, ft_batch=16, ft_steps=4, train_steps=3, train_examples=300,
            boxes=boxes,
        )  # fmt: skip
    return DevicePlan(
        cuda=False, quick=False, cpu_fallback=cpu_fallback, size=CPU_SMALL, names=3000, batches=(64, 256),
        precisions=("fp32",), agree_names=200, host_names=100_000, host_batch=1024, executor_names=100_000,
        executor_procs=(1, 2, 4), oom_names=1024, ft_batch=16, ft_steps=10, train_steps=8, train_examples=1500,
        boxes=boxes,
    )  # fmt: skip


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
        except Exception as exc:  # no NVML: the figures stay null
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


def _sync(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.synchronize()


def bench_gpu(
    members: Members | None,
    names: list[str],
    plan: DevicePlan,
    parts: Collection[str] = GPU_PARTS,
    deadline: float | None = None,
    spark: Callable[[Path], dict[str, Any]] | None = None,
    rec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """fp16 vs fp32 names/s per batch size through ``label_arrow_stream`` over Arrow batches (:func:`label_all`),
    with model FLOP utilisation, peak memory, NVML utilisation, and fp16/fp32 and CUDA/CPU label agreement.

    On CUDA these are the GPU figures; without CUDA, only with ``plan.cpu_fallback``, the same loop runs
    on the CPU (small members, fp32) to show it works, and the agreement fields say "not measured".
    ``spark(config)`` runs the best fp16 configuration through a Spark job (the ``spark`` part). ``rec``
    (filled as it goes, and returned) keeps what was measured before a failure or a time box.
    """
    import torch

    out: dict[str, Any] = {} if rec is None else rec
    if not plan.runs_device_sections or members is None:
        out.update(
            measured=False,
            reason="no CUDA GPU on this machine",
            label_agreement=label_agreement(lambda p, d: "", []),
        )
        return out
    cuda = plan.cuda
    gpu = torch.cuda.get_device_name(0) if cuda else None
    peak16, peak32 = peak_tflops(gpu)
    out.update(
        measured=cuda,
        device="cuda" if cuda else "cpu",
        gpu=gpu,
        members=members.describe(),
        names=len(names),
        peak_tflops={"fp16": peak16, "fp32": peak32},
        fp32_matmul_precision=torch.get_float32_matmul_precision(),
        tf32_matmul_allowed=bool(torch.backends.cuda.matmul.allow_tf32),
    )
    if "kernels" in parts:  # first: short, and what a time box must not cut
        if cuda:
            try:
                out["kernels"] = {}
                kernel_probe(members.config("fp16", 1024, "cuda"), out=out["kernels"])
            except Exception as exc:  # a measurement: its failure is a figure too
                log.exception("gpu kernels part failed")
                out["kernels"]["error"] = f"{type(exc).__name__}: {exc}"[:300]  # what it measured stays
            finally:
                _free_cuda(cuda)
        else:
            out["kernels"] = {"not_measured": "no CUDA"}
    rows: list[dict[str, Any]] = []
    out["rows"] = rows
    # (precision, batch, CUDA graphs): every precision and batch, then fp16 again with graphs (CUDA only)
    configs = [(p, b, False, "auto") for p in plan.precisions for b in plan.batches]
    configs += [("fp16", b, True, a) for a in plan.attentions for b in plan.graph_batches if cuda]
    for precision, batch, graphs, attention in configs if "throughput" in parts else ():
        peak = peak16 if precision in ("fp16", "bf16") else peak32
        row: dict[str, Any] = {"precision": precision, "batch": batch, **({"cuda_graphs": True} if graphs else {})}
        if attention != "auto":
            row["attention"] = attention
        rows.append(row)
        if deadline is not None and time.monotonic() > deadline - 10:
            row["skipped"] = "time box"
            continue
        try:
            _throughput_one(members, row, names, precision, cuda, batch, peak, graphs, attention)
        except Exception as exc:  # one configuration failing must not hide the others
            row["error"] = f"{type(exc).__name__}: {exc}"
            log.exception("gpu %s batch %d%s failed", precision, batch, " with CUDA graphs" if graphs else "")
        finally:
            _free_cuda(cuda)
    by: dict[tuple[str, int], float] = {
        (r["precision"], r["batch"]): r["names_per_s"] for r in rows if "names_per_s" in r and not r.get("cuda_graphs")
    }
    out["fp16_over_fp32"] = {
        str(b): round(by[("fp16", b)] / by[("fp32", b)], 2)
        for b in plan.batches
        if ("fp16", b) in by and ("fp32", b) in by
    }
    if "agreement" in parts:
        pair: Members = members
        out["label_agreement"] = label_agreement(lambda p, d: pair.config(p, 1024, d), names[: plan.agree_names])
    if "graphs" in parts:
        if cuda:
            try:
                out["graphs"] = launch_cost(members.config("fp16", 1024, "cuda"))
            except Exception as exc:  # a measurement: its failure is a figure too
                log.exception("gpu graphs part failed")
                out["graphs"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            finally:
                _free_cuda(cuda)
        else:
            out["graphs"] = {"not_measured": "no CUDA"}
    if "spark" in parts and cuda:
        fp16 = [r for r in rows if r["precision"] == "fp16" and r.get("names_per_s") and not r.get("cuda_graphs")]
        best = max(fp16, key=lambda r: r["names_per_s"], default=None)
        if best is None:
            out["spark"] = {"not_measured": "no fp16 in-process figure to compare with"}
        elif importlib.util.find_spec("pyspark") is None or spark is None:  # the GPU machine has no pyspark
            out["spark"] = {"not_measured": "no pyspark"}
        else:
            s = spark(members.config("fp16", best["batch"]))
            rate = float(s.get("names_per_second") or 0.0)
            out["spark"] = {
                "batch": best["batch"],
                "names_per_s": round(rate),
                "in_process_names_per_s": best["names_per_s"],
                "ratio": round(rate / best["names_per_s"], 3),
                "gpu_util": [e.get("gpu_util_mean") for e in s.get("executors", []) if e.get("gpu_util_mean")],
            }
    if any("error" in r for r in rows):
        bad = next(r for r in rows if "error" in r)
        raise AssertionError(f"gpu: {bad['precision']} batch {bad['batch']} failed: {bad['error']}")
    return out


def _graph_captures(ens: Ensemble) -> int:
    """CUDA graphs the ensemble has captured so far (0 without graphs)."""
    return ens.graphs.stats.captures if ens.graphs is not None else 0


def graph_figures(graphs: StaticForwards, captured: int) -> dict[str, Any]:
    """An ensemble's CUDA graph counters for a report row; ``captures_timed``: captures since ``captured``
    (taken before the timed pass), i.e. shapes first met while timing, each a device sync and a capture."""
    return {"shapes": len(graphs), **asdict(graphs.stats), "captures_timed": graphs.stats.captures - captured}


def _throughput_one(
    members: Members,
    row: dict[str, Any],
    names: list[str],
    precision: str,
    cuda: bool,
    batch: int,
    peak: float | None,
    graphs: bool = False,
    attention: str = "auto",
) -> None:
    """One (precision, batch) figure: a fresh ensemble, warm word caches and kernels (and with ``graphs``
    every shape's CUDA graph captured), one timed pass.

    Why a fresh load per batch size: the config is the only supported way to set the batch, and a
    forward hook checks that the passes really had that many rows.
    """
    import torch

    extra: dict[str, Any] = {"cuda_graphs": True} if graphs else {}
    if attention != "auto":
        extra["attention"] = attention
    cfg = members.config(precision, batch, "cuda" if cuda else "cpu", **extra)
    _free_cuda(cuda)
    base = torch.cuda.memory_allocated() if cuda else 0
    t0 = time.perf_counter()
    ens = load_ensemble(load_config(cfg))
    row["load_s"] = round(time.perf_counter() - t0, 2)
    if cuda:
        row["weights_mem_mb"] = round((torch.cuda.memory_allocated() - base) / 2**20)
    row["member_dtypes"] = sorted({str(next(m.model.parameters()).dtype) for m, _ in ens.transformers()})
    # the word caches hold every name's words (steady state of a long job); then kernels and allocator
    e = ens.cfg.ensemble
    split = split_names(names, e)
    for _, wt in ens.transformers():
        wt.encode(split)
    chunk = chunk_rows(batch)
    probe_n = min(len(names), chunk)
    label_all(ens, names[:probe_n], chunk)
    probe_s, _, _ = label_all(ens, names[:probe_n], chunk)
    target_s = 5.0 if cuda else 1.5
    n = int(min(len(names), max(probe_n, probe_n / max(probe_s, 1e-9) * target_s)))
    n = max(chunk, n // chunk * chunk) if n >= chunk else n
    if ens.graphs is not None:  # every shape the timed pass meets captured before it: it times replays
        for _ in range(ens.graphs.capture_after):  # (a shape is captured the capture_after-th time it is met)
            label_all(ens, names[:n], chunk)
    captured = _graph_captures(ens)
    widest: list[int] = []

    def count_rows(mod: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            widest.append(int(ids.shape[0]))

    hooks = [m.model.register_forward_pre_hook(count_rows, with_kwargs=True) for m, _ in ens.transformers()]
    _sync(cuda)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    before = dict(ens.stats.seconds)
    try:
        with NvmlSampler() if cuda else contextlib.nullcontext() as sampler:
            secs, out_rows, errors = label_all(ens, names[:n], chunk)
            _sync(cuda)
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
        split_s={k: round(v - before.get(k, 0.0), 3) for k, v in ens.stats.seconds.items()},
    )
    if peak:
        row["mfu"] = round(flops["real"] / secs / (peak * 1e12), 4)
        row["mfu_padded"] = round(flops["padded"] / secs / (peak * 1e12), 4)
    if cuda:
        row["peak_mem_mb"] = round((torch.cuda.max_memory_allocated() - base) / 2**20)
    if isinstance(sampler, NvmlSampler):
        row.update(sampler.summary())
    if ens.graphs is not None:
        row["graphs"] = graph_figures(ens.graphs, captured)
    log.info("gpu %s batch %d%s: %s names/s", precision, batch, " graphs" if graphs else "", f"{rate:,.0f}")
    del ens
    if out_rows != n or errors:
        raise AssertionError(f"{out_rows} rows out, {errors} with an error, for {n} names")
    if row["forward_rows_max"] > batch:  # (fewer is right: exact-length batches hold one length's rows)
        raise AssertionError(f"forward passes of up to {row['forward_rows_max']} rows, configured {batch}")


#: (rows, tokens) shapes of the ``graphs`` part: demo names are ~6-8 tokens with specials
GRAPH_SHAPES = ((256, 8), (1024, 8), (4096, 8))


def launch_cost(config: Path | str, shapes: Sequence[tuple[int, int]] = GRAPH_SHAPES, n: int = 20) -> dict[str, Any]:
    """Each transformer member's forward on CUDA, eager against a CUDA graph replay of the same forward, at
    fixed (rows, tokens) shapes: wall ms per forward, the host CPU ms the eager forward spends launching its
    kernels, and the largest logit difference between the two. What a graph per (member, rows, length)
    bucket would pay before one is built into the ensemble (issue 22, item 3); capture errors are reported.
    """
    import torch

    ens = load_ensemble(load_config(str(config)))
    out: dict[str, Any] = {"forwards": n, "by_member": {}}
    for member, _ in ens.transformers():
        model, dev = member.model, member.device
        vocab = int(model.config.vocab_size)
        got: dict[str, Any] = {}
        out["by_member"][member.source.name] = got
        for rows, length in shapes:
            key = f"{rows}x{length}"
            ids = torch.randint(5, vocab, (rows, length), device=dev)

            def forward(x: Any, model: Any = model) -> Any:
                with attention_kernels(True):
                    return model(input_ids=x).logits

            rec: dict[str, Any] = {}
            got[key] = rec
            with torch.inference_mode():
                for _ in range(3):
                    ref = forward(ids)
                torch.cuda.synchronize()
                t0, c0 = time.perf_counter(), time.thread_time()
                for _ in range(n):
                    forward(ids)
                launch = time.thread_time() - c0
                torch.cuda.synchronize()
                rec["eager_ms"] = round((time.perf_counter() - t0) / n * 1e3, 3)
                rec["eager_host_launch_ms"] = round(launch / n * 1e3, 3)
                try:
                    captured, rec["graph_ms"], rec["graph_host_launch_ms"] = replay_ms(forward, ids.clone(), n)
                    rec["max_abs_diff"] = round(float((captured.float() - ref.float()).abs().max()), 5)
                    rec["speedup"] = round(rec["eager_ms"] / rec["graph_ms"], 2)
                    del captured
                except Exception as exc:  # capture is what is being tried: say why it failed
                    rec["graph_error"] = f"{type(exc).__name__}: {exc}"[:300]
            log.info("gpu graphs %s %s: %s", member.source.name, key, rec)
    return out


def replay_ms(forward: Callable[[Any], Any], static: Any, n: int) -> tuple[Any, float, float]:
    """Capture ``forward(static)`` as a CUDA graph (warmed on a side stream first) and replay it ``n``
    times: (its output, wall ms per replay, host CPU ms per replay). Capture errors propagate."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            forward(static)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = forward(static)
    graph.replay()
    torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        graph.replay()
    launch = time.thread_time() - c0
    torch.cuda.synchronize()
    wall = (time.perf_counter() - t0) / n * 1e3
    out = captured.clone()
    del graph, captured
    return out, round(wall, 3), round(launch / n * 1e3, 3)


#: attention variants of the ``kernels`` part: transformers' own SDPA (what CUDA graphs captured before
#: ``models.unpadded_mask``), then the ensemble's (``models.use_attention``) as ``ensemble.attention`` =
#: auto, matmul, and SDPA restricted to each kernel a choice names (``ensemble.sdpa_backend``)
ATTENTION_VARIANTS = ("transformers-sdpa", *(a.value for a in Attention))
#: (rows, tokens) shapes of the ``kernels`` part: demo names, and names with two new words
KERNEL_SHAPES = ((4096, 8), (4096, 12))


def kernel_probe(
    config: Path | str,
    shapes: Sequence[tuple[int, int]] = KERNEL_SHAPES,
    n: int = 20,
    out: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Where a graph-replayed fp16 forward's GPU time goes at names' tiny lengths (issue 22): each
    transformer member's replay ms under each attention variant (``ATTENTION_VARIANTS``) with its largest
    logit difference from the first and its FLOP rate, a plain fp16 GEMM of the FFN's shape as the
    ceiling, and the top CUDA kernels of one eager forward by device time. ``out`` is filled as figures
    come (a time box or a failure keeps them); a failing profile or GEMM is reported in its place.
    """
    import torch
    from torch.nn.attention import sdpa_kernel

    ens = load_ensemble(load_config(str(config)))
    out = {} if out is None else out
    out.update(forwards=n, by_member={}, gemm={})
    for member, _ in ens.transformers():
        model, dev = member.model, member.device
        cfg = model.config
        params = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
        got: dict[str, Any] = {"non_embedding_params_m": round(params / 1e6, 1)}
        out["by_member"][member.source.name] = got
        for rows, length in shapes:
            key = f"{rows}x{length}"
            ids = torch.randint(5, int(cfg.vocab_size), (rows, length), device=dev)
            rec: dict[str, Any] = {}
            got[key] = rec
            ref = None
            for variant in ATTENTION_VARIANTS:

                def forward(x: Any, model: Any = model, variant: str = variant) -> Any:
                    pick = None if variant == "transformers-sdpa" else sdpa_backend(Attention(variant))
                    with attention_kernels(True) if pick is None else sdpa_kernel([pick]):  # that kernel alone
                        return model(input_ids=x).logits

                try:
                    if variant == "transformers-sdpa":
                        model.set_attn_implementation("sdpa")
                    elif not use_attention(model, short=variant == "matmul"):
                        raise RuntimeError("models.use_attention: not taken by this model / transformers")
                    with torch.inference_mode():
                        logits, ms, _host = replay_ms(forward, ids.clone(), n)
                    ref = logits if ref is None else ref
                    tflops = 2 * params * rows * length / (ms / 1e3) / 1e12
                    rec[variant] = {
                        "ms": ms,
                        "tflops": round(tflops, 1),
                        "max_abs_diff": round(float((logits.float() - ref.float()).abs().max()), 5),
                    }
                except Exception as exc:  # a backend that cannot take this shape is a figure too
                    rec[variant] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
                finally:
                    with contextlib.suppress(Exception):  # back to what the member was loaded with
                        model.set_attn_implementation("sdpa")
                    _free_cuda(True)
            log.info("gpu kernels %s %s: %s", member.source.name, key, rec)
        try:
            got["kernels"] = _top_kernels(model, int(cfg.vocab_size), dev, shapes[-1])
        except Exception as exc:  # a measurement: its failure is a figure too
            got["kernels"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        log.info("gpu kernels %s top: %s", member.source.name, got["kernels"])
    hidden = int(ens.transformers()[0][0].model.config.hidden_size) if ens.transformers() else 768
    for rows, length in shapes:
        tokens = rows * length
        key = f"{tokens}x{hidden}x{4 * hidden}"
        try:
            a = torch.randn(tokens, hidden, device="cuda", dtype=torch.float16)
            b = torch.randn(hidden, 4 * hidden, device="cuda", dtype=torch.float16)
            _o, ms, _h = replay_ms(partial(torch.matmul, other=b), a, 50)
            flops = 2 * tokens * hidden * 4 * hidden
            out["gemm"][key] = {"ms": ms, "tflops": round(flops / (ms / 1e3) / 1e12, 1)}
        except Exception as exc:  # a measurement: its failure is a figure too
            out["gemm"][key] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    log.info("gpu kernels gemm: %s", out["gemm"])
    del ens
    return out


def _top_kernels(model: Any, vocab: int, device: str, shape: tuple[int, int], top: int = 12) -> dict[str, Any]:
    """The CUDA kernels of one eager forward at ``shape`` (rows, tokens), by device time (torch profiler)."""
    import torch

    rows, length = shape
    ids = torch.randint(5, vocab, (rows, length), device=device)
    with torch.inference_mode(), attention_kernels(True):
        model(input_ids=ids)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            model(input_ids=ids)
            torch.cuda.synchronize()

    def device_us(e: Any) -> float:  # torch < 2.4 names it cuda_time_total
        got = getattr(e, "device_time_total", None)
        return float(got if got is not None else getattr(e, "cuda_time_total", 0.0))

    events = sorted((e for e in prof.key_averages() if device_us(e) > 0), key=device_us, reverse=True)
    total = sum(device_us(e) for e in events) or 1.0
    return {
        "shape": f"{rows}x{length}",
        "device_ms": round(total / 1e3, 3),
        "top": [
            {
                "name": e.key[:90],
                "calls": e.count,
                "ms": round(device_us(e) / 1e3, 3),
                "share": round(device_us(e) / total, 3),
            }
            for e in events[:top]
        ],
    }


def _free_cuda(cuda: bool) -> None:
    gc.collect()
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def bench_oom(config: Path | str, names: list[str], cuda: bool, rec: dict[str, Any] | None = None) -> dict[str, Any]:
    """An oversize batch under a CUDA OOM: the ensemble must halve it and label every row.

    ``config`` sets ``batch_size`` to ``len(names)``. CUDA: a blocker tensor takes all free GPU memory
    but a headroom sized from the measured activations, so the full batch cannot fit. CPU: the OOM is
    simulated (members raise ``torch.cuda.OutOfMemoryError`` above a row count), which exercises the
    same split path. Raises ``AssertionError`` unless every row comes out labelled; ``rec`` (filled as
    it goes, and returned) keeps what was measured before a failure.
    """
    import torch

    rec = {} if rec is None else rec
    _free_cuda(cuda)
    big = len(names)
    ens = load_ensemble(load_config(config))
    warnings: list[str] = []

    class _Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "out of memory" in record.getMessage():
                warnings.append(record.getMessage())

    handler = _Catch(level=logging.WARNING)
    ens_log = logging.getLogger("spark_ner.ensemble")
    ens_log.addHandler(handler)
    rec.update(batch_size=big, names=big, simulated=not cuda)
    try:
        if not cuda:
            limit = max(8, big // 8)
            for m, _wt in ens.transformers():
                orig = m.forward_module.forward

                def forward(*a: Any, _orig: Callable[..., Any] = orig, **kw: Any) -> Any:
                    rows = int((kw["input_ids"] if "input_ids" in kw else a[0]).shape[0])
                    if rows > limit:
                        raise torch.cuda.OutOfMemoryError(f"simulated: {rows} rows > {limit}")
                    return _orig(*a, **kw)

                m.forward_module.forward = forward  # type: ignore[method-assign]
            rec["simulated_row_limit"] = limit
            t0 = time.perf_counter()
            out = ens.label(names)
            rec["seconds"] = round(time.perf_counter() - t0, 2)
        else:
            # activations of the full batch, measured (no blocker yet): reference labels too
            _free_cuda(True)
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            ref = ens.label(names)
            act = torch.cuda.max_memory_allocated() - base
            rec["full_batch_activation_mb"] = round(act / 2**20)
            out = None
            attempts: list[dict[str, Any]] = []
            rec["attempts"] = attempts
            for share in (0.25, 0.1, 0.04):
                headroom = max(int(act * share), 64 * 2**20)
                warnings.clear()
                _free_cuda(True)
                free, _total = torch.cuda.mem_get_info()
                blocker = torch.empty(max(0, free - headroom), dtype=torch.uint8, device="cuda")
                try:
                    t0 = time.perf_counter()
                    out = ens.label(names)
                    secs = time.perf_counter() - t0
                finally:
                    del blocker
                    _free_cuda(True)
                att = {
                    "headroom_mb": round(headroom / 2**20),
                    "oom_splits": len(warnings),
                    "rows_labelled": int(out["label"].notna().sum()),
                    "row_errors": int(out["error"].notna().sum()),
                    "seconds": round(secs, 2),
                }
                attempts.append(att)
                if warnings:
                    break
            rec["label_agreement_with_unsplit"] = round(float((out["label"] == ref["label"]).mean()), 4)
        assert out is not None
        rec["oom_splits"] = len(warnings)
        rec["first_warning"] = warnings[0] if warnings else None
        rec["rows_out"] = len(out)
        rec["rows_labelled"] = int(out["label"].notna().sum())
        rec["row_errors"] = int(out["error"].notna().sum())
        if not warnings:
            raise AssertionError("no CUDA out-of-memory was provoked; the split path did not run")
        if len(out) != big or rec["rows_labelled"] != big:
            raise AssertionError(f"{rec['rows_labelled']} of {big} rows labelled after the OOM split")
    finally:
        ens_log.removeHandler(handler)
        del ens
        _free_cuda(cuda)
    return rec


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


def bench_finetune(
    members: Members | None,
    names: list[str],
    spans: list[list[tuple[int, int, str]]],
    plan: DevicePlan,
    workdir: Path,
    deadline: float | None = None,
    rec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fine-tuning the BERT member with Accelerate: a bare fp16 loop for steps/s (and approximate MFU),
    then the package's own ``train()`` end to end (data, model, steps, dev F1, save).

    Without CUDA, only with ``plan.cpu_fallback``, both run in fp32 on the CPU with the small member.
    """
    import torch

    out: dict[str, Any] = {} if rec is None else rec
    if not plan.runs_device_sections or members is None:
        out.update(measured=False, reason="no CUDA GPU on this machine")
        return out
    from accelerate import Accelerator
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from spark_ner.config import TAGS

    cuda = plan.cuda
    out["measured"] = cuda
    tag_id = {t: i for i, t in enumerate(TAGS)}
    tok = AutoTokenizer.from_pretrained(str(members.bert), local_files_only=True, trust_remote_code=False)
    n_batches = 4
    batches = []
    for b in range(n_batches):
        words, labels = [], []
        for i in range(b * plan.ft_batch, (b + 1) * plan.ft_batch):
            w, t = _word_tags(names[i % len(names)], spans[i % len(names)])
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
    precision = "fp16" if cuda else "no"
    acc = Accelerator(mixed_precision=precision, cpu=not cuda)
    model = AutoModelForTokenClassification.from_pretrained(
        str(members.bert), local_files_only=True, trust_remote_code=False
    )
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    model, opt = acc.prepare(model, opt)
    model.train()
    warm = 3
    losses: list[float] = []
    steps_done = 0
    t0 = time.perf_counter()
    for step in range(warm + plan.ft_steps):
        if step == warm:
            _sync(cuda)
            t0 = time.perf_counter()
        batch = {k: v.to(acc.device, non_blocking=True) for k, v in batches[step % n_batches].items()}
        loss = model(**batch).loss
        acc.backward(loss)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step in (0, warm + plan.ft_steps - 1):
            losses.append(round(float(loss.detach()), 4))
        if step >= warm:
            steps_done += 1
        if deadline is not None and time.monotonic() > deadline - (25 if cuda else 8):  # leave time for train()
            break
    _sync(cuda)
    secs = time.perf_counter() - t0
    tokens = float(sum(int(b["attention_mask"].sum()) for b in batches)) / n_batches
    n_params = sum(p.numel() for p in acc.unwrap_model(model).parameters())
    loop: dict[str, Any] = {
        "mixed_precision": precision,
        "batch_names": plan.ft_batch,
        "tokens_per_batch": round(tokens),
        "steps": steps_done,
        "seconds": round(secs, 3),
        "steps_per_s": round(steps_done / secs, 2) if secs > 0 and steps_done else None,
        "names_per_s": round(steps_done * plan.ft_batch / secs) if secs > 0 and steps_done else None,
        "loss_first_last": losses,
        "params_m": round(n_params / 1e6, 1),
    }
    out["loop"] = loop
    if cuda and steps_done:
        peak16, _ = peak_tflops(torch.cuda.get_device_name(0))
        train_flops = 6.0 * n_params * tokens * steps_done  # forward + backward ~ 3x forward
        loop["approx_tflops"] = round(train_flops / secs / 1e12, 1)
        if peak16:
            loop["approx_mfu"] = round(train_flops / secs / (peak16 * 1e12), 4)
    del model, opt, acc
    _free_cuda(cuda)

    if deadline is not None and time.monotonic() > deadline - (20 if cuda else 8):
        out["train"] = {"skipped": "time box"}
        raise SectionTimeout("no time left for train() after the loop")
    from spark_ner.starter.train import TrainArgs, train

    n = min(plan.train_examples, len(names))
    data = pd.DataFrame(
        {
            "name": names[:n],
            "spans": [json.dumps([{"start": s, "end": e, "label": lab} for s, e, lab in sp]) for sp in spans[:n]],
        }
    )
    train_file = workdir / "finetune-train.parquet"
    data.to_parquet(train_file, index=False)
    args = TrainArgs(
        train_file=train_file,
        output_dir=workdir / "finetuned",
        init=members.bert,
        mixed_precision="fp16",
        epochs=1,
        max_steps=plan.train_steps,
        batch_size=64 if cuda else 16,
        eval_batch_size=512 if cuda else 64,
        max_eval_examples=1000 if cuda else 50,
        progress=False,
    )
    t0 = time.perf_counter()
    metrics = train(args)
    out["train"] = {
        "wall_s": round(time.perf_counter() - t0, 2),
        "seconds": metrics.get("seconds"),
        "steps": metrics.get("steps"),
        "batch": args.batch_size,
        "train_examples": metrics.get("train_examples"),
        "mixed_precision": metrics.get("mixed_precision"),
        "dev_f1": (metrics.get("dev") or {}).get("f1"),
    }
    _free_cuda(cuda)
    return out


# ----------------------------------------------------------------------------- host-side ceiling

_SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")  # 70
_WORD_SPACE = len(_SYLLABLES) ** 4


def novel_words(start: int, n: int) -> list[str]:
    """``n`` distinct made-up words (``Bakomitu``) numbered from ``start``: words no word cache has seen.

    The index goes through a bijection of the 70^4 space (a multiplier coprime to it), so runs with
    disjoint index ranges never share a word.
    """
    k = (np.arange(start, start + n, dtype=np.int64) * 7919 + 104729) % _WORD_SPACE
    digits = [(k // len(_SYLLABLES) ** p) % len(_SYLLABLES) for p in range(4)]
    syl = np.asarray(_SYLLABLES, dtype=object)
    words = syl[digits[0]] + syl[digits[1]] + syl[digits[2]] + syl[digits[3]]
    return [w.capitalize() for w in words.tolist()]


def host_names(n: int, seed: int) -> list[str]:
    """``n`` distinct names, each a demo name plus two never-seen words (run ``seed`` owns its words)."""
    pool = name_pool(min(n, 20_000), seed=100 + seed)
    words = novel_words(seed * 2 * n, 2 * n)
    return [f"{pool[i % len(pool)]} {words[2 * i]} {words[2 * i + 1]}" for i in range(n)]


def profile_summary(prof: Any, top: int = 12) -> list[dict[str, Any]]:
    """The ``top`` functions by cumulative time of a cProfile run (main thread only)."""
    import pstats

    stats = pstats.Stats(prof)
    total = max(float(getattr(stats, "total_tt", 0.0)), 1e-9)
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)  # type: ignore[attr-defined]
    out = []
    for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in entries:
        if "cProfile" in func or "disable" in func:
            continue
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if file != "~" else "builtin"
        out.append(
            {
                "function": f"{func} ({where})",
                "calls": int(calls),
                "cumtime_s": round(float(cumtime), 3),
                "tottime_s": round(float(tottime), 3),
                "share": round(float(cumtime) / total, 3),
            }
        )
        if len(out) == top:
            break
    return out


def _warm_cpu_us(run: Callable[[list[str]], dict[str, float]], names: list[str]) -> float:
    return run(names)["cpu_us"]


def _identity_batches(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
    yield from batches


def _spark_host(
    configs: dict[str, Config],
    names: list[str],
    cores: int,
    workdir: Path,
    repeat: int = 3,
    host_probe: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """``with_ner_labels`` for each config (with the label job's scoring confs), and an identity Pandas
    UDF over the same column (the faster of the session's defaults and the scoring confs), through
    Spark local[cores] with warm workers (each job run before it is timed: workers started, the
    ensemble loaded, every partition's words seen).

    The timed runs take turns (every job once per round, best of ``repeat`` rounds): this machine's
    speed drifts by up to 2x within minutes, and the ratio to the bound divides one job's time by the
    other's, so timing them minutes apart measured the drift (twelfth session: 0.60 to 0.81). For the
    same reason ``host_probe`` (the host CPU us per name the bound divides by) runs in the same rounds,
    between the jobs; ``host_us_per_name`` is its best round."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    from spark_ner.spark.session import get_session, session_conf
    from spark_ner.spark.udf import ARROW_BATCH_KEY, recommended_arrow_batch_rows, scoring_sql_conf, with_ner_labels

    src = workdir / f"host-names-{time.monotonic_ns()}"
    src.mkdir(parents=True)
    for i, part in enumerate(np.array_split(np.arange(len(names)), cores)):
        pd.DataFrame({"name": [names[j] for j in part]}).to_parquet(src / f"part-{i:03d}.parquet")
    conf = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", "spark.python.worker.reuse": "true"}
    spark, created = get_session(master=f"local[{cores}]", conf=conf)

    def run_job(frame: Any) -> float:
        t = time.perf_counter()
        frame.write.format("noop").mode("overwrite").save()
        return time.perf_counter() - t

    out: dict[str, Any] = {"partitions": cores}
    try:
        df = spark.read.parquet(str(src))
        ident = pandas_udf(_identity_batches, "string")  # type: ignore[call-overload]
        jobs: dict[str, tuple[Any, Config | None]] = {
            key: (df.transform(with_ner_labels("name", cfg)), cfg) for key, cfg in configs.items()
        }
        identity = df.select(ident(F.col("name")).alias("name"))
        jobs["identity_udf"] = (identity, None)
        jobs["identity_udf_row_output"] = (identity, None)  # the bound takes the faster of the two
        # the same UDF with its input column kept beside its output, as the label job's rows are
        keep = df.select("name", ident(F.col("name")).alias("name_out"))
        jobs["identity_udf_keep_input_row_output"] = (keep, None)
        seconds: dict[str, list[float]] = {key: [] for key in jobs}
        host_us: list[float] = []
        for r in range(repeat + 2):  # two untimed rounds: both workers see both partitions' words
            for key, (frame, cfg) in jobs.items():
                settings: dict[str, str | None] = {}
                if cfg is not None:  # as the label job scores
                    settings = {ARROW_BATCH_KEY: str(recommended_arrow_batch_rows(cfg)), **scoring_sql_conf(spark)}
                elif key.endswith("_row_output"):
                    settings = scoring_sql_conf(spark)
                with session_conf(spark, settings):
                    took = run_job(frame)
                if r >= 2:
                    seconds[key].append(took)
            if host_probe is not None:
                probe = host_probe()
                if r >= 2:
                    host_us.append(probe)
        out.update({key: round(len(names) / min(took)) for key, took in seconds.items()})
        if host_us:
            out["host_us_per_name"] = round(min(host_us), 1)
            out["host_us_per_name_runs"] = [round(x, 1) for x in host_us]
        out["identity_udf"] = max(out["identity_udf"], out.pop("identity_udf_row_output"))
        out["identity_udf_keep_input"] = out.pop("identity_udf_keep_input_row_output")
    finally:
        if created:
            spark.stop()
    return out


@contextlib.contextmanager
def _cpu_meter(ens: Ensemble, names: int) -> Iterator[dict[str, float]]:
    """CPU microseconds per name of the process (every thread) and inside the members' forward calls."""
    out: dict[str, float] = {}
    model0, cpu0 = ens.stats.cpu_seconds.get("model", 0.0), time.process_time()
    yield out
    out["cpu_us_per_name"] = round((time.process_time() - cpu0) / names * 1e6, 1)
    out["model_us_per_name"] = round((ens.stats.cpu_seconds.get("model", 0.0) - model0) / names * 1e6, 1)


def gpu_path_ensemble(cfg: Config) -> Ensemble:
    """``cfg``'s ensemble on this CPU as the GPU path runs it: one feeder thread (no lanes) and torch on
    one thread. The batch plan (exact-length batches, pipeline steps of 32,768 names) is every device's."""
    import torch

    one = replace(cfg, ensemble=replace(cfg.ensemble, num_threads=1, cpu_parallel=CpuParallel.OPS))
    ens = load_ensemble(one)
    torch.set_num_threads(1)
    return ens


def arrow_chunks(names: list[str], rows: int) -> list[Any]:
    """``names`` as the Arrow string arrays a Spark task would hand the UDF, ``rows`` per batch."""
    import pyarrow as pa

    return [pa.array(names[i : i + rows], type=pa.string()) for i in range(0, len(names), rows)]


def gpu_path_runner(cfg: Config, n: int) -> tuple[Ensemble, Callable[[list[str]], dict[str, float]]]:
    """:func:`gpu_path_ensemble` warmed up, and a function that labels names through it as Arrow batches
    (``label_arrow_stream``, what the Spark UDF runs) and returns CPU us per name (all threads, the
    members' forward, the kernel's share) and the wall seconds."""
    from spark_ner.engine import label_arrow_stream

    ens = gpu_path_ensemble(cfg)
    rows = max(2048, 8 * cfg.ensemble.batch_size)  # recommended_arrow_batch_rows
    for _ in label_arrow_stream(ens, arrow_chunks(host_names(min(2 * rows, max(n, 256)), seed=98), rows)):
        pass  # threads, allocator, torch's first calls

    def run(names: list[str]) -> dict[str, float]:
        chunks = arrow_chunks(names, rows)
        model0, c0, t0 = ens.stats.cpu_seconds.get("model", 0.0), time.process_time(), time.perf_counter()
        sys0 = os.times().system
        for _ in label_arrow_stream(ens, chunks):
            pass
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        system = os.times().system - sys0  # the kernel's share (fresh pages): varies with the machine's state
        model = ens.stats.cpu_seconds.get("model", 0.0) - model0
        per = 1e6 / len(names)
        return {"cpu_us": cpu * per, "model_us": model * per, "sys_us": system * per, "wall_s": wall}

    return ens, run


def bench_gpu_path(cfg: Config, n: int, repeat: int = 3) -> dict[str, Any]:
    """Host CPU per name of the GPU code path on one thread: :func:`gpu_path_ensemble` fed Arrow batches
    through ``label_arrow_stream`` (what the Spark UDF runs), ``n`` distinct names with two never-seen
    words each (cold word cache), then the same names again (warm). With zero-layer members the
    forward is nearly free, so this is what one Python process spends per name around a GPU.

    Best of ``repeat`` rounds (each new names cold, then warm), as the bench's other timed rows: this
    machine's speed drifts by ~10% within minutes (the toy forward alone 4.5-5.9 us per name)."""
    ens, run = gpu_path_runner(cfg, n)
    rows = max(2048, 8 * cfg.ensemble.batch_size)  # recommended_arrow_batch_rows
    cold, warm = [], []
    for r in range(repeat):
        names = host_names(n, seed=40 + r)
        cold.append(run(names))
        warm.append(run(names))
    padded, real = ens.plan_tokens(host_names(n, seed=40))
    demo = name_pool(min(n, 50_000), seed=7)
    demo_padded, demo_real = ens.plan_tokens(demo)  # names as they come: 4-7 tokens
    # the same plans with CUDA graphs' row buckets (ensemble.cuda_graphs): computable without a GPU
    ens.graphs = StaticForwards(cfg.ensemble.batch_size, capture=False)
    g_padded, _ = ens.plan_tokens(host_names(n, seed=40))
    g_demo_padded, _ = ens.plan_tokens(demo)
    ens.graphs = None
    per_member = max(len(ens.transformers()), 1)
    best_cold = min(cold, key=lambda x: x["cpu_us"])
    best_warm = min(warm, key=lambda x: x["cpu_us"])
    return {
        "names": n,
        "batch_size": cfg.ensemble.batch_size,
        "arrow_rows": rows,
        "cold_cpu_us_per_name": round(best_cold["cpu_us"], 1),
        "warm_cpu_us_per_name": round(best_warm["cpu_us"], 1),
        "cold_cpu_us_per_name_runs": [round(x["cpu_us"], 1) for x in cold],
        "warm_cpu_us_per_name_runs": [round(x["cpu_us"], 1) for x in warm],
        "cold_model_us_per_name": round(best_cold["model_us"], 1),
        "warm_model_us_per_name": round(best_warm["model_us"], 1),
        "cold_sys_us_per_name": round(best_cold["sys_us"], 1),
        "warm_sys_us_per_name": round(best_warm["sys_us"], 1),
        "cold_names_per_s": round(n / best_cold["wall_s"]),
        "warm_names_per_s": round(n / best_warm["wall_s"]),
        "padded_tokens": padded,
        "real_tokens": real,
        "padded_per_real": round(padded / real, 3) if real else None,
        "demo_names_padded_per_real": round(demo_padded / demo_real, 3) if demo_real else None,
        "graphs_padded_per_real": round(g_padded / real, 3) if real else None,
        "graphs_demo_names_padded_per_real": round(g_demo_padded / demo_real, 3) if demo_real else None,
        # real tokens per name and member, specials included: what the members' vocabularies make of names
        "tokens_per_name": round(real / n / per_member, 1),
        "demo_tokens_per_name": round(demo_real / max(len(demo), 1) / per_member, 1),
    }


def _executor_worker(config: str, names: list[str], rows: int, barrier: Any, results: Any, profile: bool) -> None:
    """One of N processes of the ``executor`` section: what one Spark task runs (``label_arrow_stream``
    over Arrow batches of ``rows`` names), started together with the others on the same device."""
    try:
        _executor_run(config, names, rows, barrier, results, profile)
    except BaseException as exc:  # the parent reports it instead of waiting for a result forever
        import traceback

        barrier.abort()
        results.put({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]})


def _executor_run(config: str, names: list[str], rows: int, barrier: Any, results: Any, profile: bool) -> None:
    import torch

    from spark_ner.engine import label_arrow_stream

    ens = load_ensemble(load_config(config))
    cuda = ens.device.startswith("cuda")
    ens.stats.time_device = cuda
    # warm: allocator, kernels chosen, thread pools; with CUDA graphs as many other names as are timed, so the
    # shapes the timed pass meets are captured already (a Spark task's worker keeps its graphs across tasks)
    warm = len(names) if ens.graphs is not None else min(2 * rows, max(256, len(names)))
    for _ in range(ens.graphs.capture_after if ens.graphs is not None else 1):  # a shape met once: not captured
        for _ in label_arrow_stream(ens, arrow_chunks(host_names(warm, seed=97), rows)):
            pass
    captured = _graph_captures(ens)
    launches = None
    if profile and cuda:  # kernel launches per forward pass, on one pipeline step
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        forwards0 = ens.stats.forwards
        with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in label_arrow_stream(ens, arrow_chunks(names[:rows], rows)):
                pass
        n_launch = sum(e.count for e in prof.key_averages() if "LaunchKernel" in e.key or "GraphLaunch" in e.key)
        launches = n_launch / max(1, ens.stats.forwards - forwards0)
    chunks = arrow_chunks(names, rows)
    dev0, fw0 = ens.stats.device_seconds, ens.stats.forwards
    barrier.wait()
    c0, t0 = time.process_time(), time.time()
    n = sum(len(x) for x in label_arrow_stream(ens, chunks))
    t1 = time.time()
    if cuda:
        torch.cuda.synchronize()
    padded, real = ens.plan_tokens(names[: min(len(names), 20_000)])
    graphs = graph_figures(ens.graphs, captured) if ens.graphs is not None else None
    results.put(
        {
            "graphs": graphs,
            "rows": n,
            "start": t0,
            "end": t1,
            "cpu_s": time.process_time() - c0,
            "device_busy_s": ens.stats.device_seconds - dev0 if cuda else None,
            "forwards": ens.stats.forwards - fw0,
            "launches_per_forward": launches,
            "padded_tokens": padded,
            "real_tokens": real,
        }
    )


#: which names an executor run labelled (``bench_executor``'s ``names_from``; a report of an older run, without
#: the key, used the second)
EXECUTOR_NAMES_GPU = "the gpu section's names"
EXECUTOR_NAMES_HOST = "demo names with two never-seen words each"


def bench_executor(
    config: str,
    n: int,
    procs: Sequence[int],
    rows: int,
    mps_procs: Sequence[int] = (),
    workdir: Path | None = None,
    graphs: tuple[str, Sequence[int]] | None = None,
    rec: dict[str, Any] | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """N processes (as N Spark tasks on one executor) share this machine's device, each labelling its
    share of ``n`` distinct names through ``label_arrow_stream``: summed names/s per device, host CPU
    per name, device-busy seconds from CUDA events, padded/real tokens, kernel launches per forward.
    ``names``: the first ``n`` of these (the gpu section's, so that both measure the same names, as issue 22
    asks); without them, :func:`host_names` (two never-seen words each: about twice the tokens per name).
    ``graphs``: (a config with ``ensemble.cuda_graphs`` on, process counts) run again with it.
    ``mps_procs``: the same again under NVIDIA MPS (:func:`mps_daemon`), where the machine has it, eager
    and (with ``graphs``) with graphs. ``rec`` is filled as rounds finish (a time box keeps them)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # CUDA cannot be forked into children
    if names is not None and len(names) < n:
        raise ValueError(f"bench_executor: {len(names):,} names given for n = {n:,}. Fix: pass n names or more.")
    names_from = EXECUTOR_NAMES_GPU if names is not None else EXECUTOR_NAMES_HOST
    names = list(names[:n]) if names is not None else host_names(n, seed=60)
    out: dict[str, Any] = {} if rec is None else rec
    out.update(names=n, names_from=names_from, arrow_rows=rows, by_processes={})
    for k in procs:
        out["by_processes"][str(k)] = _executor_round(ctx, config, names, k, rows, profile=k == procs[0])
        log.info("executor %d process(es): %s", k, out["by_processes"][str(k)])
    graph_config, graph_procs = graphs if graphs is not None else ("", ())
    for k in graph_procs:
        got = out.setdefault("by_processes_graphs", {})
        got[str(k)] = _executor_round(ctx, graph_config, names, k, rows, profile=k == graph_procs[0])
        log.info("executor %d process(es) with CUDA graphs: %s", k, got[str(k)])
    if mps_procs:
        try:
            with mps_daemon(Path(workdir or tempfile.mkdtemp(prefix="spark-ner-mps-")) / "mps") as running:
                out["mps"] = running
                for key, cfg in (("by_processes_mps_graphs", graph_config), ("by_processes_mps", config)):
                    for k in mps_procs if running and cfg else ():
                        got = out.setdefault(key, {})
                        got[str(k)] = _executor_round(ctx, cfg, names, k, rows, profile=False)
                        log.info("executor %d process(es) under MPS (%s): %s", k, key, got[str(k)])
        except Exception as exc:  # the plain rounds above stand; say why MPS gave none
            log.exception("executor section: the MPS rounds failed")
            out["mps_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out


@contextlib.contextmanager
def mps_daemon(folder: Path) -> Iterator[bool]:
    """NVIDIA's Multi-Process Service for the executor section's processes, started here and stopped on
    exit; yields whether it runs (False: no ``nvidia-cuda-mps-control`` on PATH, or it did not start).

    Why: without MPS, processes sharing a GPU take turns. On the H200 of 2026-12-04, 1, 2, 4 and 8
    processes summed 37.6k, 36.8k, 38.0k and 40.2k names/s (BENCHMARKS.md). Under MPS their kernels can
    run at once. Spawned workers inherit the pipe folder through the environment, set here for the block.
    """
    import shutil

    exe = shutil.which("nvidia-cuda-mps-control")
    if exe is None:
        yield False
        return
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(folder / "pipe"), "CUDA_MPS_LOG_DIRECTORY": str(folder / "log")}
    saved = {k: os.environ.get(k) for k in env}
    for path in env.values():
        Path(path).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    started = False
    try:
        started = subprocess.run([exe, "-d"], capture_output=True, timeout=30).returncode == 0
        yield started
    finally:
        if started:
            subprocess.run([exe], input=b"quit\n", capture_output=True, timeout=30)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _executor_round(ctx: Any, config: str, names: list[str], k: int, rows: int, profile: bool) -> dict[str, Any]:
    """One round of the executor section: ``k`` spawned workers, started together, their figures summed."""
    barrier, results = ctx.Barrier(k), ctx.Queue()
    parts = np.array_split(np.arange(len(names)), k)
    workers = [
        ctx.Process(
            target=_executor_worker,
            args=(config, [names[i] for i in part.tolist()], rows, barrier, results, profile and i == 0),
        )
        for i, part in enumerate(parts)
    ]
    for w in workers:
        w.start()
    got: list[dict[str, Any]] = []
    try:
        while len(got) < k:
            with contextlib.suppress(queue.Empty):
                got.append(results.get(timeout=2))
                continue
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:  # killed without a word (out of memory, a signal)
                raise RuntimeError(f"executor section: a worker of {k} died (exit codes {dead})")
        for w in workers:
            w.join()
    finally:  # a failure or a time box must not leave workers holding the device
        for w in workers:
            if w.is_alive():
                w.terminate()
                w.join(timeout=10)
    failed = [g for g in got if "error" in g]
    if failed:
        raise RuntimeError(f"executor section: a worker of {k} failed: {failed[0]['error']}\n{failed[0]['traceback']}")
    wall = max(g["end"] for g in got) - min(g["start"] for g in got)
    total = sum(g["rows"] for g in got)
    busy = [g["device_busy_s"] for g in got if g["device_busy_s"] is not None]
    launches = next((g["launches_per_forward"] for g in got if g["launches_per_forward"] is not None), None)
    graphs = [g["graphs"] for g in got if g.get("graphs")]
    return {
        **(
            {
                "graph_captures": sum(x["captures"] for x in graphs),
                "graph_captures_timed": sum(x["captures_timed"] for x in graphs),
                "graph_replays": sum(x["replays"] for x in graphs),
                "graph_eager": sum(x["eager"] for x in graphs),
                "graph_failures": [f for x in graphs for f in x["failures"]][:3],
            }
            if graphs
            else {}
        ),
        "processes": k,
        "rows": total,
        "wall_s": round(wall, 3),
        "names_per_s": round(total / wall),
        "host_cpu_us_per_name": round(sum(g["cpu_s"] for g in got) / total * 1e6, 1),
        "device_busy_s": round(sum(busy), 3) if busy else None,
        "device_busy_share": round(sum(busy) / wall, 3) if busy else None,
        "forwards": sum(g["forwards"] for g in got),
        "padded_per_real": round(sum(g["padded_tokens"] for g in got) / sum(g["real_tokens"] for g in got), 3),
        "launches_per_forward": round(launches, 1) if launches is not None else None,
    }


#: the member pairs of the host section: the issue's near-zero-compute pair (2 layers, hidden 32), and
#: the same with no transformer layer (embeddings and classifier only), whose forward is ~6 us/name
HOST_PAIRS = {"2-layer": 2, "0-layer": 0}

#: the vocabulary and tokenizer corpus of the GPU path's second zero-layer pair. Why a second pair: the
#: TINY pair's 400-token vocabulary splits a demo name into ~14 tokens per member where BERT-base's 30,522
#: make ~5.5 + 2 specials, and its CPU forward (embeddings + LayerNorm at hidden 32, ~100 ns a token, work a
#: GPU does) is then ~40% of the loop. Trained to this size on this many names, the pair tokenises names
#: like a real member; the TINY pair stays as the issue's yardstick (BENCHMARKS.md, twelfth session).
REAL_VOCAB = 30_000
REAL_VOCAB_CORPUS = 20_000


def executor_config(
    workdir: Path, size: str, batch_size: int, device_members: Callable[[], Members] | None = None
) -> Path:
    """The executor section's members: zero-layer random (the host side alone), or the device sections'
    BERT-base + RoBERTa-base sized pair in fp16 (``auto``: base on CUDA, zero-layer without).
    ``device_members()`` gives that pair (built once per run); without it one is built here."""
    import torch

    from spark_ner.tools.random_models import TINY, Size

    cuda = torch.cuda.is_available()
    if size == "auto":
        size = "base" if cuda else "zero"
    if size == "base":
        members = (
            device_members()
            if device_members
            else Members.build(workdir / "executor-base", synthetic_names(50_000, seed=0)[0], Size(**GPU_BASE))
        )
        return members.config("fp16" if cuda else "fp32", batch_size)
    corpus = name_pool(3000, seed=11)
    return write_random_config(workdir / "executor-zero", corpus, replace(TINY, layers=0), "fp32", batch_size)


def lexicon_folder(cfg: Config) -> Path | None:
    """The folder of ``cfg``'s first lexicon member, where this machine has it (None: no such member or
    not built)."""
    from spark_ner.config import MemberKind
    from spark_ner.lexicon import lexicon_file
    from spark_ner.models import locate_member

    for model in cfg.models:
        if model.kind == MemberKind.LEXICON:
            folder = locate_member(model)[0]
            return folder if lexicon_file(folder).is_file() else None
    return None


def bench_lexicon(folder: Path, n: int) -> dict[str, Any]:
    """Thread CPU per name of the lexicon member's word probabilities (the default vote runs it on the
    calling thread, beside the GPU's work) over ``n`` demo names: the first call (every word new to it),
    the same names again, and the per-name reference path (``fast=False``) that the vectorised matching
    replaced (issue 22)."""
    from spark_ner.lexicon import Lexicon

    lex = Lexicon(folder)
    names = name_pool(n, seed=7)
    split = split_words(names, 64)

    def once(fast: bool) -> float:
        t = time.thread_time()
        lex.word_probs(split.words, split.starts, split.ends, split.bounds, split.keys, fast=fast)
        return (time.thread_time() - t) / n * 1e6

    first = once(True)
    warm = min(once(True) for _ in range(3))
    reference = min(once(False) for _ in range(2))
    return {
        "names": n,
        "first_us_per_name": round(first, 1),
        "warm_us_per_name": round(warm, 1),
        "reference_us_per_name": round(reference, 1),
    }


def bench_host(
    n: int,
    batch_size: int,
    cores: int,
    workdir: Path,
    parts: Collection[str] = ("gpu-path", "lanes", "spark"),
    lexicon: Path | None = None,
) -> dict[str, Any]:
    """The host side at GPU rates without a GPU: random members whose compute is small.

    ``n`` distinct names, every one with two never-seen words. Cold: a label call whose words are
    all new to the word cache; warm: the same names again. Whatever the rate here is, a GPU
    executor with ``cores`` CPU cores cannot label faster (the GPU would idle). On a CPU the 2-layer
    pair's forward is not free (``model_cpu_share``: the share of the process's CPU time spent inside
    the members' forward calls); the 0-layer pair shows the host side nearly alone.
    """
    import cProfile

    from spark_ner.tools.random_models import TINY

    corpus = name_pool(3000, seed=11)
    out: dict[str, Any] = {"names": n, "batch_size": batch_size, "cores": cores, "pairs": {}}
    file_cfgs: dict[str, Config] = {}
    for key, layers in HOST_PAIRS.items():
        size = replace(TINY, layers=layers)
        cfg_path = write_random_config(workdir / f"host-{key}", corpus, size, "fp32", batch_size, device="cpu")
        file_cfgs[key] = load_config(cfg_path)  # on the CPU also where a GPU is: the host side is measured
    names = host_names(n, 2)
    if "lexicon" in parts:
        if lexicon is None:
            out["lexicon"] = {"skipped": "the config has no lexicon member built on this machine"}
        else:
            out["lexicon"] = bench_lexicon(lexicon, min(n, 50_000))
        log.info("host lexicon %s", out["lexicon"])
    if "gpu-path" in parts:
        out["gpu_path"] = bench_gpu_path(file_cfgs["0-layer"], n)
        log.info("host gpu-path %s", out["gpu_path"])
        real_size = replace(TINY, layers=0, vocab=REAL_VOCAB)
        # short runs (tests, --quick) train on the TINY pair's names: 20,000 demo names take ~11 s to make
        real_corpus = name_pool(REAL_VOCAB_CORPUS, seed=11) if n >= 5 * REAL_VOCAB_CORPUS else corpus
        real = write_random_config(workdir / "host-0-layer-real-vocab", real_corpus, real_size, "fp32", batch_size)
        out["gpu_path_real_vocab"] = bench_gpu_path(load_config(real), n)
        log.info("host gpu-path, real-sized vocabularies %s", out["gpu_path_real_vocab"])
    for key, layers in HOST_PAIRS.items() if "lanes" in parts else ():
        cfg = replace(file_cfgs[key], ensemble=replace(file_cfgs[key].ensemble, num_threads=cores))
        ens = load_ensemble(cfg)
        ens.label(host_names(2 * batch_size, seed=99))  # threads, allocator, torch's first calls
        colds, cpu = [], {}
        for seed in (1, 2):
            names = host_names(n, seed)
            with _cpu_meter(ens, n) as cpu["cold"]:
                colds.append(_timed(partial(ens.label, names)))
        with _cpu_meter(ens, 3 * n) as cpu["warm"]:
            warm = _timed(partial(ens.label, names), repeat=3)
        pair: dict[str, Any] = {
            "layers": layers,
            "cold_names_per_s": round(n / min(colds)),
            "warm_names_per_s": round(n / warm),
            "model_cpu_share_warm": round(cpu["warm"]["model_us_per_name"] / cpu["warm"]["cpu_us_per_name"], 3),
            **{f"{k}_{m}": v for k, meter in cpu.items() for m, v in meter.items()},
        }
        if key == "2-layer":  # the profile of the issue's pair, cold
            prof = cProfile.Profile()
            fresh = host_names(n, seed=3)
            t = time.perf_counter()
            prof.enable()
            ens.label(fresh)
            prof.disable()
            out["profile_wall_s"] = round(time.perf_counter() - t, 2)
            out["profile"] = profile_summary(prof)
        out["pairs"][key] = pair
        del ens
    configure_threads(file_cfgs["2-layer"])
    if "spark" in parts:
        probe = None
        if "gpu_path" in out:  # the bound's host figure, measured in the Spark rounds (warm: the same names)
            _, run = gpu_path_runner(file_cfgs["0-layer"], n)
            run(names)
            probe = partial(_warm_cpu_us, run, names)
        s = _spark_host(file_cfgs, names, cores, workdir, host_probe=probe)
        out["identity_udf_names_per_s"] = s["identity_udf"]
        out["identity_udf_keep_input_names_per_s"] = s["identity_udf_keep_input"]
        out["spark_warm_names_per_s"] = {key: s[key] for key in HOST_PAIRS}
        for key, pair in out["pairs"].items():
            pair["spark_warm_names_per_s"] = s[key]
            pair["spark_ratio_to_inprocess_warm"] = round(s[key] / pair["warm_names_per_s"], 3)
        if "gpu_path" in out:  # the bound `cores` cores allow: host CPU per name plus Spark's own per row
            spark_us = cores * 1e6 / s["identity_udf"]
            host_us = s["host_us_per_name"]
            bound = cores * 1e6 / (host_us + spark_us)
            out["spark_bound"] = {
                "host_us_per_name": host_us,
                "host_us_per_name_runs": s["host_us_per_name_runs"],
                # the same bound with the gpu-path part's warm figure, measured minutes before the Spark jobs
                "ratio_gpu_path_figure": round(
                    s["0-layer"] * (out["gpu_path"]["warm_cpu_us_per_name"] + spark_us) / (cores * 1e6), 3
                ),
                "spark_us_per_row": round(spark_us, 2),
                # the bound's Spark share from the identity UDF that keeps its input column, as the job does
                "spark_us_per_row_keep_input": round(cores * 1e6 / s["identity_udf_keep_input"], 2),
                "ratio_keep_input": round(
                    s["0-layer"] * (host_us + cores * 1e6 / s["identity_udf_keep_input"]) / (cores * 1e6), 3
                ),
                "bound_names_per_s": round(bound),
                "zero_layer_names_per_s": s["0-layer"],
                "ratio": round(s["0-layer"] / bound, 3),
            }
    return out


# ----------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    """CPU, cores, GPU (memory, capability, CUDA runtime, driver), versions, date: the report's header."""
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    now = dt.datetime.now(dt.UTC)
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpu": None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": None,
        "date": now.date().isoformat(),
        "time_utc": now.strftime("%Y-%m-%d %H:%M UTC"),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),  # other work on the cores skews every figure
    }
    with contextlib.suppress(ImportError):
        import accelerate

        info["accelerate"] = accelerate.__version__
    if torch.cuda.is_available():
        prop = torch.cuda.get_device_properties(0)
        info.update(
            gpu=torch.cuda.get_device_name(0),
            gpu_mem_gib=round(prop.total_memory / 2**30, 1),
            gpu_capability=f"{prop.major}.{prop.minor}",
            cuda_runtime=torch.version.cuda,
            driver=None,
        )
        with contextlib.suppress(Exception):
            import pynvml

            pynvml.nvmlInit()
            info["driver"] = str(pynvml.nvmlSystemGetDriverVersion())
    return info


def _fmt(v: Any) -> str:
    if v is None:
        return "not measured"
    if isinstance(v, float):
        return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def markdown(results: dict[str, Any], command: str) -> str:
    """The BENCHMARKS.md block for one run."""
    m = results["machine"]
    gpu = m["gpu"] or "none"
    if m.get("gpu"):
        gpu += f" ({m.get('gpu_mem_gib')} GiB, CUDA {m.get('cuda_runtime')}, driver {m.get('driver')})"
    lines = [
        MARK_START,
        f"## Run of {m['date']}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {gpu}; Python {m['python']}, "
        f"torch {m['torch']}; load average at start {m.get('load_avg_1m_at_start')}. "
        f"Config: `{results['config']}` (members: {', '.join(results['members']) or 'not loaded: host/gpu only'}).",
        "",
        *markdown_table(results),
        "",
        MARK_END,
    ]
    return "\n".join(lines)


def section_ok(results: dict[str, Any], name: str) -> bool:
    """Whether section ``name`` ran and finished (a failed one may have left part of its figures)."""
    return name in results and results.get("sections", {}).get(name, {}).get("status", "ok") == "ok"


def markdown_table(results: dict[str, Any], extra: Sequence[str] = ()) -> list[str]:
    """The table of every figure of one run (``extra`` rows at its end), and the host profile below it;
    ``scripts/gpu_check.py`` puts the same lines in gpu_check.md. A failed section gets a line saying how."""
    lines = ["| measure | ours | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    # a failed section's figures are left out, but for gpu, finetune and executor (rows of what they hold)
    r = {k: v for k, v in results.items() if k not in SECTIONS or k in PARTIAL_OK or section_ok(results, k)}
    if "roofline" in r:
        lines.append(f"| fp32 matmul roofline (GFLOP/s, {r['threads']} threads) | {_fmt(r['roofline'])} | | | |")
    if "tokenize" in r:
        t = r["tokenize"]
        lines.append(
            f"| tokenization, {t['names']:,} names, all members (names/s) | {_fmt(t['ours_all_members_names_per_s'])} "
            f"(cold cache {_fmt(t['ours_all_members_names_per_s_cold'])}) | HF direct "
            f"{_fmt(t['hf_direct_all_members_names_per_s'])} | {t['speedup']}x | >= 5x |"
        )
    if "inprocess" in r:
        p = r["inprocess"]
        lines.append(
            f"| in-process ensemble fp32, {p['names']:,} distinct names, {p.get('cpu_lanes', 1)} lane(s) (names/s) "
            f"| {_fmt(p['ensemble_names_per_s'])} "
            f"| HF pipeline ({p.get('pipeline_threads', r['threads'])} threads) + Python vote "
            f"{_fmt(p['pipeline_names_per_s'])} | {p['speedup']}x | >= 2.5x |"
        )
        if p.get("ops_names_per_s"):
            lines.append(
                f'| same, `cpu_parallel = "ops"` (every op over {r["threads"]} threads, no lanes) (names/s) '
                f"| {_fmt(p['ops_names_per_s'])} | lanes {_fmt(p['ensemble_names_per_s'])} "
                f"| {p['ensemble_names_per_s'] / p['ops_names_per_s']:.2f}x (lanes) | |"
            )
        lines.append(
            f"| model FLOP utilisation (fp32 roofline share; {p['gflop_per_name']} GFLOP/name) "
            f"| {p['roofline_share']:.0%} | pipeline {p['pipeline_roofline_share']:.0%} | | >= 70% |"
        )
        if p.get("int8_names_per_s"):
            lines.append(
                f'| opt-in int8 CPU path (`precision = "int8"`), same names (names/s) '
                f"| {_fmt(p['int8_names_per_s'])} "
                f"| fp32 {_fmt(p['ensemble_names_per_s'])} | {p['int8_names_per_s'] / p['ensemble_names_per_s']:.2f}x "
                f"| label = fp32's on {p['int8_label_agreement_with_fp32']:.2%} of names |"
            )
    if "spark" in r:
        s = r["spark"]
        lines.append(
            f"| Spark local[{r['cores']}] label job, {s['names']:,} distinct names, scoring stage (names/s) "
            f"| {_fmt(s['spark_names_per_s'])} (end to end {_fmt(s['spark_end_to_end_names_per_s'])}) "
            f"| in-process {_fmt(s['in_process_names_per_s'])} | {s['ratio']} | >= 0.85 |"
        )
        if s.get("spark_worker_names_per_s"):
            lines.append(
                f"| same job, the {s['python_workers']} Python workers' own rate (rows / time inside "
                f"`Ensemble.label`, side by side; the stage's once-per-job cost: {s['once_per_job_s']} s, "
                f"of which model load {s['model_load_s']} s) (names/s) | {_fmt(s['spark_worker_names_per_s'])} "
                f"| in-process {_fmt(s['in_process_names_per_s'])} | {s['worker_ratio']} | >= 0.85 |"
            )
        lanes = s.get("lanes")
        if lanes:
            lines.append(
                f"| same job with `--spark-conf spark.task.cpus={r['cores']}` ({lanes['python_workers']} Python "
                f"worker, {r['cores']} CPU lanes, one ensemble copy), scoring stage (names/s) "
                f"| {_fmt(lanes['spark_names_per_s'])} (end to end {_fmt(lanes['spark_end_to_end_names_per_s'])}; "
                f"worker's own {_fmt(lanes['spark_worker_names_per_s'])}, {lanes['worker_ratio']}; once per job "
                f"{lanes['once_per_job_s']} s) | in-process {_fmt(lanes['in_process_names_per_s'])} "
                f"| {lanes['ratio']} | >= 0.85 |"
            )
    if "dedup" in r:
        d = r["dedup"]
        lines.append(
            f"| dedup: sample table, {d['realistic']['rows']:,} rows, {d['realistic']['distinct_names']} distinct "
            f"(rows/s) | {_fmt(d['realistic']['rows_per_s'])} | all distinct {_fmt(d['all_distinct']['rows_per_s'])} "
            f"| {d['speedup']}x | |"
        )
    if "cache" in r:
        c = r["cache"]
        cold, rerun = c["cold"], c["rerun_1pct_new"]
        lines.append(
            f"| incremental: rerun with `--cache`, {rerun['rows']:,} rows ({c['new_names']} new names, 1%) "
            f"vs cold, {cold['rows']:,} rows (job wall s; names scored / cached) "
            f"| {_fmt(rerun['wall_s'])} s; {rerun['names_scored']} / {rerun['names_cached']} "
            f"| cold {_fmt(cold['wall_s'])} s; {cold['names_scored']} / {cold['names_cached']} "
            f"| {c['speedup_wall']}x | |"
        )
    if "memory" in r:
        for rows, v in r["memory"]["by_rows"].items():
            lines.append(
                f"| worker peak RSS, {int(rows):,} rows in {r['memory']['chunk_rows']:,}-row batches (MB) "
                f"| {_fmt(v['peak_rss_mb'])} (after load {_fmt(v['rss_after_load_mb'])}) | | | <= 1,500 |"
            )
    lines += _gpu_rows(results.get("gpu") or {"measured": False, "reason": "section not run"})
    if "host" in r:
        lines += _host_rows(r["host"])
    ex = r.get("executor") or {}
    rounds = [(k, e, "") for k, e in ex.get("by_processes", {}).items()]
    att = ex.get("graph_attention", "auto")
    graphs = ", CUDA graphs" + ("" if att == "auto" else f", attention {att}")
    rounds += [(k, e, graphs) for k, e in ex.get("by_processes_graphs", {}).items()]
    rounds += [(k, e, " under MPS") for k, e in ex.get("by_processes_mps", {}).items()]
    rounds += [(k, e, f" under MPS{graphs}") for k, e in ex.get("by_processes_mps_graphs", {}).items()]
    for k, e, mps in rounds:
        busy = f"; device busy {e['device_busy_share']:.0%} of wall (CUDA events)" if e.get("device_busy_share") else ""
        launches = f"; {e['launches_per_forward']} kernel launches per forward" if e.get("launches_per_forward") else ""
        if "graph_captures" in e:
            launches += f"; {e['graph_captures']} graphs captured ({e.get('graph_captures_timed', '?')} while timed)"
            launches += f", {e['graph_eager']} eager forwards"
            launches += f" ({'; '.join(e['graph_failures'])})".replace("|", "/") if e["graph_failures"] else ""
        lines.append(
            f"| executor: {k} process(es) sharing the device{mps}, `label_arrow_stream`, {e['rows']:,} names "
            f"({ex.get('names_from', EXECUTOR_NAMES_HOST)}) "
            f"(summed names/s; host CPU us per name; padded/real {e['padded_per_real']}{busy}{launches}) "
            f"| {_fmt(e['names_per_s'])}; {e['host_cpu_us_per_name']} us | | | >= 100,000 on a GPU |"
        )
    if ex.get("mps") is False or ex.get("mps_error"):
        why = ex.get("mps_error") or "no nvidia-cuda-mps-control on PATH, or its daemon did not start"
        lines.append(f"| executor under MPS | not measured: {why.replace('|', '/')} | | | |")
    o = r.get("oom")
    if o:
        how = "simulated OOM, CPU" if o["simulated"] else "real CUDA OOM"
        lines.append(
            f"| OOM split: one batch of {o['batch_size']:,} names ({how}) | {o['rows_labelled']:,}/{o['rows_out']:,} "
            f"rows labelled after {o['oom_splits']} halvings | | | every row labelled |"
        )
    lines += _finetune_rows(r.get("finetune"))
    for name, st in results.get("sections", {}).items():
        if st.get("status") != "ok":
            why = str(st.get("error", "")).replace("|", "/").replace("\n", " ")[:200]
            lines.append(f"| section `{name}` | {st.get('status')} | {why} | | |")
    lines += extra
    if "host" in r and r["host"].get("profile"):
        h = r["host"]
        lines += [
            "",
            f"Host profile: the cold in-process run of the `host` section under cProfile ({h['profile_wall_s']} s "
            "with the profiler on; main thread only, so lane threads' forward passes show as waiting), top "
            "functions by cumulative time:",
            "",
            "| function | calls | cumulative s | own s | share |",
            "| --- | --- | --- | --- | --- |",
        ]
        for p in h["profile"]:
            lines.append(
                f"| `{p['function']}` | {p['calls']:,} | {p['cumtime_s']:.2f} | {p['tottime_s']:.2f} "
                f"| {p['share']:.0%} |"
            )
    return lines


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _gpu_rows(g: dict[str, Any]) -> list[str]:
    """Rows of the ``gpu`` section: one per (precision, batch) with its notes, fp16/fp32, agreement, Spark."""
    if "rows" not in g:
        return [
            f"| {what} | not measured ({g.get('reason') or 'the section failed'}) | | | |"
            for what in (
                "GPU in-process BERT-base + RoBERTa-base fp16 (names/s)",
                "GPU fp16 vs fp32",
                "GPU Spark local mode vs in-process",
                "GPU peak memory, utilisation, model FLOP utilisation",
                "GPU label agreement: fp16 vs fp32; CUDA vs CPU",
            )
        ]
    cuda = g.get("device") == "cuda"
    where = "GPU" if cuda else "CPU fallback (small members; not a GPU figure)"
    peak = g.get("peak_tflops", {})
    lines = []
    for row in g["rows"]:
        prec = row["precision"]
        graphs = " with CUDA graphs" if row.get("cuda_graphs") else ""
        graphs += f", attention {row['attention']}" if row.get("attention") else ""
        if "names_per_s" not in row:
            why = str(row.get("skipped") or row.get("error", "")).replace("|", "/")
            lines.append(f"| {where} in-process {prec}{graphs}, batch {row['batch']:,} | not run: {why} | | | |")
            continue
        notes = [
            f"{row['names']:,} names in Arrow batches of {row['call_rows']:,} rows through `label_arrow_stream`",
            f"{row['tokens_per_name']} tokens/name/member, {row['gflop_per_name']} GFLOP/name",
            f"{row['achieved_tflops']} TFLOP/s",
        ]
        if row.get("mfu") is not None:
            notes.append(
                f"MFU {_pct(row['mfu'])} of {peak.get('fp32' if prec == 'fp32' else 'fp16')} TFLOP/s "
                f"({_pct(row.get('mfu_padded'))} counting padding)"
            )
        if row.get("peak_mem_mb") is not None:
            notes.append(f"peak mem {row['peak_mem_mb']:,} MB (weights {row['weights_mem_mb']:,})")
        if row.get("gpu_util_mean") is not None:
            notes.append(f"NVML util mean {row['gpu_util_mean']}% max {row['gpu_util_max']}%")
        sp = row.get("split_s", {})
        notes.append(f"tokenize/forward/decode {sp.get('tokenize')}/{sp.get('forward')}/{sp.get('decode')} s")
        gr = row.get("graphs")
        if gr:
            notes.append(
                f"{gr['shapes']} graphs ({gr.get('captures_timed', '?')} captured while timed), {gr['replays']:,} "
                f"replays, {gr['eager']} eager forwards"
            )
            notes += [f"capture failed: {f}".replace("|", "/") for f in gr["failures"][:1]]
        target = ">= 120,000 (H100/H200)" if cuda and prec == "fp16" else ""
        lines.append(
            f"| {where} in-process {prec}{graphs}, batch {row['batch']:,} (names/s; {'; '.join(notes)}) "
            f"| {_fmt(row['names_per_s'])} | | | {target} |"
        )
    for b, ratio in g.get("fp16_over_fp32", {}).items():
        lines.append(f"| {where} fp16 / fp32, batch {int(b):,} | {ratio}x | | | >= 2x |")
    ag = g.get("label_agreement")
    if ag:
        for key, what in (("fp16_vs_fp32", "fp16 vs fp32 (CUDA)"), ("cuda_vs_cpu", "CUDA vs CPU (fp32)")):
            v = ag.get(key)
            shown = f"{100 * v:.2f}%" if isinstance(v, float) else str(v)
            lines.append(
                f"| GPU label agreement, {what}, share of the same {ag.get('names', 0):,} names | {shown} "
                "| | | >= 99.5% |"
            )
    gr = g.get("graphs")
    if gr and ("not_measured" in gr or "error" in gr):
        why = str(gr.get("not_measured") or gr["error"]).replace("|", "/")
        lines.append(f"| GPU CUDA graph replay vs eager forward | not measured: {why} | | | |")
    for name, by_shape in (gr or {}).get("by_member", {}).items():
        for shape, rec in by_shape.items():
            what = f"GPU {name} fp16 forward, {shape} tokens, eager vs CUDA graph replay (ms per forward"
            eager = f"eager {rec.get('eager_ms')} (host launch {rec.get('eager_host_launch_ms')})"
            if "graph_ms" in rec:
                lines.append(
                    f"| {what}; max logit diff {rec['max_abs_diff']}) | graph {rec['graph_ms']} "
                    f"(host {rec['graph_host_launch_ms']}) | {eager} | {rec['speedup']}x | |"
                )
            else:
                why = str(rec.get("graph_error", "")).replace("|", "/")
                lines.append(f"| {what}) | capture failed: {why} | {eager} | | |")
    lines += _kernel_rows(g.get("kernels"))
    sp = g.get("spark")
    if sp and "not_measured" in sp:
        lines.append(f"| GPU Spark local mode vs in-process | not measured: {sp['not_measured']} | | | |")
    elif sp:
        lines.append(
            f"| GPU Spark local mode fp16, batch {sp['batch']:,}, scoring stage (names/s); GPU util {sp['gpu_util']} "
            f"| {_fmt(sp['names_per_s'])} | in-process {_fmt(sp['in_process_names_per_s'])} | {sp['ratio']} "
            "| >= 0.8 |"
        )
    return lines


def _kernel_rows(k: dict[str, Any] | None) -> list[str]:
    """Rows of the gpu section's ``kernels`` part: replay ms per attention variant, GEMM ceiling, top kernels."""
    if not k:
        return []
    lines = []
    if "not_measured" in k or "error" in k:
        why = str(k.get("not_measured") or k["error"]).replace("|", "/")
        lines.append(f"| GPU forward by attention kernel (CUDA graph replay) | not measured: {why} | | | |")
    for name, by_shape in k.get("by_member", {}).items():
        for shape, rec in by_shape.items():
            if not isinstance(rec, dict) or shape == "kernels":
                continue
            cells = []
            for variant, r in rec.items():
                if "ms" in r:
                    cells.append(f"{variant} {r['ms']} ms ({r['tflops']} TFLOP/s, diff {r['max_abs_diff']})")
                else:
                    cells.append(f"{variant}: {str(r.get('error', '')).replace('|', '/')[:80]}")
            timed = {v: r["ms"] for v, r in rec.items() if "ms" in r}
            best = min(timed, key=lambda v: timed[v]) if timed else "-"
            base = next((f"{v} {ms} ms" for v, ms in timed.items()), "-")  # the first: what came before
            lines.append(
                f"| GPU {name} fp16 forward, {shape} tokens, CUDA graph replay by attention kernel "
                f"({'; '.join(cells)}) | best: {best} | {base} | | |"
            )
        top = by_shape.get("kernels")
        if top:
            listed = "; ".join(f"{t['name']} {t['ms']} ms x{t['calls']} ({100 * t['share']:.0f}%)" for t in top["top"])
            lines.append(
                f"| GPU {name} fp16 eager forward {top['shape']}: top CUDA kernels by device time "
                f"({listed.replace('|', '/')}) | {top['device_ms']} ms | | | |"
            )
    for shape, r in k.get("gemm", {}).items():
        lines.append(
            f"| GPU plain fp16 GEMM {shape} (CUDA graph replay; the FFN's shape) | {r['tflops']} TFLOP/s "
            f"| {r['ms']} ms | | |"
        )
    return lines


def _finetune_rows(ft: dict[str, Any] | None) -> list[str]:
    """Rows of the ``finetune`` section: the bare Accelerate loop, then ``train()`` end to end."""
    if not ft or ("loop" not in ft and not ft.get("reason")):
        return []
    if "loop" not in ft:
        return [f"| fine-tune (Accelerate) | not measured ({ft['reason']}) | | | |"]
    lp = ft["loop"]
    mp = "fp32" if lp["mixed_precision"] == "no" else lp["mixed_precision"]
    extra = f"; ~{lp['approx_tflops']} TFLOP/s, MFU ~{_pct(lp.get('approx_mfu'))}" if "approx_tflops" in lp else ""
    lines = [
        f"| fine-tune the BERT member, Accelerate {mp}, batch {lp['batch_names']} names (steps/s; {lp['steps']} "
        f"steps, {lp['tokens_per_batch']:,} tokens/batch, loss {lp['loss_first_last']}{extra}) "
        f"| {lp['steps_per_s']} ({_fmt(lp['names_per_s'])} names/s) | | | |"
    ]
    tr = ft.get("train")
    if isinstance(tr, dict) and "wall_s" in tr:
        tmp = "fp32" if tr["mixed_precision"] == "no" else tr["mixed_precision"]
        lines.append(
            f"| `spark_ner.starter.train.train()` end to end ({tmp}; {tr['steps']} steps of {tr['batch']}, "
            f"{tr['train_examples']:,} examples, dev eval + save) (s) | {tr['wall_s']} | | | |"
        )
    return lines


def _host_rows(h: dict[str, Any]) -> list[str]:
    """Rows of the ``host`` section: the ceiling a GPU executor with this many cores can reach."""
    rows = []
    c = h["cores"]
    g = h.get("gpu_path")
    if g:
        rows.append(
            f"| GPU code path's host side, one thread, zero-layer pair, {g['names']:,} distinct names with new "
            f"words, batch {g['batch_size']}, Arrow batches of {g['arrow_rows']:,} through `label_arrow_stream` "
            f"(CPU us per name cold / warm; runs {g['cold_cpu_us_per_name_runs']} / "
            f"{g['warm_cpu_us_per_name_runs']}; of which the toy forward {g['cold_model_us_per_name']} / "
            f"{g['warm_model_us_per_name']}, the kernel {g.get('cold_sys_us_per_name')} / "
            f"{g.get('warm_sys_us_per_name')}) | {g['cold_cpu_us_per_name']} / {g['warm_cpu_us_per_name']} "
            f"| | | <= 20 / <= 12 |"
        )
        rows.append(
            f"| device batch plan, padded / real tokens (these names; demo names) | {g['padded_per_real']}; "
            f"{g['demo_names_padded_per_real']} | | | <= 1.10 |"
        )
        if g.get("graphs_padded_per_real") is not None:
            rows.append(
                "| the same with `ensemble.cuda_graphs` (one-length batches computed at their row bucket) "
                f"| {g['graphs_padded_per_real']}; {g['graphs_demo_names_padded_per_real']} | | | <= 1.10 |"
            )
    rv = h.get("gpu_path_real_vocab")
    if rv:
        rows.append(
            f"| the same with real-sized vocabularies (zero-layer pair, tokenizers trained to {REAL_VOCAB:,} "
            f"tokens at most: {rv.get('tokens_per_name')} tokens per name and member here, "
            f"{rv.get('demo_tokens_per_name')} on demo names, against {g.get('tokens_per_name') if g else '-'} / "
            f"{g.get('demo_tokens_per_name') if g else '-'} above; runs {rv['cold_cpu_us_per_name_runs']} / "
            f"{rv['warm_cpu_us_per_name_runs']}; of which the toy forward {rv['cold_model_us_per_name']} / "
            f"{rv['warm_model_us_per_name']}) | {rv['cold_cpu_us_per_name']} / {rv['warm_cpu_us_per_name']} "
            f"| | | |"
        )
    lx = h.get("lexicon")
    if lx and "skipped" not in lx:
        rows.append(
            f"| the lexicon member's word probabilities, one thread, {lx['names']:,} demo names (thread CPU us per "
            f"name: first call, every word new / again; the per-name reference path) | {lx['first_us_per_name']} / "
            f"{lx['warm_us_per_name']} | reference {lx['reference_us_per_name']} | "
            f"{lx['reference_us_per_name'] / max(lx['warm_us_per_name'], 1e-9):.1f}x | |"
        )
    b = h.get("spark_bound")
    if b:
        rows.append(
            f"| Spark local[{c}] zero-layer pair vs the bound {c}e6 / (host {b.get('host_us_per_name', '?')} us "
            f"per name, measured between the Spark jobs, runs {b.get('host_us_per_name_runs', '?')}, + Spark's own "
            f"{b['spark_us_per_row']} us per row) (names/s; with the gpu-path row's warm figure instead: "
            f"{b.get('ratio_gpu_path_figure', '?')}; against an identity UDF that keeps its input column, as the "
            f"job's rows do, {b.get('spark_us_per_row_keep_input', '?')} us per row: "
            f"{b.get('ratio_keep_input', '?')}) | {_fmt(b['zero_layer_names_per_s'])} "
            f"| bound {_fmt(b['bound_names_per_s'])} | {b['ratio']} | >= 0.85 |"
        )
    for key, p in h["pairs"].items():
        what = (
            f"{h['names']:,} distinct names with two never-seen words each, batch {h['batch_size']}, random "
            f"{key} BERT + RoBERTa pair, hidden 32; CPU per name cold {p['cold_cpu_us_per_name']} us, warm "
            f"{p['warm_cpu_us_per_name']} us, of which the members' forward {p['warm_model_us_per_name']} us"
        )
        rows.append(
            f"| host ceiling ({key} pair), in-process `Ensemble.label`, cold word cache ({what}) (names/s; per core) "
            f"| {_fmt(p['cold_names_per_s'])} ({_fmt(round(p['cold_names_per_s'] / c))}/core) | | | >= 40,000 |"
        )
        rows.append(
            f"| host ceiling ({key} pair), in-process, same names again (warm word cache) (names/s; per core) "
            f"| {_fmt(p['warm_names_per_s'])} ({_fmt(round(p['warm_names_per_s'] / c))}/core) "
            f"| cold {_fmt(p['cold_names_per_s'])} | {p['warm_names_per_s'] / p['cold_names_per_s']:.2f}x "
            "| >= 100,000 |"
        )
        if p.get("spark_warm_names_per_s"):
            rows.append(
                f"| host ceiling ({key} pair), Spark local[{c}] `with_ner_labels`, warm workers, same names "
                f"(names/s; per core) | {_fmt(p['spark_warm_names_per_s'])} "
                f"({_fmt(round(p['spark_warm_names_per_s'] / c))}/core) | in-process warm "
                f"{_fmt(p['warm_names_per_s'])} | {p['spark_ratio_to_inprocess_warm']} | >= 0.8 |"
            )
    if h.get("identity_udf_names_per_s"):
        rows.append(
            f"| Spark local[{c}] identity Pandas UDF over the same column (names/s): Spark's own bound "
            f"| {_fmt(h['identity_udf_names_per_s'])} | | | |"
        )
    if h.get("identity_udf_keep_input_names_per_s"):
        rows.append(
            f"| Spark local[{c}] the same identity UDF with the input column kept beside its output (names/s) "
            f"| {_fmt(h['identity_udf_keep_input_names_per_s'])} | | | |"
        )
    return rows


def write_json(results: dict[str, Any], out: Path) -> None:
    """``OUT/bench.json``, replaced atomically (it is rewritten after every section)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "bench.json.tmp"
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True, default=str))
    tmp.replace(out / "bench.json")


def write_report(results: dict[str, Any], out: Path, markdown_path: Path, command: str) -> None:
    write_json(results, out)
    block = markdown(results, command)
    text = markdown_path.read_text() if markdown_path.exists() else "# Benchmarks\n\n"
    if MARK_START in text and MARK_END in text:
        text = re.sub(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    markdown_path.write_text(text)
    _plot(results, out / "bench.png")


def _plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed; no plot")
        return
    pairs = []
    if "tokenize" in results:
        t = results["tokenize"]
        pairs.append(("tokenize", t["ours_all_members_names_per_s"], t["hf_direct_all_members_names_per_s"]))
    if "inprocess" in results:
        p = results["inprocess"]
        pairs.append(("ensemble", p["ensemble_names_per_s"], p["pipeline_names_per_s"]))
    if "spark" in results:
        s = results["spark"]
        pairs.append(("spark vs in-process", s["spark_names_per_s"], s["in_process_names_per_s"]))
    if not pairs:
        return
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(pairs))
    ax.bar(x - 0.2, [p[1] for p in pairs], 0.4, label="spark_ner")
    ax.bar(x + 0.2, [p[2] for p in pairs], 0.4, label="baseline")
    ax.set_xticks(x, [p[0] for p in pairs])
    ax.set_yscale("log")
    ax.set_ylabel("names/s (log)")
    ax.legend()
    ax.set_title(f"spark_ner bench, {results['machine']['date']}, {results['machine']['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="config TOML (default: $SPARK_NER_CONFIG or the defaults)")
    add_output_argument(
        parser, "--out", dest="out", required=False, default="bench_out", help="folder for bench.json and bench.png"
    )
    parser.add_argument("--markdown", default="BENCHMARKS.md", help="file whose bench block is replaced")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--tokenize-names", type=int, default=1_000_000)
    parser.add_argument("--names", type=int, default=2_000, help="distinct names for the in-process measure")
    parser.add_argument(
        "--spark-names", type=int, default=8_000, help="distinct names for the Spark job (run at half and at full)"
    )
    parser.add_argument("--pipeline-names", type=int, default=500)
    parser.add_argument("--dedup-rows", type=int, default=5_000)
    parser.add_argument("--cache-rows", type=int, default=20_000, help="sample-table rows for the cache rerun")
    parser.add_argument("--memory-rows", default="10000,100000", help="comma list of row counts")
    parser.add_argument("--memory-chunk", type=int, default=10_000, help="rows per Arrow batch in the RSS probe")
    parser.add_argument("--cores", type=int, default=0, help="0 = every core of this machine")
    parser.add_argument(
        "--host-names", type=int, default=None, help="distinct names for the host section (default 100,000)"
    )
    parser.add_argument(
        "--host-batch", type=int, default=None, help="ensemble.batch_size for the host and executor sections (1024)"
    )
    parser.add_argument(
        "--host-parts",
        default="gpu-path,lanes,spark,lexicon",
        help="host section parts: gpu-path, lanes, spark, lexicon (comma list)",
    )
    parser.add_argument(
        "--executor-procs", default=None, help="processes sharing the device, comma list (default 1,2,4)"
    )
    parser.add_argument(
        "--executor-names", type=int, default=None, help="distinct names for the executor section (100,000)"
    )
    parser.add_argument(
        "--executor-size",
        default="auto",
        choices=("auto", "zero", "base"),
        help="executor members: zero-layer random (auto without CUDA), BERT-base + RoBERTa-base random (auto on CUDA)",
    )
    parser.add_argument(
        "--gpu-parts",
        default=",".join(GPU_PARTS),
        help="gpu section parts: throughput, agreement, spark, graphs, kernels (comma list; spark needs pyspark)",
    )
    parser.add_argument(
        "--gpu-batches",
        default=None,
        help="batch sizes of the gpu section's rows, eager and CUDA-graph alike (comma list; default the plan's)",
    )
    parser.add_argument(
        "--attention",
        default="auto",
        help="ensemble.attention choices the gpu section's CUDA-graph rows run with (comma list; default auto)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes for the gpu, host, executor, oom and finetune sections (a CI check; a short GPU run)",
    )
    parser.add_argument(
        "--cpu-fallback",
        action="store_true",
        help="without CUDA, run the gpu and finetune sections on the CPU with small members (shows they run; "
        "not GPU figures) instead of reporting them not measured",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="total seconds for the run: each section is time-boxed within it (default: no limit)",
    )


#: what a run without CUDA says when ``--cpu-fallback`` runs the device sections on the CPU
NO_CUDA = "no CUDA: CPU fallback (small members, few names); GPU figures not measured"


def _comma(value: str, flag: str, allowed: Sequence[str]) -> list[str]:
    """A comma list checked against ``allowed`` (ConfigError naming the flag and the fix)."""
    items = [x.strip() for x in value.split(",") if x.strip()]
    unknown = sorted(set(items) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{flag}: unknown {', '.join(unknown)}. Fix: choose from {', '.join(allowed)} (comma-separated)"
        )
    return items


def run(args: argparse.Namespace) -> int:
    import torch

    started = time.monotonic()
    sections = _comma(args.sections, "--sections", SECTIONS)
    gpu_parts = _comma(args.gpu_parts, "--gpu-parts", GPU_PARTS)
    attentions = tuple(_comma(args.attention, "--attention", [a.value for a in Attention]))
    if not attentions:
        raise ConfigError(f"--attention: got {args.attention!r}. Fix: one or more of auto, matmul, ... (comma list)")
    if args.budget_s is not None and args.budget_s <= 0:
        raise ConfigError(f"--budget-s: got {args.budget_s}. Fix: a number of seconds above 0, or leave it out")
    cfg: Config = load_config(args.config)
    config_path = cfg.source
    cores = args.cores or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    cuda = torch.cuda.is_available()
    plan = replace(device_plan(cuda, args.quick, args.cpu_fallback), attentions=attentions)
    if args.gpu_batches:
        try:
            batches = tuple(int(x) for x in args.gpu_batches.split(",") if x.strip())
        except ValueError:
            raise ConfigError(f"--gpu-batches: got {args.gpu_batches!r}. Fix: whole numbers, e.g. 1024,4096") from None
        if not batches or min(batches) < 1:
            raise ConfigError(f"--gpu-batches: got {args.gpu_batches!r}. Fix: whole numbers above 0, e.g. 1024,4096")
        plan = replace(plan, batches=batches, graph_batches=batches if plan.graph_batches else ())
    host_n = args.host_names or plan.host_names
    host_batch = args.host_batch or plan.host_batch
    procs = (
        [int(x) for x in args.executor_procs.split(",") if x.strip()] if args.executor_procs else plan.executor_procs
    )
    if not cuda and args.cpu_fallback and set(sections) & {"gpu", "finetune"}:
        log.warning("bench: %s", NO_CUDA)
    # the device and host sections build their own random members: the config's need not exist for them
    loaded = load_ensemble(cfg) if set(sections) - OWN_MEMBERS else None
    threads = configure_threads(cfg)
    wanted = set(sections) | ({"roofline"} if "inprocess" in sections else set())
    results: dict[str, Any] = {
        "machine": machine(),
        "config": config_path,
        "members": [m.source.name for m in loaded.members] if loaded else [],
        "model_version": loaded.model_version if loaded else None,
        "threads": threads,
        "cores": cores,
        "plan": asdict(plan),
        "names_source": "demo generator (faker)" if have_faker() else "synthetic_names (no faker installed)",
        "sections_requested": [s for s in SECTIONS if s in wanted],
        "sections": {},
    }
    ens = loaded if loaded is not None else cast(Ensemble, None)  # only the sections that loaded it use it
    work = Path(tempfile.mkdtemp(prefix="spark-ner-bench-"))
    out = Path(args.out)
    cache: dict[str, Any] = {}

    def names() -> list[str]:
        if "names" not in cache:
            cache["names"] = bench_names(args.names)
        return cast(list[str], cache["names"])

    def device_names() -> tuple[list[str], list[list[tuple[int, int, str]]]]:
        """Distinct synthetic names with their spans, for the device sections (no faker needed)."""
        if "device_names" not in cache:
            cache["device_names"] = synthetic_names(max(plan.names, plan.oom_names, plan.train_examples), seed=0)
        return cast(tuple[list[str], list[list[tuple[int, int, str]]]], cache["device_names"])

    def device_members() -> Members:
        """The BERT + RoBERTa pair of the device sections, built once (tokenizers trained on the names)."""
        if "members" not in cache:
            t0 = time.perf_counter()
            cache["members"] = Members.build(work / "device-members", device_names()[0][:50_000], plan.member_size())
            results["device_members"] = {"build_s": round(time.perf_counter() - t0, 2), **cache["members"].describe()}
        return cast(Members, cache["members"])

    def spark_rate() -> float:
        return results.get("inprocess", {}).get("ensemble_names_per_s") or len(names()) / _timed(
            lambda: ens.label(names())
        )

    def gpu(rec: dict[str, Any], deadline: float | None) -> None:
        run_it = plan.runs_device_sections
        members = device_members() if run_it else None
        gpu_names = device_names()[0][: plan.names] if run_it else []
        spark = partial(_spark_gpu, names=gpu_names, workdir=work, cores=cores)
        bench_gpu(members, gpu_names, plan, gpu_parts, deadline, spark, rec)

    def oom(rec: dict[str, Any], deadline: float | None) -> None:
        oom_names = device_names()[0][: plan.oom_names]
        precision, device = ("fp16", "cuda") if cuda else ("fp32", "cpu")
        bench_oom(device_members().config(precision, len(oom_names), device), oom_names, cuda, rec)

    def finetune(rec: dict[str, Any], deadline: float | None) -> None:
        run_it = plan.runs_device_sections
        nm, spans = device_names() if run_it else ([], [])
        bench_finetune(device_members() if run_it else None, nm, spans, plan, work, deadline, rec)

    def executor(rec: dict[str, Any], deadline: float | None) -> None:
        cfg_path = executor_config(work, args.executor_size, host_batch, device_members)
        executor_n = args.executor_names or plan.executor_names
        mps = plan.executor_mps if cuda else ()
        graphs = None
        if cuda and plan.executor_graphs and args.executor_size in ("auto", "base"):
            # the last --attention choice: with `--attention auto,matmul` the graph rounds run matmul
            extra = {} if plan.attentions[-1] == "auto" else {"attention": plan.attentions[-1]}
            rec["graph_attention"] = plan.attentions[-1]
            graphs = (
                str(device_members().config("fp16", host_batch, cuda_graphs=True, **extra)),
                plan.executor_graphs,
            )
        # the same names as the gpu section's throughput rows (more of the same generator where it needs more)
        same = device_names()[0]
        same = same if len(same) >= executor_n else synthetic_names(executor_n, seed=0)[0]
        rows = max(2048, 8 * host_batch)
        bench_executor(str(cfg_path), executor_n, procs, rows, mps, work, graphs, rec, names=same)

    runners: dict[str, Callable[[dict[str, Any], float | None], Any]] = {
        "roofline": lambda rec, dl: round(matmul_gflops(threads), 1),
        "tokenize": lambda rec, dl: bench_tokenize(ens, tokenize_names(args.tokenize_names)),
        "inprocess": lambda rec, dl: bench_inprocess(ens, names(), args.pipeline_names, results["roofline"]),
        "spark": lambda rec, dl: bench_spark(config_path, bench_names(args.spark_names), spark_rate(), work, cores),
        "dedup": lambda rec, dl: bench_dedup(config_path, args.dedup_rows, work, cores),
        "cache": lambda rec, dl: bench_cache(config_path, args.cache_rows, work, cores),
        "memory": lambda rec, dl: bench_memory(
            config_path, [int(x) for x in args.memory_rows.split(",") if x.strip()], args.memory_chunk
        ),
        "gpu": gpu,
        "host": lambda rec, dl: bench_host(
            host_n,
            host_batch,
            cores,
            work,
            {p.strip() for p in args.host_parts.split(",") if p.strip()},
            lexicon_folder(cfg),
        ),
        "executor": executor,
        "oom": oom,
        "finetune": finetune,
    }
    ok = True
    for name in results["sections_requested"]:
        st: dict[str, Any] = {"status": "running"}
        results["sections"][name] = st
        box = None
        if args.budget_s is not None:
            left = started + args.budget_s - time.monotonic()
            box = min(plan.boxes.get(name, left), left - 2)
            st["time_box_s"] = round(box, 1)
            if box < 3:
                st.update(status="skipped", error="no time left in --budget-s")
                ok = False
                write_json(results, out)
                continue
        log.info("bench: section %s%s", name, f" (time box {box:.0f} s)" if box else "")
        rec: dict[str, Any] = {}
        t0 = time.monotonic()
        intra = torch.get_num_threads()
        try:
            with time_box(box):
                value = runners[name](rec, None if box is None else t0 + box)
            results[name] = rec if value is None else value
            st["status"] = "ok"
            log.info("bench: %s %s", name, results[name])
        except SectionTimeout as exc:
            st.update(status="timeout", error=str(exc))
        except Exception as exc:  # one section failing must not hide the others
            st.update(status="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-2500:])
            log.exception("bench: section %s failed", name)
        st["seconds"] = round(time.monotonic() - t0, 1)
        torch.set_num_threads(intra)  # load_ensemble sets one intra-op thread when CPU lanes run batches
        configure_threads(cfg)
        if st["status"] != "ok":
            ok = False
            log.error("bench: section %s: %s %s", name, st["status"], st.get("error"))
            if rec:
                results[name] = rec  # what it measured before it stopped
            with contextlib.suppress(Exception):
                _free_cuda(cuda)
        results["total_seconds"] = round(time.monotonic() - started, 1)
        write_json(results, out)  # after every section: a killed run keeps what finished
    shutil.rmtree(work, ignore_errors=True)  # the sections' tables, members and environments (gigabytes)
    argv = sys.argv[1:]
    command = "spark-ner " + " ".join(argv[argv.index("bench") :] if "bench" in argv else ["bench", *argv])
    write_report(results, out, Path(args.markdown), command)
    sys.stdout.write(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    return 0 if ok else 1


def tokenize_names(n: int) -> list[str]:
    """``n`` names drawn with repeats from 50,000 distinct demo names (the word cache's steady state)."""
    pool = bench_names(min(n, 50_000), seed=5)
    rng = np.random.default_rng(0)
    return [pool[i] for i in rng.integers(0, len(pool), size=n)]


def _spark_gpu(config: Path, names: list[str], workdir: Path, cores: int) -> dict[str, Any]:
    """The gpu section's Spark part: ``spark-ner label`` in local mode over the gpu section's names."""
    return _spark_label(str(config), list(names), workdir, cores)
