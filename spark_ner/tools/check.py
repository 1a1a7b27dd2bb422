"""``spark-ner check``: is this config ready to label here, without scoring a single name?

A first run on a new cluster fails late and far from the cause: a member folder missing on the
executors, a weights file that changed since it was pinned, a hub member that follows a moving
branch, worker reuse switched off. ``check`` looks at each of those before any job: the config, every
member (folder, weights header, digest against its pin, label map), the pins, and, with a Spark
session (``--master``, ``--remote`` or spark-submit), the executors and the Spark confs that matter.
It prints one line per finding, each problem with its fix, and exits 2 when any line is a problem.
Nothing here loads a model or scores a name.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TextIO

from spark_ner.config import Config, DeviceKind, MemberKind, add_config_arguments, config_from_args
from spark_ner.errors import ConfigError, ModelSourceError, SparkNerError, WeightsMismatchError

__all__ = [
    "Finding",
    "Level",
    "add_arguments",
    "check_config",
    "check_members",
    "check_spark_confs",
    "client_of_connect",
    "render",
    "run",
]

log = logging.getLogger(__name__)

#: exit code when any finding is a problem (the same as every refused run)
PROBLEM_EXIT = 2

#: the smallest Arrow batch the README recommends (8 x batch_size, at least this)
MIN_ARROW_BATCH = 2048


class Level(StrEnum):
    """How a finding reads: fine, worth knowing, or something that stops a run."""

    OK = "ok"
    WARN = "warn"
    PROBLEM = "PROBLEM"


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was looked at, what was found, and (when not ok) the fix."""

    level: Level
    topic: str
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level.value:<7} {self.topic}: {self.message}"
        return f"{text}. Fix: {self.fix}" if self.fix else text


def _short(digest: str) -> str:
    return digest[:12]


def check_config(args: argparse.Namespace) -> tuple[Config | None, list[Finding]]:
    """The config ``--config``, ``--model-dir`` and ``--set`` name; a config error is the one finding
    (nothing else can be checked without it)."""
    try:
        cfg = config_from_args(args)
    except SparkNerError as exc:
        return None, [Finding(Level.PROBLEM, "config", _message(exc), _fix(exc))]
    names = ", ".join(m.name for m in cfg.models)
    return cfg, [Finding(Level.OK, "config", f"{cfg.source}: {len(cfg.models)} member(s) ({names})")]


def _message(exc: BaseException) -> str:
    return str(exc).split(" Fix: ")[0].rstrip(".")


def _fix(exc: BaseException) -> str:
    """The error's own fix when it names one, else the usual fix for its kind."""
    text = str(exc)
    if " Fix: " in text:
        return text.split(" Fix: ", 1)[1].rstrip(".")
    if isinstance(exc, WeightsMismatchError):
        return "copy or rebuild the weights, or update sha256 (and revision) if the change is intended"
    if isinstance(exc, ModelSourceError):
        return "make the member's path reachable here (`spark-ner build-models`, SPARK_NER_MODEL_DIR, or its path)"
    if isinstance(exc, ConfigError):
        return "correct the config key named in the message"
    return "rerun with -vv for the traceback"


def check_members(cfg: Config) -> list[Finding]:
    """Every member on this machine (each on its own: one broken member does not hide the others),
    then its pins: ``sha256`` for every member, ``revision`` for hub members."""
    from spark_ner.models import inspect_member, source_kind

    findings: list[Finding] = []
    for model in cfg.models:
        topic = f"member {model.name!r}"
        try:
            source = inspect_member(model)
        except SparkNerError as exc:
            findings.append(Finding(Level.PROBLEM, topic, _message(exc).removeprefix(f"{topic}: "), _fix(exc)))
            continue
        where = source.path if source.path == model.path else f"{model.path} -> {source.path}"
        kind = "lexicon" if model.kind == MemberKind.LEXICON else source.model_type
        findings.append(
            Finding(Level.OK, topic, f"{kind} at {where}, weight {model.weight:g}, digest {_short(source.digest)}")
        )
        if model.sha256 is None:
            findings.append(
                Finding(
                    Level.WARN,
                    f"{topic} pin",
                    "no sha256 pin: other weights at this path would be used under a new model_version",
                    "pin the member's sha256 (`spark-ner build-models` writes the pins into starter.toml)",
                )
            )
        else:
            findings.append(Finding(Level.OK, f"{topic} pin", f"sha256 {_short(model.sha256)} matches"))
        if source_kind(model.path) == "hub":
            if model.revision is None or not _is_commit(model.revision):
                findings.append(
                    Finding(
                        Level.WARN,
                        f"{topic} revision",
                        f"hub member follows {model.revision or 'main'!r}, a name that can move "
                        f"(resolved now: {source.revision or 'unknown'})",
                        f'pin revision = "{source.revision}"' if source.revision else "pin revision to a commit",
                    )
                )
            else:
                findings.append(Finding(Level.OK, f"{topic} revision", f"pinned to commit {model.revision[:12]}"))
    return findings


