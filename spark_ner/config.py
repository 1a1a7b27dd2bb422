"""Configuration: one commented defaults file, a strict schema, dotted overrides, env precedence.

Precedence (highest first): function argument > environment (``SPARK_NER_CONFIG``,
``SPARK_NER_MODEL_DIR``) > config file > built-in defaults (``spark_ner/default_config.toml``,
which ``conf/default.toml`` links to).

The result is a frozen, picklable :class:`Config` that is shipped to Spark executors as-is, so the
driver and every executor agree on one resolved configuration (and on its fingerprint).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from spark_ner.errors import ConfigError
from spark_ner.uris import MLFLOW_SCHEMES, uri_scheme

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.toml")
ENV_CONFIG = "SPARK_NER_CONFIG"
ENV_MODEL_DIR = "SPARK_NER_MODEL_DIR"
DEFAULT_MODEL_DIR = Path("~/.cache/spark-ner/models")

#: Canonical entity types, in the order used by every probability array in the package.
ENTITY_TYPES: tuple[str, ...] = ("PER", "ORG", "LOC", "MISC")
#: Canonical BIO tags: index 0 is O, then B-/I- per entity type.
TAGS: tuple[str, ...] = ("O", *tuple(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I")))
#: Name-level labels reported to users (index 0 = no entity).
NAME_LABELS: tuple[str, ...] = ("NONE", "PERSON", "ORGANIZATION", "LOCATION", "MISC")
#: The output contract (README, "What you get"): the fields of each result row, in order. The Spark
#: struct, the ``ner_*`` columns and the name cache's columns are all derived from this tuple.
OUTPUT_FIELDS: tuple[str, ...] = ("label", "score", "agreement", "entities", "model_version", "error")
#: The fields of one entity span in ``entities``; ``name[start:end] == text``.
ENTITY_FIELDS: tuple[str, ...] = ("text", "label", "start", "end", "score")


class Strategy(StrEnum):
    """How the members' word probabilities are combined."""

    MEAN = "mean"
    MAX = "max"
    VOTE = "vote"


class Aggregation(StrEnum):
    """How a word's sub-token probabilities become the word's probability."""

    FIRST = "first"
    AVERAGE = "average"
    MAX = "max"


class Precision(StrEnum):
    """Forward-pass precision; ``auto`` is fp16 on CUDA and fp32 on CPU.

    ``int8`` is an opt-in CPU path: the members' Linear layers dynamically quantized to int8
    (about 3x fp32 on the project's CPU, with a small accuracy cost recorded in EVALUATION.md).
    """

    AUTO = "auto"
    FP16 = "fp16"
    BF16 = "bf16"
    FP32 = "fp32"
    INT8 = "int8"


class CpuParallel(StrEnum):
    """How a CPU worker's ``num_threads`` threads share the work.

    ``batches``: each thread runs whole batches single-threaded (no per-op synchronisation, the
    weights shared in cache by threads on the same member: ~20% faster for short names on the
    project's CPU, BENCHMARKS.md). ``ops``: every op split over all threads (torch's default).
    """

    BATCHES = "batches"
    OPS = "ops"


class Attention(StrEnum):
    """The attention kernel the members' forwards take (``ensemble.attention``).

    ``auto``: SDPA, on CUDA flash, then memory-efficient, then math; never cuDNN, whose per-shape plans
    cost more than they save on exact-length batches (docs/gpu.md). ``matmul``: unmasked batches of up to
    64 tokens as two batched matmuls and a softmax (``models.short_attention``), the rest as ``auto``.
    ``flash`` / ``efficient`` / ``math`` / ``cudnn``: that SDPA kernel first on CUDA, math after it for
    shapes it cannot take. A speed knob: kernels differ in the last bits of fp16, not in labels
    (``spark-ner bench --gpu-parts kernels`` measures both).
    """

    AUTO = "auto"
    MATMUL = "matmul"
    FLASH = "flash"
    EFFICIENT = "efficient"
    MATH = "math"
    CUDNN = "cudnn"


