"""Members: check a member's source on the driver, then load and place it (Accelerate) where it runs.

Two halves on purpose. :func:`inspect_member` reads only data files (``config.json``, the weights'
digests) and is cheap enough for the Spark driver, so a bad folder, an unsafe weights file, a
changed pin or an unmapped label fails before any job starts. :func:`load_member` does the heavy
part in the executor's Python worker: tokenizer, model, device, precision.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from spark_ner.config import (
    ENTITY_TYPES,
    TAGS,
    Config,
    DeviceKind,
    MemberKind,
    ModelConfig,
    Precision,
    is_hub_id,
    is_uri,
)
from spark_ner.errors import (
    ConfigError,
    LabelMapError,
    ModelSourceError,
    UnsafeWeightsError,
    WeightsMismatchError,
)

log = logging.getLogger(__name__)

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_PREFIX_RE = re.compile(r"^([BIESLU])[-_](.+)$")
# Scheme prefixes mapped onto BIO: S-/U- (single) open an entity, E-/L- (end) continue one.
_PREFIX_TO_BIO = {"B": "B", "S": "B", "U": "B", "I": "I", "E": "I", "L": "I"}


# ----------------------------------------------------------------------------- label maps


def canonical_tag(label: str, label_map: dict[str, str], member: str) -> str:
    """Map one member label (BIO, BIOES or plain IO) to a canonical BIO tag from ``TAGS``.

    Plain IO labels (``PER``) become ``I-PER``: decoding opens an entity on an ``I-`` that follows
    no entity of its type, so IO members vote on the type and leave boundaries to the others.
    """
    if label == "O" or label_map.get(label) == "O":
        return "O"
    m = _PREFIX_RE.match(label)
    prefix, kind = (_PREFIX_TO_BIO[m.group(1)], m.group(2)) if m else ("I", label)
    target = label_map.get(kind, kind)
    if target not in ENTITY_TYPES and "*" in label_map:
        target = label_map["*"]
    if target == "O":
        return "O"
    if target not in ENTITY_TYPES:
        raise LabelMapError(
            f"member {member!r}: label {label!r} maps to no canonical tag ({', '.join(ENTITY_TYPES)}, O). "
            f'Fix: add `[models.label_map]` with `{kind} = "PER"` (or ORG/LOC/MISC/O), '
            f'or `"*" = "O"` to drop every unmapped label.'
        )
    return f"{prefix}-{target}"


def projection(id2label: dict[int, str], label_map: dict[str, str], member: str) -> np.ndarray:
    """A [num_labels, len(TAGS)] 0/1 matrix: member probabilities @ P = canonical tag probabilities."""
    n = len(id2label)
    if sorted(id2label) != list(range(n)):
        raise LabelMapError(f"member {member!r}: id2label ids must be 0..{n - 1}, got {sorted(id2label)}")
    proj = np.zeros((n, len(TAGS)), dtype=np.float32)
    for i, label in id2label.items():
        proj[i, TAGS.index(canonical_tag(str(label), label_map, member))] = 1.0
    return proj


# ----------------------------------------------------------------------------- sources


def file_sha256(path: Path) -> str:
    """sha256 of a file. Not memoised: a run resolves each member once (:func:`resolve_members`) and
    each worker checks its copy once per ensemble load, so there is nothing to remember between calls."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def publish_folder(tmp: Path, final: Path) -> None:
    """Swap a complete folder ``tmp`` into ``final`` with renames, so readers never see a half-built
    folder; an older ``final`` is put back if the swap fails, and removed only after it succeeded."""
    import shutil
    import tempfile

    old: Path | None = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
        os.replace(final, old / final.name)
    try:
        os.replace(tmp, final)
    except OSError:
        if old is not None and not final.exists():
            os.replace(old / final.name, final)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _network_reachable(host: str = "huggingface.co", timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class MemberSource:
    """What the driver learned about a member without loading it."""

    name: str
    path: str  # local folder (absolute) or hub id
    weight: float
    digest: str  # sha256 over the weights files' sha256 digests
    projection: np.ndarray
    model_type: str
    origin: str = ""  # the configured path: a folder, URI or hub id (``path`` is where it lies here)
    revision: str | None = None  # hub members: the resolved commit (part of model_version)
    kind: MemberKind = MemberKind.TRANSFORMER


class SourceKind(StrEnum):
    """Where a member's configured ``path`` points."""

    FOLDER = "folder"
    URI = "uri"
    HUB = "hub"


def source_kind(path: str) -> SourceKind:
    """``uri`` (fsspec), ``hub`` (an ``org/name`` id) or ``folder``, by the config's own rules."""
    return SourceKind.URI if is_uri(path) else SourceKind.HUB if is_hub_id(path) else SourceKind.FOLDER


@dataclass(frozen=True)
class PlannedMember:
    """One member as the driver resolved it: what every machine must find (digest, hub commit) and,
    when shipped, the archive that carries it and the folder it was unpacked into on this machine."""

    name: str
    path: str  # the configured path: folder, URI or hub id
    config_revision: str | None  # the configured revision (hub members), e.g. "main"
    source: SourceKind
    digest: str
    revision: str | None = None  # the hub commit the driver resolved: every machine loads this one
    archive: str | None = None  # file name registered with Spark; None: each machine resolves ``path`` itself
    archive_bytes: int = 0
    folder: str | None = None  # where the shipped copy lies on this machine (set by the worker before loading)


@dataclass(frozen=True)
class MemberPlan:
    """Every member resolved ONCE, on the driver, for one run: the digests and hub commits the run
    labels with, its ``model_version``, and whether the folders travel with the job (shipped).

    Passed explicitly to whatever needs the members (the UDF, the name cache, shipping, the executor
    check, :func:`spark_ner.ensemble.load_ensemble`); picklable and small. A hub member that follows a
    moving ref (``main``) is loaded at the commit resolved here on every machine, so a run never mixes
    two versions.
    """

    members: tuple[PlannedMember, ...]
    model_version: str
    shipped: bool = False

    def member(self, name: str) -> PlannedMember:
        """The planned member called ``name`` (the config's member names are unique)."""
        for m in self.members:
            if m.name == name:
                return m
        raise ModelSourceError(
            f"member {name!r} is not in this run's plan (planned: {', '.join(m.name for m in self.members)}). "
            "Fix: resolve the plan from the same config the ensemble is loaded with."
        )

    def summary(self) -> dict[str, Any]:
        """For the job's summary: whether the members were shipped, and each member's archive size."""
        keep = ("name", "source", "revision", "archive", "archive_bytes")
        return {
            "shipped": self.shipped,
            "members": [
                {k: (str(v) if k == "source" else v) for k, v in asdict(m).items() if k in keep} for m in self.members
            ],
        }


def resolve_members(cfg: Config) -> MemberPlan:
    """The driver's one resolution of every member (folders, URIs fetched, hub refs to commits, digests,
    pins, label maps) into a :class:`MemberPlan`; raises the first problem found, as one line."""
    sources = validate_sources(cfg)
    members = tuple(
        PlannedMember(
            name=m.name,
            path=m.path,
            config_revision=m.revision,
            source=source_kind(m.path),
            digest=s.digest,
            revision=s.revision,
        )
        for m, s in zip(cfg.models, sources, strict=True)
    )
    return MemberPlan(members, model_version(cfg, sources))


def hf_offline() -> bool:
    """``HF_HUB_OFFLINE`` read now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def hf_hub_cache() -> Path:
    """``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``, read now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


#: files a hub member needs (pickle weights only where the member allows them)
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "merges.txt", "vocab.*"]


