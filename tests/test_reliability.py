"""Issue 6, parts 1 and 2: hostile input through the DataFrame API, SQL and the label job; wrong
column types; bad configuration that fails fast, in one line, before any Spark work.

``Ensemble.label`` on the same corpus is covered by ``test_ensemble.py``; here every Spark path
must give each input row exactly once (by id), spans valid in the ORIGINAL string, the same labels
as in-process, and no exception. RELIABILITY.md lists each case with its node id.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import ROBERTA_LABEL_MAP, write_config
from helpers import assert_rows_match
from hostile import HOSTILE, NAMES

from spark_ner import cli
from spark_ner.errors import InputColumnError
from spark_ner.spark import job as jobs
from spark_ner.spark.udf import ARROW_BATCH_KEY, ner_udf, register_sql, with_ner_labels

NER = ("label", "score", "agreement", "entities", "model_version", "error")
#: 100,000-character names of four kinds, each distinct: words, one long word, CJK, emoji (4 UTF-8 bytes)
BIG = [
    *[f"{i} " + "Smith " * 16_665 for i in range(16)],
    *[f"{i}" + "x" * 99_998 for i in range(16)],
    *[f"{i}" + "株式会社" * 24_999 for i in range(16)],
    *[f"{i} " + "😀" * 99_997 for i in range(16)],
]


# ----------------------------------------------------------------------------- helpers


def check_rows(rows: list[Any], names: list[str | None], expected: pd.DataFrame, prefix: str = "ner_") -> None:
    """Each id exactly once, the name unchanged, spans valid in it, labels as in-process."""
    by_id: dict[int, Any] = {}
    for r in rows:
        assert r["id"] not in by_id, f"row {r['id']} twice"
        by_id[int(r["id"])] = r
    assert sorted(by_id) == list(range(len(names))), "every input row out once"
    got = []
    for i, name in enumerate(names):
        row = by_id[i]
        assert row["name"] == name, f"row {i}: the name changed on the way"
        for e in row[f"{prefix}entities"] or []:
            assert name is not None and name[e["start"] : e["end"]] == e["text"], f"row {i}: span"
        got.append({f: row[f"{prefix}{f}"] for f in NER})
    assert_rows_match(got, expected)
    assert all(g["error"] is None for g in got)


@pytest.fixture(scope="module")
def hostile_df(spark):  # type: ignore[no-untyped-def]
    rows = [(i, cls, name) for i, (cls, name) in enumerate(HOSTILE)]
    return spark.createDataFrame(rows, "id long, class string, name string").repartition(3)


@pytest.fixture(scope="module")
def hostile_expected(tiny_ensemble) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return tiny_ensemble.label(NAMES)


@pytest.fixture
def arrow_batch(spark) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Set the session's Arrow batch size for one test and restore it after."""
    old = spark.conf.get(ARROW_BATCH_KEY)

    def set_rows(n: int) -> None:
        spark.conf.set(ARROW_BATCH_KEY, str(n))

    yield set_rows
    spark.conf.set(ARROW_BATCH_KEY, old)


# ----------------------------------------------------------------------------- 1. hostile input


@pytest.mark.parametrize("batch_rows", [10_000, 3])
def test_hostile_through_with_ner_labels(  # type: ignore[no-untyped-def]
    hostile_df, tiny_config, hostile_expected, arrow_batch, batch_rows
) -> None:
    arrow_batch(batch_rows)  # one Arrow batch per partition, and many small ones
    rows = hostile_df.transform(with_ner_labels("name", tiny_config)).collect()
    check_rows(rows, NAMES, hostile_expected)