class MemberKind(StrEnum):
    """What a member is: a token-classification model, or a gazetteer voting on the same words."""

    TRANSFORMER = "transformer"
    LEXICON = "lexicon"


class DeviceKind(StrEnum):
    """Where members run; ``auto`` is the task's CUDA GPU when there is one, else the CPU."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


@dataclass(frozen=True)
class EnsembleConfig:
    strategy: Strategy = Strategy.MEAN
    aggregation: Aggregation = Aggregation.FIRST
    batch_size: int = 64
    max_length: int = 32
    precision: Precision = Precision.AUTO
    device: DeviceKind = DeviceKind.AUTO
    case_restore: bool = True
    #: drop the quotes, brackets and separators at a name's two ends before scoring (tokenize.EDGE_PUNCTUATION)
    trim_punctuation: bool = True
    num_threads: int = 0
    cpu_parallel: CpuParallel = CpuParallel.BATCHES
    compile: bool = False
    #: CUDA graphs of the exact-length forwards (spark_ner.graphs); ignored off CUDA
    cuda_graphs: bool = False
    #: the members' attention kernel (``Attention``): SDPA backends on CUDA; ``matmul`` on any device
    attention: Attention = Attention.AUTO
    #: NumPy's transparent huge pages for new arrays (off: see ``ensemble.configure_huge_pages``)
    huge_pages: bool = False


@dataclass(frozen=True)
class ModelConfig:
    name: str
    path: str
    weight: float = 1.0
    sha256: str | None = None
    allow_pickle: bool = False
    label_map: Mapping[str, str] = field(default_factory=dict)
    revision: str | None = None  # hub members: commit hash, tag or branch (default: the hub's "main")
    kind: MemberKind = MemberKind.TRANSFORMER
    #: per canonical type, a factor on this member's vote for that type's tags (missing types: 1.0)
    weights_by_type: Mapping[str, float] = field(default_factory=dict)


class CalibrationMethod(StrEnum):
    """How ``ner_score`` is mapped to the probability that the label is right (spark_ner.calibrate)."""

    NONE = "none"  # the decoder's char-weighted mean word probability, as is
    PLATT = "platt"  # per name label: sigmoid(slope * logit(score) + shift), fitted on dev


@dataclass(frozen=True)
class CalibrationConfig:
    """``[calibration]``: per name label (NAME_LABELS) a slope and a shift; missing labels: 1 and 0."""

    method: CalibrationMethod = CalibrationMethod.NONE
    slope: Mapping[str, float] = field(default_factory=dict)
    shift: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SparkConfig:
    """``[spark]``: what the label job's scoring stage asks Spark for (stage-level scheduling,
    docs/gpu.md). Scheduling only: it changes no label, so it is not part of the fingerprint."""

    #: cores per scoring task; 0: the session's ``spark.task.cpus``
    scoring_task_cpus: int = 0
    #: GPUs per scoring task (0.25: four tasks share a GPU); 0: the scoring stage asks for none of its own
    scoring_task_gpus: float = 0.0

    @property
    def scoring_profile(self) -> bool:
        """Whether the scoring stage runs under its own ``ResourceProfile`` (either key above 0)."""
        return self.scoring_task_cpus > 0 or self.scoring_task_gpus > 0


@dataclass(frozen=True)
class Config:
    ensemble: EnsembleConfig
    models: tuple[ModelConfig, ...]
    source: str = "<defaults>"
    model_dir: str = str(DEFAULT_MODEL_DIR)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain TOML-able data (saved beside trained weights)."""
        out = asdict(self)
        out["models"] = [
            {
                k: (dict(v) if isinstance(v, Mapping) else v.value if isinstance(v, StrEnum) else v)
                for k, v in m.items()
                if v is not None
            }
            for m in out["models"]
        ]
        out["ensemble"] = {k: (v.value if isinstance(v, StrEnum) else v) for k, v in out["ensemble"].items()}
        cal = self.calibration
        out["calibration"] = {"method": cal.method.value, "slope": dict(cal.slope), "shift": dict(cal.shift)}
        return out

    def fingerprint(self) -> str:
        """Stable digest of everything that changes the labels (not where the file came from)."""
        data = self.to_dict()
        data.pop("source", None)
        data.pop("model_dir", None)
        data.pop("spark", None)  # where the scoring stage runs, not what it computes
        if data["calibration"]["method"] == CalibrationMethod.NONE.value:
            data.pop("calibration")  # configs without calibration keep the fingerprint they had
        for key in (
            "batch_size",
            "num_threads",
            "cpu_parallel",
            "compile",
            "cuda_graphs",
            "attention",
            "device",
            "huge_pages",
        ):
            data["ensemble"].pop(key, None)  # speed knobs: same labels
        for m in data["models"]:
            m.pop("path", None)  # where the weights sit does not change them; their digest does
            m.pop("revision", None)  # the resolved hub commit and the digests enter model_version instead
            if m.get("kind") == MemberKind.TRANSFORMER.value:
                m.pop("kind")  # the default: fingerprints of configs written before `kind` existed stay as they were
            if not m.get("weights_by_type"):
                m.pop("weights_by_type", None)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- schema

