"""Members given as URIs: copy the folder once into a local cache, verified by sha256, and reuse it.

Why a copy: transformers loads from a local folder, and a Python worker cannot reach Hadoop's file
system classes (they live in the JVM). So each machine (the driver, every executor) copies the
folder through fsspec once, into ``$SPARK_NER_FETCH_DIR`` (default ``~/.cache/spark-ner/fetched``,
or the temp folder where home is not writable), and later tasks and runs reuse the copy.

A copy is written into a hidden temporary sibling and renamed into place with a manifest of every
file's size, remote stamp (ETag or mtime) and sha256, so a half-written copy is never used. A
cached copy is reused only while the remote listing still matches the manifest and every local
file still has its recorded sha256; otherwise it is copied again. The member's ``sha256`` pin is
then checked on the copy like on any local folder (``spark_ner.models.inspect_member``).

``dbfs:/x`` is read through the ``/dbfs`` mount where a Databricks node has one (``/Volumes/...``
is a plain path and never comes here); ``hdfs://`` needs pyarrow's libhdfs, ``s3://``/``s3a://``
s3fs, ``abfss://`` adlfs, ``gs://`` gcsfs, installed beside the package on every node.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spark_ner.errors import ModelSourceError
from spark_ner.uris import MLFLOW_SCHEMES, uri_scheme

log = logging.getLogger(__name__)

ENV_FETCH_DIR = "SPARK_NER_FETCH_DIR"
MANIFEST = ".spark-ner-fetch.json"
#: the package fsspec needs for each scheme (named in the error when it is missing)
BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "abfss": "adlfs", "abfs": "adlfs", "gs": "gcsfs", "hdfs": "pyarrow (libhdfs)"}
DBFS_MOUNT = Path("/dbfs")


def cache_root() -> Path:
    """``$SPARK_NER_FETCH_DIR``, else ``~/.cache/spark-ner/fetched``, else a per-user temp folder."""
    env = os.environ.get(ENV_FETCH_DIR)
    if env:
        return Path(env).expanduser()
    home = Path("~/.cache/spark-ner/fetched").expanduser()
    with contextlib.suppress(OSError):
        home.mkdir(parents=True, exist_ok=True)
        if os.access(home, os.W_OK):
            return home
    return Path(tempfile.gettempdir()) / f"spark-ner-fetched-{os.getuid() if hasattr(os, 'getuid') else 0}"


def local_folder_for(uri: str) -> Path:
    """Where ``uri`` is cached on this machine: the folder's name plus a hash of the whole URI."""
    key = hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]
    name = uri.rstrip("/").rsplit("/", 1)[-1] or "member"
    return cache_root() / f"{name}-{key}"


def _filesystem(uri: str, member: str) -> tuple[Any, str]:
    """(fsspec file system, path on it) for ``uri``; a missing backend is one line naming the package."""
    scheme = uri_scheme(uri) or "file"
    if scheme == "dbfs" and DBFS_MOUNT.is_dir():
        uri = str(DBFS_MOUNT / uri.split(":", 1)[1].lstrip("/"))
    try:
        import fsspec

        if scheme == "s3a":  # Hadoop's name for S3; fsspec's s3fs registers s3://
            uri = "s3" + uri[3:]
        if scheme == "dbfs" and not uri.startswith("/"):
            host, token = os.environ.get("DATABRICKS_HOST", ""), os.environ.get("DATABRICKS_TOKEN", "")
            fs = fsspec.filesystem("dbfs", instance=host.removeprefix("https://"), token=token)
            return fs, uri.split(":", 1)[1]
        return fsspec.core.url_to_fs(uri)  # type: ignore[no-any-return]
    except (ImportError, OSError, ValueError) as exc:  # no backend, no libhdfs, no credentials, a bad URI
        package = BACKENDS.get(scheme, "fsspec")
        raise ModelSourceError(
            f"member {member!r}: cannot open {uri!r}: {type(exc).__name__}: {exc}. Fix: pip install {package} "
            "beside spark-ner on the driver and every executor (with its credentials set), or copy the folder "
            "to a path every node sees."
        ) from None


