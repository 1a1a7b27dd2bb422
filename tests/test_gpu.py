"""GPU behaviour of the in-process ensemble (issue 19), on tiny random members built at test time.

Why these tests: CI has no GPU, so the CUDA paths of ``spark_ner.ensemble`` / ``spark_ner.models`` —
fp16 placement, fp32 softmax after an fp16 forward, the OOM split, pinned non-blocking copies, NVML
and the task's GPU — only run where a GPU is lent. They are marked ``gpu`` and skipped without CUDA;
``scripts/gpu_check.sh`` runs them (``pytest -m gpu tests/test_gpu.py``). Nothing here needs Spark
except the TaskContext test, which is skipped where pyspark is missing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import SAMPLE_NAMES, write_config

CUDA = torch.cuda.is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")]

MiB = 2**20


def _names(n: int, words: tuple[int, int] = (1, 4), seed: int = 0) -> list[str]:
    """``n`` distinct names made of the sample names' words (the tiny members' vocabulary)."""
    vocab = sorted({w for name in SAMPLE_NAMES for w in name.split()})
    rng = np.random.default_rng(seed)
    out = dict.fromkeys(SAMPLE_NAMES)
    while len(out) < n:
        k = int(rng.integers(words[0], words[1] + 1))
        out[" ".join(vocab[int(i)] for i in rng.integers(len(vocab), size=k))] = None
    return list(out)[:n]


def _ensemble(members: tuple[Path, Path], folder: Path, **ensemble: Any) -> Any:
    from spark_ner import load_config, load_ensemble

    settings = {"device": "cuda", "precision": "fp16", "batch_size": 64, **ensemble}
    name = "-".join(f"{k}_{v}" for k, v in sorted(settings.items()))
    return load_ensemble(load_config(write_config(folder / f"{name}.toml", *members, **settings)))


def _free() -> None:
    torch.cuda.synchronize()
    torch.cuda.empty_cache()


@pytest.fixture(scope="module")
def wide_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Members with hidden 256 / FFN 1024: enough activation memory per row to fill a GPU quickly."""
    from spark_ner.tools.random_models import Size, build_random_bert, build_random_roberta

    root = tmp_path_factory.mktemp("wide-models")
    size = Size(hidden=256, layers=2, heads=4, intermediate=1024, vocab=400)
    corpus = SAMPLE_NAMES * 5 + _names(400, seed=9)
    return build_random_bert(root / "bert", corpus, size), build_random_roberta(root / "roberta", corpus, size)


@pytest.fixture
def cuda_clean() -> Iterator[None]:
    _free()
    yield
    _free()


def test_auto_precision_puts_fp16_members_on_the_gpu(
    tiny_models: tuple[Path, Path], tmp_path: Path, cuda_clean: None
) -> None:
    """precision/device ``auto`` on a CUDA machine: every weight on the GPU in fp16, the forward in fp16,
    the probabilities handed to decoding in fp32."""
    ens = _ensemble(tiny_models, tmp_path, device="auto", precision="auto")
    assert ens.device.startswith("cuda")
    seen: list[tuple[Any, Any, tuple[int, ...]]] = []
    hooks = []
    for m in ens.members:
        assert m.dtype == torch.float16
        assert m.device.startswith("cuda")
        for name, p in m.model.named_parameters():
            assert p.device.type == "cuda", f"{m.source.name}.{name} is on {p.device}"
            assert p.dtype == torch.float16, f"{m.source.name}.{name} is {p.dtype}"
        assert m.projection.device.type == "cuda" and m.projection.dtype == torch.float32
        # the classifier alone when the member runs encoder + head on picked positions (models.split_head)
        hooked = m.model if m.head is None else m.head
        hooks.append(
            hooked.register_forward_hook(
                lambda mod, args, kwargs, out: seen.append(
                    (getattr(out, "logits", out).dtype, getattr(out, "logits", out).device, ())
                ),
                with_kwargs=True,
            )
        )
    try:
        names = _names(300)
        out = ens.label(names)
        pred = ens.predict(names)
    finally:
        for h in hooks:
            h.remove()
    assert len(out) == len(names) and out["error"].isna().all() and out["label"].notna().all()
    assert seen, "the members' forward never ran"
    assert all(dtype == torch.float16 and dev.type == "cuda" for dtype, dev, _ in seen)
    # the plan on more names: 300 split into batches of >= 32 rows cannot all be one length (1.3x here)
    padded, real = ens.plan_tokens(_names(3000))
    assert padded <= 1.10 * real, "the device batch plan pads more than 10%"
    assert pred.probs.dtype == np.float32
    np.testing.assert_allclose(pred.probs[pred.valid].sum(axis=1), 1.0, atol=1e-4)