_ENUMS: dict[str, type[StrEnum]] = {
    "strategy": Strategy,
    "aggregation": Aggregation,
    "precision": Precision,
    "device": DeviceKind,
    "cpu_parallel": CpuParallel,
    "attention": Attention,
}
_INT_RANGES: dict[str, tuple[int, int]] = {
    "batch_size": (1, 1 << 20),
    "max_length": (4, 512),
    "num_threads": (0, 4096),
}
_BOOLS = {"case_restore", "trim_punctuation", "compile", "cuda_graphs", "huge_pages"}
_MODEL_KEYS = {"name", "path", "weight", "sha256", "allow_pickle", "label_map", "revision", "kind", "weights_by_type"}
_TOP_KEYS = {"ensemble", "models", "model_dir", "calibration", "spark"}
_CALIBRATION_KEYS = {"method", "slope", "shift"}
_SPARK_KEYS = set(SparkConfig.__dataclass_fields__)
_LABEL_TARGETS = (*ENTITY_TYPES, "O")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
#: URI schemes a member path may use; the files are copied once into a local cache (spark_ner.fetch)
URI_SCHEMES: tuple[str, ...] = ("file", "hdfs", "s3", "s3a", "abfss", "abfs", "gs", "dbfs", *MLFLOW_SCHEMES)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _unknown(where: str, key: str, allowed: set[str] | tuple[str, ...]) -> ConfigError:
    return ConfigError(
        f"unknown key {where}{key!r}; allowed keys: {', '.join(sorted(allowed))}. Fix the spelling or remove it."
    )


def _parse_ensemble(raw: Any) -> EnsembleConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"[ensemble] must be a table, got {_type_name(raw)}")
    allowed = set(EnsembleConfig.__dataclass_fields__)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise _unknown("ensemble.", key, allowed)
        where = f"ensemble.{key}"
        if key in _ENUMS:
            enum = _ENUMS[key]
            choices = [e.value for e in enum]
            if not isinstance(value, str) or value not in choices:
                raise ConfigError(f"{where} = {value!r} is not allowed; choose one of: {', '.join(choices)}")
            kwargs[key] = enum(value)
        elif key in _INT_RANGES:
            lo, hi = _INT_RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{where} must be an integer, got {_type_name(value)} {value!r}")
            if not lo <= value <= hi:
                raise ConfigError(f"{where} = {value} is out of range; expected {lo}..{hi}")
            kwargs[key] = value
        elif key in _BOOLS:
            if not isinstance(value, bool):
                raise ConfigError(f"{where} must be true or false, got {_type_name(value)} {value!r}")
            kwargs[key] = value
    if kwargs.get("compile") and kwargs.get("cuda_graphs"):
        raise ConfigError(
            "ensemble.compile = true and ensemble.cuda_graphs = true: choose one (both replace the eager forward). "
            "Fix: set one of them to false."
        )
    return EnsembleConfig(**kwargs)


