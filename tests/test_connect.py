"""The UDF, the SQL UDF, the label job and the name cache through a real Spark Connect server.

One server per module, started from the pyspark package's own ``sbin/start-connect-server.sh`` on a
free loopback port and stopped by its pid file at the end. Clients run as separate processes
(``spark-ner label --remote ...`` from a shell, and ``connect_client.py``): a Connect session
changes process-wide pyspark state, which must not leak into the other tests. Every label is
compared with the in-process ensemble's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import NAMES, NER_COLS, REPO, assert_rows_match, labels_by_id, subprocess_env

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CLIENT = REPO / "tests" / "connect_client.py"
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sc://127.0.0.1:PORT`` of a local[2] Connect server whose Python workers are this venv's."""
    for module in ("grpc", "grpc_status", "google.rpc", "zstandard"):
        pytest.importorskip(module, reason="the Connect client needs the connect extra (pyspark[connect])")
    home = _spark_home()
    if not (home / "sbin" / "start-connect-server.sh").is_file():
        pytest.skip("this pyspark has no sbin/start-connect-server.sh")
    work = tmp_path_factory.mktemp("connect-server")
    port = _free_port()
    env = subprocess_env(work)
    env.update(
        SPARK_HOME=str(home),
        SPARK_PID_DIR=str(work),
        SPARK_LOG_DIR=str(work),
        SPARK_IDENT_STRING=f"spark-ner-test-{port}",
        TOKENIZERS_PARALLELISM="false",
    )
    env.pop("SPARK_REMOTE", None)
    env.pop("JAVA_TOOL_OPTIONS", None)
    jvm = f"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dderby.system.home={work}"
    confs = {
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.python.worker.reuse": "true",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.sql.warehouse.dir": str(work / "warehouse"),
        "spark.driver.extraJavaOptions": jvm,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
        "spark.executorEnv.HF_HUB_OFFLINE": "1",
    }
    cmd = [str(home / "sbin" / "start-connect-server.sh"), "--master", "local[2]"]
    for key, value in confs.items():
        cmd += ["--conf", f"{key}={value}"]
    subprocess.run(cmd, env=env, cwd=work, check=True, capture_output=True, timeout=120)
    pid_file = work / f"spark-{env['SPARK_IDENT_STRING']}-{SERVER_CLASS}-1.pid"
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            if time.monotonic() > deadline:
                logs = "".join(p.read_text(errors="replace")[-3000:] for p in work.glob("*.out"))
                pytest.fail(f"the Connect server did not listen on {port} within 180 s:\n{logs}")
            time.sleep(1.0)
        yield f"sc://127.0.0.1:{port}"
    finally:
        pid = int(pid_file.read_text().strip()) if pid_file.is_file() else None
        subprocess.run(
            [str(home / "sbin" / "stop-connect-server.sh")], env=env, cwd=work, capture_output=True, timeout=120
        )
        if pid is not None:  # the stop script waits a few seconds, then gives up: make sure, by pid
            for _ in range(30):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(1.0)
            else:
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def connect_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mixed names (nulls, blanks, duplicates) as a parquet file, id = position."""
    path = tmp_path_factory.mktemp("connect-input") / "customers.parquet"
    pd.DataFrame({"id": range(len(NAMES)), "name": NAMES}).to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def expected(tiny_ensemble: Any) -> pd.DataFrame:
    return tiny_ensemble.label(NAMES)


def _client(
    tmp_path: Path,
    action: str,
    url: str,
    config: Path,
    *args: str,
    python: str = sys.executable,
    hide: Path | None = None,
) -> dict[str, Any]:
    """``connect_client.py ACTION ...`` as its own process; ``hide``: a folder this client cannot see (its
    own mount namespace puts an empty tmpfs over it; the Connect server still sees the real one)."""
    out = tmp_path / f"{action}-{time.monotonic_ns()}.json"
    env = subprocess_env(tmp_path)
    env.pop("SPARK_REMOTE", None)
    cmd = [python, str(CLIENT), action, url, str(config), str(out), *args]
    if hide is not None:
        script = 'mount -t tmpfs spark-ner-hidden "$0" && exec "$@"'
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(hide), *cmd]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return dict(json.loads(out.read_text()))


def _label(
    tmp_path: Path, url: str | None, *flags: str, env_remote: str | None = None, python: str | None = None
) -> dict[str, Any]:
    """``spark-ner label`` from a shell (``python -m spark_ner.cli`` with another interpreter); the summary."""
    if python is None:
        exe = shutil.which("spark-ner", path=str(Path(sys.executable).parent))
        assert exe, "spark-ner is not installed in this venv"
        command = [exe]
    else:
        command = [python, "-m", "spark_ner.cli"]
    summary = tmp_path / f"summary-{time.monotonic_ns()}.json"
    words = [*command, "label", *flags, "--summary", str(summary)]
    if url is not None:
        words += ["--remote", url]
    env = subprocess_env(tmp_path)
    env.pop("SPARK_REMOTE", None)
    if env_remote is not None:
        env["SPARK_REMOTE"] = env_remote
    line = " ".join(_shell_quote(w) for w in words)
    proc = subprocess.run(["bash", "-c", line], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    return dict(json.loads(summary.read_text()))


def _shell_quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


def _check_summary(summary: dict[str, Any], cached: int) -> None:
    assert summary["rows_in"] == summary["rows_out"] == len(NAMES)
    distinct = len(set(NAMES))
    assert summary["distinct_names"] == distinct
    assert summary["names_cached"] == cached
    assert summary["names_scored"] == distinct - cached  # from the worker records returned with the rows
    assert summary["spark"]["connect"] is True
    assert summary["spark"]["worker_records"].startswith("result rows")
    if cached < distinct:
        assert summary["executors"], "the executor summary must come back through Connect"
        assert sum(e["rows_scored"] for e in summary["executors"]) == distinct - cached
        assert all(e["device"] == "cpu" for e in summary["executors"])
    assert summary["error_rows"] == 0


def test_udf_and_sql_udf_through_connect(
    connect_server: str, connect_input: Path, tiny_config_path: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    got = _client(tmp_path, "udf", connect_server, tiny_config_path, str(connect_input))
    assert got["is_connect"] is True and got["jvm_available"] is False
    assert got["columns"] == ["id", "name", *NER_COLS]
    assert_rows_match(labels_by_id(got["udf"]), expected)
    labels = {r["id"]: r["label"] for r in got["sql_label"]}
    assert [labels[i] for i in range(len(NAMES))] == [None if pd.isna(v) else v for v in expected["label"].tolist()]
    assert_rows_match(got["sql_struct"], expected)


def test_label_job_parquet_output_and_path_cache(
    connect_server: str, connect_input: Path, tiny_config_path: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    out, cache = tmp_path / "labelled.parquet", tmp_path / "name-cache"
    common = ["--input", str(connect_input), "--config", str(tiny_config_path), "--id-col", "id"]
    first = _label(tmp_path, connect_server, *common, "--output", str(out), "--cache", str(cache))
    _check_summary(first, cached=0)
    assert first["output_commit"].startswith("spark-commit")
    assert first["cache"]["commit"] == first["output_commit"]
    assert first["cache"]["rows_committed"] == len(set(NAMES))
    rows = pd.read_parquet(out).to_dict("records")
    assert_rows_match(labels_by_id(rows), expected)
    # the rerun: every name from the cache, nothing scored; the URL from SPARK_REMOTE this time
    second = _label(
        tmp_path, None, *common, "--output", str(out), "--mode", "overwrite", "--cache", str(cache),
        env_remote=connect_server,
    )  # fmt: skip
    _check_summary(second, cached=len(set(NAMES)))
    assert second["cache"]["rows_committed"] == 0
    assert_rows_match(labels_by_id(pd.read_parquet(out).to_dict("records")), expected)
    # another model version (a label-relevant config change) reuses nothing and adds its own batch
    third = _label(tmp_path, connect_server, *common, "--output", str(tmp_path / "max.parquet"), "--cache", str(cache),
                   "--set", "ensemble.strategy=max")  # fmt: skip
    assert third["names_cached"] == 0 and third["model_version"] != first["model_version"]
    # stats through Connect work; vacuum of a path cache needs a file system: refused with the fix
    stats = _client(tmp_path, "cli", connect_server, tiny_config_path, "cache", "stats", "--remote", connect_server,
                    "--cache", str(cache))  # fmt: skip
    assert stats["rc"] == 0
    versions = json.loads(stats["stdout"])["versions"]
    assert [v["rows"] for v in versions] == [len(set(NAMES))] * 2 and all(v["bytes"] > 0 for v in versions)
    vacuum = ["cache", "vacuum", "--remote", connect_server, "--cache", str(cache), "--keep-latest", "1"]
    dry = _client(tmp_path, "cli", connect_server, tiny_config_path, *vacuum, "--dry-run")
    assert dry["rc"] == 0 and len(json.loads(dry["stdout"])["dropped"]) == 1
    refused = _client(tmp_path, "cli", connect_server, tiny_config_path, *vacuum)
    assert refused["rc"] == 2 and "Spark Connect" in refused["stderr"] and "Fix:" in refused["stderr"]


def test_label_job_ship_models_through_connect(  # issue 15
    connect_server: str, connect_input: Path, tiny_models: Any, expected: pd.DataFrame, tmp_path: Path
) -> None:
    """``--ship-models`` over Connect: the member folders go as session artifacts
    (``addArtifacts(archive=True)``); the executor check found them unpacked (a worker that cannot
    find its archive fails that check) and the labels equal the in-process ones."""
    from conftest import write_config

    bert = shutil.copytree(tiny_models[0], tmp_path / "models" / "bert")
    roberta = shutil.copytree(tiny_models[1], tmp_path / "models" / "roberta")
    config = write_config(tmp_path / "ship.toml", bert, roberta)
    out = tmp_path / "shipped.parquet"
    flags = ["--input", str(connect_input), "--config", str(config), "--id-col", "id", "--output", str(out)]
    summary = _label(tmp_path, connect_server, *flags, "--ship-models")
    models = summary["models"]
    assert models["shipped"] is True and models["executor_checks"] >= 1, models
    assert all(m["archive"].endswith(".tar") and m["archive_bytes"] > 0 for m in models["members"])
    assert_rows_match(labels_by_id(pd.read_parquet(out).to_dict("records")), expected)


def test_label_job_table_output_and_table_cache(
    connect_server: str, connect_input: Path, tiny_config_path: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    """Three-part names for the output and the cache; tables take the server's default format."""
    out, cache = "spark_catalog.default.connect_labels", "spark_catalog.default.connect_cache"
    common = ["--input", str(connect_input), "--config", str(tiny_config_path), "--id-col", "id",
              "--output", out, "--output-format", "table", "--cache", cache]  # fmt: skip
    first = _label(tmp_path, connect_server, *common)
    _check_summary(first, cached=0)
    assert first["output_commit"] == first["cache"]["commit"] == "catalog-insert"
    table = _client(tmp_path, "table", connect_server, tiny_config_path, out)
    assert table["provider"] == "parquet"  # the server's spark.sql.sources.default
    assert_rows_match(labels_by_id(table["rows"]), expected)
    second = _label(tmp_path, connect_server, *common, "--mode", "overwrite")
    _check_summary(second, cached=len(set(NAMES)))
    table = _client(tmp_path, "table", connect_server, tiny_config_path, out)
    assert_rows_match(labels_by_id(table["rows"]), expected)
    cached = _client(tmp_path, "table", connect_server, tiny_config_path, cache)
    assert len(cached["rows"]) == len(set(NAMES))
    # vacuum through Connect: the only version is kept, then dropped by keeping none of it
    vacuum = _client(tmp_path, "cli", connect_server, tiny_config_path, "cache", "vacuum", "--remote", connect_server,
                     "--cache", cache, "--keep-latest", "1")  # fmt: skip
    assert vacuum["rc"] == 0 and json.loads(vacuum["stdout"])["dropped"] == []


