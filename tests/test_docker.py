"""docker/Dockerfile (Spark on Kubernetes) checked against the package, instruction by instruction.

The image is not built here: this project's machines have the docker client but no usable daemon and
no registry access, so the test reads the Dockerfile and checks each instruction against what it
relies on (the wheel's name, Python and pyspark versions the package accepts, the discovery script's
place in the wheel, the paths the environment names).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from helpers import REPO
from packaging.specifiers import SpecifierSet

DOCKERFILE = REPO / "docker" / "Dockerfile"
_INSTRUCTIONS = {"FROM", "ARG", "RUN", "COPY", "ENV", "USER", "WORKDIR", "LABEL", "ENTRYPOINT", "CMD", "EXPOSE"}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "a continuation line runs off the end"
    return out


def _stages(instructions: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for word, rest in instructions:
        if word == "FROM":
            m = re.search(r"\bAS\s+(\S+)$", rest, re.IGNORECASE)
            assert m, f"every stage is named: FROM {rest}"
            current = stages.setdefault(m.group(1), [])
        current.append((word, rest))
    return stages


def test_every_instruction_is_known_and_every_stage_ends_unprivileged() -> None:
    instructions = _instructions(DOCKERFILE)
    assert {w for w, _ in instructions} <= _INSTRUCTIONS, {w for w, _ in instructions} - _INSTRUCTIONS
    stages = _stages(instructions)
    assert list(stages) == ["runtime", "models"]
    assert [r for w, r in stages["runtime"] if w == "USER"][-1] == "spark"  # the Spark image's own user
    assert stages["models"][0] == ("FROM", "runtime AS models")


def test_versions_are_ones_the_package_accepts() -> None:
    instructions = _instructions(DOCKERFILE)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (spark_arg,) = [r for w, r in instructions if w == "ARG" and r.startswith("SPARK_VERSION=")]
    spark_version = spark_arg.split("=", 1)[1]
    (pyspark_req,) = [r for r in project["optional-dependencies"]["spark"] if r.startswith("pyspark")]
    assert SpecifierSet(pyspark_req.removeprefix("pyspark")).contains(spark_version), (spark_version, pyspark_req)
    text = " ".join(r for w, r in instructions if w == "RUN")
    assert '"pyspark==${SPARK_VERSION}"' in text, "pyspark of the image's own Spark version"
    (python,) = set(re.findall(r"python3\.(\d+) -m venv", text))
    assert SpecifierSet(project["requires-python"]).contains(f"3.{python}")
    assert f"python3.{python}-venv" in text


def test_paths_match_the_package_and_the_environment() -> None:
    instructions = _instructions(DOCKERFILE)
    copies = [r for w, r in instructions if w == "COPY"]
    assert "dist/spark_ner-*.whl /tmp/wheels/" in copies  # what `pip wheel ... --wheel-dir dist .` writes
    assert (REPO / "spark_ner" / "conf" / "gpu_discovery.sh").is_file(), "the discovery script ships in the wheel"
    run = " ".join(r for w, r in instructions if w == "RUN")
    assert '/ "conf" / "gpu_discovery.sh"' in run and "/opt/spark/gpu_discovery.sh" in run
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(r for w, r in instructions if w == "ENV")))
    venv = re.search(r"-m venv (\S+);", run)
    assert venv and env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == f"{venv.group(1)}/bin/python"
    assert any(c.endswith(f" {env['SPARK_NER_MODEL_DIR']}/") for c in copies), "the models stage fills model_dir"
    assert env["HF_HUB_OFFLINE"] == "1"