def _parse_model(raw: Any, index: int, base_dir: Path, model_dir: str) -> ModelConfig:
    where = f"models[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table ([[models]]), got {_type_name(raw)}")
    for key in raw:
        if key not in _MODEL_KEYS:
            raise _unknown(f"{where}.", key, _MODEL_KEYS)
    for key in ("name", "path"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ConfigError(f"{where}.{key} is required and must be a non-empty string")
    name = raw["name"]
    if not _NAME_RE.match(name):
        raise ConfigError(f"{where}.name = {name!r} may hold only letters, digits, '_', '.', '-'")
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
        raise ConfigError(f"{where}.weight must be a number > 0, got {weight!r}")
    sha = raw.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA_RE.match(sha.lower())):
        raise ConfigError(f"{where}.sha256 must be 64 hex digits (sha256 of the weights file), got {sha!r}")
    allow_pickle = raw.get("allow_pickle", False)
    if not isinstance(allow_pickle, bool):
        raise ConfigError(f"{where}.allow_pickle must be true or false, got {allow_pickle!r}")
    label_map = raw.get("label_map", {})
    if not isinstance(label_map, dict):
        raise ConfigError(f'{where}.label_map must be a table of LABEL = "PER|ORG|LOC|MISC|O"')
    for src, dst in label_map.items():
        if dst not in _LABEL_TARGETS:
            raise ConfigError(
                f"{where}.label_map.{src} = {dst!r} is not allowed; choose one of: {', '.join(_LABEL_TARGETS)}"
            )
    revision = raw.get("revision")
    if revision is not None and (not isinstance(revision, str) or not _REVISION_RE.match(revision)):
        raise ConfigError(
            f"{where}.revision must be a commit hash, tag or branch name, got {revision!r}. "
            'Fix: e.g. revision = "main" or the 40-hex commit shown by the hub.'
        )
    scheme = uri_scheme(raw["path"])
    if scheme is not None and scheme not in URI_SCHEMES:
        raise ConfigError(
            f"{where}.path = {raw['path']!r}: URI scheme {scheme!r} is not supported; expected one of "
            f"{', '.join(s + ':' for s in URI_SCHEMES)}, a local folder or a hub id (org/name). "
            "Fix: copy the folder to one of those, or download it and give the local folder."
        )
    path = resolve_model_path(raw["path"], model_dir, base_dir)
    if revision is not None and not is_hub_id(path):
        raise ConfigError(
            f"{where}.revision is for hub members (org/name) only, but path {raw['path']!r} is a "
            f"{'URI' if scheme else 'local folder'}. Fix: remove revision (pin the weights with sha256 instead)."
        )
    kind_raw = raw.get("kind", MemberKind.TRANSFORMER.value)
    kinds = [k.value for k in MemberKind]
    if not isinstance(kind_raw, str) or kind_raw not in kinds:
        raise ConfigError(f"{where}.kind = {kind_raw!r} is not allowed; choose one of: {', '.join(kinds)}")
    kind = MemberKind(kind_raw)
    if kind == MemberKind.LEXICON and (raw.get("allow_pickle") or revision is not None):
        raise ConfigError(
            f"{where}: allow_pickle and revision are for transformer members; a lexicon is a local folder. "
            "Fix: remove them from this member."
        )
    by_type = raw.get("weights_by_type", {})
    if not isinstance(by_type, dict):
        raise ConfigError(f"{where}.weights_by_type must be a table such as {{PER = 1.0, LOC = 2.0}}, got {by_type!r}")
    for typ, factor in by_type.items():
        if typ not in ENTITY_TYPES:
            raise ConfigError(
                f"{where}.weights_by_type.{typ} is not a canonical type; choose from: {', '.join(ENTITY_TYPES)}"
            )
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor >= 0:
            raise ConfigError(f"{where}.weights_by_type.{typ} must be a number >= 0, got {factor!r}")
    return ModelConfig(
        name=name,
        path=path,
        weight=float(weight),
        sha256=sha.lower() if sha else None,
        allow_pickle=allow_pickle,
        label_map=dict(label_map),
        revision=revision,
        kind=kind,
        weights_by_type={t: float(by_type[t]) for t in ENTITY_TYPES if t in by_type},
    )


