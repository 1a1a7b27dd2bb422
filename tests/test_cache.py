"""The incremental name cache (issue 7) end to end: reruns score nothing and write the same output,
1% new rows score exactly the new names, a new model version scores everything, killed runs leave
each (name, version) once, stats/vacuum, a Hive-table cache, and spark-submit."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import REPO, forbid_reading, job_args, spark_submit, subprocess_env
from hostile import NAMES as HOSTILE_NAMES

from spark_ner import cli
from spark_ner.spark import job as jobs
from spark_ner.spark import name_cache
from spark_ner.spark.commits import HadoopFS
from spark_ner.tools.demo import sample_table

ID = "customer_id"
# near-duplicates that must stay separate keys: spans index the original string
NEAR_DUPLICATES = ["John Smith", "JOHN SMITH", "john smith", "John  Smith", " John Smith", "José", "Jose\u0301"]

# A job run in a subprocess that SIGKILLs its own process group (driver, JVM, Python workers) when
# its cache batch is staged, counted, and about to be committed: the job then asks whether the
# committed batch's folder (``.../model_version=V/batch=RUN``, outside the staging folder) exists
# yet. Nothing after that point runs, no cleanup. Only public names are patched (HadoopFS.exists).
KILLER = r"""
import os, signal, sys
from spark_ner import cli
from spark_ner.spark.name_cache import STAGING_PREFIX
from spark_ner.spark.commits import HadoopFS
real_exists = HadoopFS.exists
def exists(self, p):
    where = p.toString()
    if "/batch=" in where and f"/{STAGING_PREFIX}" not in where:
        os.killpg(os.getpgid(0), signal.SIGKILL)
    return real_exists(self, p)