def test_hostile_through_sql(spark, hostile_df, tiny_config, hostile_expected) -> None:  # type: ignore[no-untyped-def]
    register_sql(spark, "ner_label_hostile", tiny_config)
    hostile_df.createOrReplaceTempView("hostile_names")
    rows = spark.sql(
        "SELECT id, name, n.label AS ner_label, n.score AS ner_score, n.agreement AS ner_agreement, "
        "n.entities AS ner_entities, n.model_version AS ner_model_version, n.error AS ner_error "
        "FROM (SELECT id, name, ner_label_hostile(name) AS n FROM hostile_names)"
    ).collect()
    check_rows(rows, NAMES, hostile_expected)


def test_hostile_through_the_job(spark, tiny_config_path, hostile_expected, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    src, out = tmp_path / "hostile.parquet", tmp_path / "labelled"
    pd.DataFrame({"id": range(len(NAMES)), "name": NAMES}).to_parquet(src)
    argv = ["--input", str(src), "--output", str(out), "--config", str(tiny_config_path), "--id-col", "id"]
    assert jobs.main([*argv, "--arrow-batch-rows", "4", "--score-partitions", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows_in"] == summary["rows_out"] == len(NAMES)
    assert summary["error_rows"] == 0
    check_rows(spark.read.parquet(str(out)).collect(), NAMES, hostile_expected)


def test_hostile_csv_keeps_every_row(spark, tiny_config_path, tiny_ensemble, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A CSV export (RFC 4180 quoting, as pandas/Excel/COPY write it) with embedded newlines and
    control characters: one row out per record in, by id. (Before the job read CSV with
    ``multiLine``, a quoted newline split one record into two rows.)"""
    src, out = tmp_path / "hostile.csv", tmp_path / "labelled"
    pd.DataFrame({"id": range(len(NAMES)), "name": NAMES}).to_csv(src, index=False)
    argv = ["--input", str(src), "--input-format", "csv", "--output", str(out), "--config", str(tiny_config_path)]
    assert jobs.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["rows_out"] == len(NAMES)
    rows = [r.asDict() | {"id": int(r["id"])} for r in spark.read.parquet(str(out)).collect()]
    read_back = [next(r["name"] for r in rows if r["id"] == i) for i in range(len(NAMES))]
    # CSV cannot tell "" from null, and quotes inside a value follow Spark's escape rules: the
    # labels must match what the job read, row for row
    check_rows(rows, read_back, tiny_ensemble.label(read_back))


def test_100k_character_names_in_one_arrow_batch(spark, tiny_config, tiny_ensemble, arrow_batch) -> None:  # type: ignore[no-untyped-def]
    """64 distinct 100,000-character names (words, one word, CJK, emoji): ~13 MB in one Arrow batch."""
    arrow_batch(10_000)
    df = spark.createDataFrame(list(enumerate(BIG)), "id long, name string").coalesce(1)
    rows = df.transform(with_ner_labels("name", tiny_config)).collect()
    check_rows(rows, BIG, tiny_ensemble.label(BIG))


# ----------------------------------------------------------------------------- wrong column types

WRONG_TYPES = {
    "int": "code int",
    "bigint": "code bigint",
    "double": "code double",
    "boolean": "code boolean",
    "binary": "code binary",
    "array<string>": "code array<string>",
    "map<string,string>": "code map<string,string>",
    "struct<first:string,last:string>": "code struct<first:string,last:string>",
}
VALUES = {
    "int": 7,
    "bigint": 7,
    "double": 7.5,
    "boolean": True,
    "binary": bytearray(b"John"),
    "array<string>": ["John", "Smith"],
    "map<string,string>": {"first": "John"},
    "struct<first:string,last:string>": ("John", "Smith"),
}


def _typed_df(spark, kind: str):  # type: ignore[no-untyped-def]
    return spark.createDataFrame([(1, VALUES[kind]), (2, None)], f"id long, {WRONG_TYPES[kind]}")


@pytest.mark.parametrize("kind", list(WRONG_TYPES))
def test_wrong_type_through_with_ner_labels_names_column_and_type(spark, tiny_config, kind) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputColumnError) as err:
        _typed_df(spark, kind).transform(with_ner_labels("code", tiny_config))
    assert f"column 'code' has type {kind}, expected string" in str(err.value)
    assert "cast" in str(err.value)


@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        ("int", "values of type "),  # int32, or float64 when a null shares the Arrow batch
        ("array<string>", "values of type array"),
        ("binary", "values of type binary"),
        ("struct<first:string,last:string>", "a struct (fields first, last)"),
    ],
    ids=["int", "array", "binary", "struct"],
)
def test_wrong_type_through_sql_and_the_bare_udf_fails_clearly(spark, tiny_config, kind, shown) -> None:  # type: ignore[no-untyped-def]
    """SQL and ``ner_udf`` are not checked on the driver: the worker refuses the batch, naming the
    type and the cast. (Before, array and binary columns passed as all-null rows, silently.)
    Spark passes arguments to the worker as ``_0``, so the column's name cannot be in the message."""
    df = _typed_df(spark, kind)
    register_sql(spark, "ner_label_typed", tiny_config)
    df.createOrReplaceTempView("typed_names")
    with pytest.raises(Exception) as err:
        spark.sql("SELECT id, ner_label_typed(code).label FROM typed_names").collect()
    text = str(err.value)
    assert "InputColumnError: the NER UDF expects a string column" in text and shown in text, text[-2000:]
    assert "CAST(col AS STRING)" in text
    with pytest.raises(Exception, match="expects a string column"):
        df.select(ner_udf(tiny_config)("code")).collect()


def test_wrong_type_through_the_job_exits_2_naming_column(spark, tiny_config_path, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "typed.parquet"
    spark.createDataFrame([(1, ("John", "Smith"))], "id long, name struct<first:string,last:string>").write.parquet(
        str(src)
    )
    argv = ["--input", str(src), "--output", str(tmp_path / "out"), "--config", str(tiny_config_path)]
    assert jobs.main(argv) == 2
    assert "column 'name' has type struct<first:string,last:string>, expected string" in caplog.text
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- 2. bad configuration


def _copy_member(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _toml(path: Path, members: list[dict[str, Any]], ensemble: str = "") -> Path:
    lines = [ensemble] if ensemble else []
    for m in members:
        lines += ["[[models]]"] + [f"{k} = {json.dumps(v)}" for k, v in m.items() if k != "label_map"]
        if "label_map" in m:
            lines += ["[models.label_map]"] + [f"{k} = {json.dumps(v)}" for k, v in m["label_map"].items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _bad_config(case: str, tmp: Path, bert: Path, roberta: Path) -> tuple[list[str], list[str]]:
    """(extra CLI arguments, fragments the one error line must hold) for each broken setup."""
    conf = tmp / "conf.toml"
    good = [{"name": "bert", "path": str(bert)}]
    if case == "missing model folder":
        _toml(conf, [{"name": "bert", "path": str(tmp / "models" / "bert")}])
        return ["--config", str(conf)], [str(tmp / "models" / "bert"), "does not exist", "Fix:"]
    if case == "truncated weights":
        folder = _copy_member(bert, tmp / "half")
        weights = folder / "model.safetensors"
        os.truncate(weights, weights.stat().st_size // 2)
        _toml(conf, [{"name": "bert", "path": str(folder)}])
        return ["--config", str(conf)], [str(weights), "truncated or corrupt", "Fix:"]
    if case == "corrupt weights":
        folder = _copy_member(bert, tmp / "garbage")
        (folder / "model.safetensors").write_bytes(os.urandom(4096))
        _toml(conf, [{"name": "bert", "path": str(folder)}])
        return ["--config", str(conf)], [str(folder / "model.safetensors"), "not a valid safetensors file", "Fix:"]
    if case == "no weights file":
        folder = _copy_member(bert, tmp / "empty")
        (folder / "model.safetensors").unlink()
        _toml(conf, [{"name": "bert", "path": str(folder)}])
        return ["--config", str(conf)], [str(folder), "no weights", "Fix:"]
    if case == "pickle weights only":
        folder = _copy_member(bert, tmp / "pickled")
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
        _toml(conf, [{"name": "bert", "path": str(folder)}])
        return ["--config", str(conf)], [str(folder), "pickle", "allow_pickle"]
    if case == "weights differ from the pin":
        _toml(conf, [{"name": "bert", "path": str(bert), "sha256": "0" * 64}])
        return ["--config", str(conf)], [str(bert / "model.safetensors"), "0" * 64, "rebuild them"]
    if case == "missing config.json":
        folder = _copy_member(bert, tmp / "noconf")
        (folder / "config.json").unlink()
        _toml(conf, [{"name": "bert", "path": str(folder)}])
        return ["--config", str(conf)], [str(folder / "config.json"), "missing"]
    if case == "label that maps nowhere":
        _toml(conf, [*good, {"name": "roberta", "path": str(roberta)}])  # no label_map for PERSON/...
        return ["--config", str(conf)], ["member 'roberta'", "'B-PERSON' maps to no canonical tag", "label_map"]
    if case == "label map to an unknown tag":
        bad_map = {**ROBERTA_LABEL_MAP, "PERSON": "HUMAN"}
        _toml(conf, [*good, {"name": "roberta", "path": str(roberta), "label_map": bad_map}])
        return ["--config", str(conf)], ["models[1].label_map.PERSON = 'HUMAN'", "choose one of"]
    if case == "unknown config key":
        _toml(conf, good, ensemble="[ensemble]\nbatch_sise = 8")
        return ["--config", str(conf)], ["batch_sise", "allowed keys", "batch_size"]
    if case == "hub id while offline":
        _toml(conf, [{"name": "bert", "path": "dslim/bert-base-NER"}])
        return ["--config", str(conf)], ["'dslim/bert-base-NER' is a hub id", "offline", "Fix:"]
    if case == "config file missing":
        return ["--config", str(tmp / "nope.toml")], [str(tmp / "nope.toml"), "does not exist"]
    if case == "config not TOML":
        conf.write_text("[[models]\nname = ", encoding="utf-8")
        return ["--config", str(conf)], [str(conf), "not valid TOML"]
    if case == "override without =":
        _toml(conf, good)
        return ["--config", str(conf), "--set", "ensemble.batch_size"], ["--set expects KEY=VALUE"]
    if case == "spark setting without spark. prefix":
        _toml(conf, good)
        extra = ["--config", str(conf), "--spark-conf", "task.cpus=2"]
        return extra, ["--spark-conf expects KEY=VALUE", "'task.cpus=2'"]
    if case == "override of an unknown member":
        _toml(conf, good)
        return ["--config", str(conf), "--set", "models.nope.weight=2"], ["no member named 'nope'", "members: bert"]
    raise AssertionError(case)


CASES = [
    "missing model folder",
    "truncated weights",
    "corrupt weights",
    "no weights file",
    "pickle weights only",
    "weights differ from the pin",
    "missing config.json",
    "label that maps nowhere",
    "label map to an unknown tag",
    "unknown config key",
    "hub id while offline",
    "config file missing",
    "config not TOML",
    "override without =",
    "override of an unknown member",
    "spark setting without spark. prefix",
]


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("case", CASES)
def test_bad_config_fails_before_spark_in_one_line(  # type: ignore[no-untyped-def]
    case, tiny_models, tmp_path, monkeypatch, capsys
) -> None:
    """``spark-ner label`` (``cli.main``): exit 2, one stderr line naming the field or path and the
    fix, no traceback; no Spark session touched, nothing written anywhere."""
    bert, roberta = tiny_models
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "in.parquet"
    pd.DataFrame({"id": [1], "name": ["John Smith"]}).to_parquet(src)
    extra, fragments = _bad_config(case, tmp_path, bert, roberta)
    before = _listing(tmp_path)

    def no_spark(*a: object, **k: object) -> None:
        raise AssertionError("a Spark session was asked for although the config is bad")

    monkeypatch.setattr(jobs, "get_session", no_spark)
    rc = cli.main(["label", "--input", str(src), "--output", str(tmp_path / "out"), *extra])
    captured = capsys.readouterr()
    assert rc == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("spark-ner label: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in captured.err and captured.out == ""
    assert _listing(tmp_path) == before, "nothing written: no output, staging, warehouse or metastore"


@pytest.mark.slow
@pytest.mark.parametrize("case", ["truncated weights", "unknown config key", "hub id while offline"])
def test_bad_config_subprocess_starts_no_jvm(case, tiny_models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The real command line: with ``JAVA_HOME`` pointing nowhere, any JVM start would fail with
    another message, so the expected single line proves the check ran before Spark."""
    bert, roberta = tiny_models
    src = tmp_path / "in.parquet"
    pd.DataFrame({"id": [1], "name": ["John Smith"]}).to_parquet(src)
    extra, fragments = _bad_config(case, tmp_path, bert, roberta)
    before = _listing(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JAVA_HOME": str(tmp_path / "no-java")}
    cmd = [sys.executable, "-m", "spark_ner.cli", "label", "--input", str(src), "--output", "out", *extra]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spark-ner label: error: "), proc.stderr
    assert all(f in lines[0] for f in fragments), lines[0]
    assert _listing(tmp_path) == before


@pytest.mark.slow
def test_existing_output_subprocess_one_line_nothing_written(tiny_config_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``--mode`` unset and the output exists: refused before the input is read. A session is
    started (the check goes through Hadoop, so HDFS/S3 outputs are checked the same way), but the
    one spark-ner line is the only error, the output is untouched and nothing else is created."""
    src = tmp_path / "in.parquet"
    pd.DataFrame({"id": [1], "name": ["John Smith"]}).to_parquet(src)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.parquet").write_bytes(b"previous run")
    before = _listing(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    cmd = [sys.executable, "-m", "spark_ner.cli", "label", "--input", str(src), "--output", "out"]
    cmd += ["--config", str(tiny_config_path)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        "spark-ner label: error: output path 'out' already exists; nothing was run or written. "
        "Fix: pass --mode overwrite or --mode append, or choose another --output"
    ], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert _listing(tmp_path) == before


def test_hub_id_without_network_fails_before_spark(tiny_config_path, tmp_path, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """``HF_HUB_OFFLINE`` unset but no route to the hub: the same clear refusal (spark-submit path)."""
    import socket

    def no_route(*a: Any, **k: Any) -> None:
        raise OSError("no route to host (test)")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", no_route)
    monkeypatch.setattr(jobs, "get_session", lambda *a, **k: pytest.fail("Spark session started"))
    conf = _toml(tmp_path / "hub.toml", [{"name": "bert", "path": "dslim/bert-base-NER"}])
    argv = ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--config", str(conf)]
    assert jobs.main(argv) == 2
    assert "ModelSourceError: member 'bert': 'dslim/bert-base-NER' is a hub id, but this machine is offline" in (
        caplog.text
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub.toml"]


def test_model_folder_gone_after_the_driver_check_names_the_path(spark, tiny_models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The driver saw the folder, the executor does not (a mount missing on one node): the task
    error names the member and the folder (the multi-executor version is in test_cluster_faults)."""
    from spark_ner.config import load_config

    bert = _copy_member(tiny_models[0], tmp_path / "bert")
    roberta = _copy_member(tiny_models[1], tmp_path / "roberta")
    cfg = load_config(write_config(tmp_path / "c.toml", bert, roberta))
    transform = with_ner_labels("name", cfg)  # validated here, on the driver
    shutil.rmtree(bert)
    df = spark.createDataFrame([(1, "John Smith")], "id long, name string")
    with pytest.raises(Exception) as err:
        df.transform(transform).collect()
    assert f"ModelSourceError: member 'bert': model folder '{bert}' does not exist" in str(err.value)