def _parse_calibration(raw: Any) -> CalibrationConfig:
    """``[calibration]``: method none|platt, ``slope`` / ``shift`` tables keyed by name label."""
    if not isinstance(raw, dict):
        raise ConfigError(f"calibration must be a table ([calibration]), got {_type_name(raw)}")
    for key in raw:
        if key not in _CALIBRATION_KEYS:
            raise _unknown("calibration.", key, _CALIBRATION_KEYS)
    method_raw = raw.get("method", CalibrationMethod.NONE.value)
    choices = [m.value for m in CalibrationMethod]
    if method_raw not in choices:
        raise ConfigError(f"calibration.method = {method_raw!r} is not allowed; choose one of: {', '.join(choices)}")
    tables: dict[str, dict[str, float]] = {}
    for key in ("slope", "shift"):
        table = raw.get(key, {})
        if not isinstance(table, dict):
            raise ConfigError(
                f"calibration.{key} must be a table such as {{PERSON = 1.5, NONE = 1.0}}, got {_type_name(table)}"
            )
        for label, value in table.items():
            if label not in NAME_LABELS:
                raise ConfigError(
                    f"calibration.{key}.{label} is not a name label; choose from: {', '.join(NAME_LABELS)}"
                )
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or (key == "slope" and value <= 0):
                want = "a number > 0 (1 = unchanged)" if key == "slope" else "a finite number (0 = unchanged)"
                raise ConfigError(f"calibration.{key}.{label} must be {want}, got {value!r}")
        tables[key] = {lab: float(table[lab]) for lab in NAME_LABELS if lab in table}
    return CalibrationConfig(CalibrationMethod(method_raw), tables["slope"], tables["shift"])


def _parse_spark(raw: Any) -> SparkConfig:
    """``[spark]``: the scoring stage's task cores (an integer >= 0) and GPUs (0, a fraction <= 0.5 or
    a whole number: what Spark's ``TaskResourceRequests`` accepts)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"spark must be a table ([spark]), got {_type_name(raw)}")
    for key in raw:
        if key not in _SPARK_KEYS:
            raise _unknown("spark.", key, _SPARK_KEYS)
    cpus = raw.get("scoring_task_cpus", 0)
    if isinstance(cpus, bool) or not isinstance(cpus, int) or not 0 <= cpus <= 4096:
        raise ConfigError(
            f"spark.scoring_task_cpus must be an integer 0..4096, got {cpus!r}. "
            "Fix: e.g. 1 (0: the session's spark.task.cpus)"
        )
    gpus = raw.get("scoring_task_gpus", 0.0)
    ok = isinstance(gpus, int | float) and not isinstance(gpus, bool) and math.isfinite(gpus) and 0 <= gpus <= 64
    if not ok or not (gpus <= 0.5 or float(gpus).is_integer()):
        raise ConfigError(
            f"spark.scoring_task_gpus = {gpus!r} is not allowed; choose 0 (no GPU of its own), a fraction "
            "<= 0.5 (1/N: N scoring tasks share a GPU) or a whole number of GPUs (Spark's rule for task "
            "resources). Fix: e.g. scoring_task_gpus = 0.25 for 4 tasks per GPU"
        )
    return SparkConfig(scoring_task_cpus=cpus, scoring_task_gpus=float(gpus))


def parse_config(
    raw: Mapping[str, Any],
    source: str = "<dict>",
    model_dir: str | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Validate raw TOML data against the strict schema and build a :class:`Config`.

    Member paths are resolved here, once: ``./x`` and ``../x`` against ``base_dir`` (the config
    file's folder), bare names under the model dir, ``/x`` and ``~/x`` as given; others are hub ids.
    """
    for key in raw:
        if key not in _TOP_KEYS:
            raise _unknown("", key, _TOP_KEYS)
    file_dir = raw.get("model_dir")
    if file_dir is not None and (not isinstance(file_dir, str) or not file_dir.strip()):
        raise ConfigError(
            f"model_dir = {file_dir!r}: expected the folder that holds bare-named members, as a non-empty string. "
            'Fix: e.g. model_dir = "/Volumes/main/spark_ner/models", or remove it (default ~/.cache/spark-ner/models)'
        )
    if file_dir is not None and not file_dir.startswith(("/", "~")) and not is_uri(file_dir):
        file_dir = str((base_dir or Path.cwd()) / file_dir)  # relative to the config file, like member paths
    # precedence: argument > $SPARK_NER_MODEL_DIR > the file's model_dir > the default
    chosen_dir = model_dir or os.environ.get(ENV_MODEL_DIR) or file_dir or DEFAULT_MODEL_DIR
    resolved_dir = str(chosen_dir) if is_uri(str(chosen_dir)) else str(Path(chosen_dir).expanduser())
    ensemble = _parse_ensemble(raw.get("ensemble", {}))
    models_raw = raw.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise ConfigError("at least one [[models]] table is required (name, path, weight)")
    base = base_dir or Path.cwd()
    models = tuple(_parse_model(m, i, base, resolved_dir) for i, m in enumerate(models_raw))
    names = [m.name for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"models.name must be unique; repeated: {', '.join(dupes)}")
    calibration = _parse_calibration(raw.get("calibration", {}))
    return Config(ensemble, models, source, resolved_dir, calibration, _parse_spark(raw.get("spark", {})))


