"""Send the member folders to executors through Spark itself, and check executors can use them.

Why: on YARN, Kubernetes or standalone clusters the executors do not see the driver's disk. With
``--ship-models`` (``ship_models=True``) the driver packs each member folder it checked into one
uncompressed ``.tar`` named by the folder's content digest and registers it with Spark
(``SparkContext.addArchive``; ``SparkSession.addArtifacts(archive=True)`` on Spark Connect). Spark
copies it once per executor and unpacks it there; each Python worker finds it with
``SparkFiles.get``, verifies it against the driver's digest (and the member's ``sha256`` pin)
before loading, and the per-worker ensemble cache reuses it across tasks.

Either way, the UDF hands every Python worker the run's :class:`~spark_ner.models.MemberPlan`: the
digest (and hub commit) the driver resolved for each member, so an executor whose copy differs
refuses it instead of labelling with other weights. :func:`check_executors` runs one small Spark job
that resolves every member on the executors without loading a model, so a folder the executors
cannot see fails on the driver with one line naming the member, the host and the fix, before any
name is scored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_ner.config import Config
from spark_ner.errors import ModelSourceError, SparkNerError
from spark_ner.models import MemberPlan, PlannedMember, SourceKind, file_sha256, locate_member
from spark_ner.spark.session import jvm_available

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

__all__ = [
    "ExecutorCheck",
    "check_executors",
    "pack_member",
    "plan_from_dict",
    "resolve_on_executors",
    "shares_driver_disk",
    "ship_dir",
    "ship_members",
    "unpacked",
]

ENV_SHIP_DIR = "SPARK_NER_SHIP_DIR"
ARCHIVE_PREFIX = "spark-ner-"


def ship_dir() -> Path:
    """Where the driver keeps its archives: ``$SPARK_NER_SHIP_DIR``, else a per-user temp folder."""
    env = os.environ.get(ENV_SHIP_DIR)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(env).expanduser() if env else Path(tempfile.gettempdir()) / f"spark-ner-ship-{uid}"


def _files(folder: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``folder`` (links followed: hub snapshots link into blobs), no hidden ones."""
    out = []
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not f.is_file():
            continue
        out.append((rel.as_posix(), f))
    return out


def pack_member(name: str, folder: Path, digest: str) -> Path:
    """The member folder as one uncompressed tar named by its content; built once, then reused.

    Uncompressed: weights do not compress, and unpacking a tar costs executors no CPU to speak of.
    The name changes with any file's content, so Spark never confuses two versions of a member.
    """
    files = _files(folder)
    h = hashlib.sha256(digest.encode())
    for rel, f in files:
        h.update(f"\0{rel}\0{file_sha256(f)}".encode())
    target = ship_dir() / f"{ARCHIVE_PREFIX}{name}-{h.hexdigest()[:16]}.tar"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    try:
        with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT, dereference=True) as tar:
            for rel, f in files:
                tar.add(f, arcname=rel, recursive=False)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("member %s packed into %s (%d bytes)", name, target, target.stat().st_size)
    return target


#: session conf key prefix marking an archive as added to that session (Spark Connect refuses a second add)
_ADDED_KEY = "spark.spark_ner.shipped."


def _register(spark: SparkSession, archive: Path) -> None:
    """Hand the archive to Spark once per session; the session's own runtime conf remembers it."""
    key = _ADDED_KEY + archive.stem
    if spark.conf.get(key, None) == "true":
        return
    if jvm_available(spark):
        spark.sparkContext.addArchive(str(archive))
    else:  # Spark Connect: artifacts of this session, unpacked for its Python workers
        spark.addArtifacts(str(archive), archive=True)
    spark.conf.set(key, "true")


def ship_members(spark: SparkSession | None, cfg: Config, plan: MemberPlan) -> MemberPlan:
    """Driver side: pack each member folder of ``plan`` into a content-named tar and register it with
    ``spark``; the plan returned names each member's archive (``shipped=True``). Nothing is resolved
    again: the folders are those the plan's resolution found on the driver."""
    if spark is None:
        raise ModelSourceError(
            "ship_models=True needs a Spark session to send the member folders through. "
            "Fix: create the session first (or pass spark=)."
        )
    if plan.shipped:
        return plan
    members = []
    for model, planned in zip(cfg.models, plan.members, strict=True):
        folder, _ = locate_member(model, planned)  # the driver's copy (hub: the planned commit's snapshot)
        archive = pack_member(planned.name, folder, planned.digest)
        _register(spark, archive)
        members.append(replace(planned, archive=archive.name, archive_bytes=archive.stat().st_size))
    total = sum(m.archive_bytes for m in members)
    log.info("shipping %d member folders (%.1f MB) to the executors", len(members), total / 1e6)
    return replace(plan, members=tuple(members), shipped=True)


def unpacked(plan: MemberPlan) -> MemberPlan:
    """Executor side: the plan with each shipped member's ``folder`` set to where Spark unpacked its
    archive in this worker (``SparkFiles``); an archive that is not there is one line with the fix."""
    if not plan.shipped:
        return plan
    from pyspark import SparkFiles

    members = []
    for m in plan.members:
        if m.archive is None:
            members.append(m)
            continue
        folder = SparkFiles.get(m.archive)
        if not os.path.isdir(folder):
            raise ModelSourceError(
                f"member {m.name!r}: the shipped archive {m.archive} is not unpacked in this executor's "
                f"SparkFiles folder ({SparkFiles.getRootDirectory()}). Fix: ship the models again "
                "(a new session), or check spark.files.* settings."
            )
        members.append(replace(m, folder=folder))
    return replace(plan, members=tuple(members))


