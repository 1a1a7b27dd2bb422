"""The README's examples are executed (Python) or parsed by the real CLI (shell), so they stay true."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("code", blocks("python"), ids=lambda c: c.splitlines()[0][:40])
def test_python_blocks_run(code: str, tiny_config_path: Path, spark: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_NER_CONFIG", str(tiny_config_path))
    exec(compile(code, "README.md", "exec"), {})


def shell_commands() -> list[list[str]]:
    out = []
    for block in blocks("bash"):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(("spark-ner ", "spark-submit ", "python jobs/", "accelerate launch jobs/")):
                out.append(shlex.split(line))
    return out


@pytest.mark.parametrize("argv", shell_commands(), ids=lambda a: " ".join(a[:3]))
def test_shell_commands_parse(argv: list[str]) -> None:
    """Every documented command names a real subcommand and real flags."""
    from spark_ner.cli import build_parser
    from spark_ner.spark import job as jobs

    if argv[0] == "spark-ner":
        args = argv[1:]
        if "--help" in args:
            with pytest.raises(SystemExit) as done:
                build_parser(args).parse_args(args)
            assert done.value.code == 0
            return
        build_parser(args).parse_args(args)
        return
    # spark-submit / python jobs/... / accelerate launch: the script and its own flags
    script = next(a for a in argv if a.startswith("jobs/"))
    assert (Path(__file__).resolve().parents[1] / script).is_file(), script
    tail = argv[argv.index(script) + 1 :]
    if script.endswith("label_customers.py") and "notebooks" not in script and "..." not in tail:
        jobs.build_parser().parse_args(tail)


def test_readme_starts_with_the_two_commands() -> None:
    first = blocks("bash")[0].strip().splitlines()
    assert first[0].startswith("bash scripts/dev.sh demo") and first[1].startswith("bash scripts/dev.sh test")