def hub_snapshot(model: ModelConfig) -> tuple[Path, str]:
    """The local snapshot folder of a hub member at its revision, and the resolved commit.

    Offline (``HF_HUB_OFFLINE=1`` or no network) only the local cache is read: a member pre-filled
    there (``models--ORG--NAME/snapshots/<commit>/``, ``refs/<revision>``) loads, a missing one is
    one line saying how to pre-fill the cache.
    """
    from huggingface_hub import snapshot_download

    offline = hf_offline()
    local_only = offline or not _network_reachable()
    cache = hf_hub_cache()
    patterns = [*_HUB_PATTERNS, *(["*.bin"] if model.allow_pickle else [])]
    rev = model.revision or "main"
    try:
        folder = Path(
            snapshot_download(
                model.path,
                revision=model.revision,
                cache_dir=str(cache),
                local_files_only=local_only,
                allow_patterns=patterns,
            )
        )
    except (OSError, ValueError) as exc:
        if not local_only:
            raise ModelSourceError(
                f"member {model.name!r}: cannot download hub id {model.path!r} at revision {rev!r}: {exc}. "
                "Fix: check the id and revision, and the network or HF_TOKEN."
            ) from None
        why = "HF_HUB_OFFLINE is set" if offline else "no network"
        raise ModelSourceError(
            f"member {model.name!r}: {model.path!r} is a hub id, but this machine is offline ({why}) and revision "
            f"{rev!r} is not in the local Hugging Face cache {str(cache)!r}. Fix: pre-fill the cache where there is "
            f"a network with "
            f"`HF_HUB_CACHE={cache} hf download {model.path} --revision {rev}` (huggingface-cli download on older "
            "hubs) and copy that cache folder to every node (or point HF_HUB_CACHE at storage they share), "
            "or pass --ship-models to send the driver's copy."
        ) from None
    return folder, folder.name  # snapshots/<commit>: the folder is named by the resolved commit


