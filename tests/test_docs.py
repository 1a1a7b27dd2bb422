"""The docs site: it builds strictly, and the command-line page names every flag each parser has.

(Every command line on the site is parsed by the real parsers in tests/test_readme.py.)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from spark_ner import cli

CLI_PAGE = REPO / "docs" / "cli.md"


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    parser = cli.build_parser([name])
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    chosen: argparse.ArgumentParser = subparsers.choices[name]
    return chosen


def documented_flags(parser: argparse.ArgumentParser) -> set[str]:
    """The flags a user may type (nested subcommands included), without -h/-v and deprecated aliases."""
    out: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= documented_flags(sub)
        elif (
            action.option_strings and action.help != argparse.SUPPRESS and action.dest not in ("help", "verbose_after")
        ):
            out.add(max(action.option_strings, key=len))
    return out


def section(text: str, command: str) -> str:
    match = re.search(rf"^## {re.escape(command)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"docs/cli.md has no '## {command}' section"
    return match.group(1)


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_the_cli_page_names_every_flag(command: str) -> None:
    """A flag added to a parser needs a word on the docs' command-line page (its section)."""
    text = section(CLI_PAGE.read_text(encoding="utf-8"), command)
    missing = sorted(f for f in documented_flags(subcommand_parser(command)) if f"`{f}" not in text)
    assert missing == [], f"docs/cli.md, '## {command}': document {missing}"


def test_the_flag_check_can_fail() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--undocumented")
    assert "--undocumented" in documented_flags(parser)
    assert "`--undocumented" not in section(CLI_PAGE.read_text(encoding="utf-8"), "label")


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """No broken link, no page left out of the nav (what `mkdocs build --strict` in dev.sh checks)."""
    pytest.importorskip("mkdocs", reason="the dev extra installs mkdocs-material")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "cli" / "index.html").is_file()
