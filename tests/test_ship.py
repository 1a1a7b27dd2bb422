"""Shipping the models (and the environment) with the job (issue 15).

Local session: ``ship_models=True`` sends the member folders through ``SparkContext.addArchive``
and the workers load the unpacked copies (the originals are moved away before the rows run).

Standalone cluster (tests/cluster.py: a master and two 1-core workers) whose executors cannot see
the driver's models: the driver runs in its own mount namespace (``unshare -m``) with the models
on a tmpfs only it has. One member is a ``file://`` URI, the other a hub id read from a pre-filled
offline HF cache (``HF_HUB_OFFLINE=1``) on that tmpfs. Without ``--ship-models`` the job fails on
the driver with one line; with it every label equals the in-process labels; and the same again
with the executors running a packed virtualenv (venv-pack, ``spark.archives ...#environment``,
``spark.pyspark.python``) built from the wheel in a fresh venv: the executors' Python is the
unpacked one (the summary names it), its path holds the wheel's spark_ner and the cluster's pyspark
only, never this checkout or the test's venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cluster import StandaloneCluster, standalone_cluster
from conftest import ROBERTA_LABEL_MAP, write_config
from helpers import NAMES, REPO, assert_rows_match, labels_by_id, put_snapshot

HUB_ID = "acme/tiny-roberta"
COMMIT = "c0ffee" + "0" * 34
JOB_TIMEOUT = 480


# ----------------------------------------------------------------------------- local session


@pytest.mark.slow
def test_ship_models_loads_the_shipped_copies(spark, tiny_models, tiny_ensemble, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from spark_ner.config import load_config
    from spark_ner.spark.ship import ARCHIVE_PREFIX, ENV_SHIP_DIR
    from spark_ner.spark.udf import with_ner_labels

    monkeypatch.setenv(ENV_SHIP_DIR, str(tmp_path / "ship"))  # the archives, kept while the session may serve them

    bert = shutil.copytree(tiny_models[0], tmp_path / "models" / "bert")
    roberta = shutil.copytree(tiny_models[1], tmp_path / "models" / "roberta")
    cfg = load_config(write_config(tmp_path / "c.toml", bert, roberta))
    df = spark.createDataFrame([(i, n) for i, n in enumerate(NAMES)], "id long, name string")
    labelled = df.transform(with_ner_labels("name", cfg, ship_models=True))  # checked, packed, added here
    archives = [Path(a).name for a in spark.sparkContext.listArchives if ARCHIVE_PREFIX in a]
    assert len([a for a in archives if "-bert-" in a]) == 1 and len([a for a in archives if "-roberta-" in a]) == 1
    hidden = shutil.move(tmp_path / "models", tmp_path / "moved")  # the workers can only use the shipped copies
    try:
        rows = labelled.orderBy("id").collect()
    finally:
        shutil.move(hidden, tmp_path / "models")
    got = [{c[4:]: r[c] for c in r.asDict() if c.startswith("ner_")} for r in rows]
    assert_rows_match(got, tiny_ensemble.label(NAMES))


def test_object_store_outputs_skip_the_staged_rename(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """RELIABILITY.md "What each output kind guarantees": a rename on an object store copies every
    byte and is not atomic, so parquet there goes through Spark's committer and is counted after."""
    from spark_ner.spark.commits import CommitMethod, on_object_store
    from spark_ner.spark.outputs import OutputFormat, Target, WriteMode

    COMMIT_OBJECT_STORE, COMMIT_STAGED = CommitMethod.OBJECT_STORE, CommitMethod.STAGED_RENAME

    stores = ["s3://b/out", "s3a://b/out", "gs://b/out", "abfss://c@a.dfs.core.windows.net/out", "dbfs:/out"]
    for location in [*stores, "/Volumes/main/crm/labels/out"]:
        assert on_object_store(location), location
        assert Target(spark, OutputFormat.PARQUET, location, WriteMode.ERROR, []).commit_method == COMMIT_OBJECT_STORE
    for location in [str(tmp_path / "out"), f"file://{tmp_path}/out", "hdfs://nn:8020/out", "out"]:
        assert not on_object_store(location), location
        assert Target(spark, OutputFormat.PARQUET, location, WriteMode.ERROR, []).commit_method == COMMIT_STAGED