def locate_member(model: ModelConfig, planned: PlannedMember | None = None) -> tuple[Path, str | None]:
    """The member's folder on this machine (and the hub commit): a shipped copy, a fetched URI, a hub
    snapshot or the configured folder. Nothing is loaded. With the driver's ``planned`` member, a hub
    member is read at the commit the driver resolved (not wherever its ref points now)."""
    if planned is not None and planned.folder is not None:
        return Path(planned.folder), planned.revision
    if is_uri(model.path):
        from spark_ner.fetch import fetch_member

        return fetch_member(model.path, model.name, file_sha256), None
    if is_hub_id(model.path):
        if planned is not None and planned.revision is not None:
            return hub_snapshot(replace(model, revision=planned.revision))
        return hub_snapshot(model)
    return Path(model.path), None


def _weights_files(folder: Path, model: ModelConfig) -> list[Path]:
    if (folder / SAFE_INDEX).is_file():
        index = json.loads((folder / SAFE_INDEX).read_text())
        return sorted({folder / f for f in index.get("weight_map", {}).values()})
    if (folder / SAFE_WEIGHTS).is_file():
        return [folder / SAFE_WEIGHTS]
    pickles = [folder / p for p in PICKLE_WEIGHTS if (folder / p).is_file()]
    if pickles and not model.allow_pickle:
        raise UnsafeWeightsError(
            f"member {model.name!r}: {folder} holds only pickle weights ({pickles[0].name}), which can run "
            'code when loaded. Fix: convert once with `python -c "from transformers import '
            "AutoModelForTokenClassification as M; M.from_pretrained('DIR').save_pretrained('DIR', "
            'safe_serialization=True)"` in a trusted environment, or set allow_pickle = true for this member.'
        )
    if pickles:
        return pickles
    raise ModelSourceError(
        f"member {model.name!r}: no weights in {folder} (expected {SAFE_WEIGHTS}). "
        "Fix: point `path` at a folder saved with save_pretrained, or run `spark-ner build-models`."
    )


_MAX_SAFETENSORS_HEADER = 100 * 2**20  # the format's own limit


def check_safetensors(path: Path, member: str) -> None:
    """A truncated or corrupt safetensors file fails here, on the driver, by reading its header only.

    The format is an 8-byte little-endian header length, a JSON header whose tensors' ``data_offsets``
    index into the data that follows, and nothing after the last tensor. Hashing alone cannot tell a
    half-copied file from a good one (without a pin), and otherwise every executor would fail to load it.
    """
    fix = "Fix: copy the file again, or rebuild the member (`spark-ner build-models` for the starter members)."
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError(f"{size} bytes, shorter than the 8-byte header length")
            n = int.from_bytes(head, "little")
            if n > min(size - 8, _MAX_SAFETENSORS_HEADER):
                raise ValueError(f"header length {n} does not fit in a {size}-byte file")
            header = json.loads(fh.read(n))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        end = 0
        for key, info in header.items():
            if key == "__metadata__":
                continue
            offsets = info.get("data_offsets") if isinstance(info, dict) else None
            if not (
                isinstance(offsets, list)
                and len(offsets) == 2
                and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1]
            ):
                raise ValueError("a tensor entry has no valid data_offsets")
            end = max(end, offsets[1])
    except OSError as exc:
        raise ModelSourceError(f"member {member!r}: cannot read {path}: {exc}") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelSourceError(f"member {member!r}: {path} is not a valid safetensors file ({exc}). {fix}") from None
    if size != 8 + n + end:
        raise ModelSourceError(
            f"member {member!r}: {path} is truncated or corrupt: {size} bytes on disk, its header describes "
            f"{8 + n + end}. {fix}"
        )