# ----------------------------------------------------------------------------- loading


def _coerce(text: str) -> Any:
    """Parse an override given as text (from the CLI) the TOML way; plain words stay strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_override(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if parts[0] == "models" and len(parts) >= 3:
        models = data.get("models") or []
        selector = parts[1]
        matches = [
            m for i, m in enumerate(models) if str(i) == selector or (isinstance(m, dict) and m.get("name") == selector)
        ]
        if not matches:
            known = ", ".join(str(m.get("name")) for m in models if isinstance(m, dict))
            raise ConfigError(f"override {dotted!r}: no member named {selector!r}; members: {known}")
        target = matches[0]
        parts = parts[2:]
    else:
        target = data
    for part in parts[:-1]:
        nxt = target.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a table")
        target = nxt
    target[parts[-1]] = value


def add_config_arguments(parser: Any) -> None:
    """``--config`` and repeatable ``--set KEY=VALUE`` (into ``overrides``): one spelling for every
    command that loads a config; :func:`parse_overrides` reads what ``--set`` collected."""
    parser.add_argument("--config", default=None, help="config TOML (default: $SPARK_NER_CONFIG, else the defaults)")
    parser.add_argument(
        "--model-dir",
        default=None,
        metavar="DIR",
        help="folder of bare-named members, e.g. a Unity Catalog Volume "
        "(default: $SPARK_NER_MODEL_DIR, else the config's model_dir, else ~/.cache/spark-ner/models)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, repeatable, e.g. --set ensemble.batch_size=512",
    )


def config_from_args(args: Any) -> Config:
    """The config named by :func:`add_config_arguments`' flags (``--config``, ``--model-dir``, ``--set``)."""
    overrides = parse_overrides(list(getattr(args, "overrides", None) or []))
    return load_config(args.config, overrides=overrides, model_dir=getattr(args, "model_dir", None))


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """CLI ``--set`` pairs ``["a.b=1", ...]`` -> ``{"a.b": "1"}``; ``load_config`` parses the values."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}. Fix: e.g. --set ensemble.batch_size=512")
        out[key.strip()] = value.strip()
    return out


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    model_dir: str | os.PathLike[str] | None = None,
) -> Config:
    """Load, override and validate a config.

    ``path`` wins over ``$SPARK_NER_CONFIG``, which wins over the built-in defaults. ``overrides``
    maps dotted keys (``"ensemble.batch_size"``, ``"models.bert.weight"``) to values; strings are
    parsed as TOML values so CLI ``--set key=value`` pairs work too.
    """
    chosen = path if path is not None else os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG_PATH
    cfg_path = Path(chosen).expanduser()
    if not cfg_path.is_file():
        raise ConfigError(f"config file {str(cfg_path)!r} does not exist. Fix: pass an existing .toml file")
    data = _read_toml(cfg_path)
    data = _with_base(copy.deepcopy(data), cfg_path.resolve(), ())
    for key, value in (overrides or {}).items():
        _apply_override(data, key, _coerce(value) if isinstance(value, str) else value)
    md = str(model_dir) if model_dir is not None else None
    return parse_config(data, source=str(cfg_path.resolve()), model_dir=md, base_dir=cfg_path.resolve().parent)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def _with_base(data: dict[str, Any], cfg_path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """A top-level ``base = "default"`` (the built-in defaults), ``base = "other.toml"`` (next to
    this file) or ``base = "models:/name/3"`` (a model logged by ``spark-ner log-model``): the base's
    ``[ensemble]`` keys under this file's, and the base's ``[[models]]`` unless this file lists its own.
    Why: one source for the members and their weights (``conf/databricks.toml`` changes only the GPU
    settings of the evaluated defaults; a team's registered starter is read by every cluster)."""
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(
            f'{cfg_path}: base = {base!r}; expected "default" or the path of another config file. '
            'Fix: write base = "default", or base = "other.toml" (relative to this file)'
        )
    if uri_scheme(base) in MLFLOW_SCHEMES:  # a model logged by `spark-ner log-model`: its members
        from spark_ner.fetch import logged_config  # lazily: MLflow only where a config names a logged model

        parent = logged_config(base)
        ensemble = {**parent.get("ensemble", {}), **data.get("ensemble", {})}
        return {**parent, **data, "ensemble": ensemble, "models": data.get("models", parent.get("models", []))}
    base_path = DEFAULT_CONFIG_PATH.resolve() if base == "default" else (cfg_path.parent / base).expanduser().resolve()
    if base_path == cfg_path or base_path in seen:
        raise ConfigError(f"{cfg_path}: base = {base!r} leads back to {base_path}. Fix: remove the loop of bases")
    if not base_path.is_file():
        raise ConfigError(
            f"{cfg_path}: base = {base!r} names {str(base_path)!r}, which does not exist. "
            'Fix: point base at an existing .toml file (relative to this file), or use "default"'
        )
    parent = _with_base(_read_toml(base_path), base_path, (*seen, cfg_path))
    if "models" in data:
        models = data["models"]
    else:  # the base's members, their relative paths resolved against the base's folder
        models = [
            {**m, "path": str((base_path.parent / m["path"]).resolve())}
            if isinstance(m, dict) and isinstance(m.get("path"), str) and m["path"].startswith(".")
            else m
            for m in parent.get("models", [])
        ]
    ensemble = parent.get("ensemble", {})
    if isinstance(ensemble, dict) and isinstance(data.get("ensemble", {}), dict):
        ensemble = {**ensemble, **data.get("ensemble", {})}
    return {**parent, **data, "ensemble": ensemble, "models": models}


def is_uri(path: str) -> bool:
    """A member path on a remote or explicit file system (``s3://``, ``hdfs://``, ``file:``, ...)."""
    return uri_scheme(path) is not None


def is_hub_id(path: str) -> bool:
    """A resolved member path that is neither a local folder nor a URI: a hub id (``org/name``)."""
    return not path.startswith("/") and not is_uri(path)


def resolve_model_path(path: str, model_dir: str, base_dir: Path) -> str:
    """Bare names live under the model dir; explicit paths and URIs stay; anything else is a hub id.

    ``/Volumes/...`` (Unity Catalog volumes) and ``/dbfs/...`` are plain paths on Databricks nodes.
    """
    if is_uri(path):
        return path
    if path.startswith(("/", "~")):
        return str(Path(path).expanduser().resolve())
    if path.startswith("."):
        return str((base_dir / path).resolve())
    if "/" not in path:  # under a URI model dir (hdfs://..., s3://...) a URI, which Path would mangle
        return f"{model_dir.rstrip('/')}/{path}" if is_uri(model_dir) else str(Path(model_dir) / path)
    return path
