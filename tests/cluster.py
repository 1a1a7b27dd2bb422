"""A real Spark standalone cluster on 127.0.0.1 for fault tests: one master, N workers, by pid.

The pip ``pyspark`` package has no ``start-master.sh``/``start-worker.sh``, only
``sbin/spark-daemon.sh``, which is what those scripts call. Every daemon gets its own pid, log and
work folder under one temporary root and a unique ``SPARK_IDENT_STRING``, so parallel sessions
never share pid files. :meth:`StandaloneCluster.stop` stops every daemon it started by pid (TERM,
then KILL) together with the executors and Python workers below them; a ``weakref.finalize``
runs it at interpreter exit too, so a failing test cannot leave daemons behind.

Process tree of one worker (what the fault tests kill)::

    Worker JVM ── executor JVM (CoarseGrainedExecutorBackend) ── python -m pyspark.daemon ── forked workers
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
JVM_FLAGS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def spark_home() -> Path:
    """The pip package's folder: it holds ``bin/`` and ``sbin/`` like a Spark distribution."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill_tree(roots: Sequence[psutil.Process], timeout: float = 10.0) -> None:
    """TERM each process and everything below it, wait, then KILL what is left.

    ``psutil.Process`` objects, not bare pids: psutil refuses to signal a pid that was reused
    by an unrelated process since it was recorded (``is_running`` compares start times).
    """
    procs: list[psutil.Process] = []
    for root in roots:
        with contextlib.suppress(psutil.Error):
            if root.is_running():
                procs += [*root.children(recursive=True), root]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=5)


