"""The README's and the docs site's examples are executed (Python) or parsed by the real parsers
(shell), so they stay true.

The Python blocks of the README and of the docs pages in ``RUN_PAGES`` run against a local Spark
session and the tiny test ensemble; a block that builds ``labeled`` from ``df`` is then compared,
row by row, with the in-process ensemble's labels (the DataFrame the reader gets is the one the
contract promises). Every command line in the README and in every page under ``docs/`` (fenced
``bash`` blocks and inline code in the prose), every example in ``spark-ner COMMAND --help``, and
every ``spark-ner`` / ``python scripts/`` command in the reports (BENCHMARKS, EVALUATION,
RELIABILITY, SECURITY), goes through the parser that would read it: ``spark_ner.cli``'s for ``spark-ner``, each
job script's own for ``python jobs/...``, ``spark-submit ... jobs/...`` and ``accelerate launch ...
jobs/...`` (the launcher's flags against the launcher, the script's against the script), the
installed ``spark-submit``'s option list, and ``scripts/dev.sh``'s subcommands. A flag the parser
rejects fails the test. ``...`` (or an inline fragment) elides the rest of a command: required
options it leaves out are filled in, nothing else is forgiven.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import re
import runpy
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO, subprocess_env

README = (REPO / "README.md").read_text(encoding="utf-8")
REPORTS = ("BENCHMARKS.md", "EVALUATION.md", "RELIABILITY.md", "SECURITY.md")
#: the docs site's pages (mkdocs.yml); a page that only includes a root report adds nothing here
DOCS = sorted((REPO / "docs").glob("*.md"))
#: docs pages whose Python blocks run here (the others need a cluster, MLflow or Databricks)
RUN_PAGES = ("quickstart.md", "spark.md")
#: how a command line starts (after environment assignments and ``time``)
STARTS = ("spark-ner", "spark-submit", "accelerate", "python", "bash")
#: spark-submit options that take no value (every other one takes exactly one)
SPARK_SUBMIT_SWITCHES = {"--supervise", "--verbose", "-v", "--help", "-h", "--version", "--load-spark-defaults"}


def blocks(lang: str, text: str = README) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def python_blocks() -> list[tuple[str, str]]:
    """(where, code) of every Python block that runs here: the README's and those of ``RUN_PAGES``."""
    found = [("README.md", code) for code in blocks("python")]
    for page in RUN_PAGES:
        found += [
            (f"docs/{page}", code) for code in blocks("python", (REPO / "docs" / page).read_text(encoding="utf-8"))
        ]
    return found


def assert_labels_match_in_process(df: object, labeled: object, column: str, cfg: object) -> None:
    """chispa-style: ``labeled`` is ``df`` (same rows, same order, same columns first) plus the ner_*
    columns, and its labels are the in-process ensemble's for the same names."""
    from spark_ner.config import OUTPUT_FIELDS
    from spark_ner.ensemble import load_ensemble

    base = df.collect()  # type: ignore[attr-defined]
    got = labeled.collect()  # type: ignore[attr-defined]
    assert labeled.columns[: len(df.columns)] == df.columns  # type: ignore[attr-defined]
    assert labeled.columns[len(df.columns) :] == [f"ner_{f}" for f in OUTPUT_FIELDS]  # type: ignore[attr-defined]
    assert [tuple(r)[: len(df.columns)] for r in got] == [tuple(r) for r in base]  # type: ignore[attr-defined]
    expected = load_ensemble(cfg).label([r[column] for r in base])  # type: ignore[arg-type]
    assert [r["ner_label"] for r in got] == [None if v is None else v for v in expected.label.tolist()]
    assert [r["ner_model_version"] for r in got] == expected.model_version.tolist()