def test_fp16_labels_agree_with_fp32(tiny_models: tuple[Path, Path], tmp_path: Path, cuda_clean: None) -> None:
    """The fp16 forward (softmax and combining in fp32) gives the fp32 answer on the same names."""
    names = _names(2000, seed=1)
    res = {}
    for precision in ("fp32", "fp16"):
        ens = _ensemble(tiny_models, tmp_path, precision=precision, batch_size=256)
        assert {next(m.model.parameters()).dtype for m in ens.members} == {
            torch.float16 if precision == "fp16" else torch.float32
        }
        res[precision] = (ens.predict(names), ens.label(names))
        del ens
    (p32, l32), (p16, l16) = res["fp32"], res["fp16"]
    assert np.isfinite(p16.probs).all()
    np.testing.assert_array_equal(p16.valid, p32.valid)
    diff = np.abs(p16.probs - p32.probs)
    assert diff.max() < 5e-3, f"fp16 word probabilities differ from fp32 by up to {diff.max():.2e}"
    assert diff.mean() < 5e-4
    assert l16["error"].isna().all() and l32["error"].isna().all()
    agree = float((l16["label"] == l32["label"]).mean())
    assert agree >= 0.99, f"fp16 label = fp32 label on only {agree:.2%} of names"
    same = (l16["label"] == l32["label"]).to_numpy()
    score_diff = np.abs(l16["score"].to_numpy() - l32["score"].to_numpy())[same]
    assert score_diff.max() < 1e-2, f"fp16 scores differ from fp32 by up to {score_diff.max():.2e}"