# ----------------------------------------------------------------------------- executor check

_PROBE_SCHEMA = "host string, python string, member string, problem string"


def _first_line(text: str) -> str:
    """The problem without its own fix (the driver's line names the fix for the cluster case)."""
    return " ".join(text.split(" Fix: ")[0].split()).rstrip(".")


@dataclass(frozen=True)
class ExecutorCheck:
    """What :func:`check_executors` saw: how many member checks ran, and the executors' Pythons."""

    checks: int
    pythons: tuple[str, ...]


def check_executors(spark: SparkSession, cfg: Config, plan: MemberPlan, tasks: int) -> ExecutorCheck:
    """Resolve every member on the executors (no model is loaded) in ``tasks`` small tasks.

    Raises :class:`ModelSourceError`, one line naming the member, the hosts and the fix, when no
    executor checked can use a member; a task never fails for it (no rows of worker errors). When only
    some can (one node's mount missing), a warning names them and Spark's retries do the rest.
    """
    models = cfg.models

    def probe(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import sys

        import pandas as pd

        from spark_ner.models import inspect_member

        for _ in batches:
            pass
        rows = []
        where = (socket.gethostname(), sys.executable)
        try:
            here = unpacked(plan)
        except SparkNerError as exc:
            rows.append((*where, "(shipped archives)", str(exc)))
        else:
            for m in models:
                try:
                    inspect_member(m, here.member(m.name))
                    rows.append((*where, m.name, ""))
                except (SparkNerError, OSError) as exc:
                    rows.append((*where, m.name, str(exc)))
        yield pd.DataFrame(rows, columns=["host", "python", "member", "problem"])

    n = max(1, tasks)
    found = spark.range(0, n, 1, n).mapInPandas(probe, _PROBE_SCHEMA).collect()  # type: ignore[arg-type]
    how = (
        "the shipped copies could not be used there"
        if plan.shipped
        else "pass --ship-models (ship_models=True) to send the member folders through Spark, or put "
        "them where every node sees them (hdfs://, s3://, abfss://, gs://, a /Volumes path, or every node's "
        "HF cache for hub members)"
    )
    by_member: dict[str, list[Any]] = {}
    for r in found:
        by_member.setdefault(r["member"], []).append(r)
    for member, rows in by_member.items():
        bad = [r for r in rows if r["problem"]]
        if not bad:
            continue
        hosts = ", ".join(sorted({r["host"] for r in bad}))
        counts = f"{len(bad)} of {len(rows)} checks failed, hosts {hosts}"
        problem = _first_line(bad[0]["problem"])
        if len(bad) == len(rows):  # no executor checked can use it: the job would only fail, task after task
            raise ModelSourceError(
                f"member {member!r} cannot be used on the executors ({counts}): {problem}. Fix: {how}."
            )
        # some can (a node whose mount is missing): Spark retries those tasks on the others
        log.warning(
            "member %r cannot be used on some executors (%s): %s. Their tasks fail and are retried on the others "
            "(spark.excludeOnFailure.enabled=true keeps them off those executors). Fix: %s.",
            member,
            counts,
            problem,
            how,
        )
    return ExecutorCheck(len(found), tuple(sorted({r["python"] for r in found})))


def resolve_on_executors(spark: SparkSession, cfg: Config) -> MemberPlan:
    """The run's member plan resolved where the models are: one small task on the executors runs
    :func:`~spark_ner.models.resolve_members`. For Spark Connect clients, which need only the config
    (the members live on the server's side: a Volume, a URI, the nodes' HF cache); a member missing
    there is one line naming it, the host and the fix."""

    def probe(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import json

        import pandas as pd

        from spark_ner.models import resolve_members

        for _ in batches:
            pass
        plan, problem = "", ""
        try:
            plan = json.dumps(asdict(resolve_members(cfg)))
        except (SparkNerError, OSError) as exc:
            problem = str(exc)
        yield pd.DataFrame({"host": [socket.gethostname()], "plan": [plan], "problem": [problem]})

    rows = spark.range(0, 1, 1, 1).mapInPandas(probe, "host string, plan string, problem string").collect()  # type: ignore[arg-type]
    (row,) = rows
    if row["problem"]:
        raise ModelSourceError(
            f"{_first_line(row['problem'])} (checked where the models are: the Spark server's executors, host "
            f"{row['host']}). Fix: put the members where the executors see them (a /Volumes path, a URI such as "
            "s3:// or abfss://, or every node's HF cache), or pass --ship-models (ship_models=True) from a client that "
            "holds them."
        )
    return plan_from_dict(json.loads(row["plan"]))


def plan_from_dict(data: dict[str, Any]) -> MemberPlan:
    """A :class:`~spark_ner.models.MemberPlan` from its ``asdict`` form (the executors' probe sends JSON)."""
    members = tuple(PlannedMember(**{**m, "source": SourceKind(m["source"])}) for m in data["members"])
    return MemberPlan(members, str(data["model_version"]), bool(data["shipped"]))


def shares_driver_disk(spark: SparkSession) -> bool:
    """``local[*]`` and ``local-cluster``: executors run on the driver's machine and see its folders."""
    if not jvm_available(spark):
        return False  # Spark Connect: the server's executors may be anywhere
    return str(spark.sparkContext.master).startswith("local")