@pytest.mark.parametrize(("where", "code"), python_blocks(), ids=lambda v: v.splitlines()[0][:40])
def test_python_blocks_run(
    where: str, code: str, tiny_config_path: Path, spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spark_ner.config import load_config

    monkeypatch.setenv("SPARK_NER_CONFIG", str(tiny_config_path))
    namespace: dict[str, object] = {}
    exec(compile(code, where, "exec"), namespace)
    if "labeled" in namespace and "df" in namespace:
        assert_labels_match_in_process(namespace["df"], namespace["labeled"], "name", load_config(tiny_config_path))


# ----------------------------------------------------------------------------- finding command lines


@dataclass(frozen=True)
class Command:
    where: str
    argv: tuple[str, ...]
    elided: bool  # "..." in it, or an inline fragment of prose

    def __str__(self) -> str:
        return f"{self.where}: {shlex.join(self.argv)}"


def _substitute(word: str) -> str:
    """``$(python -m MODULE)`` (any ``.../python``): what that command prints, run here."""
    m = re.fullmatch(r"\$\((?:\S*/)?python3? -m ([\w.]+)\)", word)
    if m is None:
        return word
    out = subprocess.run([sys.executable, "-m", m.group(1)], capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip()


def _argv(line: str) -> list[str] | None:
    """The words of a command line, without ``VAR=value`` prefixes, ``time`` and comments."""
    line = re.sub(r"(^|\s)#.*$", "", line)  # a comment starts a word (``x.tar.gz#name`` is no comment)
    try:
        words = [_substitute(w) for w in shlex.split(line)]
    except ValueError:
        return None
    while words and (re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]) or words[0] == "time"):
        words = words[1:]
    if not words or words[0] not in STARTS:
        return None
    if words[0] == "python" and not (len(words) > 1 and words[1].startswith(("jobs/", "scripts/"))):
        return None  # python -c / -m pytest: not a project command
    if words[0] == "accelerate" and words[1:2] != ["launch"]:
        return None
    if words[0] == "bash" and not (len(words) > 1 and words[1].startswith("scripts/")):
        return None
    return words


def commands(name: str, text: str, prose: bool, only: tuple[str, ...] = STARTS) -> list[Command]:
    """Command lines of one document: each line of its bash blocks, and inline code spans."""
    out: list[Command] = []
    for block in blocks("bash", text):
        for line in block.replace("\\\n", " ").splitlines():
            words = _argv(line)
            if words and words[0] in only:
                out.append(Command(name, tuple(words), "..." in words))
    if prose:
        outside = re.sub(r"```.*?```", "", text, flags=re.S)
        for span in re.findall(r"`([^`\n]+)`", outside):
            words = _argv(span)
            if words and len(words) > 1 and words[0] in only and "error:" not in span:  # not a bare program name
                out.append(Command(name, tuple(words), True))
    return out


def help_examples() -> list[Command]:
    """The examples at the end of each ``spark-ner COMMAND --help`` (``spark_ner.cli.EXAMPLES``)."""
    from spark_ner.cli import EXAMPLES

    return [
        Command(f"spark-ner {name} --help", tuple(words), False)
        for name, lines in EXAMPLES.items()
        for line in lines
        if (words := _argv(line))
    ]


def docs_commands() -> list[Command]:
    """Every command line of every page of the docs site."""
    found: list[Command] = []
    for page in DOCS:
        found += commands(f"docs/{page.name}", page.read_text(encoding="utf-8"), prose=True)
    return found


def all_commands() -> list[Command]:
    found = commands("README.md", README, prose=True) + docs_commands() + help_examples()
    for report in REPORTS:
        text = (REPO / report).read_text(encoding="utf-8")
        found += [c for c in commands(report, text, prose=True) if c.argv[0] == "spark-ner" or "scripts/" in c.argv[1]]
    return found


# ----------------------------------------------------------------------------- parsing with the real parsers


class Parsed(BaseException):
    """Raised right after a real parser accepted the arguments, so nothing runs (a BaseException:
    no ``except Exception`` in a job may swallow it)."""


