"""spark_ner.starter.build: the starter config's pins, and a quick end-to-end build that a rerun reuses."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from spark_ner.config import TAGS, load_config
from spark_ner.starter import build


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_write_starter_pins_every_member(tmp_path: Path) -> None:
    pins = {}
    for i, name in enumerate(build.MEMBERS):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(bytes([i]) * 10)
        pins[name] = (folder, _sha(folder / "model.safetensors"))
    starter = build.write_starter(tmp_path, pins)
    assert starter == tmp_path / "starter.toml"
    cfg = load_config(starter)
    assert [m.name for m in cfg.models] == list(build.MEMBERS)
    for m in cfg.models:
        assert m.path == str(tmp_path / m.name)
        assert m.sha256 == pins[m.name][1]
    # the rest of the defaults is kept (rampart's label map, comments)
    rampart = next(m for m in cfg.models if m.name == build.RAMPART)
    assert rampart.label_map["GIVEN_NAME"] == "PER"
    text = starter.read_text()
    assert "# members pinned" in text and text.count("sha256 = ") == 3
    # rewriting with new pins replaces, never duplicates, the sha256 lines
    pins[build.MINILM] = (pins[build.MINILM][0], "0" * 64)
    build.write_starter(tmp_path, pins)
    assert starter.read_text().count("sha256 = ") == 3
    assert load_config(starter).models[1].sha256 == "0" * 64


def test_publish_swaps_folders(tmp_path: Path) -> None:
    final = tmp_path / "member"
    final.mkdir()
    (final / "old.txt").write_text("old")
    tmp = tmp_path / ".member.partial"
    tmp.mkdir()
    (tmp / "new.txt").write_text("new")
    build._publish(tmp, final)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert not tmp.exists()
    assert not list(tmp_path.glob(".*.old"))


def _requirements() -> str | None:
    try:
        import spark_ner.starter.corpus  # noqa: F401
        from spark_ner.starter.rampart import find_rampart_source
    except ImportError as exc:
        return f"spark_ner.starter.corpus / spark_ner.starter.rampart not importable yet: {exc}"
    try:
        find_rampart_source()
        build.minilm_source()
    except Exception as exc:  # the registry packages that ship the weights are missing
        return f"starter weights packages missing: {exc}"
    return None


@pytest.fixture(scope="module")
def quick_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    reason = _requirements()
    if reason:
        pytest.skip(reason)
    model_dir = tmp_path_factory.mktemp("models")
    t0 = time.perf_counter()
    starter = build.build_models(model_dir, quick=True, seed=0)
    return model_dir, starter, time.perf_counter() - t0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_build_end_to_end(quick_build: tuple[Path, Path, float]) -> None:
    model_dir, starter, seconds = quick_build
    assert starter == model_dir / "starter.toml"
    for split in ("train", "dev", "test"):
        assert (model_dir / "corpus" / f"{split}.parquet").is_file()
    for name in build.MEMBERS:
        folder = model_dir / name
        assert (folder / "model.safetensors").is_file(), name
        assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
        assert not list(folder.glob("*.bin")), name
    assert not list(model_dir.glob(".*.partial")) and not list(model_dir.glob(".*.tmp"))
    for name in (build.MINILM, build.ROBERTA):
        config = json.loads((model_dir / name / "config.json").read_text())
        assert [config["id2label"][str(i)] for i in range(len(TAGS))] == list(TAGS)
        marker = json.loads((model_dir / name / "build.json").read_text())
        assert marker["spec"]["plan"] == "quick" and 0.0 <= marker["dev_f1"] <= 1.0
        assert marker["sha256"] == _sha(model_dir / name / "model.safetensors")
        assert (model_dir / name / "metrics.json").is_file()
        assert not (model_dir / name / "checkpoints").exists()
    cfg = load_config(starter)
    assert {m.name for m in cfg.models} == set(build.MEMBERS)
    for m in cfg.models:
        assert m.path == str(model_dir / m.name)
        assert m.sha256 == _sha(model_dir / m.name / "model.safetensors")
    assert seconds < 300, f"quick build took {seconds:.0f} s"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_second_build_reuses_everything(quick_build: tuple[Path, Path, float]) -> None:
    model_dir, starter, _ = quick_build
    before = {n: (model_dir / n / "model.safetensors").stat().st_mtime_ns for n in build.MEMBERS}
    text = starter.read_text()
    t0 = time.perf_counter()
    again = build.build_models(model_dir, quick=True, seed=0)
    seconds = time.perf_counter() - t0
    assert again == starter and starter.read_text() == text
    after = {n: (model_dir / n / "model.safetensors").stat().st_mtime_ns for n in build.MEMBERS}
    assert after == before
    assert seconds < 30, f"a rebuild with nothing to do took {seconds:.0f} s"
