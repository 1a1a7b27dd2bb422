"""mkdocs hook: pages that are the repository's root reports (RELIABILITY.md, EVALUATION.md, ...).

A page whose line is ``--8<-- "EVALUATION.md"`` gets that file's text from the repository root, so
the report has one copy (the root file, cited by tests and commits) and the site shows it. Links in
the reports are written relative to the root; they are rewritten to what the site serves (a file
under docs/, or the page that carries a root report).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: root files that have a page on the site
PAGES = {
    "README.md": "index.md",
    "RELIABILITY.md": "reliability.md",
    "SECURITY.md": "security.md",
    "BENCHMARKS.md": "benchmarks.md",
    "EVALUATION.md": "evaluation.md",
}


def _include(match: re.Match[str]) -> str:
    return (ROOT / match.group(1)).read_text(encoding="utf-8")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Inline ``--8<-- "FILE"`` lines; ``](docs/x)`` -> ``](x)``; ``](EVALUATION.md)`` -> ``](evaluation.md)``."""
    markdown = re.sub(r'^--8<-- "([\w./-]+)"$', _include, markdown, flags=re.M)
    markdown = re.sub(r"\]\(docs/", "](", markdown)
    for root, target in PAGES.items():
        markdown = markdown.replace(f"]({root})", f"]({target})").replace(f"]({root}#", f"]({target}#")
    return markdown