def test_members_resolved_where_the_models_are(spark, tiny_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What a Spark Connect client without the models does (#23): the plan comes from one task on the
    executors, equal to the one resolved here; a member missing there is one line with the fix."""
    from dataclasses import replace

    from spark_ner.errors import ModelSourceError
    from spark_ner.models import resolve_members
    from spark_ner.spark.ship import resolve_on_executors

    assert resolve_on_executors(spark, tiny_config) == resolve_members(tiny_config)
    gone = replace(tiny_config.models[0], path=str(tmp_path / "nowhere"))
    missing = replace(tiny_config, models=(gone, *tiny_config.models[1:]))
    with pytest.raises(ModelSourceError, match=r"does not exist.*checked where the models are.*--ship-models") as err:
        resolve_on_executors(spark, missing)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- standalone cluster


def _can_unshare() -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "--propagation", "private", "true"], check=False).returncode == 0


needs_unshare = pytest.mark.skipif(not _can_unshare(), reason="needs root and `unshare -m` (a private mount namespace)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    with standalone_cluster(tmp_path_factory.mktemp("ship-cluster")) as c:
        yield c


@pytest.fixture(scope="module")
def model_src(tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the driver's tmpfs gets: ``bert/`` (read as a file:// URI) and ``hf/hub`` (a hub cache)."""
    src = tmp_path_factory.mktemp("ship-src")
    shutil.copytree(tiny_models[0], src / "bert")
    put_snapshot(src / "hf" / "hub", HUB_ID, COMMIT, tiny_models[1], refs=("main",))
    return src


def _config(path: Path, root: Path) -> Path:
    lines = ["[ensemble]", 'device = "cpu"', "batch_size = 8", "max_length = 32", ""]
    lines += ["[[models]]", 'name = "bert"', f'path = "file://{root}/bert"', ""]
    lines += ["[[models]]", 'name = "roberta"', f'path = "{HUB_ID}"', f'revision = "{COMMIT}"', "[models.label_map]"]
    lines += [f'{k} = "{v}"' for k, v in ROBERTA_LABEL_MAP.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def expected(model_src: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The same members labelled in-process (here they are visible), model_version included."""
    from spark_ner.config import load_config
    from spark_ner.ensemble import load_ensemble

    tmp = tmp_path_factory.mktemp("ship-expected")
    saved = {k: os.environ.get(k) for k in ("HF_HOME", "HF_HUB_CACHE", "SPARK_NER_FETCH_DIR")}
    os.environ.update(HF_HOME=str(model_src / "hf"), SPARK_NER_FETCH_DIR=str(tmp / "fetched"))
    os.environ.pop("HF_HUB_CACHE", None)
    try:
        return load_ensemble(load_config(_config(tmp / "c.toml", model_src))).label(NAMES)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ship-job")
    pd.DataFrame({"id": range(len(NAMES)), "name": NAMES}).to_parquet(d / "in.parquet")
    (d / "models").mkdir()  # the mount point: empty for everyone but the driver
    _config(d / "conf.toml", d / "models")
    return d


def run_driver(
    cluster: StandaloneCluster, job_dir: Path, model_src: Path, name: str, extra: list[str], conf: dict[str, str]
) -> tuple[int, str, Path]:
    """spark-submit in a private mount namespace whose tmpfs at ``job_dir/models`` holds the models."""
    out = job_dir / f"out-{name}"
    args = ["--input", str(job_dir / "in.parquet"), "--output", str(out), "--config", str(job_dir / "conf.toml")]
    args += ["--id-col", "id", "--score-partitions", "4", "--summary", str(job_dir / f"{name}.json"), *extra]
    mnt = job_dir / "models"
    script = 'mount -t tmpfs -o size=256m spark-ner-models "$MNT" && cp -a "$SRC"/. "$MNT"/ && exec "$@"'
    cmd = ["unshare", "-m", "--propagation", "private", "bash", "-c", script, "bash", *cluster.submit_cmd(args, conf)]
    env = {
        **cluster.env,
        "MNT": str(mnt),
        "SRC": str(model_src),
        "HF_HOME": f"{mnt}/hf",
        "SPARK_NER_FETCH_DIR": f"{mnt}/fetched",
        "SPARK_NER_SHIP_DIR": f"{mnt}/ship",
    }
    log = job_dir / f"{name}.log"
    with log.open("wb") as fh:
        proc = subprocess.run(cmd, env=env, cwd=job_dir, stdout=fh, stderr=subprocess.STDOUT, timeout=JOB_TIMEOUT)
    assert not any(mnt.iterdir()), "the models must never be visible outside the driver's namespace"
    return proc.returncode, log.read_text(errors="replace"), out


def _labels(spark: Any, out: Path) -> list[dict[str, Any]]:
    return labels_by_id(spark.read.parquet(str(out)).collect())


@pytest.mark.cluster
@pytest.mark.slow
@needs_unshare
def test_without_ship_models_the_driver_refuses_in_one_line(cluster, job_dir, model_src) -> None:  # type: ignore[no-untyped-def]
    rc, log, out = run_driver(cluster, job_dir, model_src, "noship", [], {})
    assert rc == 2, log[-4000:]
    lines = [line for line in log.splitlines() if "ModelSourceError" in line]
    assert len(lines) == 1, log[-4000:]
    assert "cannot be used on the executors" in lines[0] and "Fix: pass --ship-models" in lines[0], lines[0]
    assert "Traceback" not in log and "PythonException" not in log and "Lost task" not in log, log[-4000:]
    assert not out.exists()


@pytest.mark.cluster
@pytest.mark.slow
@needs_unshare
def test_ship_models_labels_equal_the_in_process_labels(spark, cluster, job_dir, model_src, expected) -> None:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    rc, log, out = run_driver(cluster, job_dir, model_src, "ship", ["--ship-models"], {})
    print(f"--ship-models job with the nodes' own Python: {time.perf_counter() - t0:.1f}s")
    assert rc == 0, log[-4000:]
    summary = json.loads((job_dir / "ship.json").read_text())
    models = summary["models"]
    assert models["shipped"] is True and models["executor_checks"] >= 2, models
    assert {m["name"]: m["source"] for m in models["members"]} == {"bert": "uri", "roberta": "hub"}
    assert all(m["archive_bytes"] > 0 and m["archive"].endswith(".tar") for m in models["members"])
    assert next(m["revision"] for m in models["members"] if m["name"] == "roberta") == COMMIT
    assert summary["model_version"] == expected["model_version"][0]
    assert_rows_match(_labels(spark, out), expected)


@pytest.fixture(scope="module")
def packed_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, float]]:
    """The recipe's environment: the wheel and its dependencies in a fresh venv, venv-packed to a tar.

    Returns (env.tar.gz, a folder holding only pyspark and py4j, seconds per step). The latter stands
    in for a Spark distribution's ``python/lib/pyspark.zip``, which executors get on PYTHONPATH
    from the cluster's own Spark (the pip package used as SPARK_HOME here has none).
    """
    root = tmp_path_factory.mktemp("packed")
    seconds: dict[str, float] = {}
    pip_env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    def step(name: str, cmd: list[str]) -> None:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=pip_env, capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, f"{name}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        seconds[name] = round(time.perf_counter() - t0, 1)

    step("wheel", [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(REPO)])
    (wheel,) = (root / "dist").glob("spark_ner-*.whl")
    env = root / "env"
    step("venv", [sys.executable, "-m", "venv", str(env)])
    py = str(env / "bin" / "python")
    step("torch", [py, "-m", "pip", "install", "-q", "torch==2.13.0"])
    step("install", [py, "-m", "pip", "install", "-q", "-c", str(REPO / "constraints" / "dev.txt"), str(wheel)])
    # .tar.gz, not .tar: Spark unpacks .tar.gz with the system's tar (links and modes kept) but a plain
    # .tar with Java code that refuses the interpreter's link out of the folder; level 0: torch does not shrink
    pack = ["-p", str(env), "-o", str(root / "env.tar.gz"), "--compress-level", "0", "-q"]
    step("venv-pack", [sys.executable, "-m", "venv_pack", *pack])
    shutil.rmtree(env)  # the executors must run the unpacked copy, not this folder
    import py4j
    import pyspark

    sparkpath = root / "sparkpath"
    sparkpath.mkdir()
    for mod in (pyspark, py4j):
        (sparkpath / mod.__name__).symlink_to(Path(mod.__file__).parent)
    return root / "env.tar.gz", sparkpath, seconds


@pytest.mark.cluster
@pytest.mark.slow
@needs_unshare
def test_packed_environment_without_the_package_on_the_workers(  # type: ignore[no-untyped-def]
    spark, cluster, job_dir, model_src, expected, packed_env
) -> None:
    env_tar, sparkpath, seconds = packed_env
    conf = {
        "spark.archives": f"{env_tar}#environment",
        "spark.pyspark.python": "./environment/bin/python",
        "spark.pyspark.driver.python": sys.executable,
        "spark.executorEnv.PYTHONPATH": str(sparkpath),
    }
    t0 = time.perf_counter()
    rc, log, out = run_driver(cluster, job_dir, model_src, "packed", ["--ship-models"], conf)
    seconds["job"] = round(time.perf_counter() - t0, 1)
    assert rc == 0, log[-4000:]
    summary = json.loads((job_dir / "packed.json").read_text())
    pythons = summary["models"]["executor_pythons"]
    assert pythons and all(p.endswith("environment/bin/python") for p in pythons), pythons
    assert summary["models"]["shipped"] is True
    assert_rows_match(_labels(spark, out), expected)
    sizes = {"env.tar.gz MB": round(env_tar.stat().st_size / 1e6)}
    print(f"packed environment cost: {seconds} {sizes}")  # the cost the README quotes