def _stamp(info: dict[str, Any]) -> str:
    """What tells a changed remote file from the one cached: ETag, else mtime, else nothing."""
    for key in ("ETag", "etag", "md5_hash", "mtime", "last_modified", "LastModified", "modificationTime"):
        if info.get(key) is not None:
            return f"{key}={info[key]}"
    return ""


def _listing(fs: Any, root: str, member: str, uri: str) -> dict[str, dict[str, Any]]:
    """Relative path -> {size, stamp} of every file under ``root``."""
    try:
        found = fs.find(root, detail=True)
    except (OSError, ValueError) as exc:
        raise ModelSourceError(f"member {member!r}: cannot list {uri!r}: {exc}") from None
    base = root.rstrip("/")
    out: dict[str, dict[str, Any]] = {}
    for path, info in found.items():
        if info.get("type", "file") != "file":
            continue
        rel = str(path)[len(base) + 1 :] if str(path).startswith(base + "/") else Path(str(path)).name
        if not rel or rel == MANIFEST or ".." in Path(rel).parts:
            continue
        out[rel] = {"size": int(info.get("size") or 0), "stamp": _stamp(info)}
    if not out:
        raise ModelSourceError(
            f"member {member!r}: {uri!r} holds no files. Fix: point path at a folder saved with save_pretrained."
        )
    return out


