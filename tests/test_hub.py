"""Hub members pinned and offline, and members given as URIs (issue 15). No Spark, no network.

The hub cache is written here in the hub's own layout (``models--ORG--NAME/blobs``, ``snapshots/
<commit>/`` links, ``refs/<name>``) around tiny random models, and read through huggingface_hub
with ``HF_HUB_OFFLINE=1``, as an air-gapped cluster's pre-filled cache would be.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import SAMPLE_NAMES, build_tiny_bert
from helpers import put_snapshot

from spark_ner.config import ConfigError, is_hub_id, load_config
from spark_ner.errors import ModelSourceError, WeightsMismatchError
from spark_ner.models import file_sha256, model_version, resolve_members, validate_sources

REPO_ID = "acme/tiny-ner"
C1, C2, C3 = "1" * 40, "2" * 40, "3" * 40


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny BERTs with different weights (seeds), canonical labels (no label_map needed)."""
    root = tmp_path_factory.mktemp("hub-src")
    return build_tiny_bert(root / "a", seed=0), build_tiny_bert(root / "b", seed=3)


@pytest.fixture
def hub_cache(tmp_path: Path, weights: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """C1 = weights a (tag v1), C2 = weights b (main), C3 = weights a again (a new commit, same weights)."""
    cache = tmp_path / "hf" / "hub"
    put_snapshot(cache, REPO_ID, C1, weights[0], refs=("v1",))
    put_snapshot(cache, REPO_ID, C2, weights[1], refs=("main",))
    put_snapshot(cache, REPO_ID, C3, weights[0])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # the cache is $HF_HOME/hub
    return cache


def _config(tmp_path: Path, path: str, **keys: str) -> Path:
    lines = ["[ensemble]", 'device = "cpu"', "batch_size = 8", "", "[[models]]", 'name = "m"', f'path = "{path}"']
    lines += [f'{k} = "{v}"' for k, v in keys.items()]
    conf = tmp_path / f"c{len(list(tmp_path.glob('c*.toml')))}.toml"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def _source(tmp_path: Path, path: str, **keys: str):  # type: ignore[no-untyped-def]
    cfg = load_config(_config(tmp_path, path, **keys))
    (src,) = validate_sources(cfg)
    return cfg, src


def test_offline_hub_member_loads_from_the_cache(hub_cache: Path, weights: tuple[Path, Path], tmp_path: Path) -> None:
    from spark_ner.ensemble import load_ensemble

    cfg, src = _source(tmp_path, REPO_ID)
    assert src.revision == C2, "no revision: the commit refs/main names"
    assert Path(src.path) == hub_cache / f"models--{REPO_ID.replace('/', '--')}" / "snapshots" / C2
    assert src.origin == REPO_ID
    local_cfg, local = _source(tmp_path, str(weights[1]))
    assert src.digest == local.digest, "the digest is the weights', read through the snapshot's links"
    hub_out = load_ensemble(cfg).label(SAMPLE_NAMES)
    local_out = load_ensemble(local_cfg).label(SAMPLE_NAMES)
    cols = ["label", "score", "agreement", "entities", "error"]
    assert hub_out[cols].to_dict("records") == local_out[cols].to_dict("records")
    assert hub_out.model_version[0] != local_out.model_version[0], "the hub commit is part of the version"


def test_revision_pins_a_snapshot_and_a_new_revision_is_a_new_version(hub_cache: Path, tmp_path: Path) -> None:
    versions = {}
    for rev in (C1, "v1", C2, C3, None):
        cfg, src = _source(tmp_path, REPO_ID, **({"revision": rev} if rev else {}))
        versions[rev] = (src.revision, src.digest, model_version(cfg, [src]))
    assert versions["v1"] == versions[C1], "a tag resolves to its commit: the same version"
    assert versions[None] == versions[C2]
    assert versions[C1][1] != versions[C2][1] and versions[C1][2] != versions[C2][2], "new weights, new version"
    assert versions[C3][1] == versions[C1][1], "C3 holds C1's weights"
    assert versions[C3][2] != versions[C1][2], "a new commit is a new version even with the same weights"


def test_wrong_sha256_on_a_hub_member_fails_before_any_load(hub_cache: Path, tmp_path: Path) -> None:
    _, src = _source(tmp_path, REPO_ID, revision=C1)
    good = file_sha256(Path(src.path) / "model.safetensors")
    _source(tmp_path, REPO_ID, revision=C1, sha256=good)  # the right pin passes
    with pytest.raises(WeightsMismatchError, match=f"sha256 {good}.*pins {'0' * 64}"):
        _source(tmp_path, REPO_ID, revision=C1, sha256="0" * 64)
    with pytest.raises(WeightsMismatchError):  # main moved to other weights: the pin catches it
        _source(tmp_path, REPO_ID, sha256=good)


def test_missing_hub_member_offline_is_one_line_before_spark(
    hub_cache: Path,
    weights: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Missing from the offline cache, or a wrong pin on a hub or a file:// member: one line, exit 2,
    before any Spark session (so before any task)."""
    from spark_ner.cli import main
    from spark_ner.spark import job

    monkeypatch.setattr(job, "get_session", lambda *a, **k: pytest.fail("a Spark session was started"))
    monkeypatch.setenv("SPARK_NER_FETCH_DIR", str(tmp_path / "fetched"))
    cases = [
        (REPO_ID, {"revision": "9" * 40}),
        ("acme/not-cached", {}),
        (REPO_ID, {"sha256": "0" * 64}),
        (f"file://{weights[0]}", {"sha256": "0" * 64}),
    ]
    for path, keys in cases:
        conf = _config(tmp_path, path, **keys)
        argv = ["label", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--config", str(conf)]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("spark-ner label: error: member 'm'"), err
        if "sha256" in keys:
            assert "but the config pins " + "0" * 64 in err[0], err[0]
        else:
            assert "is a hub id, but this machine is offline (HF_HUB_OFFLINE is set)" in err[0]
            assert f"HF_HUB_CACHE={hub_cache} hf download {path} --revision" in err[0], err[0]
    assert not (tmp_path / "out").exists()


def test_file_uri_member_is_copied_once_verified_and_never_a_hub_id(
    weights: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spark_ner.fetch import MANIFEST

    folder = shutil.copytree(weights[0], tmp_path / "remote" / "bert")
    monkeypatch.setenv("SPARK_NER_FETCH_DIR", str(tmp_path / "fetched"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    uri = f"file://{folder}"
    assert not is_hub_id(uri)
    _, local = _source(tmp_path, str(folder))
    _, src = _source(tmp_path, uri)
    copy = Path(src.path)
    assert copy.parent == tmp_path / "fetched" and (copy / MANIFEST).is_file()
    assert src.digest == local.digest and src.origin == uri and src.revision is None
    stamp = (copy / "model.safetensors").stat().st_mtime_ns
    _source(tmp_path, uri)
    assert (copy / "model.safetensors").stat().st_mtime_ns == stamp, "a valid copy is reused, not copied again"
    # a cached copy whose bytes changed (same size) is not used: it is copied again from the URI
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    assert _source(tmp_path, uri)[1].digest == local.digest
    # so is a copy of a remote folder that changed since
    shutil.copyfile(weights[1] / "model.safetensors", folder / "model.safetensors")
    assert _source(tmp_path, uri)[1].digest != local.digest
    good = file_sha256(folder / "model.safetensors")
    assert _source(tmp_path, uri, sha256=good)[1].digest
    with pytest.raises(WeightsMismatchError, match=f"sha256 {good}"):
        _source(tmp_path, uri, sha256="0" * 64)
    with pytest.raises(ModelSourceError, match="holds no files"):
        _source(tmp_path, f"file://{tmp_path / 'remote' / 'empty'}")


def test_a_failed_refresh_keeps_the_old_copy_in_place(
    weights: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stale copy is moved aside before the new one is renamed into place; when that rename fails,
    the old copy goes back (no hidden ``.old-`` folder left, nothing lost) and the error names the URI."""
    from spark_ner.fetch import local_folder_for

    folder = shutil.copytree(weights[0], tmp_path / "remote" / "bert")
    monkeypatch.setenv("SPARK_NER_FETCH_DIR", str(tmp_path / "fetched"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    uri = f"file://{folder}"
    copy = Path(_source(tmp_path, uri)[1].path)
    assert copy == local_folder_for(uri)
    before = (copy / "model.safetensors").read_bytes()
    shutil.copyfile(weights[1] / "model.safetensors", folder / "model.safetensors")  # the remote changed
    real_rename = Path.rename

    def fail_publish(self: Path, target: Path) -> Path:
        if ".tmp-" in self.name:
            raise OSError(28, "No space left on device")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", fail_publish)
    with pytest.raises(ModelSourceError, match=f"cannot copy '{uri}'.*No space left on device"):
        _source(tmp_path, uri)
    assert (copy / "model.safetensors").read_bytes() == before
    assert [p.name for p in copy.parent.iterdir()] == [copy.name], "no temporary or set-aside folder is left"
    monkeypatch.setattr(Path, "rename", real_rename)
    assert (Path(_source(tmp_path, uri)[1].path) / "model.safetensors").read_bytes() != before


def test_uri_and_revision_keys_are_checked(tmp_path: Path, weights: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match=r"models\[0\].path = 'http://x/m': URI scheme 'http' is not supported"):
        load_config(_config(tmp_path, "http://x/m"))
    with pytest.raises(ConfigError, match=r"models\[0\].revision is for hub members.*local folder"):
        load_config(_config(tmp_path, str(weights[0]), revision="main"))
    with pytest.raises(ConfigError, match=r"models\[0\].revision must be a commit hash"):
        load_config(_config(tmp_path, REPO_ID, revision="bad rev"))
    vol = load_config(_config(tmp_path, "/Volumes/main/ner/models/bert"))
    assert vol.models[0].path == "/Volumes/main/ner/models/bert" and not is_hub_id(vol.models[0].path)
    for uri in ("s3://b/m", "s3a://b/m", "abfss://c@a.dfs.core.windows.net/m", "gs://b/m", "dbfs:/m", "hdfs://nn/m"):
        assert load_config(_config(tmp_path, uri)).models[0].path == uri


def test_an_executor_refuses_weights_other_than_the_drivers(tmp_path: Path, weights: tuple[Path, Path]) -> None:
    """What the UDF hands each worker (the run's MemberPlan) is checked before loading."""
    cfg, src = _source(tmp_path, str(weights[0]))
    plan = resolve_members(cfg)
    (planned,) = plan.members
    assert planned.digest == src.digest and plan.model_version == model_version(cfg, [src])
    elsewhere = replace(plan, members=(replace(planned, folder=str(weights[1])),))
    with pytest.raises(WeightsMismatchError, match=r"differ from those the driver checked.*--ship-models"):
        validate_sources(cfg, elsewhere)
    assert validate_sources(cfg, plan)[0].digest == src.digest


def test_a_moving_main_does_not_change_the_version_mid_run(hub_cache: Path, tmp_path: Path) -> None:
    """A hub member without a pinned revision is resolved once per run: when ``main`` moves after the
    driver resolved it, every later load in the run still uses the driver's commit."""
    from spark_ner.ensemble import load_ensemble

    cfg = load_config(_config(tmp_path, REPO_ID))
    plan = resolve_members(cfg)
    assert plan.members[0].revision == C2
    refs = hub_cache / f"models--{REPO_ID.replace('/', '--')}" / "refs"
    (refs / "main").write_text(C1)  # main moves to other weights (C1 holds weights a, C2 weights b)
    assert validate_sources(cfg)[0].revision == C1, "a new resolution sees the new main"
    ens = load_ensemble(cfg, plan)  # what a worker does with the run's plan
    assert ens.model_version == plan.model_version
    assert validate_sources(cfg, plan)[0].revision == C2


def test_dbfs_uri_reads_through_the_nodes_dbfs_mount(
    weights: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a Databricks node ``dbfs:/x`` is ``/dbfs/x``; the mount stands in a temporary folder here."""
    from spark_ner import fetch

    mount = tmp_path / "dbfs"
    shutil.copytree(weights[0], mount / "models" / "bert")
    monkeypatch.setattr(fetch, "DBFS_MOUNT", mount)
    monkeypatch.setenv("SPARK_NER_FETCH_DIR", str(tmp_path / "fetched"))
    _, local = _source(tmp_path, str(weights[0]))
    _, src = _source(tmp_path, "dbfs:/models/bert")
    assert src.digest == local.digest and Path(src.path).parent == tmp_path / "fetched"