@contextlib.contextmanager
def stop_after_parsing() -> Iterator[None]:
    real = argparse.ArgumentParser.parse_args

    def parse_args(self: argparse.ArgumentParser, args=None, namespace=None):  # type: ignore[no-untyped-def]
        real(self, args, namespace)
        raise Parsed

    argparse.ArgumentParser.parse_args = parse_args  # type: ignore[method-assign]
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_args = real  # type: ignore[method-assign]


def _required(message: str) -> list[str]:
    """The options an argparse error says are missing (to fill in for an elided command)."""
    m = re.search(r"the following arguments are required: (.*?)(?:\. Fix:|$)", message, flags=re.M)
    if m:
        return [a.strip() for a in m.group(1).split(",")]
    m = re.search(r"one of the arguments (.*?) is required", message)
    return [m.group(1).split()[0]] if m else []


def parse(run: Callable[[list[str]], object], args: list[str], elided: bool) -> None:
    """Run ``run(args)`` until its parser has read them; fail on any rejection.

    An elided command may lack required options (filled with a placeholder) and, inline, the value
    of its last flag; anything else the parser says is a failure.
    """
    # "..." right after a flag stands for its value; anywhere else for "the rest"
    args = [
        "PLACEHOLDER" if a == "..." and i and args[i - 1].startswith("-") else a
        for i, a in enumerate(args)
        if a != "..." or (i and args[i - 1].startswith("-"))
    ]
    for _ in range(8):
        err = io.StringIO()
        try:
            with stop_after_parsing(), contextlib.redirect_stderr(err):
                run(args)
        except Parsed:
            return
        except SystemExit as exc:
            if exc.code == 0:  # --help
                return
            message = err.getvalue()
            missing = _required(message) if elided else []
            if missing:
                for flag in missing:
                    args = [*args, flag, "PLACEHOLDER"] if flag.startswith("-") else [*args, "PLACEHOLDER"]
                continue
            if elided and "expected one argument" in message and args and args[-1].startswith("--"):
                args = [*args, "PLACEHOLDER"]
                continue
            if elided and re.search(r"unrecognized arguments: (PLACEHOLDER ?)+(\.|$)", message, flags=re.M):
                # a "..." after a switch (no value) was taken for its value: it meant "the rest"
                args = [a for i, a in enumerate(args) if not (a == "PLACEHOLDER" and args[i - 1].startswith("-"))]
                continue
            pytest.fail(f"rejected: {shlex.join(args)}\n{message}")
        pytest.fail(f"the parser was never called for {shlex.join(args)} (does it parse with parse_args?)")
    pytest.fail(f"could not complete the elided command {shlex.join(args)}")


def run_script(script: str) -> Callable[[list[str]], object]:
    """A job or dev script run as ``python SCRIPT ARGS`` (its ``__main__``), stopped after parsing."""
    path = REPO / script
    assert path.is_file(), f"{script} does not exist"

    def run(args: list[str]) -> object:
        argv = sys.argv
        sys.argv = [str(path), *args]
        try:
            return runpy.run_path(str(path), run_name="__main__")
        finally:
            sys.argv = argv

    return run


def notebook_flags(args: list[str]) -> None:
    """The notebook reads ``--widget value`` pairs; every flag must be one of its widgets."""
    text = (REPO / "jobs" / "notebooks" / "label_customers.py").read_text(encoding="utf-8")
    widgets = set(re.findall(r'widget\("(\w+)"', text))
    flags = [a for a in args if a.startswith("--")]
    assert args[::2] == flags, f"notebook arguments come in --name value pairs: {args}"
    unknown = [f for f in flags if f[2:].replace("-", "_") not in widgets]
    assert not unknown, f"not widgets of the notebook: {unknown} (widgets: {sorted(widgets)})"