def _valid_copy(folder: Path, remote: dict[str, dict[str, Any]], sha256: Callable[[Path], str]) -> bool:
    """The cached copy matches the remote listing and every file still has its recorded sha256."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if {k: {"size": v["size"], "stamp": v["stamp"]} for k, v in files.items()} != remote:
            return False
        return all(sha256(folder / rel) == entry["sha256"] for rel, entry in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _copy(
    fs: Any,
    root: str,
    remote: dict[str, dict[str, Any]],
    dest: Path,
    uri: str,
    member: str,
    sha256: Callable[[Path], str],
) -> None:
    """Copy every file into a temporary sibling while hashing it, then rename the folder into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    files: dict[str, dict[str, Any]] = {}
    try:
        for rel, entry in sorted(remote.items()):
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            with fs.open(f"{root.rstrip('/')}/{rel}", "rb") as src, target.open("wb") as out:
                for chunk in iter(lambda: src.read(1 << 22), b""):
                    h.update(chunk)
                    out.write(chunk)
            size = target.stat().st_size
            if size != entry["size"]:
                raise ModelSourceError(
                    f"member {member!r}: {uri}/{rel} changed while it was copied ({size} bytes read, "
                    f"{entry['size']} listed). Fix: run again once the folder is complete."
                )
            files[rel] = {**entry, "sha256": h.hexdigest()}
        manifest = {"uri": uri, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        old = None
        if dest.exists():  # stale copy: move it aside first (rename is atomic, rmtree is not)
            old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
            with contextlib.suppress(OSError):
                dest.rename(old)
        try:
            tmp.rename(dest)
        except OSError:
            if not _valid_copy(dest, remote, sha256):  # another worker won the race with a good copy, or not
                if old is not None and not dest.exists():
                    with contextlib.suppress(OSError):  # roll back: a failed refresh leaves the old copy
                        old.rename(dest)
                        old = None
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise ModelSourceError(f"member {member!r}: cannot copy {uri!r} to {dest}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_IMMUTABLE_MODEL = re.compile(r"^models:/[^/@]+/\d+/?$")  # models:/name/3 (an alias or "latest" can move)
_MLFLOW_FETCHED: dict[str, Path] = {}  # per process: a moving URI is downloaded once per worker


def fetch_mlflow_member(uri: str, member: str) -> Path:
    """Member ``member`` of the spark-ner model at ``uri`` (``models:/name/3``, ``models:/name@alias``,
    ``runs:/<run id>/spark-ner``): its folder (or lexicon file) in the downloaded model.
    Why: a team builds the starter once, registers it, and every cluster reads it from the registry."""
    return _member_in_model(download_mlflow_model(uri, member), uri, member)


def logged_config(uri: str) -> dict[str, Any]:
    """The config a spark-ner MLflow model was logged with, each member's path set to ``uri`` (for
    ``base = "models:/name/3"``: members, label maps and weights come from the registry)."""
    import tomllib

    packed = _packed(download_mlflow_model(uri, "base"), uri, "base")
    data = tomllib.loads((packed / "config.toml").read_text(encoding="utf-8"))
    for m in data.get("models", []):
        if isinstance(m, dict):
            m["path"] = uri
    return data


def download_mlflow_model(uri: str, member: str) -> Path:
    """The model at ``uri`` downloaded with MLflow once per machine (a fixed version or a run is reused
    from the cache; an alias or ``latest``, which can move, once per process)."""
    dest = local_folder_for(uri)
    immutable = uri.startswith("runs:/") or bool(_IMMUTABLE_MODEL.match(uri))
    if (immutable and (dest / MANIFEST).is_file()) or _MLFLOW_FETCHED.get(uri) == dest:
        return dest
    try:
        import mlflow
    except ImportError:
        raise ModelSourceError(
            f"member {member!r}: {uri!r} is an MLflow model, but MLflow is not installed here. "
            "Fix: pip install 'spark-ner[mlflow]' on the driver and every executor (Databricks ML runtimes "
            "ship it), or pass --ship-models so only the driver downloads it."
        ) from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp))
        (tmp / MANIFEST).write_text(json.dumps({"uri": uri}), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    except Exception as exc:  # MLflow raises its own types: no such model, no credentials, no network
        if not (dest / MANIFEST).is_file():
            raise ModelSourceError(
                f"member {member!r}: cannot download {uri!r} with MLflow: {type(exc).__name__}: {exc}. Fix: "
                "check the name and version (or alias), MLFLOW_TRACKING_URI / the registry URI "
                "(databricks-uc for Unity Catalog) and the credentials on every node, or pass --ship-models."
            ) from None
        log.warning("member %s: cannot refresh %s (%s); using the copy downloaded before", member, uri, exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _MLFLOW_FETCHED[uri] = dest
    return dest


def _packed(model_dir: Path, uri: str, member: str) -> Path:
    """The folder holding the logged ensemble (config.toml, pins.json, members/)."""
    pins = sorted(model_dir.rglob("pins.json"))
    if not pins or not (pins[0].parent / "config.toml").is_file():
        raise ModelSourceError(
            f"member {member!r}: {uri!r} is not a model logged by `spark-ner log-model` (no pins.json and "
            "config.toml in it). Fix: point at a spark-ner model, or log one with `spark-ner log-model`."
        )
    return pins[0].parent


def _member_in_model(model_dir: Path, uri: str, member: str) -> Path:
    """The path the logged model's own config gives ``member`` (a folder, or a lexicon's file)."""
    import tomllib

    packed = _packed(model_dir, uri, member)
    logged = tomllib.loads((packed / "config.toml").read_text(encoding="utf-8")).get("models", [])
    paths = {m.get("name"): m.get("path") for m in logged if isinstance(m, dict)}
    if member not in paths:
        raise ModelSourceError(
            f"member {member!r}: the model {uri!r} has no member of that name; it holds "
            f"{', '.join(sorted(map(str, paths)))}. Fix: name the member as it was logged."
        )
    return (packed / str(paths[member])).resolve()


def fetch_member(uri: str, member: str, sha256: Callable[[Path], str]) -> Path:
    """The local copy of the folder at ``uri`` (copied now unless a valid copy is cached).

    ``sha256``: the file digest to check a cached copy with (``spark_ner.models.file_sha256``, which
    caches digests per process, so a worker hashes each file once).
    """
    if uri_scheme(uri) in MLFLOW_SCHEMES:
        return fetch_mlflow_member(uri, member)
    fs, root = _filesystem(uri, member)
    remote = _listing(fs, root, member, uri)
    dest = local_folder_for(uri)
    if _valid_copy(dest, remote, sha256):
        log.debug("member %s: cached copy of %s at %s", member, uri, dest)
        return dest
    log.info("member %s: copying %s (%d files) to %s", member, uri, len(remote), dest)
    _copy(fs, root, remote, dest, uri, member, sha256)
    return dest
