"""Installing beside a cluster's own versions (issue 15): declared ranges, the tested floors, the wheel.

Runs in both environments CI builds: the development set (constraints/dev.txt) and the oldest
supported set (constraints/compat.txt, ``scripts/dev.sh compat``), where the transformers 4.x
shims (``torch_dtype``, eager attention for RoBERTa) are the ones exercised.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from helpers import REPO

from spark_ner.models import dtype_argument


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    return out


#: floors CI cannot install: the floor is a supported runtime's version, CI tests the pinned one instead
#: (torch: 15.4 LTS ML ships 2.3.1; this project's machines have only the 2.13.0 CPU wheel). Said in
#: constraints/compat.txt and docs/tested-versions.md.
UNTESTED_FLOORS = {"torch": ("2.3", "2.13.0")}


def test_every_floor_is_the_version_the_compat_step_installs() -> None:
    """The floors in pyproject.toml are exactly constraints/compat.txt's pins: a floor is a tested version."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = [*project["dependencies"], *extras["spark"], *extras["mlflow"]]
    pins = _pins(REPO / "constraints" / "compat.txt")
    floors = {}
    for req in declared:
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*(.*)$", req)
        assert m, req
        name, spec = re.sub(r"[-_.]+", "-", m.group(1).lower()), m.group(2)
        assert "==" not in spec, f"{req}: a pin, not a range (installing it would fight the cluster's own)"
        floor = re.search(r">=\s*([0-9][^,\s]*)", spec)
        assert floor, f"{req}: no floor"
        floors[name] = floor.group(1)
    for name, floor in floors.items():
        assert name in pins, f"{name} >= {floor} is declared but constraints/compat.txt does not install it"
        if name in UNTESTED_FLOORS:
            assert (floor, pins[name]) == UNTESTED_FLOORS[name], "update UNTESTED_FLOORS and the docs together"
            continue
        assert pins[name].startswith(floor) or floor.startswith(pins[name]), (name, floor, pins[name])
    assert "pyspark" not in {re.split(r"[<>=\[ ]", d)[0].lower() for d in project["dependencies"]}, (
        "pyspark is an extra: a runtime's own Spark (Databricks) or pyspark-client (Connect) must not be replaced"
    )


def test_installed_versions_are_within_the_declared_ranges() -> None:
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for req in map(Requirement, [*project["dependencies"], *extras["spark"], *extras["mlflow"]]):
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            assert req.name == "mlflow-skinny", f"{req.name} is not installed"
            continue  # the mlflow extra is optional
        assert req.specifier.contains(installed, prereleases=True), (req, installed)


def test_transformers_shims_load_a_member_in_fp32(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    import torch
    import transformers
    from packaging.version import Version

    new = Version(transformers.__version__) >= Version("4.56")
    assert dtype_argument() == ("dtype" if new else "torch_dtype")
    for member in tiny_ensemble.members:
        assert next(member.model.parameters()).dtype == torch.float32
        assert member.model.config._attn_implementation in ("sdpa", "eager")


@pytest.mark.slow
def test_the_wheel_carries_the_job_entry_and_the_default_configs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = tmp_path.glob("spark_ner-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for conf in ("default.toml", "hub.toml", "databricks.toml"):
            text = zf.read(f"spark_ner/conf/{conf}").decode()
            assert "[[models]]" in text, conf  # the file itself, not a link
        assert "spark_ner/default_config.toml" in names
        script = zf.getinfo("spark_ner/conf/gpu_discovery.sh")  # the GPU discovery script ships in the wheel
        assert (script.external_attr >> 16) & 0o111, "executable: Spark runs it as a program"
        assert {"spark_ner/jobs/label_customers.py", "spark_ner/jobs/__main__.py", "spark_ner/spark/ship.py"} <= names
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "spark-ner = spark_ner.cli:main" in zf.read(entry).decode()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert any(r.startswith("Requires-Dist: pyspark") and "extra == " in r for r in requires), requires
    assert not [r for r in requires if "==" in r.split(";")[0] and "extra ==" not in r], "the runtime pins nothing"
    assert not [n for n in names if n.startswith(("tests/", "jobs/", "conf/"))]
