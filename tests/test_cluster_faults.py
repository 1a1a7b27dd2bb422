"""Issue 6, part 3: the label job on a real standalone cluster (a master, two 1-core workers, all
separate processes on 127.0.0.1) while things die under it.

One cluster serves every test (module fixture); each test runs ``spark-submit --master
spark://127.0.0.1:PORT jobs/label_customers.py`` on the same input and compares the output, row by
row and by id, with the same names labelled in-process by the same tiny ensemble (the clean run:
no Spark, no faults). The input is sized so the score stage lasts long enough to kill things in
it (a few thousand distinct names at batch size 8 on one core per executor), each name twice,
plus the hostile corpus.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
from cluster import StandaloneCluster, kill_process_group, standalone_cluster
from conftest import write_config
from helpers import assert_rows_match
from hostile import NAMES as HOSTILE_NAMES

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

DISTINCT = 9000  # enough scoring time that a kill lands mid-score now that the host side is faster
JOB_TIMEOUT = 420.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    with standalone_cluster(tmp_path_factory.mktemp("standalone")) as c:
        yield c


@pytest.fixture(scope="module")
def names() -> list[str | None]:
    from spark_ner.tools.bench import bench_names

    pool = bench_names(5000, seed=11)
    distinct = [f"{pool[i % len(pool)]} {i}" for i in range(DISTINCT)] + list(HOSTILE_NAMES)
    rows = distinct + distinct  # every name twice: the job scores it once and joins it back twice
    random.Random(3).shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def source(names: list[str | None], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults-in") / "customers.parquet"
    pd.DataFrame({"id": range(len(names)), "name": names}).to_parquet(path, row_group_size=4096)
    return path


@pytest.fixture(scope="module")
def clean(tiny_ensemble: Any, names: list[str | None]) -> pd.DataFrame:
    """The clean run: the same names through the same ensemble in-process."""
    return tiny_ensemble.label(names)


def job_args(source: Path, out: Path, config: Path, *extra: str) -> list[str]:
    return [
        "--input",
        str(source),
        "--output",
        str(out),
        "--config",
        str(config),
        "--id-col",
        "id",
        "--score-partitions",
        "8",
        "--arrow-batch-rows",
        "256",
        "--summary",
        str(out.parent / f"{out.name}.summary.json"),
        *extra,
    ]


def assert_same_as_clean(out: Path, names: list[str | None], clean: pd.DataFrame) -> None:
    """Each input id exactly once, the name unchanged, labels equal to the clean run's."""
    df = pd.read_parquet(out)  # pyarrow skips hidden (.staging) and _SUCCESS files
    assert len(df) == len(names), f"{len(df)} rows out for {len(names)} in"
    assert df["id"].is_unique, "a row was written twice"
    df = df.set_index("id").sort_index()
    assert list(df.index) == list(range(len(names))), "a row was lost"
    assert [None if pd.isna(n) else n for n in df["name"]] == names
    got = [{c[4:]: row[c] for c in df.columns if c.startswith("ner_")} for _, row in df.iterrows()]
    assert_rows_match(got, clean)


