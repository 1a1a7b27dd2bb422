"""Stage-level scheduling (issue 22 item 6): with ``[spark] scoring_task_cpus/gpus`` the label job's
scoring stage runs through ``mapInArrow`` under its own ``ResourceProfile`` and every other stage (reads,
the name cache, the join, the write) under the default one; the labels are those of the UDF path.

The cluster test reads what Spark itself recorded: the event log's stages, each with its resource
profile id and the job description the label job gives each of its stages.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    NAMES,
    REPO,
    assert_rows_match,
    job_args,
    labels_by_id,
    remove_app_work_dir,
    spark_submit,
    subprocess_env,
)

from spark_ner.errors import ConfigError

PROFILE_GPUS = 0.5  # two scoring tasks share the (discovered, CPU-only) GPU; the default profile asks for none


# ----------------------------------------------------------------------------- the config keys


def test_spark_keys_are_checked_and_leave_the_fingerprint_alone(tiny_config_path: Path) -> None:
    from spark_ner.config import load_config

    plain = load_config(tiny_config_path)
    assert not plain.spark.scoring_profile
    quarter = load_config(
        tiny_config_path, overrides={"spark.scoring_task_gpus": "0.25", "spark.scoring_task_cpus": "2"}
    )
    assert (quarter.spark.scoring_task_gpus, quarter.spark.scoring_task_cpus) == (0.25, 2)
    assert quarter.spark.scoring_profile
    assert quarter.fingerprint() == plain.fingerprint()  # where the stage runs changes no label
    assert load_config(tiny_config_path, overrides={"spark.scoring_task_gpus": "1"}).spark.scoring_task_gpus == 1.0
    for key, value, words in (
        ("spark.scoring_task_gpus", "0.75", ["spark.scoring_task_gpus", "<= 0.5", "whole number", "Fix"]),
        ("spark.scoring_task_gpus", "-1", ["spark.scoring_task_gpus", "Fix"]),
        ("spark.scoring_task_cpus", "1.5", ["spark.scoring_task_cpus", "integer", "Fix"]),
        ("spark.task_gpus", "1", ["spark.'task_gpus'", "scoring_task_cpus, scoring_task_gpus"]),
    ):
        with pytest.raises(ConfigError) as err:
            load_config(tiny_config_path, overrides={key: value})
        assert all(w in str(err.value) for w in words), str(err.value)


def test_the_databricks_conf_shows_the_stage_level_setup() -> None:
    """Executors get the GPU, the default task amount stays unset, the scoring stage asks for 1/N:
    shown (commented) in the Databricks config, off by default (its default runtime is Spark 3.5)."""
    from spark_ner.config import load_config

    text = (REPO / "conf" / "databricks.toml").read_text(encoding="utf-8")
    assert "# scoring_task_gpus = 0.25" in text and "[spark]" in text
    assert not load_config(REPO / "conf" / "databricks.toml").spark.scoring_profile


# ----------------------------------------------------------------------------- refused in one line


def test_local_mode_refuses_a_scoring_profile_before_any_work(spark, tiny_config_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """local[*] cannot schedule task resource profiles (Spark refuses them there): one line naming
    the keys, the master and the fix, before the output or the input is touched."""
    from spark_ner.spark import job as jobs

    out = tmp_path / "out"
    args = job_args(
        input=tmp_path / "missing.parquet", output=out, config=tiny_config_path, set=["spark.scoring_task_cpus=1"]
    )
    with pytest.raises(ConfigError) as err:
        jobs.run(args)
    text = str(err.value)
    assert "\n" not in text
    for word in ("spark.scoring_task_cpus = 1", "local[2]", "standalone, YARN and Kubernetes", "Fix:"):
        assert word in text, text
    assert not out.exists()


# ----------------------------------------------------------------------------- on a cluster


def _stages(event_dir: Path) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """(every submitted stage: id, profile id, the label job's stage name; profiles by id) from the
    application's event log."""
    # one file; a folder of events_N_* files if rolling is on
    logs = sorted(p for p in event_dir.rglob("*") if p.is_file() and not p.name.startswith("appstatus"))
    assert logs and not [p for p in logs if p.name.endswith(".inprogress")], logs
    lines = [line for log in logs for line in log.read_text(encoding="utf-8").splitlines()]
    stages, profiles = [], {}
    for line in lines:
        event = json.loads(line)
        kind = event.get("Event")
        if kind == "SparkListenerStageSubmitted":
            info, props = event["Stage Info"], event.get("Properties") or {}
            stages.append(
                {
                    "id": info["Stage ID"],
                    "profile": info["Resource Profile Id"],
                    "job": props.get("spark.job.description"),
                }
            )
        elif kind == "SparkListenerResourceProfileAdded":
            profiles[event["Resource Profile Id"]] = event
    return stages, profiles


@pytest.mark.cluster
@pytest.mark.slow
def test_only_the_scoring_stage_carries_the_profile_and_labels_stay(  # type: ignore[no-untyped-def]
    spark, tiny_config_path, tiny_ensemble, tmp_path
) -> None:
    from spark_ner.spark import job as jobs

    src, events = tmp_path / "in.parquet", tmp_path / "events"
    events.mkdir()
    spark.createDataFrame(list(enumerate(NAMES)), "id long, name string").write.parquet(str(src))
    # the profile path on a standalone-like cluster, through a (new) name cache: the cache lookup, the
    # misses through mapInArrow, the cache commit, the join and the write each run their own stages.
    # The worker "discovers" one GPU (address 0, from CUDA_VISIBLE_DEVICES through the shipped
    # discovery script) and gives it to the executor, as on a GPU node; the members run on the CPU.
    profiled, summary = tmp_path / "profiled", tmp_path / "summary.json"
    cmd = [spark_submit(), "--master", "local-cluster[1,2,1024]"]
    for conf in (
        "spark.worker.resource.gpu.amount=1",
        f"spark.worker.resource.gpu.discoveryScript={REPO / 'conf' / 'gpu_discovery.sh'}",
        "spark.executor.resource.gpu.amount=1",  # and no spark.task.resource.gpu.amount
        "spark.ui.enabled=false",
        "spark.executor.memory=1g",
        "spark.scheduler.minRegisteredResourcesRatio=1.0",
        "spark.eventLog.enabled=true",
        f"spark.eventLog.dir={events.as_uri()}",
        "spark.eventLog.compress=false",  # plain JSON lines (Spark 4 compresses with zstd by default)
        "spark.eventLog.rolling.enabled=false",
    ):
        cmd += ["--conf", conf]
    cmd += [str(REPO / "jobs" / "label_customers.py"), "--input", str(src), "--output", str(profiled)]
    cmd += ["--config", str(tiny_config_path), "--id-col", "id", "--score-partitions", "2", "--summary", str(summary)]
    cmd += ["--cache", str(tmp_path / "name-cache"), "--set", f"spark.scoring_task_gpus={PROFILE_GPUS}"]
    cmd += ["--set", "spark.scoring_task_cpus=1"]
    env = {**subprocess_env(tmp_path), "CUDA_VISIBLE_DEVICES": "0"}
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    data = json.loads(summary.read_text())
    remove_app_work_dir(data["spark"]["app_id"])

    stages, profiles = _stages(events)
    scoring = data["spark"]["scoring_profile"]
    assert scoring["task_cpus"] == 1 and scoring["task_gpus"] == PROFILE_GPUS
    assert scoring["id"] != 0 and scoring["id"] in profiles
    requests = profiles[scoring["id"]]
    assert requests["Task Resource Requests"]["gpu"]["Amount"] == PROFILE_GPUS
    assert requests["Task Resource Requests"]["cpus"]["Amount"] == 1
    assert not requests.get("Executor Resource Requests")  # task requests only: the same executors
    assert "gpu" not in profiles[0]["Task Resource Requests"]  # the other stages' tasks ask for no GPU
    assert profiles[0]["Executor Resource Requests"]["gpu"]["Amount"] == 1  # while executors hold it
    with_profile = [s for s in stages if s["profile"] != 0]
    assert with_profile, stages
    assert {s["profile"] for s in with_profile} == {scoring["id"]}
    assert {s["job"] for s in with_profile} == {"spark-ner label: score"}, stages
    default = [s for s in stages if s["profile"] == 0]
    # the score step's own reads (input scan, cache lookup) and the count of the persisted labels run
    # on the default profile, and so does every stage of the write (cache commit, join, output)
    assert any(s["job"] == "spark-ner label: score" for s in default), stages
    assert any(s["job"] == "spark-ner label: write" for s in default), stages
    assert not [s for s in with_profile if s["job"] != "spark-ner label: score"]
    assert data["names_scored"] == data["distinct_names"]  # scored once, not recomputed by later stages

    # the same input through the UDF path (no profile), in-process: the same labels, row by row
    plain = tmp_path / "plain"
    assert jobs.run(job_args(input=src, output=plain, config=tiny_config_path, id_col="id")) == 0
    got = labels_by_id(spark.read.parquet(str(profiled)).collect())
    want = labels_by_id(spark.read.parquet(str(plain)).collect())
    assert_rows_match(got, _as_frame(want))
    assert_rows_match(got, tiny_ensemble.label(NAMES))


def _as_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows)