def _is_commit(revision: str) -> bool:
    return len(revision) == 40 and all(c in "0123456789abcdef" for c in revision.lower())


def check_spark_confs(conf: Mapping[str, str | None], cfg: Config) -> list[Finding]:
    """The settings a label run depends on, read from the session's conf (``None``: not set)."""
    findings: list[Finding] = []
    reuse = (conf.get("spark.python.worker.reuse") or "true").lower()
    if reuse != "true":
        findings.append(
            Finding(
                Level.PROBLEM,
                "spark.python.worker.reuse",
                f"is {reuse}: every task would load the ensemble again",
                "set spark.python.worker.reuse=true (Spark's default)",
            )
        )
    else:
        findings.append(Finding(Level.OK, "spark.python.worker.reuse", "true: one ensemble load per Python worker"))
    want = max(MIN_ARROW_BATCH, 8 * cfg.ensemble.batch_size)
    raw = conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    try:
        rows = int(raw) if raw is not None else 10_000
    except ValueError:
        rows = -1
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    if rows < cfg.ensemble.batch_size:
        findings.append(
            Finding(
                Level.WARN,
                key,
                f"{raw} rows per Arrow batch, below ensemble.batch_size {cfg.ensemble.batch_size}: forward passes "
                "run part-empty",
                f"set {key}={want} (8 x batch_size, at least {MIN_ARROW_BATCH}); the label job sets it on "
                "sessions it creates",
            )
        )
    else:
        findings.append(Finding(Level.OK, key, f"{rows} rows per Arrow batch (batch_size {cfg.ensemble.batch_size})"))
    from spark_ner.spark.udf import COLUMNAR_INPUT_KEY

    columnar = (conf.get(COLUMNAR_INPUT_KEY) or "").lower()
    if columnar == "true":  # unset: the label job turns it off while it scores
        findings.append(
            Finding(
                Level.WARN,
                COLUMNAR_INPUT_KEY,
                "true: on Spark 4.2+ the UDF's output struct is copied into column vectors and back (scoring ~20% "
                "slower on 2 cores, BENCHMARKS.md); the label job keeps a setting the session made",
                f"set {COLUMNAR_INPUT_KEY}=false, or leave it unset for the label job",
            )
        )
    elif columnar == "false":
        findings.append(Finding(Level.OK, COLUMNAR_INPUT_KEY, "false: the UDF's output stays in rows"))
    gpu_task = conf.get("spark.task.resource.gpu.amount")
    gpu_exec = conf.get("spark.executor.resource.gpu.amount")
    if cfg.ensemble.device == DeviceKind.CUDA and not (gpu_task and gpu_exec):
        findings.append(
            Finding(
                Level.PROBLEM,
                "spark.task.resource.gpu.amount",
                "the config asks for device cuda but the session requests no GPUs for executors and tasks",
                "set spark.executor.resource.gpu.amount=1 and spark.task.resource.gpu.amount (1, or 1/N to share "
                "a GPU between N tasks)",
            )
        )
    elif gpu_task:
        findings.append(
            Finding(Level.OK, "spark.task.resource.gpu.amount", f"{gpu_task} GPU per task, {gpu_exec} per executor")
        )
    return findings