def wait_until(what: str, check: Callable[[], Any], proc: Any, timeout: float = JOB_TIMEOUT) -> Any:
    """Poll ``check`` until it returns something truthy; fail if the job ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the job ended (rc {proc.returncode}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def finish(proc: Any, log: Path) -> str:
    try:
        proc.wait(timeout=JOB_TIMEOUT)
    except Exception:
        kill_process_group(proc)
        raise
    return log.read_text(errors="replace")


def scoring_worker(cluster: StandaloneCluster, worker: int) -> psutil.Process | None:
    """The forked Python worker under ``worker`` that loaded the ensemble, so is scoring: the only one
    with torch mapped in (the pyspark daemon, idle workers and the driver's member probe never import it)."""
    for p in cluster.python_workers(worker):
        try:
            if any("libtorch" in m.path for m in p.memory_maps()):
                return p
        except psutil.Error:
            continue
    return None


# ----------------------------------------------------------------------------- faults


def test_python_worker_killed_mid_score(cluster, source, names, clean, tiny_config_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, log = tmp_path / "out", tmp_path / "job.log"
    proc = cluster.submit(job_args(source, out, tiny_config_path), cwd=tmp_path, log=log)
    victim = wait_until("a Python worker scores on worker 1", lambda: scoring_worker(cluster, 1), proc)
    victim.kill()
    text = finish(proc, log)
    assert proc.returncode == 0, text[-5000:]
    assert "Python worker exited unexpectedly" in text or "Lost task" in text, "the kill was not felt"
    assert_same_as_clean(out, names, clean)
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["rows_in"] == summary["rows_out"] == len(names)


def test_worker_jvm_killed_mid_score(cluster, source, names, clean, tiny_config_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, log = tmp_path / "out", tmp_path / "job.log"
    proc = cluster.submit(job_args(source, out, tiny_config_path), cwd=tmp_path, log=log)
    try:
        wait_until("a Python worker scores on worker 1", lambda: scoring_worker(cluster, 1), proc)
        cluster.kill_worker(1)  # its executor loses its worker and exits; its cached blocks are gone
        text = finish(proc, log)
    finally:
        cluster.wait_for_apps_to_finish()
        cluster.start_worker(1)
    assert proc.returncode == 0, text[-5000:]
    assert "Lost executor" in text or "Executor lost" in text, "the kill was not felt"
    assert_same_as_clean(out, names, clean)


def test_driver_killed_mid_write_then_rerun(cluster, source, names, clean, tiny_config_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL the whole spark-submit process group while the output is being written: no output
    that looks complete (the write goes to a hidden staging folder renamed into place only after
    its row count checks); a rerun with ``--mode overwrite`` gives each row exactly once."""
    out, log = tmp_path / "out", tmp_path / "killed.log"
    proc = cluster.submit(job_args(source, out, tiny_config_path), cwd=tmp_path, log=log)

    def writing() -> list[Path]:
        return [p for p in tmp_path.glob(".out.spark-ner-staging-*") if (p / "_temporary").exists()]

    staging = wait_until("the job writes its staging folder", writing, proc)
    kill_process_group(proc)
    assert proc.returncode == -9
    assert not out.exists(), "a killed write left something at the output path"
    assert all(p.name.startswith(".") for p in tmp_path.glob("*spark-ner*")), "leftovers are hidden"
    assert staging[0].exists()
    cluster.wait_for_apps_to_finish()  # the master frees the killed app's cores

    rerun_log = tmp_path / "rerun.log"
    proc = cluster.submit(job_args(source, out, tiny_config_path, "--mode", "overwrite"), cwd=tmp_path, log=rerun_log)
    text = finish(proc, rerun_log)
    assert proc.returncode == 0, text[-5000:]
    assert_same_as_clean(out, names, clean)
    assert len(list(tmp_path.glob(".out.spark-ner-staging-*"))) == 1, "the rerun cleaned its own staging"


def test_one_executor_cannot_read_the_model(cluster, source, names, clean, tiny_models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Worker 1's executor cannot read the BERT member's weights (as on a node whose model mount
    is missing); the driver and worker 2 can. Simulated on one machine (and as root, where chmod
    cannot lock anyone out) with a weights symlink relative to each process's working directory:
    ``/proc/self/cwd/../../weights/...`` exists for the driver and worker 2's executors only.

    The failed tasks name the member and the folder; with ``spark.excludeOnFailure.enabled`` they
    are retried on the healthy executor and the job completes with every row once."""
    bert, roberta = tiny_models
    member = tmp_path / "models" / "bert"
    shutil.copytree(bert, member)
    weights = member / "model.safetensors"
    weights.unlink()
    weights.symlink_to("/proc/self/cwd/../../weights/bert.safetensors")
    driver_cwd = tmp_path / "driver" / "a" / "b"
    driver_cwd.mkdir(parents=True)
    for base in (tmp_path / "driver", cluster.worker_dirs[1]):  # not worker 1's
        (base / "weights").mkdir(exist_ok=True)
        shutil.copy(bert / "model.safetensors", base / "weights" / "bert.safetensors")
    config = write_config(tmp_path / "split.toml", member, roberta)
    small = tmp_path / "small.parquet"
    few = names[:400]
    pd.DataFrame({"id": range(len(few)), "name": few}).to_parquet(small)

    out, log = tmp_path / "out", tmp_path / "job.log"
    conf = {"spark.excludeOnFailure.enabled": "true"}
    try:
        proc = cluster.submit(job_args(small, out, config), cwd=driver_cwd, log=log, conf=conf)
        text = finish(proc, log)
    finally:
        shutil.rmtree(cluster.worker_dirs[1] / "weights", ignore_errors=True)
    assert proc.returncode == 0, text[-5000:]
    failures = [line for line in text.splitlines() if "spark_ner.errors.ModelSourceError:" in line]
    assert failures, "no task failed on worker 1: the fault was not exercised"
    assert all(f"member 'bert': no weights in {member}" in line for line in failures), failures[:3]
    assert_same_as_clean(out, few, clean.iloc[: len(few)].reset_index(drop=True))