def check_script(script: str, args: list[str], elided: bool) -> None:
    # the script inside an installed wheel (an image's site-packages, ``local://`` for Spark on Kubernetes)
    installed = re.fullmatch(r"(?:local://)?/\S*/site-packages/(spark_ner/jobs/\w+\.py)", script)
    if installed:
        script = installed.group(1)
    if script == "jobs/notebooks/label_customers.py":
        notebook_flags([a for a in args if a != "..."])
    else:
        parse(run_script(script), args, elided)


@functools.lru_cache(maxsize=1)
def spark_submit_options() -> frozenset[str]:
    """The installed spark-submit's options, from its own ``--help``."""
    import pyspark

    exe = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = subprocess_env(Path.cwd())
    proc = subprocess.run([str(exe), "--help"], env=env, capture_output=True, text=True, timeout=120)
    found = set(re.findall(r"^\s+(--[a-z][a-z-]*|-[a-z])\b", proc.stdout + proc.stderr, flags=re.M))
    found |= set(re.findall(r"^\s+--[a-z-]+,\s+(-[a-z])\b", proc.stdout + proc.stderr, flags=re.M))
    assert {"--master", "--conf", "--py-files"} <= found, (proc.stdout + proc.stderr)[-2000:]
    return frozenset(found)


def check_spark_submit(argv: list[str], elided: bool) -> None:
    known = spark_submit_options()
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        flag = argv[i]
        assert flag in known, f"spark-submit has no option {flag}"
        if flag in ("--conf", "-c"):
            assert "=" in argv[i + 1], f"--conf takes PROP=VALUE, got {argv[i + 1]}"
        i += 1 if flag in SPARK_SUBMIT_SWITCHES else 2
    assert i < len(argv), "spark-submit without an application"
    check_script(argv[i], list(argv[i + 1 :]), elided)


def check_accelerate(argv: list[str], elided: bool) -> None:
    from accelerate.commands.launch import launch_command_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            ns = launch_command_parser().parse_args(argv[2:])
    except SystemExit as exc:
        pytest.fail(f"accelerate launch rejects {shlex.join(argv)}: {err.getvalue()} ({exc.code})")
    check_script(ns.training_script, list(ns.training_script_args), elided)


def check_dev_sh(argv: list[str]) -> None:
    text = (REPO / argv[1]).read_text(encoding="utf-8")
    subcommands = set(re.findall(r"^\s+(\w+)\)", text, flags=re.M))
    if not subcommands:  # a plain wrapper (gpu_check.sh): its flags go to the Python script it runs
        runs = "".join(p.read_text(encoding="utf-8") for p in (REPO / "scripts").glob("*.py") if p.name in text)
        flags = [a.split("=")[0] for a in argv[2:] if a.startswith("--")]
        assert all(f in runs for f in flags), f"{shlex.join(argv)}: a flag that {argv[1]}'s script does not define"
        return
    assert len(argv) > 2 and argv[2] in subcommands, f"{argv[1]} has no subcommand {argv[2:3]} ({subcommands})"


def check(cmd: Command) -> None:
    from spark_ner import cli

    argv = list(cmd.argv)
    if argv[0] == "spark-ner":
        parse(cli.main, argv[1:], cmd.elided)
    elif argv[0] == "spark-submit":
        check_spark_submit(argv, cmd.elided)
    elif argv[0] == "accelerate":
        check_accelerate(argv, cmd.elided)
    elif argv[0] == "python":
        check_script(argv[1], argv[2:], cmd.elided)
    else:
        check_dev_sh(argv)


@pytest.mark.parametrize("cmd", all_commands(), ids=str)
def test_command_lines_parse(cmd: Command) -> None:
    """Every documented command names a real program, subcommand and flags, with valid values."""
    check(cmd)