HadoopFS.exists = exists
sys.exit(cli.main(sys.argv[1:]))
"""


class Killed(BaseException):
    """Stands for a kill in-process (not an Exception: nothing in the job may catch it)."""


def _table(rows: int, seed: int) -> pd.DataFrame:
    """The demo customer table plus hostile and near-duplicate names (ids unique)."""
    base = sample_table(rows, seed=seed)
    extra = [*HOSTILE_NAMES, *NEAR_DUPLICATES]
    start = int(base[ID].max()) + 1
    more = pd.DataFrame({ID: range(start, start + len(extra)), "name": pd.Series(extra, dtype=object)})
    return pd.concat([base, more], ignore_index=True)[[ID, "name"]]


def _grow(base: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, int]:
    """``base`` + 1% rows: new names (one of them twice) and one known name; returns the new distinct count."""
    known = set(base["name"].dropna())
    k = max(2, len(base) // 100)
    fresh = [n for n in sample_table(200, seed=seed)["name"].dropna().unique() if n not in known][: k - 2]
    names = [*fresh, fresh[0], next(iter(known))]
    start = int(base[ID].max()) + 1
    added = pd.DataFrame({ID: range(start, start + len(names)), "name": pd.Series(names, dtype=object)})
    return pd.concat([base, added], ignore_index=True), len(fresh)


def _distinct(frame: pd.DataFrame) -> int:
    return int(frame["name"].nunique(dropna=False))


@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    """(base parquet, base frame, grown parquet, grown frame, new distinct names)."""
    root = tmp_path_factory.mktemp("cache-in")
    base = _table(600, seed=11)
    grown, new = _grow(base, seed=12)
    paths = []
    for name, frame in (("base", base), ("grown", grown)):
        path = root / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        paths.append(path)
    return paths[0], base, paths[1], grown, new


@pytest.fixture(scope="module")
def version(tiny_config) -> str:  # type: ignore[no-untyped-def]
    from spark_ner.models import resolve_members

    return resolve_members(tiny_config).model_version


def _label(out: Path, **kw: Any) -> dict[str, Any]:
    """Run ``spark-ner label`` in-process into ``out``; returns the summary (read from --summary)."""
    summary = out.with_name(out.name + ".summary.json")
    assert jobs.run(job_args(output=out, summary=summary, **kw)) == 0
    return dict(json.loads(summary.read_text()))


@pytest.fixture(scope="module")
def cold(spark, tiny_config_path, tables, tmp_path_factory):  # type: ignore[no-untyped-def]
    """One cold run over the base table with a fresh cache: (cache, output, summary); copy before changing."""
    root = tmp_path_factory.mktemp("cold")
    summary = _label(root / "out", input=tables[0], config=tiny_config_path, id_col=ID, cache=root / "cache")
    return root / "cache", root / "out", summary


def _copy_cache(cold: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> Path:
    return Path(shutil.copytree(cold[0], tmp_path / "cache"))


def _rows(spark, out: Path) -> dict[int, Any]:  # type: ignore[no-untyped-def]
    rows = spark.read.parquet(str(out)).collect()
    by_id = {r[ID]: r for r in rows}
    assert len(by_id) == len(rows), "each input row exactly once"
    return by_id


def _cache_df(spark, cache: Path):  # type: ignore[no-untyped-def]
    return spark.read.schema(name_cache.cache_schema()).parquet(str(cache))


def _once_per_key(spark, cache: Path) -> int:  # type: ignore[no-untyped-def]
    """Rows in the cache; asserts each (name_key, model_version) is stored exactly once."""
    df = _cache_df(spark, cache)
    dup = df.groupBy("name_key", "model_version").count().where("count > 1").count()
    assert dup == 0, "a (name, version) is stored twice"
    return int(df.count())


def _seed_cache(spark, location: Path | str, version: str, names: list[str | None], label: str = "NONE") -> int:  # type: ignore[no-untyped-def]
    """Append made-up label rows for ``names`` under ``version`` the way the job does (no model run)."""
    rows = [(n, label, 0.5, 1.0, [], version, None) for n in names]
    schema = "k string, ner_label string, ner_score double, ner_agreement double, "
    schema += "ner_entities array<struct<text:string,label:string,start:int,end:int,score:double>>, "
    schema += "ner_model_version string, ner_error string"
    df = spark.createDataFrame(rows, schema)
    return name_cache.NameCache(spark, str(location)).append(df, "k", "ner_", version, name_cache.new_run_id())


def _cli_json(capsys, argv: list[str]) -> tuple[int, dict[str, Any] | None]:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    rc = cli.main(argv)
    out = capsys.readouterr().out
    return rc, (json.loads(out[out.index("{") :]) if "{" in out else None)


def test_rerun_scores_nothing_then_new_names(spark, tiny_config_path, tables, version, cold, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, base, grown_path, grown, new = tables
    cache, cold_out, first_run = _copy_cache(cold, tmp_path), cold[1], cold[2]
    common = {"config": tiny_config_path, "id_col": ID, "cache": cache}
    distinct = _distinct(base)
    assert first_run["distinct_names"] == first_run["names_scored"] == distinct
    assert first_run["names_cached"] == 0
    assert first_run["model_version"] == version
    assert first_run["error_rows"] == 0
    assert first_run["cache"]["rows_committed"] == distinct
    assert "cache" in first_run["seconds"]
    assert _once_per_key(spark, cache) == distinct
    assert {p.name for p in cache.iterdir()} == {f"model_version={version}"}, "no staging left"

    warm = _label(tmp_path / "warm", input=tables[0], **common)
    assert warm["names_scored"] == 0, "a rerun scores nothing"
    assert warm["names_cached"] == distinct
    assert warm["cache"]["rows_committed"] == 0
    assert warm["labels"] == first_run["labels"]
    first, second = _rows(spark, cold_out), _rows(spark, tmp_path / "warm")
    assert first == second, "the output from the cache is identical to the scored one"
    assert _once_per_key(spark, cache) == distinct

    # exact-string keys: near-duplicates are separate entries, and cached spans index each original
    for r in second.values():
        for e in r["ner_entities"] or []:
            assert r["name"][e["start"] : e["end"]] == e["text"]
    keys = {r["name_key"] for r in _cache_df(spark, cache).select("name_key").collect()}
    assert set(NEAR_DUPLICATES) <= keys and None in keys

    more = _label(tmp_path / "grown", input=grown_path, **common)
    assert more["names_scored"] == new, "1% new rows: exactly the new distinct names are scored"
    assert more["names_cached"] == distinct
    assert more["rows_out"] == len(grown)
    third = _rows(spark, tmp_path / "grown")
    assert {i: third[i] for i in first} == first, "old rows keep their labels"
    assert _once_per_key(spark, cache) == distinct + new


def test_new_version_scores_all_stats_vacuum(spark, tiny_config_path, tables, version, cold, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    cache, distinct = _copy_cache(cold, tmp_path), _distinct(tables[1])
    common = {"input": tables[0], "config": tiny_config_path, "id_col": ID, "cache": cache}
    v2 = _label(tmp_path / "v2", **common, set=["models.bert.weight=2.0"])
    assert v2["model_version"] != version
    assert v2["names_scored"] == distinct and v2["names_cached"] == 0, "a new version reuses nothing"
    assert _once_per_key(spark, cache) == 2 * distinct

    rc, stats = _cli_json(capsys, ["cache", "stats", "--cache", str(cache)])
    assert rc == 0 and stats is not None
    assert [v["model_version"] for v in stats["versions"]] == [v2["model_version"], version], "latest first"
    assert all(v["rows"] == v["distinct_names"] == distinct and v["duplicate_rows"] == 0 for v in stats["versions"])
    assert all(v["batches"] == 1 and v["bytes"] > 0 for v in stats["versions"])
    assert stats["total_rows"] == 2 * distinct and stats["total_bytes"] > 0
    text = json.dumps(stats)
    assert not [n for n in NEAR_DUPLICATES if n in text], "no names in the stats"

    rc, _ = _cli_json(capsys, ["cache", "vacuum", "--cache", str(cache), "--keep-version", "nope@000"])
    assert rc == 2, "an unknown version to keep drops nothing"
    rc, dry = _cli_json(capsys, ["cache", "vacuum", "--cache", str(cache), "--keep-latest", "1", "--dry-run"])
    assert rc == 0 and dry is not None and dry["dropped"] == [version]
    assert _once_per_key(spark, cache) == 2 * distinct
    rc, done = _cli_json(capsys, ["cache", "vacuum", "--cache", str(cache), "--keep-latest", "1"])
    assert rc == 0 and done is not None
    assert done["dropped"] == [version] and done["kept"] == [v2["model_version"]]
    assert done["rows_dropped"] == distinct
    assert {p.name for p in cache.iterdir()} == {f"model_version={v2['model_version']}"}


def _kill_before_commit(argv: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, *argv],
        env={**subprocess_env(tmp_path), "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


@pytest.mark.slow
def test_killed_runs_leave_names_once(spark, tiny_config_path, tables, version, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Killed before the cache commit (a real SIGKILL) and after it; reruns leave each name once."""
    base_path, base, grown_path, _, new = tables
    cache, distinct = tmp_path / "cache", _distinct(base)
    common = {"config": tiny_config_path, "id_col": ID, "cache": cache}
    flags = ["--config", str(tiny_config_path), "--id-col", ID, "--cache", str(cache), "--master", "local[2]"]
    flags += ["--score-partitions", "1"]  # one Python worker loads the models

    # 1. SIGKILL with the batch staged but not committed: readers see an empty cache
    _kill_before_commit(["label", "--input", str(base_path), "--output", str(tmp_path / "k1"), *flags], tmp_path)
    assert not (tmp_path / "k1").exists()
    leftovers = [p.name for p in cache.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(name_cache.STAGING_PREFIX)
    assert list((cache / leftovers[0]).rglob("*.parquet")), "the killed run had staged its batch"
    assert name_cache.NameCache(spark, str(cache)).read(version).count() == 0
    assert name_cache.NameCache(spark, str(cache)).stats() == []

    # 2. the rerun finds nothing to reuse, scores everything, commits, and dies before its output
    real_rename = HadoopFS.rename

    def commit_then_die(self: Any, src: Any, dst: Any) -> None:
        real_rename(self, src, dst)
        if f"/{name_cache.STAGING_PREFIX}" in src.toString() and "/batch=" in dst.toString():
            raise Killed  # the cache batch was just renamed into place: its commit happened

    with monkeypatch.context() as m:
        m.setattr(HadoopFS, "rename", commit_then_die)
        with pytest.raises(Killed):
            _label(tmp_path / "k2", input=base_path, **common)
    assert not (tmp_path / "k2").exists()
    assert _once_per_key(spark, cache) == distinct, "the staged batch of the killed run was not used"
    assert (cache / leftovers[0]).exists(), "a young staging folder may be a concurrent run's: kept"

    # 3. the next run (1% more rows) reuses the committed batch and scores only the new names;
    #    hours later (threshold 0 here) it also removes the killed run's staging folder
    monkeypatch.setattr(name_cache, "STALE_AFTER_HOURS", 0.0)
    rerun = _label(tmp_path / "r", input=grown_path, **common)
    assert rerun["names_scored"] == new and rerun["names_cached"] == distinct
    assert _once_per_key(spark, cache) == distinct + new
    assert [p.name for p in cache.iterdir()] == [f"model_version={version}"], "the rerun removed the leftover"


def test_stale_staging_removed_by_vacuum(spark, version, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A leftover of a dead run is ignored by readers; vacuum removes it once old enough."""
    cache = tmp_path / "cache"
    n = _seed_cache(spark, cache, version, ["a", "b", None])
    run_id = name_cache.new_run_id()
    leaf = cache / f"{name_cache.STAGING_PREFIX}{run_id}" / f"model_version={version}" / f"batch={run_id}"
    _cache_df(spark, cache).write.parquet(str(leaf))  # a full copy, staged and never committed
    assert _once_per_key(spark, cache) == n == 3, "readers skip the staging folder"
    rc, kept = _cli_json(capsys, ["cache", "vacuum", "--cache", str(cache), "--keep-latest", "1"])
    assert rc == 0 and kept is not None and kept["staging_removed"] == 0 and kept["dropped"] == []
    rc, gone = _cli_json(capsys, ["cache", "vacuum", "--cache", str(cache), "--keep-latest", "1", "--stale-after", "0"])
    assert rc == 0 and gone is not None and gone["staging_removed"] == 1
    assert [p.name for p in cache.iterdir()] == [f"model_version={version}"]


def test_racing_runs_duplicates_collapse(spark, version, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Two runs that scored the same new names both commit: readers keep one row per name (the first)."""
    cache = tmp_path / "cache"
    assert _seed_cache(spark, cache, version, ["a", "b", None], label="PERSON") == 3
    assert _seed_cache(spark, cache, version, ["b", None, "c"], label="ORGANIZATION") == 3
    names = spark.createDataFrame([("a",), ("b",), ("c",), ("d",), (None,)], "k string")
    got = name_cache.NameCache(spark, str(cache)).lookup(names, "k", version).collect()
    assert sorted(((r["k"] or ""), r["__spark_ner_hit"], r["label"]) for r in got) == [
        ("", True, "PERSON"),
        ("a", True, "PERSON"),
        ("b", True, "PERSON"),
        ("c", True, "ORGANIZATION"),
        ("d", False, None),
    ]
    rc, stats = _cli_json(capsys, ["cache", "stats", "--cache", str(cache)])
    assert rc == 0 and stats is not None
    assert stats["versions"][0] | {"bytes": 0} == stats["versions"][0] | {
        "model_version": version,
        "rows": 6,
        "distinct_names": 4,
        "duplicate_rows": 2,
        "batches": 2,
        "bytes": 0,
    }


def test_hive_table_cache(spark, tiny_config_path, tables, version, cold, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A catalog table as the cache: created by the first append, read, appended to, stats, vacuum."""
    _, base, grown_path, grown, new = tables
    spark.sql("DROP TABLE IF EXISTS name_cache_tbl")
    other = "bert+roberta@000000000000"  # another model's rows: must never be used
    assert _seed_cache(spark, "name_cache_tbl", other, [n for n in grown["name"] if n][:50]) == 50
    _cache_df(spark, cold[0]).write.insertInto("name_cache_tbl")  # the cold run's labels, as a table
    distinct = _distinct(base)

    got = _label(tmp_path / "out", input=grown_path, config=tiny_config_path, id_col=ID, cache="name_cache_tbl")
    assert got["names_scored"] == new and got["names_cached"] == distinct
    first, rows = _rows(spark, cold[1]), _rows(spark, tmp_path / "out")
    assert {i: rows[i] for i in first} == first, "labels from the table equal the scored ones"
    parts = [c.name for c in spark.catalog.listColumns("name_cache_tbl") if c.isPartition]
    assert parts == ["model_version", "batch"]
    mine = spark.table("name_cache_tbl").where(f"model_version = '{version}'")
    assert mine.count() == mine.select("name_key").distinct().count() == distinct + new

    rc, stats = _cli_json(capsys, ["cache", "stats", "--cache", "name_cache_tbl"])
    assert rc == 0 and stats is not None and stats["kind"] == "table"
    assert {v["model_version"]: v["rows"] for v in stats["versions"]} == {version: distinct + new, other: 50}
    rc, done = _cli_json(capsys, ["cache", "vacuum", "--cache", "name_cache_tbl", "--keep-version", version])
    assert rc == 0 and done is not None and done["dropped"] == [other]
    assert [r[0] for r in spark.table("name_cache_tbl").select("model_version").distinct().collect()] == [version]


def test_refusals_before_any_work(spark, tiny_config_path, tables, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    base_path, *_ = tables

    forbid_reading(monkeypatch, base_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "part-0.parquet").write_bytes(b"x")
    with pytest.raises(name_cache.CacheError, match="not a spark_ner name cache"):
        jobs.run(job_args(input=base_path, output=tmp_path / "o", config=tiny_config_path, cache=foreign))
    with pytest.raises(name_cache.CacheError, match="its own location"):
        jobs.run(job_args(input=base_path, output=tmp_path / "o", config=tiny_config_path, cache=tmp_path / "o"))
    spark.sql("DROP TABLE IF EXISTS not_a_cache")
    spark.createDataFrame([(1, "a")], "id long, name string").write.saveAsTable("not_a_cache")
    with pytest.raises(name_cache.CacheError, match="not a spark_ner name cache"):
        jobs.run(job_args(input=base_path, output=tmp_path / "o", config=tiny_config_path, cache="not_a_cache"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign"]


@pytest.mark.slow
def test_spark_submit_reads_and_writes_the_cache(spark, tiny_config_path, tables, cold, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, base, grown_path, _, new = tables
    cache = _copy_cache(cold, tmp_path)
    out, summary = tmp_path / "submitted", tmp_path / "summary.json"
    cmd = [
        spark_submit(),
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        str(REPO / "jobs" / "label_customers.py"),
        *["--input", str(grown_path), "--output", str(out), "--config", str(tiny_config_path)],
        *["--id-col", ID, "--cache", str(cache), "--summary", str(summary), "--score-partitions", "1"],
    ]
    proc = subprocess.run(cmd, env=subprocess_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(summary.read_text())
    assert got["names_scored"] == new and got["names_cached"] == _distinct(base)
    first = _rows(spark, cold[1])
    submitted = _rows(spark, out)
    assert {i: submitted[i] for i in first} == first
    assert _once_per_key(spark, cache) == _distinct(base) + new