def test_real_cuda_oom_splits_the_batch_and_every_row_comes_out(
    wide_models: tuple[Path, Path], tmp_path: Path, cuda_clean: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Fill the GPU with a blocker so one oversize batch cannot fit: the ensemble must catch the real
    ``torch.cuda.OutOfMemoryError``, retry in halves and still label every row, as without the blocker."""
    names = _names(16_384, words=(8, 14), seed=2)  # long names: every row near max_length tokens
    ens = _ensemble(wide_models, tmp_path, precision="fp16", batch_size=len(names))
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    ref = ens.label(names)
    act = torch.cuda.max_memory_allocated() - base
    assert ref["label"].notna().all()
    assert act > 256 * MiB, f"the full batch needs only {act / MiB:.0f} MiB; the test cannot squeeze it"
    splits = 0
    out = None
    for share in (0.25, 0.1):
        caplog.clear()
        _free()
        free, _ = torch.cuda.mem_get_info()
        headroom = max(int(act * share), 128 * MiB)
        blocker = torch.empty(free - headroom, dtype=torch.uint8, device="cuda")
        try:
            with caplog.at_level(logging.WARNING, logger="spark_ner.ensemble"):
                out = ens.label(names)
        finally:
            del blocker
            _free()
        splits = sum("out of memory" in r.getMessage() for r in caplog.records)
        if splits:
            break
    assert out is not None
    assert splits > 0, "no CUDA out-of-memory was provoked, so the split path did not run"
    assert len(out) == len(names)
    assert out["error"].isna().all(), out["error"].dropna().head().tolist()
    assert out["label"].notna().all()
    agree = float((out["label"] == ref["label"]).mean())
    assert agree >= 0.99, f"labels after the split agree with the unsplit run on only {agree:.2%}"


@pytest.mark.filterwarnings("ignore:Warning. Profiler clears events:UserWarning")  # torch's note on cycles
def test_inputs_and_outputs_cross_pcie_through_pinned_memory(
    tiny_models: tuple[Path, Path], tmp_path: Path, cuda_clean: None
) -> None:
    """Each batch's ids and gather indices (and its mask, when it has padding) go host->device from
    pinned memory (non-blocking), none from pageable memory; the words' probabilities come back in a
    few copies per member and call, not one per batch (``Ensemble._collect``): seen in the CUDA profiler."""
    from torch.profiler import ProfilerActivity, profile

    names = _names(3000, seed=3)
    batch = 256
    ens = _ensemble(tiny_models, tmp_path, batch_size=batch)
    ens.label(names[:300])  # warm-up outside the trace
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        out = ens.label(names)
        torch.cuda.synchronize()
    assert out["label"].notna().all()
    counts: dict[str, int] = {}
    for ev in prof.events():
        counts[ev.name] = counts.get(ev.name, 0) + 1
    memcpy = {k: v for k, v in counts.items() if "memcpy" in k.lower()}
    if not memcpy:
        pytest.skip("the CUDA profiler recorded no memcpy (CUPTI unavailable); cannot see the copies")
    batches = len(ens.members) * -(-len(names) // batch)  # at least this many: exact-length batches split more
    htod_pinned = sum(v for k, v in memcpy.items() if "htod" in k.lower() and "pinned" in k.lower())
    htod_pageable = sum(v for k, v in memcpy.items() if "htod" in k.lower() and "pageable" in k.lower())
    dtoh = sum(v for k, v in memcpy.items() if "dtoh" in k.lower())
    assert htod_pinned >= 2 * batches, f"{htod_pinned} pinned host->device copies for {batches} batches: {memcpy}"
    assert htod_pageable == 0, f"batch inputs copied from pageable memory: {memcpy}"
    # 3,000 names are one pipeline step (steps hold 32,768 names or more)
    assert 0 < dtoh <= 4 * len(ens.members), f"{dtoh} device->host copies for {batches} batches: {memcpy}"


def test_nvml_sees_the_gpu_the_ensemble_runs_on(
    wide_models: tuple[Path, Path], tmp_path: Path, cuda_clean: None
) -> None:
    """What the Spark UDF's sampler relies on: NVML's handle for the visible device is torch's GPU, its
    memory counts the ensemble's, and its utilisation rises while the ensemble labels names."""
    pynvml = pytest.importorskip("pynvml")
    pynvml.nvmlInit()
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    ident = visible[torch.cuda.current_device()] if visible else str(torch.cuda.current_device())
    handle = (
        pynvml.nvmlDeviceGetHandleByIndex(int(ident)) if ident.isdigit() else pynvml.nvmlDeviceGetHandleByUUID(ident)
    )
    name = pynvml.nvmlDeviceGetName(handle)
    name = name.decode() if isinstance(name, bytes) else str(name)
    assert name in torch.cuda.get_device_name() or torch.cuda.get_device_name() in name
    assert pynvml.nvmlDeviceGetMemoryInfo(handle).total == pytest.approx(
        torch.cuda.get_device_properties(0).total_memory, rel=0.05
    )
    ens = _ensemble(wide_models, tmp_path, batch_size=1024)
    names = _names(8192, words=(4, 10), seed=4)
    ens.label(names[:1024])
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            util = float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            used = pynvml.nvmlDeviceGetMemoryInfo(handle).used
            samples.append((util, used))
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 3.0:
            ens.label(names)
        torch.cuda.synchronize()
        reserved = torch.cuda.memory_reserved()
    finally:
        stop.set()
        thread.join(timeout=2)
    assert len(samples) >= 10
    assert max(s[0] for s in samples) > 0, "NVML saw 0% utilisation while the ensemble ran"
    assert max(s[1] for s in samples) >= reserved, "NVML's used memory is below what torch holds"


def test_task_gpu_resource_chooses_the_device(
    tiny_models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cuda_clean: None
) -> None:
    """Under Spark, the GPU of ``TaskContext.resources()['gpu']`` is used; discovery scripts report
    physical ids, which CUDA_VISIBLE_DEVICES renumbers."""
    pyspark = pytest.importorskip("pyspark")
    from pyspark.resource import ResourceInformation

    from spark_ner.config import DeviceKind
    from spark_ner.models import resolve_device, task_gpu_index

    class FakeTask:
        def __init__(self, addresses: list[str]) -> None:
            self.addresses = addresses

        def resources(self) -> dict[str, Any]:
            return {"gpu": ResourceInformation("gpu", self.addresses)}

        def cpus(self) -> int:
            return 1

    last = str(torch.cuda.device_count() - 1)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(pyspark.TaskContext, "get", staticmethod(lambda: FakeTask([last])))
    assert task_gpu_index() == int(last)
    assert resolve_device(DeviceKind.AUTO) == f"cuda:{last}"
    assert resolve_device(DeviceKind.CUDA) == f"cuda:{last}"
    assert resolve_device(DeviceKind.CPU) == "cpu"
    ens = _ensemble(tiny_models, tmp_path, device="auto", precision="auto")
    assert ens.device == f"cuda:{last}"
    assert all(p.device == torch.device(f"cuda:{last}") for m in ens.members for p in m.model.parameters())
    assert ens.label(["John Smith"])["label"].notna().all()
    # physical id 7 is the only visible GPU: torch calls it cuda:0 (only the env is read here)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    monkeypatch.setattr(pyspark.TaskContext, "get", staticmethod(lambda: FakeTask(["7"])))
    assert task_gpu_index() == 7
    assert resolve_device(DeviceKind.AUTO) == "cuda:0"
    monkeypatch.setattr(pyspark.TaskContext, "get", staticmethod(lambda: None))
    assert task_gpu_index() is None


@pytest.mark.parametrize("attention", ["auto", "matmul"])
def test_cuda_graphs_keep_the_labels_and_replay(
    tiny_models: tuple[Path, Path], tmp_path: Path, cuda_clean: None, attention: str
) -> None:
    """``ensemble.cuda_graphs``: the exact-length forwards are captured once per shape and replayed, and
    the frame matches the eager one (bucket rows change GEMM shapes, so scores may move in the last bits
    of fp16; labels of >= 99% of names the same, as fp16 vs fp32). A third pass captures nothing new.
    With either ``ensemble.attention`` the members run the package's attention (models.use_attention),
    whose mask stays off under capture when nothing is padded."""
    from spark_ner.ensemble import worker_threads
    from spark_ner.models import SDPA_ATTENTION, SHORT_ATTENTION

    names = _names(3000, seed=4)
    eager = _ensemble(tiny_models, tmp_path, batch_size=256)
    want = eager.label(names)
    del eager
    ens = _ensemble(tiny_models, tmp_path, batch_size=256, cuda_graphs=True, attention=attention)
    assert ens.graphs is not None
    assert torch.get_num_threads() == worker_threads(ens.cfg)  # ensemble.num_threads applies on a GPU too
    wanted = SHORT_ATTENTION if attention == "matmul" else SDPA_ATTENTION
    assert {m.model.config._attn_implementation for m, _ in ens.transformers()} == {wanted}
    got = ens.label(names)
    stats = ens.graphs.stats
    assert not stats.failures, stats.failures
    assert stats.captures > 0 and stats.replays >= stats.captures
    ens.label(names)  # a shape met once in the first pass is captured when met again (graphs.CAPTURE_AFTER)
    captured, replayed = stats.captures, stats.replays
    again = ens.label(names)
    assert stats.captures == captured and stats.replays > replayed  # (the same stats object, updated)
    assert again.label.tolist() == got.label.tolist()
    assert got["error"].isna().all() and len(got) == len(names)
    agree = float((got["label"] == want["label"]).mean())  # (random tiny members: many near-ties)
    assert agree >= 0.99, f"graph replay label = eager label on only {agree:.2%} of names"
    same = (got["label"] == want["label"]).to_numpy()
    assert np.abs(got["score"].to_numpy() - want["score"].to_numpy())[same].max() < 1e-2