def inspect_lexicon(model: ModelConfig, planned: PlannedMember | None = None) -> MemberSource:
    """A lexicon member checked as data: its file's header and digest, the pin, its label set's map."""
    from spark_ner.lexicon import read_header

    folder, _ = locate_member(model, planned)
    header = read_header(folder, model.name)
    if model.sha256 is not None and header.sha256 != model.sha256:
        raise WeightsMismatchError(
            f"member {model.name!r}: lexicon {folder} has sha256 {header.sha256}, but the config pins "
            f"{model.sha256}. Fix: rebuild it (`spark-ner build-models`), or update sha256 if the change is intended."
        )
    if planned is not None and header.sha256 != planned.digest:
        raise WeightsMismatchError(
            f"member {model.name!r}: the lexicon found on this machine ({folder}, digest {header.sha256[:16]}) "
            f"differs from the one the driver checked ({planned.digest[:16]}). Fix: give every node the same "
            "copy, pin sha256, or pass --ship-models to send the driver's copy."
        )
    id2label = dict(enumerate(("O", *header.categories)))
    proj = projection(id2label, dict(model.label_map), model.name)
    return MemberSource(
        model.name, str(folder), model.weight, header.sha256, proj, "lexicon", model.path, None, MemberKind.LEXICON
    )


def inspect_member(model: ModelConfig, planned: PlannedMember | None = None) -> MemberSource:
    """Check one member's source as data only: folder, config.json, weights, pin, label map; with the
    driver's ``planned`` member, also that this machine's copy is the one the driver resolved."""
    if model.kind == MemberKind.LEXICON:
        return inspect_lexicon(model, planned)
    folder, revision = locate_member(model, planned)
    if not folder.is_dir():
        raise ModelSourceError(
            f"member {model.name!r}: model folder {str(folder)!r} does not exist or is not a folder. "
            "Fix: run `spark-ner build-models` (starter members), or set the member's path to a "
            "folder saved with save_pretrained (or set SPARK_NER_MODEL_DIR)."
        )
    cfg_file = folder / "config.json"
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelSourceError(f"member {model.name!r}: {cfg_file} is missing") from None
    except (OSError, ValueError) as exc:
        raise ModelSourceError(f"member {model.name!r}: cannot read {cfg_file}: {exc}") from None
    files = _weights_files(folder, model)
    for f in files:
        if f.suffix == ".safetensors":
            check_safetensors(f, model.name)
    try:
        digests = [file_sha256(f) for f in files]
    except OSError as exc:
        raise ModelSourceError(f"member {model.name!r}: cannot read weights in {folder}: {exc}") from None
    if model.sha256 is not None:
        got = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
        if got != model.sha256:
            raise WeightsMismatchError(
                f"member {model.name!r}: weights {files[0] if len(files) == 1 else folder} have sha256 "
                f"{got}, but the config pins {model.sha256}. The weights changed since they were pinned: "
                "rebuild them, or update sha256 if the change is intended."
            )
    id2label = {int(k): str(v) for k, v in (cfg.get("id2label") or {}).items()}
    if not id2label:
        raise LabelMapError(f"member {model.name!r}: {cfg_file} has no id2label; it is not a token classifier")
    proj = projection(id2label, dict(model.label_map), model.name)
    digest = hashlib.sha256("".join(digests).encode()).hexdigest()
    if planned is not None and (digest, revision) != (planned.digest, planned.revision):
        raise WeightsMismatchError(
            f"member {model.name!r}: the weights found on this machine ({folder}, digest {digest[:16]}, revision "
            f"{revision}) differ from those the driver checked (digest {planned.digest[:16]}, revision "
            f"{planned.revision}). Fix: give every node the same copy, pin sha256 (and revision), or pass "
            "--ship-models to send the driver's copy."
        )
    model_type = str(cfg.get("model_type", ""))
    return MemberSource(model.name, str(folder), model.weight, digest, proj, model_type, model.path, revision)


