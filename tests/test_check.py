"""``spark-ner check``: one line per finding, each problem with its fix, exit 2 on any problem, no scoring."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spark_ner import cli
from spark_ner.config import load_config
from spark_ner.tools import check


def _lines(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, list[str]]:
    rc = cli.main(argv)
    return rc, capsys.readouterr().out.strip().splitlines()


def test_a_ready_config_passes_with_one_line_per_finding(tiny_config_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc, lines = _lines(capsys, ["check", "--config", str(tiny_config_path), "--no-spark"])
    assert rc == 0, lines
    assert lines[-1] == "check: ready"
    assert lines[0].startswith("ok      config: ") and "2 member(s) (bert, roberta)" in lines[0]
    assert any(line.startswith("ok      member 'bert': ") and "digest " in line for line in lines)
    # the tiny config pins nothing: a warning with its fix, not a problem
    pins = [line for line in lines if line.startswith("warn    member 'roberta' pin: ")]
    assert len(pins) == 1 and "Fix: " in pins[0]
    assert all(line.split()[0] in ("ok", "warn", "PROBLEM", "check:") for line in lines)


def test_a_broken_member_is_a_problem_and_the_others_are_still_checked(
    tiny_models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import write_config

    bert, roberta = tiny_models
    broken = tmp_path / "bert"
    shutil.copytree(bert, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # a half-copied file
    config = write_config(tmp_path / "c.toml", broken, roberta)
    rc, lines = _lines(capsys, ["check", "--config", str(config)])
    assert rc == 2
    problem = [line for line in lines if line.startswith("PROBLEM member 'bert': ")]
    assert len(problem) == 1 and "truncated or corrupt" in problem[0] and "Fix: " in problem[0]
    assert any(line.startswith("ok      member 'roberta': ") for line in lines)
    assert "executors: not probed: fix the members" in "\n".join(lines)
    assert lines[-1] == "check: 1 problem(s)"


def test_a_pin_that_no_longer_matches_is_a_problem(
    tiny_models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import write_config

    config = write_config(tmp_path / "c.toml", *tiny_models)
    rc, lines = _lines(capsys, ["check", "--config", str(config), "--set", f"models.0.sha256={'0' * 64}"])
    if rc == 2 and lines[0].startswith("PROBLEM config"):  # overrides cannot reach a member: pin in the file
        text = config.read_text(encoding="utf-8").replace('name = "bert"', f'name = "bert"\nsha256 = "{"0" * 64}"')
        config.write_text(text, encoding="utf-8")
        rc, lines = _lines(capsys, ["check", "--config", str(config)])
    assert rc == 2
    problem = [line for line in lines if line.startswith("PROBLEM member 'bert': ")]
    assert len(problem) == 1 and "0" * 64 in problem[0] and "Fix: " in problem[0]


def test_a_config_error_is_one_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[ensemble]\nstrategy = "median"\n', encoding="utf-8")
    rc, lines = _lines(capsys, ["check", "--config", str(bad)])
    assert rc == 2
    assert len(lines) == 2 and lines[0].startswith("PROBLEM config: ") and "median" in lines[0]
    assert "Fix: " in lines[0]


def test_spark_confs_that_matter(tiny_config_path: Path) -> None:
    cfg = load_config(tiny_config_path)
    good = check.check_spark_confs({"spark.python.worker.reuse": "true"}, cfg)
    assert [f.level for f in good] == [check.Level.OK, check.Level.OK]
    bad = check.check_spark_confs(
        {"spark.python.worker.reuse": "false", "spark.sql.execution.arrow.maxRecordsPerBatch": "4"}, cfg
    )
    assert [f.level for f in bad] == [check.Level.PROBLEM, check.Level.WARN]
    assert all(f.fix for f in bad)
    assert "spark.sql.execution.arrow.maxRecordsPerBatch=2048" in bad[1].line()
    columnar = "spark.sql.execution.arrow.pythonUDF.columnarInput.enabled"
    slow = check.check_spark_confs({columnar: "true"}, cfg)
    assert [f.level for f in slow] == [check.Level.OK, check.Level.OK, check.Level.WARN]
    assert f"{columnar}=false" in slow[2].line()
    assert [f.level for f in check.check_spark_confs({columnar: "false"}, cfg)] == [check.Level.OK] * 3
    cuda = load_config(tiny_config_path, overrides={"ensemble.device": "cuda"})
    gpu = check.check_spark_confs({}, cuda)
    assert gpu[-1].level == check.Level.PROBLEM and "spark.task.resource.gpu.amount" in gpu[-1].fix


@pytest.mark.parametrize("ship", [[], ["--ship-models"]], ids=["own-copies", "shipped"])
def test_the_executor_probe_through_a_session(spark, tiny_config_path: Path, ship: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    rc, lines = _lines(capsys, ["check", "--config", str(tiny_config_path), "--master", "local[2]", *ship])
    assert rc == 0, lines
    text = "\n".join(lines)
    assert "ok      spark.python.worker.reuse: true" in text
    probe = [line for line in lines if line.startswith("ok      executors: ")]
    assert len(probe) == 1, lines
    assert "every member usable in" in probe[0] and ("shipped by Spark" in probe[0]) == bool(ship)


def test_hub_members_following_a_branch_get_a_pin_warning_with_the_commit(
    tiny_models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import put_snapshot

    commit = "c" * 40
    put_snapshot(tmp_path / "hf" / "hub", "acme/tiny-ner", commit, tiny_models[0], refs=("main",))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    config = tmp_path / "hub.toml"
    member = ["[[models]]", 'name = "m"', 'path = "acme/tiny-ner"']
    config.write_text("\n".join(["[ensemble]", 'device = "cpu"', "", *member]) + "\n", encoding="utf-8")
    rc, lines = _lines(capsys, ["check", "--config", str(config)])
    assert rc == 0, lines
    warn = [line for line in lines if line.startswith("warn    member 'm' revision: ")]
    assert len(warn) == 1 and "'main'" in warn[0] and f'Fix: pin revision = "{commit}"' in warn[0]
    pinned = config.read_text(encoding="utf-8") + f'revision = "{commit}"\n'
    config.write_text(pinned, encoding="utf-8")
    rc, lines = _lines(capsys, ["check", "--config", str(config)])
    assert rc == 0 and f"ok      member 'm' revision: pinned to commit {commit[:12]}" in lines


def test_model_dir_is_where_bare_named_members_are_looked_for(
    tiny_models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models[0], models / "bert")
    config = tmp_path / "bare.toml"
    config.write_text('[ensemble]\ndevice = "cpu"\n\n[[models]]\nname = "bert"\npath = "bert"\n', encoding="utf-8")
    rc, lines = _lines(capsys, ["check", "--config", str(config), "--model-dir", str(tmp_path / "elsewhere")])
    assert rc == 2 and any(line.startswith("PROBLEM member 'bert': ") for line in lines)
    rc, lines = _lines(capsys, ["check", "--config", str(config), "--model-dir", str(models)])
    assert rc == 0 and any(line.startswith("ok      member 'bert': ") and str(models) in line for line in lines)