# ----------------------------------------------------------------------------- a client without the models


def _can_unshare() -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "--propagation", "private", "true"], check=False).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and `unshare -m` (a private mount namespace)")
def test_client_without_the_models(  # issue 23
    connect_server: str, connect_input: Path, tiny_models: Any, expected: pd.DataFrame, tmp_path: Path
) -> None:
    """The model folders only where the server runs (a laptop driving a cluster whose models are in a
    Volume): the client, in its own mount namespace with an empty tmpfs over them, labels through
    Connect with the in-process labels (the UDF, the SQL UDF, the label job); the members are resolved
    on the server's executors. A member missing there too is one line naming it, exit 2."""
    from conftest import write_config

    models = tmp_path / "models"
    bert = shutil.copytree(tiny_models[0], models / "bert")
    roberta = shutil.copytree(tiny_models[1], models / "roberta")
    config = write_config(tmp_path / "server-side.toml", bert, roberta)
    unseen = {"bert": False, "roberta": False}
    got = _client(tmp_path, "udf", connect_server, config, str(connect_input), hide=models)
    assert got["members_visible"] == unseen  # the client really cannot see them
    assert got["is_connect"] is True
    assert_rows_match(labels_by_id(got["udf"]), expected)
    assert_rows_match(got["sql_struct"], expected)
    out, summary = tmp_path / "no-models.parquet", tmp_path / "no-models.json"
    label = ["label", "--remote", connect_server, "--input", str(connect_input), "--config", str(config),
             "--id-col", "id", "--output", str(out), "--summary", str(summary)]  # fmt: skip
    job = _client(tmp_path, "cli", connect_server, config, *label, hide=models)
    assert job["members_visible"] == unseen
    assert job["rc"] == 0, job["stderr"][-4000:]
    _check_summary(json.loads(summary.read_text()), cached=0)
    assert_rows_match(labels_by_id(pd.read_parquet(out).to_dict("records")), expected)
    # missing on the server's side too: one line naming the member, the host and the fix, exit 2
    gone = write_config(tmp_path / "gone.toml", bert, models / "nowhere")
    label[label.index(str(config))] = str(gone)
    label[label.index(str(out))] = str(tmp_path / "never.parquet")
    refused = _client(tmp_path, "cli", connect_server, gone, *label, hide=models)
    assert refused["rc"] == 2, refused
    lines = [x for x in refused["stderr"].splitlines() if "checked where the models are" in x]
    assert len(lines) == 1 and "roberta" in lines[0] and "host" in lines[0] and "Fix:" in lines[0], refused["stderr"]
    assert not (tmp_path / "never.parquet").exists()
    # `spark-ner check` from that client: what the client lacks is a warning, the executors decide
    checked = _client(tmp_path, "cli", connect_server, config, "check", "--remote", connect_server,
                      "--config", str(config), hide=models)  # fmt: skip
    assert checked["rc"] == 0, checked["stdout"] + checked["stderr"][-2000:]
    warned = [x for x in checked["stdout"].splitlines() if "not on this machine (the Spark Connect client)" in x]
    assert len(warned) == 2 and all(x.startswith("warn") for x in warned), checked["stdout"]
    assert any(x.startswith("ok") and "executors" in x for x in checked["stdout"].splitlines()), checked["stdout"]
    missing = _client(tmp_path, "cli", connect_server, gone, "check", "--remote", connect_server,
                      "--config", str(gone), hide=models)  # fmt: skip
    assert missing["rc"] == 2, missing
    assert any(x.startswith("PROBLEM") and "executors" in x and "roberta" in x for x in missing["stdout"].splitlines())