def render(findings: Iterable[Finding], out: TextIO) -> int:
    """Print one line per finding; the exit code: 2 when any is a problem, else 0."""
    problems = 0
    for finding in findings:
        out.write(finding.line() + "\n")
        problems += finding.level == Level.PROBLEM
    out.write(f"check: {problems} problem(s)\n" if problems else "check: ready\n")
    return PROBLEM_EXIT if problems else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``spark-ner check``: a config, and where Spark is (to probe executors and confs)."""
    add_config_arguments(parser)
    parser.add_argument(
        "--master", default=None, help="probe executors and confs on this Spark master (e.g. spark://host:7077)"
    )
    parser.add_argument("--remote", default=None, metavar="sc://HOST:PORT", help="probe through Spark Connect")
    parser.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting for the session check creates (repeatable), as `label` takes it",
    )
    parser.add_argument(
        "--ship-models", action="store_true", help="check as `label --ship-models` would run (members sent by Spark)"
    )
    parser.add_argument(
        "--no-spark",
        action="store_true",
        help="check only this machine (default when no --master, --remote, SPARK_REMOTE or spark-submit)",
    )


def wants_spark(args: argparse.Namespace) -> bool:
    """A session only when one was asked for, or when check itself runs under spark-submit."""
    if args.no_spark:
        return False
    if args.master or args.remote or os.environ.get("SPARK_REMOTE"):
        return True
    from spark_ner.spark.session import under_spark_submit

    return under_spark_submit()


def client_of_connect(args: argparse.Namespace) -> bool:
    """Whether check runs as a Spark Connect client that does not ship its own copies: then the members
    need not be on this machine (a laptop driving a cluster whose models are in a Volume); they are
    checked where the models are, as the label job resolves them. Asks no server, starts no JVM."""
    if args.ship_models or not wants_spark(args):
        return False
    from spark_ner.spark.session import runs_through_connect

    return runs_through_connect(args.remote, args.master)


def check_spark(args: argparse.Namespace, cfg: Config) -> list[Finding]:
    """The session's confs and, on executors, every member (the same probe the label job runs)."""
    from spark_ner.spark.session import get_session, parse_spark_conf

    try:
        spark, made = get_session(master=args.master, remote=args.remote, conf=parse_spark_conf(args.spark_conf))
    except SparkNerError as exc:
        return [Finding(Level.PROBLEM, "spark session", _message(exc), _fix(exc))]
    try:
        return _check_session(spark, cfg, ship=args.ship_models)
    finally:
        if made:
            spark.stop()


def _check_session(spark: Any, cfg: Config, *, ship: bool) -> list[Finding]:
    from spark_ner.spark.udf import COLUMNAR_INPUT_KEY

    keys = (
        "spark.python.worker.reuse",
        "spark.sql.execution.arrow.maxRecordsPerBatch",
        COLUMNAR_INPUT_KEY,
        "spark.task.resource.gpu.amount",
        "spark.executor.resource.gpu.amount",
    )
    conf = {k: spark.conf.get(k, None) for k in keys}
    findings = check_spark_confs(conf, cfg)
    findings += probe_executors(spark, cfg, ship=ship)
    return findings


def probe_executors(spark: Any, cfg: Config, *, ship: bool) -> list[Finding]:
    """Resolve every member on the executors in one small job; one finding for all of them."""
    from spark_ner.models import resolve_members
    from spark_ner.spark.session import is_connect, task_slots
    from spark_ner.spark.ship import check_executors, resolve_on_executors, ship_members

    try:
        # a Connect client may hold no models: resolved where they are, as the label job does
        plan = resolve_on_executors(spark, cfg) if is_connect(spark) and not ship else resolve_members(cfg)
        if ship:
            plan = ship_members(spark, cfg, plan)
        result = check_executors(spark, cfg, plan, task_slots(spark))
    except SparkNerError as exc:
        return [Finding(Level.PROBLEM, "executors", _message(exc), _fix(exc))]
    how = "shipped by Spark" if ship else "each executor's own copy"
    if result.checks == 0:
        return [Finding(Level.OK, "executors", "share this machine's disk: the members above are theirs")]
    pythons = ", ".join(result.pythons) or "unknown"
    return [
        Finding(
            Level.OK,
            "executors",
            f"every member usable in {result.checks} executor check(s) ({how}); Python {pythons}",
        )
    ]


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``spark-ner check``: print the findings; exit 2 when any is a problem."""
    stream = out or sys.stdout
    cfg, findings = check_config(args)
    if cfg is not None:
        members = check_members(cfg)
        if any(f.level == Level.PROBLEM for f in members) and client_of_connect(args):
            # this machine is only the Connect client: what it lacks is not what the executors lack
            members = [
                replace(f, level=Level.WARN, message=f"not on this machine (the Spark Connect client): {f.message}")
                if f.level == Level.PROBLEM
                else f
                for f in members
            ]
        findings += members
        if any(f.level == Level.PROBLEM for f in findings):
            findings.append(Finding(Level.WARN, "executors", "not probed: fix the members on this machine first"))
        elif wants_spark(args):
            findings += check_spark(args, cfg)
        else:
            findings.append(
                Finding(Level.OK, "executors", "not probed (this machine only; pass --master or --remote to probe)")
            )
    return render(findings, stream)