def validate_sources(cfg: Config, plan: MemberPlan | None = None) -> list[MemberSource]:
    """Every member checked on this machine as data: raises the first problem found. With the driver's
    ``plan``: each copy here must be the one the driver resolved (a shipped copy where the plan says)."""
    if plan is None:
        return [inspect_member(m) for m in cfg.models]
    return [inspect_member(m, plan.member(m.name)) for m in cfg.models]


def model_version(cfg: Config, sources: list[MemberSource]) -> str:
    """Member names + a hash of their weights and of the label-relevant resolved config."""
    h = hashlib.sha256(cfg.fingerprint().encode())
    for s in sources:
        h.update(f"{s.name}:{s.weight}:{s.digest}".encode())
        if s.revision:  # hub members: a new commit is a new version even with the same weights
            h.update(f"@{s.revision}".encode())
    return f"{'+'.join(s.name for s in sources)}@{h.hexdigest()[:12]}"


# ----------------------------------------------------------------------------- placement


def task_gpu_index() -> int | None:
    """The GPU Spark assigned to the current task (``TaskContext.resources()['gpu']``), if any."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return None
    ctx = TaskContext.get()
    if ctx is None:
        return None
    gpus = ctx.resources().get("gpu")
    if gpus is None or not gpus.addresses:
        return None
    return int(gpus.addresses[0])


def task_cpus() -> int:
    """Cores this Python worker may use: Spark's ``spark.task.cpus`` in a task, else the machine's."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if ctx is not None:
            return max(1, int(ctx.cpus()))
    except ImportError:
        pass
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def resolve_device(kind: DeviceKind) -> str:
    """``cuda:N`` for the task's GPU (or the first visible one), else ``cpu``."""
    import torch

    if kind == DeviceKind.CPU:
        return "cpu"
    if not torch.cuda.is_available():
        if kind == DeviceKind.CUDA:
            raise ModelSourceError("ensemble.device = 'cuda' but no CUDA GPU is visible; use 'auto' or 'cpu'")
        return "cpu"
    idx = task_gpu_index()
    if idx is None:
        idx = int(os.environ.get("LOCAL_RANK", "0"))
    # A discovery script reports physical ids; under CUDA_VISIBLE_DEVICES they are renumbered.
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        if str(idx) in ids:
            idx = ids.index(str(idx))
    return f"cuda:{idx % torch.cuda.device_count()}"


def resolve_dtype(precision: Precision, device: str) -> Any:
    """``auto`` = fp16 on CUDA, fp32 on CPU (bf16 on a CPU without native support is ~600x slower)."""
    import torch

    if precision == Precision.AUTO:
        return torch.float16 if device.startswith("cuda") else torch.float32
    if precision == Precision.INT8:
        if device.startswith("cuda"):
            raise ConfigError(
                f"ensemble.precision = 'int8' is a CPU path, but the device is {device}; "
                "use 'fp16' (or 'auto') on a GPU, or set ensemble.device = 'cpu'"
            )
        return torch.float32  # loaded in fp32, then its Linear layers quantized (see load_member)
    return {Precision.FP16: torch.float16, Precision.BF16: torch.bfloat16, Precision.FP32: torch.float32}[precision]


@dataclass
class Member:
    """A loaded member: tokenizer, placed model and its canonical-tag projection."""

    source: MemberSource
    tokenizer: Any
    model: Any
    device: str
    dtype: Any
    projection: Any  # torch tensor [num_labels, len(TAGS)] on the device, fp32
    #: the model split as ``head(encoder(...)[0])`` (see :func:`split_head`); None: call ``model`` whole
    encoder: Any = None
    head: Any = None
    #: rows of one length (no padding) may take position ids and token types as one shared [1, length]
    #: row (see :func:`shared_row_inputs`): (the first position id, the arguments), or None
    row_inputs: tuple[int, tuple[str, ...]] | None = None

    @property
    def forward_module(self) -> Any:
        """The module called once per batch: the encoder when the classifier is split off, else the model
        (fault injection and spies wrap its ``forward``)."""
        return self.encoder if self.head is not None else self.model


