"""Every user mistake on the command line is one line, ``spark-ner CMD: error: ... Fix: ...``, exit 2."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from spark_ner import __version__, cli


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], command: str) -> str:
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"spark-ner {command}: error: "), err[0]
    assert "Fix:" in err[0], err[0]
    assert "Traceback" not in err[0]
    return err[0]


@pytest.fixture()
def customers(spark, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "in.parquet"
    spark.createDataFrame([(1, "John Smith")], "id long, name string").write.parquet(str(path))
    return path


def test_label_missing_input(spark, tiny_config_path, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["label", "--input", str(tmp_path / "missing.parquet"), "--output", str(tmp_path / "out")]
    line = _one_line_error(capsys, [*argv, "--config", str(tiny_config_path)], "label")
    assert "missing.parquet" in line and "PATH_NOT_FOUND" in line
    assert not (tmp_path / "out").exists()


def test_label_unreadable_input(spark, tiny_config_path, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "empty.parquet"
    folder.mkdir()  # a folder with no parquet files: Spark cannot infer a schema
    argv = ["label", "--input", str(folder), "--output", str(tmp_path / "out"), "--config", str(tiny_config_path)]
    assert "no readable parquet path" in _one_line_error(capsys, argv, "label")


def test_label_missing_table(spark, tiny_config_path, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["label", "--input", "no_such_table", "--input-format", "table", "--output", str(tmp_path / "out")]
    assert "no readable table" in _one_line_error(capsys, [*argv, "--config", str(tiny_config_path)], "label")


def test_label_missing_name_column(spark, tiny_config_path, customers, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["label", "--input", str(customers), "--output", str(tmp_path / "out"), "--name-col", "nom"]
    line = _one_line_error(capsys, [*argv, "--config", str(tiny_config_path)], "label")
    assert "'nom' not found" in line and "name" in line


def test_label_output_exists(spark, tiny_config_path, customers, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "out").mkdir()
    argv = ["label", "--input", str(customers), "--output", str(tmp_path / "out"), "--config", str(tiny_config_path)]
    assert "--mode overwrite" in _one_line_error(capsys, argv, "label")


def test_bad_flag_value_and_bad_sections(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["label", "--input", "x", "--output", "y", "--mode", "sometimes"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spark-ner label: error: argument --mode") and "Fix:" in err[0]
    line = _one_line_error(capsys, ["bench", "--sections", "nope"], "bench")
    assert "nope" in line and "inprocess" in line


def test_eval_missing_and_unreadable_input(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = str(tmp_path / "eval")
    assert "does not exist" in _one_line_error(capsys, ["eval", "--input", "missing.parquet", "--output", out], "eval")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    assert "cannot be read as parquet" in _one_line_error(
        capsys, ["eval", "--input", str(bad), "--output", out], "eval"
    )


def test_version_and_no_traceback_in_a_fresh_process(tmp_path) -> None:
    exe = [sys.executable, "-m", "spark_ner.cli"]
    version = subprocess.run([*exe, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"spark-ner {__version__}"
    run = subprocess.run(
        [*exe, "eval", "--input", str(tmp_path / "x.parquet"), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    verbose = subprocess.run(
        [*exe, "-vv", "eval", "--input", str(tmp_path / "x.parquet"), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


@pytest.mark.parametrize(("flags", "level"), [([], logging.WARNING), (["-v"], logging.INFO), (["-vv"], logging.DEBUG)])
def test_verbosity_sets_the_package_log_level(flags: list[str], level: int) -> None:
    cli.configure_logging(len(flags[0]) - 1 if flags else 0)
    assert logging.getLogger("spark_ner").level == level


def test_no_arguments_prints_the_help(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spark-ner") and all(name in out for name in cli.COMMANDS)


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_each_subcommand_help_ends_with_an_example(command: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    examples = out[out.index("examples:") :].splitlines()[1:]
    assert examples and all(line.strip().startswith(f"spark-ner {command}") for line in examples if line.strip())


@pytest.mark.parametrize("argv", [["-v", "check"], ["check", "-v"], ["-v", "check", "-v"], ["check", "-vv"]])
def test_verbose_before_or_after_the_subcommand(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(cli, "configure_logging", seen.append)
    monkeypatch.setattr("spark_ner.tools.check.run", lambda args: 0)
    assert cli.main([*argv, "--no-spark"]) == 0
    assert seen == [argv.count("-v") + 2 * argv.count("-vv")]


@pytest.mark.parametrize(
    ("argv", "dest", "value", "new"),
    [
        (["demo-data", "--out", "x.parquet"], "out", Path("x.parquet"), "--output"),
        (["eval", "--input", "g.parquet", "--out", "e"], "out", Path("e"), "--output"),
        (["eval", "--input", "g", "--output", "e", "--mlflow"], "mlflow", "mlflow", "--log-with mlflow"),
        (
            ["eval", "--input", "g", "--output", "e", "--mlflow-experiment", "X"],
            "mlflow_experiment",
            "X",
            "--experiment",
        ),
        (["train", "--init", "m", "--train-file", "t", "--output-dir", "o"], "output_dir", Path("o"), "--output"),
        (
            ["train", "--init", "m", "--train-file", "t", "--output", "o", "--tracker-project", "P"],
            "tracker_project",
            "P",
            "--experiment",
        ),
        (["bench", "--out", "b"], "out", "b", "--output"),
    ],
)
def test_old_spellings_still_work_and_warn(  # type: ignore[no-untyped-def]
    argv: list[str], dest: str, value: object, new: str, caplog
) -> None:
    """One name per concept; the old one is a deprecated alias that sets the same value and says what to use."""
    args = cli.build_parser(argv).parse_args(argv)
    assert getattr(args, dest) == value
    old = next(a for a in argv if a.startswith("--") and a not in ("--input", "--init", "--train-file", "--output"))
    assert f"{old} is deprecated and will be removed; use {new}" in caplog.text


def test_the_one_name_sets_the_same_value_without_a_warning(caplog) -> None:  # type: ignore[no-untyped-def]
    args = cli.build_parser(["eval"]).parse_args(["eval", "--input", "g", "--output", "e", "--log-with", "mlflow"])
    assert (args.out, args.mlflow) == (Path("e"), "mlflow")
    assert "deprecated" not in caplog.text
    with pytest.raises(SystemExit):  # old and new together: argparse refuses, as for any duplicate
        cli.build_parser(["demo-data"]).parse_args(["demo-data", "--out", "a", "--output", "b"])