class StandaloneCluster:
    """A master and ``workers`` workers (``cores`` cores, ``memory`` each) started with spark-daemon.sh."""

    def __init__(self, root: Path, workers: int = 2, cores: int = 1, memory: str = "1g") -> None:
        self.root = root
        self.home = spark_home()
        self.port = free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.cores, self.memory = cores, memory
        self.ident = f"sparkner-{uuid.uuid4().hex[:8]}"
        self.conf_dir = root / "conf"  # empty: no user spark-defaults.conf leaks in
        self.log_dir = root / "logs"
        self.worker_dirs = [root / f"work-{i}" for i in range(1, workers + 1)]
        for d in (self.conf_dir, self.log_dir, *self.worker_dirs):
            d.mkdir(parents=True, exist_ok=True)
        #: running daemons by name ("master", "worker-1", ...)
        self.daemons: dict[str, psutil.Process] = {}
        # every process this cluster started or orphaned, mutated in place: the finalizer holds the list
        self._tracked: list[psutil.Process] = []
        self._finalizer = weakref.finalize(self, _kill_tree, self._tracked)

    # ------------------------------------------------------------------ daemons
    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(self.home),
            SPARK_CONF_DIR=str(self.conf_dir),
            SPARK_PID_DIR=str(self.root / "pids"),
            SPARK_LOG_DIR=str(self.log_dir),
            SPARK_IDENT_STRING=self.ident,
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_DAEMON_MEMORY="256m",
            SPARK_DAEMON_JAVA_OPTS=JVM_FLAGS,
            # a dead worker is noticed in 30 s, not 60 (not less: a busy 2-core machine delays heartbeats)
            SPARK_MASTER_OPTS="-Dspark.worker.timeout=30",
            PYSPARK_PYTHON=sys.executable,
            PYSPARK_DRIVER_PYTHON=sys.executable,
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        )
        env.pop("PYSPARK_GATEWAY_PORT", None)
        env.pop("SPARK_NO_DAEMONIZE", None)
        return env

    def _daemon(self, cls: str, instance: int, *args: str) -> psutil.Process:
        script = self.home / "sbin" / "spark-daemon.sh"
        proc = subprocess.run(
            ["bash", str(script), "start", cls, str(instance), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        pid_file = self.root / "pids" / f"spark-{self.ident}-{cls}-{instance}.pid"
        if proc.returncode != 0 or "failed to launch" in proc.stdout or not pid_file.exists():
            raise RuntimeError(f"spark-daemon.sh could not start {cls} {instance}: {proc.stdout}{proc.stderr}")
        daemon = psutil.Process(int(pid_file.read_text().strip()))
        self._tracked.append(daemon)
        return daemon

    def start(self) -> StandaloneCluster:
        self.daemons["master"] = self._daemon(
            "org.apache.spark.deploy.master.Master",
            1,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--webui-port",
            "0",
        )
        self._wait_log("master", 1, "I have been elected leader|Starting Spark master", 1)
        for i in range(1, len(self.worker_dirs) + 1):
            self.start_worker(i)
        return self

    def start_worker(self, i: int) -> None:
        """(Re)start worker ``i`` (1-based) and wait until the master has registered it."""
        before = self._count_log("master", 1, "Registering worker")
        self.daemons[f"worker-{i}"] = self._daemon(
            "org.apache.spark.deploy.worker.Worker",
            i,
            "--host",
            "127.0.0.1",
            "--webui-port",
            "0",
            "--cores",
            str(self.cores),
            "--memory",
            self.memory,
            "--work-dir",
            str(self.worker_dirs[i - 1]),
            self.url,
        )
        self._wait_log("master", 1, "Registering worker", before + 1)

    def _log_file(self, kind: str, instance: int) -> Path:
        cls = "org.apache.spark.deploy.master.Master" if kind == "master" else "org.apache.spark.deploy.worker.Worker"
        found = sorted(self.log_dir.glob(f"spark-{self.ident}-{cls}-{instance}-*.out"))
        return found[-1] if found else self.log_dir / "missing"

    def _count_log(self, kind: str, instance: int, pattern: str) -> int:
        path = self._log_file(kind, instance)
        if not path.exists():
            return 0
        return len(re.findall(pattern, path.read_text(errors="replace")))

    def _wait_log(self, kind: str, instance: int, pattern: str, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self._count_log(kind, instance, pattern) < count:
            if time.monotonic() > deadline:
                tail = self._log_file(kind, instance)
                text = tail.read_text(errors="replace")[-3000:] if tail.exists() else "(no log)"
                raise TimeoutError(f"{kind} {instance}: no {pattern!r} after {timeout}s:\n{text}")
            time.sleep(0.2)

    def alive_workers(self) -> list[int]:
        """Worker numbers whose JVM is running."""
        out = []
        for name, proc in self.daemons.items():
            with contextlib.suppress(psutil.Error):
                if name.startswith("worker-") and proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(int(name.split("-")[1]))
        return out

    def kill_worker(self, i: int) -> None:
        """SIGKILL worker ``i``'s JVM, as a lost node would; its executors are left to notice."""
        proc = self.worker_process(i)
        with contextlib.suppress(psutil.Error):
            self._tracked.extend(proc.children(recursive=True))  # stopped later
        proc.kill()
        proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop every daemon by pid (and the executors and Python workers below them)."""
        _kill_tree([p for name, p in self.daemons.items() if name != "master"])  # first: they stop executors
        _kill_tree(self._tracked)  # the master, and orphans of killed workers
        self._finalizer.detach()
        self.daemons.clear()

    # ------------------------------------------------------------------ processes to kill
    def worker_process(self, i: int) -> psutil.Process:
        return self.daemons[f"worker-{i}"]

    def executor_jvms(self, i: int) -> list[psutil.Process]:
        """Executor JVMs started by worker ``i``."""
        out = []
        with contextlib.suppress(psutil.Error):
            for child in self.worker_process(i).children():
                with contextlib.suppress(psutil.Error):
                    if "CoarseGrainedExecutorBackend" in " ".join(child.cmdline()):
                        out.append(child)
        return out

    def python_workers(self, i: int) -> list[psutil.Process]:
        """Forked Python workers (children of ``pyspark.daemon``) under worker ``i``'s executors."""
        out = []
        for jvm in self.executor_jvms(i):
            with contextlib.suppress(psutil.Error):
                for daemon in jvm.children():
                    if "pyspark.daemon" in " ".join(daemon.cmdline()):
                        out += daemon.children()
        return out

    # ------------------------------------------------------------------ jobs
    def submit_cmd(self, job_args: Sequence[str], conf: dict[str, str] | None = None) -> list[str]:
        """``spark-submit --master spark://...`` of ``jobs/label_customers.py`` with small executors."""
        settings = {
            "spark.ui.enabled": "false",
            "spark.executor.memory": "512m",
            "spark.executor.cores": str(self.cores),
            "spark.driver.memory": "512m",
            "spark.driver.extraJavaOptions": JVM_FLAGS,
            "spark.executor.extraJavaOptions": JVM_FLAGS,
            "spark.sql.shuffle.partitions": "4",
            "spark.scheduler.minRegisteredResourcesRatio": "1.0",
            "spark.scheduler.maxRegisteredResourcesWaitingTime": "60s",
            "spark.pyspark.python": sys.executable,
            **(conf or {}),
        }
        cmd = [str(self.home / "bin" / "spark-submit"), "--master", self.url]
        for k, v in settings.items():
            cmd += ["--conf", f"{k}={v}"]
        return [*cmd, str(REPO / "jobs" / "label_customers.py"), *job_args]

    def submit(
        self, job_args: Sequence[str], cwd: Path, log: Path, conf: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start the job in its own process group (so a test can kill the whole driver).

        Its output goes to ``log``, never to a pipe: a driver whose full pipe nobody reads blocks
        in log4j, misses executor heartbeats and keeps killing and replacing its executors.
        """
        with log.open("wb") as out:
            return subprocess.Popen(
                self.submit_cmd(job_args, conf),
                env=self.env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for_apps_to_finish(self, timeout: float = 60.0) -> None:
        """Until the master holds no running application (a killed driver's app is removed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(self.executor_jvms(i) for i in self.alive_workers()):
                return
            time.sleep(0.3)
        raise TimeoutError("executors of a finished application are still running")


@contextlib.contextmanager
def standalone_cluster(root: Path, workers: int = 2, cores: int = 1, memory: str = "1g") -> Iterator[StandaloneCluster]:
    """Start a cluster under ``root``; stop every daemon on exit, whatever happened."""
    cluster = StandaloneCluster(root, workers, cores, memory)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def kill_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a job started by :meth:`StandaloneCluster.submit` and everything in its group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