def needs_prefix_space(tokenizer: Any) -> bool:
    """Byte-level BPE (RoBERTa, GPT-2 style) needs a prefix space to tokenize pre-split words."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or backend.pre_tokenizer is None:
        return False
    state = json.loads(backend.pre_tokenizer.__getstate__())
    return "ByteLevel" in json.dumps(state)


def load_tokenizer(path: str, max_length: int | None = None) -> Any:
    """A fast tokenizer, read as data only; byte-level BPE ones get ``add_prefix_space=True``.

    The one loader for training (``spark-ner train``) and inference, so a member sees the same
    token ids for the same words in both. ``max_length`` sets ``model_max_length`` (training).
    """
    from transformers import AutoTokenizer

    local = not is_hub_id(path)
    tok = AutoTokenizer.from_pretrained(path, use_fast=True, trust_remote_code=False, local_files_only=local)
    if not getattr(tok, "is_fast", False):
        raise ModelSourceError(
            f"{path}: no fast tokenizer (tokenizer.json) found; word offsets need one. "
            "Fix: save the tokenizer with a transformers version that writes tokenizer.json."
        )
    if needs_prefix_space(tok):
        tok = AutoTokenizer.from_pretrained(
            path, use_fast=True, trust_remote_code=False, local_files_only=local, add_prefix_space=True
        )
    if max_length is not None:
        tok.model_max_length = max_length
    return tok


def dtype_argument() -> str:
    """``dtype`` for transformers >= 4.56, ``torch_dtype`` before (4.x clusters: Databricks 15.4/16.4 LTS)."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def quantize_int8(model: Any) -> Any:
    """Linear layers dynamically quantized to int8 with ``torch.ao.quantization.quantize_dynamic``.

    torch 2.13 marks ``torch.ao.quantization`` deprecated; its replacement, torchao's
    ``Int8DynamicActivationInt8WeightConfig``, installs on torch 2.13 CPU but measured 1.7-2.0x fp32
    where this is 4-5x (without torch.compile; BENCHMARKS.md), so this path stays until it goes:
    ``tests/test_ensemble.py::test_int8_api_is_still_in_torch`` fails the day a torch drops it.
    The two known deprecation warnings are silenced here (once per member, not per batch).
    """
    import warnings

    import torch

    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError:
        raise ConfigError(
            f"ensemble.precision = 'int8' needs torch.ao.quantization.quantize_dynamic, which torch "
            f"{torch.__version__} no longer has. Fix: set ensemble.precision = 'fp32' (or 'auto'), or use a torch "
            "that still has it (2.13 does)."
        ) from None
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*torch\.ao\.quantization is deprecated", category=DeprecationWarning
        )
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions", category=UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _probe_ids(module: Any) -> Any:
    """A [2, 6] batch of token ids on ``module``'s device for the load-time checks below (no padding id
    inside: rows of one length), or None when its config has no vocabulary to draw them from."""
    import torch

    config = getattr(module, "config", None)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    if vocab < 8:
        return None
    device = next(module.parameters()).device
    probe = (torch.arange(2 * 6, device=device).reshape(2, 6) * 7 + 5) % vocab
    pad_id = getattr(config, "pad_token_id", None)
    if pad_id is not None:
        probe[probe == pad_id] = (int(pad_id) + 1) % vocab
    return probe


