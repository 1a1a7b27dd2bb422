"""The import layers of the package (docs/development.md, "Map"), checked on the source itself.

runtime (spark_ner/*.py) <- spark (spark_ner/spark/) <- starter, tools, jobs <- cli: a module may import
its own layer and the layers below it, never above. Lazy imports (inside functions) count; imports
under ``if TYPE_CHECKING:`` do not (they never run). No module takes another module's ``_private``
names, and no two modules import each other, directly or round a longer circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spark_ner"
ROOT = PACKAGE.parent

#: layer -> the layers it may import (its own included)
ALLOWED: dict[str, set[str]] = {
    "runtime": {"runtime"},
    "spark": {"runtime", "spark"},
    "starter": {"runtime", "starter"},
    "tools": {"runtime", "spark", "starter", "tools"},
    "cli": {"runtime", "cli"},
    "jobs": {"runtime", "spark", "jobs"},  # spark-submit scripts an installed wheel carries
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str | None:
    """``None`` for the package facade (``spark_ner/__init__.py``), which sits on top of everything."""
    parts = module.split(".")
    if module == "spark_ner":
        return None
    if module == "spark_ner.cli":
        return "cli"
    if len(parts) >= 2 and parts[1] in ("spark", "starter", "tools", "jobs"):
        return parts[1]
    return "runtime"


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for sub in node.body:
                for inner in ast.walk(sub):
                    out.add(id(inner))
    return out


def imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, imported module, names taken from it) for every executed import of ``spark_ner``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_blocks(tree)
    here = module_name(path)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("spark_ner"):
                    yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative import: resolve against this module's package
                pkg = here.split(".")[: -node.level] if path.name != "__init__.py" else here.split(".")
                base = ".".join([*pkg, node.module])
            if not base.startswith("spark_ner"):
                continue
            names = [a.name for a in node.names]
            # "from spark_ner.spark import name_cache" imports the module spark_ner.spark.name_cache
            submodules = [n for n in names if (PACKAGE.parent / (base.replace(".", "/") + f"/{n}.py")).exists()]
            for n in submodules:
                yield node.lineno, f"{base}.{n}", []
            rest = [n for n in names if n not in submodules]
            if rest or not submodules:
                yield node.lineno, base, rest


def package_graph(root: Path = PACKAGE) -> dict[str, list[tuple[int, str, list[str]]]]:
    return {module_name(p): list(imports(p)) for p in sorted(root.rglob("*.py"))}


def violations(graph: dict[str, list[tuple[int, str, list[str]]]]) -> list[str]:
    out = []
    for mod, edges in graph.items():
        src = layer(mod)
        for line, target, names in edges:
            dst = layer(target)
            if src is not None and dst is not None and dst not in ALLOWED[src]:
                out.append(f"{mod}:{line} ({src}) imports {target} ({dst})")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != mod:
                out.append(f"{mod}:{line} takes private name(s) {', '.join(private)} from {target}")
    return out


def cycles(graph: dict[str, list[tuple[int, str, list[str]]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (the facade ``spark_ner`` excluded)."""
    edges = {m: sorted({t for _, t, _ in e if t in graph and t != "spark_ner" and t != m}) for m, e in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in edges:
        if v not in index and v != "spark_ner":
            visit(v)
    return found


def test_every_import_respects_the_layers_and_takes_no_private_name() -> None:
    assert violations(package_graph()) == []


def test_no_import_circles_lazy_imports_included() -> None:
    assert cycles(package_graph()) == []


def test_the_check_catches_a_back_import_a_private_name_and_a_circle(tmp_path: Path) -> None:
    """The checks above can fail: a runtime module importing the Spark layer is caught."""
    graph = {
        "spark_ner.ensemble": [(3, "spark_ner.spark.udf", ["ner_udf"])],
        "spark_ner.spark.udf": [(4, "spark_ner.ensemble", ["_private_helper"])],
    }
    found = violations(graph)
    assert any("spark_ner.ensemble:3 (runtime) imports spark_ner.spark.udf (spark)" in v for v in found)
    assert any("private name(s) _private_helper" in v for v in found)
    assert cycles(graph) == [["spark_ner.ensemble", "spark_ner.spark.udf"]]


@pytest.mark.parametrize("mod", ["spark_ner.config", "spark_ner.spark.job", "spark_ner.tools.bench", "spark_ner.cli"])
def test_layer_names(mod: str) -> None:
    assert layer(mod) in ALLOWED


def test_development_map_names_every_module() -> None:
    """The docs' Development page (docs/development.md, "Map") names every module of the package."""
    page = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    section = page[page.index("## Map") :]
    missing = [
        str(p.relative_to(ROOT))
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.name not in ("__init__.py", "__main__.py") and p.name not in section
    ]
    assert missing == [], f"add these modules to the map in docs/development.md: {missing}"
