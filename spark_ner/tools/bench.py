"""``spark-ner bench``: every pair the project claims, measured in one run on the same names and cores.

Sections (each can be chosen with ``--sections``):

- ``roofline``  fp32 matmul FLOP/s of this machine with the threads the ensemble uses;
- ``tokenize``  the project's word-cache tokenization vs each member's HF tokenizer called directly;
- ``inprocess`` ``Ensemble.label`` vs an HF ``pipeline(aggregation_strategy="first")`` per member with
  a per-row vote in Python (the hand-written pandas-UDF way), plus model FLOP utilisation;
- ``spark``     ``spark-ner label`` in local mode on the same all-distinct names vs in-process;
- ``dedup``     the realistic sample table (repeated names) vs as many distinct names, through Spark;
- ``memory``    peak RSS of one Python worker holding the ensemble, at two input sizes;
- ``gpu``       fp16 vs fp32 and a batch-size sweep on CUDA (rows say "not measured" without a GPU);
- ``host``      the host-side ceiling: near-zero-compute random members, cold and warm word cache,
  in-process and through Spark local[N] with warm workers, plus a profile of the cold run; and the GPU
  code path's host CPU per name on one thread (zero-layer members, Arrow in and out, the device batch
  plan) with the plan's padded/real tokens;
- ``executor``  N processes (``--executor-procs``) sharing this machine's device, each running the Spark
  UDF's own Arrow loop (``spark_ner.engine.label_arrow_stream``) as N tasks would: summed names/s,
  host CPU per name, device-busy seconds from CUDA events, padded/real tokens, launches per forward.

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from spark_ner.cliargs import add_output_argument
from spark_ner.config import ENTITY_TYPES, NAME_LABELS, Config, CpuParallel, Precision, load_config
from spark_ner.ensemble import Ensemble, configure_threads, load_ensemble, worker_threads
from spark_ner.errors import ConfigError
from spark_ner.models import canonical_tag
from spark_ner.tokenize import split_words

log = logging.getLogger(__name__)

SECTIONS = ("roofline", "tokenize", "inprocess", "spark", "dedup", "cache", "memory", "gpu", "host", "executor", "oom")
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
    split = split_words(names, cfg.max_length, cfg.case_restore)
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
    split = split_words(names, cfg.max_length, cfg.case_restore)
    for wt in fresh:
        wt.encode(split)
    cold = time.perf_counter() - t

    def ours() -> None:
        sp = split_words(names, cfg.max_length, cfg.case_restore)
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


def gpu_peak_tflops(name: str) -> float | None:
    """The fp16 dense peak for a GPU name (None when unknown)."""
    return peak_tflops(name)[0]


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
    from spark_ner.tokenize import split_words, uniform_batches

    e = ens.cfg.ensemble
    split = split_words(names, e.max_length, e.case_restore)
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
    """Label ``names`` in Arrow-batch-sized calls; (seconds, rows out, rows with an error)."""
    t0 = time.perf_counter()
    rows = errors = 0
    for i in range(0, len(names), chunk):
        out = ens.label(names[i : i + chunk])
        rows += len(out)
        errors += int(out["error"].notna().sum())
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


def write_random_config(
    root: Path, names: list[str], size: Any, precision: str, batch_size: int, device: str = "auto"
) -> Path:
    """A BERT + RoBERTa ensemble of random members of ``size`` (built once under ``root``)."""
    from spark_ner.tools.random_models import build_random_bert, build_random_roberta

    bert, roberta = root / "bert", root / "roberta"
    if not (bert / "model.safetensors").exists():
        build_random_bert(bert, names, size)
    if not (roberta / "model.safetensors").exists():
        build_random_roberta(roberta, names, size)
    path = root / f"random-{precision}-{batch_size}-{device}.toml"
    path.write_text(
        f'[ensemble]\nprecision = "{precision}"\nbatch_size = {batch_size}\ndevice = "{device}"\n\n'
        f'[[models]]\nname = "bert-base-random"\npath = "{bert}"\n\n'
        f'[[models]]\nname = "roberta-base-random"\npath = "{roberta}"\n'
    )
    return path


def bench_gpu(names: list[str], workdir: Path, cores: int, spark: bool = True) -> dict[str, Any]:
    """fp16 vs fp32 and a batch sweep for BERT-base + RoBERTa-base sized random members, on CUDA."""
    import torch

    if not torch.cuda.is_available():
        return {
            "measured": False,
            "reason": "no CUDA GPU on this machine",
            "agreement": label_agreement(lambda p, d: "", []),
        }
    from spark_ner.tools.random_models import BASE

    gpu = torch.cuda.get_device_name(0)
    peak = gpu_peak_tflops(gpu)
    root = workdir / "gpu-models"
    rows: list[dict[str, Any]] = []
    rates: dict[tuple[str, int], float] = {}
    for precision in ("fp16", "fp32"):
        for batch in (256, 1024, 4096) if precision == "fp16" else (1024,):
            cfg = load_config(write_random_config(root, names, BASE, precision, batch))
            ens = load_ensemble(cfg)
            ens.label(names[:2048])
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            secs = _timed(partial(ens.label, names), repeat=3)
            rate = len(names) / secs
            rates[(precision, batch)] = rate
            fpn = ensemble_flops_per_name(ens, names[:5000])
            mfu = rate * fpn / (peak * 1e12) if peak else None
            mem = torch.cuda.max_memory_allocated() / 2**20
            rows.append(
                {
                    "measure": f"GPU in-process {precision}, batch {batch}, {len(names):,} names (names/s)",
                    "ours": f"{rate:,.0f}; peak mem {mem:,.0f} MB; MFU {mfu:.1%}" if mfu else f"{rate:,.0f}",
                    "target": ">= 100,000 (fp16)" if precision == "fp16" else "",
                }
            )
            del ens
            torch.cuda.empty_cache()
    best16 = max(v for (p, _), v in rates.items() if p == "fp16")
    rows.append(
        {
            "measure": "GPU fp16 vs fp32 (batch 1024)",
            "ours": f"{rates[('fp16', 1024)]:,.0f}",
            "baseline": f"fp32 {rates[('fp32', 1024)]:,.0f}",
            "ratio": f"{rates[('fp16', 1024)] / rates[('fp32', 1024)]:.2f}x",
            "target": ">= 2x",
        }
    )
    agree = label_agreement(lambda p, d: write_random_config(root, names, BASE, p, 1024, d), names[:5000])
    rows.append(
        {
            "measure": f"GPU label agreement on {agree['names']:,} names: fp16 vs fp32; CUDA vs CPU (fp32)",
            "ours": f"{agree['fp16_vs_fp32']:.2%}; {agree['cuda_vs_cpu']:.2%}",
            "target": "labels kept by kernel changes",
        }
    )
    if spark and importlib.util.find_spec("pyspark") is None:  # the GPU machine has no pyspark
        rows.append({"measure": "GPU Spark local mode vs in-process", "ours": "not measured: no pyspark"})
    elif spark:
        best_batch = max((b for (p, b) in rates if p == "fp16"), key=lambda b: rates[("fp16", b)])
        s = _spark_label(str(write_random_config(root, names, BASE, "fp16", best_batch)), list(names), workdir, cores)
        rate = float(s.get("names_per_second") or 0.0)
        util = [e.get("gpu_util_mean") for e in s.get("executors", []) if e.get("gpu_util_mean") is not None]
        rows.append(
            {
                "measure": f"GPU Spark local[{cores}] fp16 scoring stage (names/s); GPU util {util}",
                "ours": f"{rate:,.0f}",
                "baseline": f"in-process {best16:,.0f}",
                "ratio": f"{rate / best16:.2f}",
                "target": ">= 0.8",
            }
        )
    return {"measured": True, "gpu": gpu, "fp16_peak_tflops": peak, "rows": rows, "agreement": agree}


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
                orig = m.model.forward

                def forward(*a: Any, _orig: Callable[..., Any] = orig, **kw: Any) -> Any:
                    rows = int((kw["input_ids"] if "input_ids" in kw else a[0]).shape[0])
                    if rows > limit:
                        raise torch.cuda.OutOfMemoryError(f"simulated: {rows} rows > {limit}")
                    return _orig(*a, **kw)

                m.model.forward = forward  # type: ignore[method-assign]
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


def _oom_section(workdir: Path) -> dict[str, Any]:
    """The ``oom`` section: BERT-base + RoBERTa-base sized members in fp16 and 16,384 names in one batch
    on CUDA; tiny members, 1,024 names and a simulated OOM without one."""
    import torch

    from spark_ner.tools.random_models import BASE, TINY

    cuda = torch.cuda.is_available()
    names = synthetic_names(16_384 if cuda else 1024, seed=11)[0]
    size, precision, device = (BASE, "fp16", "cuda") if cuda else (TINY, "fp32", "cpu")
    cfg = write_random_config(workdir / "oom", names, size, precision, len(names), device)
    return bench_oom(cfg, names, cuda)


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
    pool = bench_names(min(n, 20_000), seed=100 + seed)
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


def _identity_batches(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
    yield from batches


def _spark_host(
    configs: dict[str, Config], names: list[str], cores: int, workdir: Path, repeat: int = 2
) -> dict[str, Any]:
    """``with_ner_labels`` for each config, and an identity Pandas UDF over the same column, through
    Spark local[cores] with warm workers (each job once before it is timed: workers started, the
    ensemble loaded, every partition's words seen)."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    from spark_ner.spark.session import get_session, session_conf
    from spark_ner.spark.udf import ARROW_BATCH_KEY, recommended_arrow_batch_rows, with_ner_labels

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
        for key, cfg in configs.items():
            with session_conf(spark, {ARROW_BATCH_KEY: str(recommended_arrow_batch_rows(cfg))}):
                labelled = df.transform(with_ner_labels("name", cfg))
                for _ in range(2):  # two untimed runs: both workers see both partitions' words
                    run_job(labelled)
                out[key] = round(len(names) / min(run_job(labelled) for _ in range(repeat)))
        ident = pandas_udf(_identity_batches, "string")  # type: ignore[call-overload]
        passthrough = df.select(ident(F.col("name")).alias("name"))
        run_job(passthrough)
        out["identity_udf"] = round(len(names) / min(run_job(passthrough) for _ in range(repeat)))
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
    """``cfg``'s ensemble on this CPU as the GPU path runs it: one feeder thread (no lanes), torch on
    one thread, and the device batch plan (what ``Ensemble.device_plan`` picks on CUDA)."""
    import torch

    one = replace(cfg, ensemble=replace(cfg.ensemble, num_threads=1, cpu_parallel=CpuParallel.OPS))
    ens = load_ensemble(one)
    torch.set_num_threads(1)
    ens.use_device_plan()
    return ens


def arrow_chunks(names: list[str], rows: int) -> list[Any]:
    """``names`` as the Arrow string arrays a Spark task would hand the UDF, ``rows`` per batch."""
    import pyarrow as pa

    return [pa.array(names[i : i + rows], type=pa.string()) for i in range(0, len(names), rows)]


def bench_gpu_path(cfg: Config, n: int, repeat: int = 2) -> dict[str, Any]:
    """Host CPU per name of the GPU code path on one thread: :func:`gpu_path_ensemble` fed Arrow batches
    through ``label_arrow_stream`` (what the Spark UDF runs), ``n`` distinct names with two never-seen
    words each (cold word cache), then the same names again (warm). With zero-layer members the
    forward is nearly free, so this is what one Python process spends per name around a GPU."""
    from spark_ner.engine import label_arrow_stream

    ens = gpu_path_ensemble(cfg)
    rows = max(2048, 8 * cfg.ensemble.batch_size)  # recommended_arrow_batch_rows
    for _ in label_arrow_stream(ens, arrow_chunks(host_names(2 * rows, seed=98), rows)):
        pass  # threads, allocator, torch's first calls

    def run(names: list[str]) -> dict[str, float]:
        chunks = arrow_chunks(names, rows)
        model0, c0, t0 = ens.stats.cpu_seconds.get("model", 0.0), time.process_time(), time.perf_counter()
        for _ in label_arrow_stream(ens, chunks):
            pass
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        model = ens.stats.cpu_seconds.get("model", 0.0) - model0
        return {"cpu_us": cpu / len(names) * 1e6, "model_us": model / len(names) * 1e6, "wall_s": wall}

    cold, warm = [], []
    for r in range(repeat):
        names = host_names(n, seed=40 + r)
        cold.append(run(names))
        warm.append(run(names))
    padded, real = ens.plan_tokens(host_names(n, seed=40))
    demo_padded, demo_real = ens.plan_tokens(bench_names(min(n, 50_000), seed=7))  # names as they come: 4-7 tokens
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
        "cold_names_per_s": round(n / best_cold["wall_s"]),
        "warm_names_per_s": round(n / best_warm["wall_s"]),
        "padded_tokens": padded,
        "real_tokens": real,
        "padded_per_real": round(padded / real, 3) if real else None,
        "demo_names_padded_per_real": round(demo_padded / demo_real, 3) if demo_real else None,
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
    for _ in label_arrow_stream(ens, arrow_chunks(host_names(min(2 * rows, max(256, len(names))), seed=97), rows)):
        pass  # warm: allocator, kernels chosen, thread pools
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
    results.put(
        {
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


def bench_executor(config: str, n: int, procs: Sequence[int], rows: int) -> dict[str, Any]:
    """N processes (as N Spark tasks on one executor) share this machine's device, each labelling its
    share of ``n`` distinct names through ``label_arrow_stream``: summed names/s per device, host CPU
    per name, device-busy seconds from CUDA events, padded/real tokens, kernel launches per forward."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # CUDA cannot be forked into children
    names = host_names(n, seed=60)
    out: dict[str, Any] = {"names": n, "arrow_rows": rows, "by_processes": {}}
    for k in procs:
        barrier, results = ctx.Barrier(k), ctx.Queue()
        parts = np.array_split(np.arange(n), k)
        workers = [
            ctx.Process(
                target=_executor_worker,
                args=(config, [names[i] for i in part.tolist()], rows, barrier, results, k == procs[0] and i == 0),
            )
            for i, part in enumerate(parts)
        ]
        for w in workers:
            w.start()
        got: list[dict[str, Any]] = []
        while len(got) < k:
            with contextlib.suppress(queue.Empty):
                got.append(results.get(timeout=2))
                continue
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:  # killed without a word (out of memory, a signal)
                raise RuntimeError(f"executor section: a worker of {k} died (exit codes {dead})")
        for w in workers:
            w.join()
        failed = [g for g in got if "error" in g]
        if failed:
            raise RuntimeError(
                f"executor section: a worker of {k} failed: {failed[0]['error']}\n{failed[0]['traceback']}"
            )
        wall = max(g["end"] for g in got) - min(g["start"] for g in got)
        total = sum(g["rows"] for g in got)
        busy = [g["device_busy_s"] for g in got if g["device_busy_s"] is not None]
        launches = next((g["launches_per_forward"] for g in got if g["launches_per_forward"] is not None), None)
        out["by_processes"][str(k)] = {
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
        log.info("executor %d process(es): %s", k, out["by_processes"][str(k)])
    return out


#: the member pairs of the host section: the issue's near-zero-compute pair (2 layers, hidden 32), and
#: the same with no transformer layer (embeddings and classifier only), whose forward is ~6 us/name
HOST_PAIRS = {"2-layer": 2, "0-layer": 0}


def executor_config(workdir: Path, size: str, batch_size: int) -> Path:
    """The executor section's members: zero-layer random (the host side alone) or BERT-base + RoBERTa-base
    sized random ones in fp16 (``auto``: base on CUDA, zero-layer without)."""
    import torch

    from spark_ner.tools.random_models import BASE, TINY

    if size == "auto":
        size = "base" if torch.cuda.is_available() else "zero"
    corpus = bench_names(3000, seed=11)
    if size == "base":
        return write_random_config(workdir / "executor-base", corpus, BASE, "fp16", batch_size)
    return write_random_config(workdir / "executor-zero", corpus, replace(TINY, layers=0), "fp32", batch_size)


def bench_host(
    n: int, batch_size: int, cores: int, workdir: Path, parts: Collection[str] = ("gpu-path", "lanes", "spark")
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

    corpus = bench_names(3000, seed=11)
    out: dict[str, Any] = {"names": n, "batch_size": batch_size, "cores": cores, "pairs": {}}
    file_cfgs: dict[str, Config] = {}
    for key, layers in HOST_PAIRS.items():
        size = replace(TINY, layers=layers)
        file_cfgs[key] = load_config(write_random_config(workdir / f"host-{key}", corpus, size, "fp32", batch_size))
    names = host_names(n, 2)
    if "gpu-path" in parts:
        out["gpu_path"] = bench_gpu_path(file_cfgs["0-layer"], n)
        log.info("host gpu-path %s", out["gpu_path"])
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
        if key == "2-layer":  # the profile of the pair, cold
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
        s = _spark_host(file_cfgs, names, cores, workdir)
        out["identity_udf_names_per_s"] = s["identity_udf"]
        out["spark_warm_names_per_s"] = {key: s[key] for key in HOST_PAIRS}
        for key, pair in out["pairs"].items():
            pair["spark_warm_names_per_s"] = s[key]
            pair["spark_ratio_to_inprocess_warm"] = round(s[key] / pair["warm_names_per_s"], 3)
        if "gpu_path" in out:  # the bound `cores` cores allow: host CPU per name plus Spark's own per row
            spark_us = cores * 1e6 / s["identity_udf"]
            bound = cores * 1e6 / (out["gpu_path"]["warm_cpu_us_per_name"] + spark_us)
            out["spark_bound"] = {
                "spark_us_per_row": round(spark_us, 2),
                "bound_names_per_s": round(bound),
                "zero_layer_names_per_s": s["0-layer"],
                "ratio": round(s["0-layer"] / bound, 3),
            }
    return out


# ----------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpu": gpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": dt.date.today().isoformat(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),  # other work on the cores skews every figure
    }


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
    lines = [
        MARK_START,
        f"## Run of {m['date']}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {m['gpu'] or 'none'}; Python {m['python']}, "
        f"torch {m['torch']}; load average at start {m.get('load_avg_1m_at_start')}. "
        f"Config: `{results['config']}` (members: {', '.join(results['members']) or 'not loaded: host/gpu only'}).",
        "",
        "| measure | ours | baseline | ratio | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    r = results
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
    if "host" in r:
        lines += _host_rows(r["host"])
    for k, e in (r.get("executor") or {}).get("by_processes", {}).items():
        busy = f"; device busy {e['device_busy_share']:.0%} of wall (CUDA events)" if e.get("device_busy_share") else ""
        launches = f"; {e['launches_per_forward']} kernel launches per forward" if e.get("launches_per_forward") else ""
        lines.append(
            f"| executor: {k} process(es) sharing the device, `label_arrow_stream`, {e['rows']:,} names "
            f"(summed names/s; host CPU us per name; padded/real {e['padded_per_real']}{busy}{launches}) "
            f"| {_fmt(e['names_per_s'])}; {e['host_cpu_us_per_name']} us | | | >= 100,000 on a GPU |"
        )
    o = r.get("oom")
    if o:
        how = "simulated OOM, CPU" if o["simulated"] else "real CUDA OOM"
        lines.append(
            f"| OOM split: one batch of {o['batch_size']:,} names ({how}) | {o['rows_labelled']:,}/{o['rows_out']:,} "
            f"rows labelled after {o['oom_splits']} halvings | | | every row labelled |"
        )
    g = r.get("gpu") or {"measured": False, "reason": "section not run"}
    if g.get("measured"):
        for row in g.get("rows", []):
            lines.append(
                f"| {row['measure']} | {row['ours']} | {row.get('baseline', '')} | {row.get('ratio', '')} "
                f"| {row.get('target', '')} |"
            )
    else:
        for what in (
            "GPU in-process BERT-base + RoBERTa-base fp16 (names/s)",
            "GPU fp16 vs fp32",
            "GPU Spark local mode vs in-process",
            "GPU peak memory, utilisation, model FLOP utilisation",
            "GPU label agreement: fp16 vs fp32; CUDA vs CPU",
        ):
            lines.append(f"| {what} | not measured ({g.get('reason')}) | | | |")
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
    lines += ["", MARK_END]
    return "\n".join(lines)


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
            f"{g['warm_model_us_per_name']}) | {g['cold_cpu_us_per_name']} / {g['warm_cpu_us_per_name']} "
            f"| | | <= 20 / <= 12 |"
        )
        rows.append(
            f"| device batch plan, padded / real tokens (these names; demo names) | {g['padded_per_real']}; "
            f"{g['demo_names_padded_per_real']} | | | <= 1.10 |"
        )
    b = h.get("spark_bound")
    if b:
        rows.append(
            f"| Spark local[{c}] zero-layer pair vs the bound {c}e6 / (host us per name + Spark's own "
            f"{b['spark_us_per_row']} us per row) (names/s) | {_fmt(b['zero_layer_names_per_s'])} "
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
    return rows


def write_report(results: dict[str, Any], out: Path, markdown_path: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, sort_keys=True))
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
    parser.add_argument("--host-names", type=int, default=100_000, help="distinct names for the host section")
    parser.add_argument("--host-batch", type=int, default=1024, help="ensemble.batch_size for the host section")
    parser.add_argument(
        "--host-parts", default="gpu-path,lanes,spark", help="host section parts: gpu-path, lanes, spark (comma list)"
    )
    parser.add_argument("--executor-procs", default="1,2,4", help="processes sharing the device (comma list)")
    parser.add_argument("--executor-names", type=int, default=100_000, help="distinct names for the executor section")
    parser.add_argument(
        "--executor-size",
        default="auto",
        choices=("auto", "zero", "base"),
        help="executor members: zero-layer random (auto without CUDA), BERT-base + RoBERTa-base random (auto on CUDA)",
    )


def run(args: argparse.Namespace) -> int:
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"--sections: unknown {', '.join(unknown)}. Fix: choose from {', '.join(SECTIONS)} (comma-separated)"
        )
    cfg: Config = load_config(args.config)
    config_path = cfg.source
    cores = args.cores or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    # the host and gpu sections build their own random members: the config's need not exist for them
    loaded = load_ensemble(cfg) if set(sections) - {"host", "gpu", "executor", "oom"} else None
    threads = configure_threads(cfg)
    results: dict[str, Any] = {
        "machine": machine(),
        "config": config_path,
        "members": [m.source.name for m in loaded.members] if loaded else [],
        "model_version": loaded.model_version if loaded else None,
        "threads": threads,
        "cores": cores,
    }
    ens = loaded if loaded is not None else cast(Ensemble, None)  # only the sections that loaded it use it
    names = bench_names(args.names)
    work = Path(tempfile.mkdtemp(prefix="spark-ner-bench-"))
    if "roofline" in sections or "inprocess" in sections:
        results["roofline"] = round(matmul_gflops(threads), 1)
        configure_threads(cfg)
        log.info("roofline %.1f GFLOP/s", results["roofline"])
    if "tokenize" in sections:
        pool = bench_names(min(args.tokenize_names, 50_000), seed=5)
        rng = np.random.default_rng(0)
        tok_names = [pool[i] for i in rng.integers(0, len(pool), size=args.tokenize_names)]
        results["tokenize"] = bench_tokenize(ens, tok_names)
        log.info("tokenize %s", results["tokenize"])
    if "inprocess" in sections:
        results["inprocess"] = bench_inprocess(ens, names, args.pipeline_names, results["roofline"])
        log.info("inprocess %s", results["inprocess"])
    if "spark" in sections:
        rate = results.get("inprocess", {}).get("ensemble_names_per_s") or len(names) / _timed(lambda: ens.label(names))
        results["spark"] = bench_spark(config_path, bench_names(args.spark_names), rate, work, cores)
        log.info("spark %s", results["spark"])
    if "dedup" in sections:
        results["dedup"] = bench_dedup(config_path, args.dedup_rows, work, cores)
        log.info("dedup %s", results["dedup"])
    if "cache" in sections:
        results["cache"] = bench_cache(config_path, args.cache_rows, work, cores)
        log.info("cache %s", results["cache"])
    if "memory" in sections:
        sizes = [int(x) for x in args.memory_rows.split(",") if x.strip()]
        results["memory"] = bench_memory(config_path, sizes, args.memory_chunk)
        log.info("memory %s", results["memory"])
    if "gpu" in sections:
        results["gpu"] = bench_gpu(bench_names(max(args.names, 50_000), seed=7), work, cores)
    if "oom" in sections:
        results["oom"] = _oom_section(work)
        log.info("oom %s", results["oom"])
    if "host" in sections:
        parts = {p.strip() for p in args.host_parts.split(",") if p.strip()}
        results["host"] = bench_host(args.host_names, args.host_batch, cores, work, parts)
        log.info("host %s", results["host"])
    if "executor" in sections:
        procs = [int(x) for x in args.executor_procs.split(",") if x.strip()]
        cfg_path = executor_config(work, args.executor_size, args.host_batch)
        results["executor"] = bench_executor(str(cfg_path), args.executor_names, procs, max(2048, 8 * args.host_batch))
    argv = sys.argv[1:]
    command = "spark-ner " + " ".join(argv[argv.index("bench") :] if "bench" in argv else ["bench", *argv])
    write_report(results, Path(args.out), Path(args.markdown), command)
    sys.stdout.write(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0