def split_head(model: Any) -> tuple[Any, Any] | None:
    """``(encoder, classifier)`` when ``model``'s logits are ``classifier(encoder(...)[0])``, else None.

    Why: decoding reads one position per word, so the classifier need only run on those rows, not
    on every token (a name of 25 tokens has ~5 words); on zero-layer members this is ~30% of the
    forward (issue 22). Token-classification heads of BERT, RoBERTa, XLM-R, DistilBERT, DeBERTa,
    ELECTRA are dropout + one Linear; architectures with more in their head (ModernBERT's ``head``)
    fail the check below and keep the whole-model call. The split is checked, not assumed: one
    probe batch through both ways must give the same logits.
    """
    import torch

    encoder = getattr(model, "base_model", None)
    head = getattr(model, "classifier", None)
    if encoder is None or encoder is model or not isinstance(head, torch.nn.Module):
        return None
    probe = _probe_ids(model)
    if probe is None:
        return None
    try:
        with torch.inference_mode():
            whole = model(input_ids=probe).logits.float()
            parts = head(encoder(input_ids=probe)[0]).float()
    except Exception as exc:  # any architecture whose parts do not take these arguments
        log.info("classifier not split from %s (%s): the whole model runs", type(model).__name__, exc)
        return None
    if whole.shape != parts.shape or not torch.allclose(whole, parts, rtol=1e-3, atol=1e-3):
        log.info("classifier not split from %s: its head is more than a Linear", type(model).__name__)
        return None
    return encoder, head


def shared_row_inputs(module: Any) -> tuple[int, tuple[str, ...]] | None:
    """``(first position id, argument names)`` when ``module`` gives the same output for rows without
    padding with its position ids (and token types) passed as one [1, length] row as without them.

    Why: left to itself, a BERT or RoBERTa embedding layer builds a [rows x length] token-type tensor and
    embeds it, and RoBERTa also counts each row's non-padding tokens for its positions: ~25% of a small
    member's forward on the host (issue 22); a shared row broadcasts instead. Positions start at 0, or
    after the padding id where the embeddings count from it (RoBERTa, XLM-R). Checked on a probe batch
    both ways, not assumed; any module that fails keeps its own inputs.
    """
    import torch

    emb = getattr(getattr(module, "base_model", module), "embeddings", None)
    probe = _probe_ids(module)
    if emb is None or probe is None:
        return None
    pad = getattr(emb, "padding_idx", None)
    start = int(pad) + 1 if pad is not None and hasattr(emb, "create_position_ids_from_input_ids") else 0
    device = probe.device
    row = {
        "position_ids": torch.arange(start, start + 6, device=device).unsqueeze(0),
        "token_type_ids": torch.zeros(1, 6, dtype=torch.long, device=device),
    }
    for names in (("position_ids", "token_type_ids"), ("position_ids",)):
        try:
            with torch.inference_mode():
                own = module(input_ids=probe)[0].float()
                shared = module(input_ids=probe, **{k: row[k] for k in names})[0].float()
        except Exception:  # a module that does not take these arguments keeps its own
            continue
        if own.shape == shared.shape and torch.allclose(own, shared, rtol=1e-5, atol=1e-5):
            return start, names
    log.info("%s: position ids and token types left to the model", type(module).__name__)
    return None


#: transformers attention-interface names :func:`use_attention` registers: SDPA, and :func:`short_attention`
SDPA_ATTENTION = "spark_ner_sdpa"
SHORT_ATTENTION = "spark_ner_sdpa_matmul"  # "sdpa" in it: transformers checks the model supports SDPA
#: the longest sequence :func:`short_attention` computes itself; longer ones go to SDPA
SHORT_ATTENTION_MAX = 64
#: keyword arguments :func:`short_attention` may be given and still compute itself (they do not change
#: attention); any other one that is set (``is_causal=True`` too) sends the call to SDPA
_SHORT_IGNORED = frozenset({"position_ids", "output_attentions"})


def unpadded_mask(**kwargs: Any) -> Any:
    """transformers' SDPA mask, but none at all for a bidirectional forward given no padding mask.

    Why: transformers before ~5.2x builds the full mask whenever a CUDA stream is capturing (it cannot
    look at the padding mask then, even when there is none), and a mask keeps SDPA off its fused
    kernels: on the H200 run of 2026-12-04 every captured forward of ``ensemble.cuda_graphs`` ran the
    math kernel with a materialised mask (4,096 x 12 tokens: 38 ms replayed against 32 ms eager with
    flash). The ensemble passes no padding mask exactly when no row is padded. transformers calls
    mask functions with keywords only.
    """
    from transformers.masking_utils import sdpa_mask

    if (
        kwargs.get("attention_mask") is None
        and kwargs.get("allow_is_bidirectional_skip")
        and not kwargs.get("local_size")
    ):
        return None
    return sdpa_mask(**kwargs)