# ----------------------------------------------------------------------------- pyspark-client only

#: reused between runs; outside the work tree (like the starter models' cache), so git never sees it
CLIENT_VENV = Path(
    os.environ.get("SPARK_NER_CLIENT_VENV", Path.home() / ".cache" / "spark-ner" / "venv-connect-client")
)


def _client_only_python() -> str:
    """An interpreter whose ``pyspark`` is the ``pyspark-client`` package (no JVM, no ``pyspark.core``;
    ``py4j`` is blocked), with this venv's other packages behind it (torch, grpc, spark_ner itself).

    Built once under ``~/.cache/spark-ner/venv-connect-client`` (about 20 s: one small sdist from the
    package index; ``SPARK_NER_CLIENT_VENV`` moves it).
    """
    import sysconfig
    import venv

    import pyspark

    major, minor = (int(x) for x in pyspark.__version__.split(".")[:2])
    if major < 4:
        pytest.skip(f"pyspark-client exists from Spark 4.0 on; this server is {pyspark.__version__}")
    spec = f"pyspark-client>=4.0,<{major}.{minor + 1}"
    here = sysconfig.get_paths()["purelib"]
    marker = CLIENT_VENV / ".spark-ner-ready"
    stamp = f"{spec}\n{here}\n"
    python = CLIENT_VENV / "bin" / "python"
    if not (marker.is_file() and marker.read_text() == stamp and python.exists()):
        shutil.rmtree(CLIENT_VENV, ignore_errors=True)
        venv.create(CLIENT_VENV, with_pip=True)
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-deps", spec],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"could not install {spec}: {proc.stderr[-2000:]}"
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # this venv's packages AFTER the client's own: its pyspark shadows the classic one
        (Path(site) / "zz_spark_ner_outer_venv.pth").write_text(f"import site; site.addsitedir({here!r})\n")
        (Path(site) / "py4j").mkdir()
        (Path(site) / "py4j" / "__init__.py").write_text(
            'raise ImportError("py4j is not part of pyspark-client: this environment has no JVM gateway")\n'
        )
        marker.write_text(stamp)
    return str(python)


def test_client_with_only_pyspark_client(
    connect_server: str, connect_input: Path, tiny_config_path: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    """Where only pyspark-client is installed, spark_ner imports, and the UDF, the SQL UDF and the label
    job run through Connect with the in-process labels."""
    python = _client_only_python()
    probe = subprocess.run(
        [python, "-c", "import pyspark, pyspark.util as u, spark_ner.spark.job, spark_ner.spark.name_cache;"
         "print(pyspark.__version__, u.is_remote_only())"],
        capture_output=True, text=True, timeout=300, env=subprocess_env(tmp_path),
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split()[1] == "True", probe.stdout  # no pyspark.core: the client package alone
    got = _client(tmp_path, "udf", connect_server, tiny_config_path, str(connect_input), python=python)
    assert_rows_match(labels_by_id(got["udf"]), expected)
    assert_rows_match(got["sql_struct"], expected)
    out = tmp_path / "client-only.parquet"
    summary = _label(tmp_path, connect_server, "--input", str(connect_input), "--config", str(tiny_config_path),
                     "--id-col", "id", "--output", str(out), python=python)  # fmt: skip
    _check_summary(summary, cached=0)
    assert_rows_match(labels_by_id(pd.read_parquet(out).to_dict("records")), expected)