def test_the_docs_have_the_command_lines_they_should() -> None:
    """The README shows the CLI, spark-submit and the dev script; the docs every kind of command."""
    everything = all_commands()
    assert {c.argv[0] for c in everything if c.where == "README.md"} >= {"spark-ner", "spark-submit", "bash"}
    assert {c.argv[0] for c in everything if c.where.startswith(("README.md", "docs/"))} == set(STARTS)
    assert any(c.argv[:2] == ("accelerate", "launch") and "--mixed_precision" in c.argv for c in everything)
    pages = {c.where for c in docs_commands()}
    assert {"docs/install.md", "docs/quickstart.md", "docs/spark.md", "docs/cli.md"} <= pages
    assert {c.where for c in help_examples()} == {
        f"spark-ner {name} --help" for name in __import__("spark_ner.cli").cli.COMMANDS
    }


def test_the_readme_stays_short() -> None:
    """A newcomer reads it in a minute; the rest lives on the docs site."""
    assert len(README) < 12_000
    assert "this project's" not in README


@pytest.mark.parametrize(
    "line",
    [
        "spark-ner label --input a --output b --name-column name",  # no such flag
        "spark-ner label --input a --output b --mode replace",  # not a choice
        "spark-ner lable --input a --output b",  # no such subcommand
        "accelerate launch jobs/finetune.py --mixed_precision fp16 --init m --train-file t --output-dir o",
        "accelerate launch --num_gpu 2 jobs/finetune.py --init m --train-file t --output-dir o",
        "python jobs/finetune.py --init m --train-file t --output-dir o --epoks 2",
        "spark-submit --master yarn --executor-gpus 1 jobs/label_customers.py --input a --output b",
        "spark-submit --master local[2] jobs/label_customers.py --input a --output b --labels_only",
        "python jobs/notebooks/label_customers.py --output /tmp/out --configuration my.toml",
        "spark-ner label ... --spark-confs spark.task.cpus=2",
        "bash scripts/dev.sh tests",
    ],
)
def test_a_rejected_flag_fails_the_check(line: str) -> None:
    """The checker itself can fail: each of these lines has one mistake a parser rejects."""
    words = _argv(line)
    assert words is not None
    with pytest.raises((pytest.fail.Exception, AssertionError)):
        check(Command("test", tuple(words), "..." in words))


def test_readme_starts_with_the_two_commands() -> None:
    first = blocks("bash")[0].strip().splitlines()
    assert first[0].startswith("bash scripts/dev.sh demo") and first[1].startswith("bash scripts/dev.sh test")


def cited_tests() -> list[tuple[str, str, str]]:
    """``tests/x.py::name`` cited by the reports and the docs pages (a ``[param]`` suffix stripped)."""
    out = []
    for report in ("README.md", *REPORTS, *(f"docs/{page.name}" for page in DOCS)):
        text = (REPO / report).read_text(encoding="utf-8")
        for path, name in re.findall(r"(tests/\w+\.py)::(\w+)", text):
            out.append((report, path, name))
    return out


@pytest.mark.parametrize(("report", "path", "name"), cited_tests(), ids=lambda v: str(v))
def test_reports_cite_tests_that_exist(report: str, path: str, name: str) -> None:
    """A guarantee is only as good as the test it names: the file and the function must exist."""
    source = REPO / path
    assert source.is_file(), f"{report} cites {path}, which does not exist"
    assert re.search(rf"^def {name}\(", source.read_text(encoding="utf-8"), flags=re.M), (
        f"{report} cites {path}::{name}, which is not a test there"
    )


def test_code_does_not_cite_a_design_doc_outside_the_repository() -> None:
    """DESIGN.md is not in the repository: code and tests cite README sections instead."""
    offenders = [
        str(p.relative_to(REPO))
        for folder in ("spark_ner", "tests", "jobs", "scripts")
        for p in (REPO / folder).rglob("*.py")
        if "DESIGN.md" in p.read_text(encoding="utf-8") and p.name != "test_readme.py"
    ]
    assert (REPO / "DESIGN.md").exists() or offenders == []