def short_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """Attention as two batched matmuls and a softmax, for unmasked inference batches of short names.

    Why: at names' 5-15 tokens SDPA's fused kernels work in tiles of 64-128 positions: on the H200 run
    of 2026-12-04 flash attention took 42% of an fp16 BERT-base forward's device time at 4,096 x 12
    tokens, more than all its GEMMs. Here the scores are [rows, heads, length, length], a few MB; the
    softmax runs in fp32. Masked or longer batches, training, causal or grouped-query attention, and
    any other argument the model passes (a position bias, attention sinks, a soft cap, a window) go to
    transformers' SDPA function unchanged. Query/key/value are [rows, heads, length, head_dim]; the
    output is [rows, length, heads, head_dim], as SDPA's.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if (
        attention_mask is not None
        or query.shape[-2] > SHORT_ATTENTION_MAX
        or module.training
        or getattr(module, "is_causal", False)
        or key.shape[1] != query.shape[1]
        or any(v is not None and v is not False for k, v in kwargs.items() if k not in _SHORT_IGNORED)
    ):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query * scale, key.transpose(-1, -2))  # scaled first: fp16 headroom, as SDPA
    probs = torch.softmax(scores.float(), dim=-1).to(query.dtype)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), None


def use_attention(model: Any, short: bool) -> bool:
    """Switch ``model`` to this package's attention: SDPA, or with ``short`` :func:`short_attention`,
    both with :func:`unpadded_mask` (registered once with transformers' attention and mask interfaces).
    False, with the reason logged, where this transformers has no attention interface (before 4.48)
    or the model does not dispatch through it: the model keeps its own."""
    try:
        from transformers import AttentionInterface
        from transformers.integrations.sdpa_attention import sdpa_attention_forward
        from transformers.masking_utils import AttentionMaskInterface
    except ImportError:
        log.info("ensemble.attention: this transformers has no AttentionInterface; the model's own attention kept")
        return False
    name = SHORT_ATTENTION if short else SDPA_ATTENTION
    AttentionInterface.register(name, short_attention if short else sdpa_attention_forward)
    AttentionMaskInterface.register(name, unpadded_mask)
    try:
        model.set_attn_implementation(name)
    except (ValueError, AttributeError) as exc:
        log.info("%s: attention %s not taken (%s); its own kept", type(model).__name__, name, exc)
        return False
    return bool(model.config._attn_implementation == name)


def load_member(
    source: MemberSource, device: str, dtype: Any, allow_pickle: bool = False, int8: bool = False
) -> Member:
    """Load tokenizer and model and place the model on ``device`` with Accelerate (``device_map``).

    ``int8`` (CPU only): Linear layers dynamically quantized to int8 after loading in fp32; the
    classifier's softmax and the projection stay fp32.
    """
    import torch
    from transformers import AutoModelForTokenClassification

    tokenizer = load_tokenizer(source.path)  # a local folder: URIs and hub ids were resolved by inspect_member
    model = None
    for attention in ("sdpa", "eager"):  # transformers < 4.48 has no SDPA for RoBERTa: its default, eager
        try:
            model = AutoModelForTokenClassification.from_pretrained(
                source.path,
                device_map={"": device},  # placed by Accelerate's big-model dispatch
                trust_remote_code=False,
                use_safetensors=not allow_pickle,
                local_files_only=True,
                attn_implementation=attention,
                **{dtype_argument(): dtype},
            )
            break
        except ValueError as exc:
            if attention != "sdpa" or "scaled_dot_product_attention" not in str(exc):
                raise
            log.info("member %s: no SDPA attention for %s in this transformers; eager", source.name, source.model_type)
    assert model is not None
    model.eval()
    if int8:
        model = quantize_int8(model)
    proj = torch.from_numpy(source.projection).to(device=device, dtype=torch.float32)
    log.info("member %s loaded on %s (%s)", source.name, device, "int8" if int8 else str(dtype).replace("torch.", ""))
    encoder, head = split_head(model) or (None, None)
    row_inputs = shared_row_inputs(encoder if head is not None else model)
    return Member(source, tokenizer, model, device, dtype, proj, encoder, head, row_inputs)
