"""``spark-ner log-model``: the ensemble as an MLflow pyfunc model, for Databricks users who track
and register everything in MLflow.

What is logged, under the artifact ``ensemble/``: ``config.toml`` (the resolved config, member paths
rewritten to ``./members/<name>``), every member's folder (or lexicon file) copied as it is, and
``pins.json`` (each member's weights digest and the ``model_version`` they make). Loading checks the
copies against those pins, so a registered model can never silently label with other weights, and
the labels carry the same ``model_version`` as ``with_ner_labels`` with the original config.

Portable: the ``spark_ner`` package travels inside the model (``code_paths``), the requirements are
spark-ner's own dependencies pinned to the versions installed where it was logged (public packages, no
``spark-ner`` pin that no index resolves), and it carries a synthetic input example and the full
signature Unity Catalog asks for. MLflow 2.x (``artifact_path=``) and 3.x (``name=``) both log it. A
registered model is also an ensemble source: ``base = "models:/name/3"`` in a config (spark_ner.fetch).

Spark: ``mlflow.pyfunc.spark_udf(spark, uri, result_type=RESULT_TYPE)`` returns a struct with one
field, ``ner``, holding the contract's struct (label, score, agreement, entities, model_version,
error): ``df.withColumn("n", udf("name")).select("n.ner.*")``. The extra level is on purpose: MLflow
casts a top-level string field with ``astype(str)``, which would turn a null label (a null name) into
the string ``"None"``; values nested one level down keep their nulls. MLflow cannot return a null
array either, so where the label is null (a null name, a failed row) ``entities`` is ``[]`` rather
than null. :func:`ner_spark_udf` undoes both and returns exactly the struct ``ner_udf`` returns.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from spark_ner import __version__
from spark_ner.config import ENTITY_FIELDS, OUTPUT_FIELDS, Config, add_config_arguments, config_from_args, load_config
from spark_ner.errors import ConfigError, WeightsMismatchError

if TYPE_CHECKING:
    from pyspark.sql import Column, SparkSession

log = logging.getLogger(__name__)

ARTIFACT = "ensemble"
#: field that holds the contract's struct in the pyfunc's output (see the module docstring)
OUTPUT_COLUMN = "ner"
_ENTITY_DDL = "array<struct<text: string, label: string, start: int, end: int, score: double>>"
_FIELD_DDL = {
    "label": "string",
    "score": "double",
    "agreement": "double",
    "entities": _ENTITY_DDL,
    "model_version": "string",
    "error": "string",
}
#: ``result_type`` for ``mlflow.pyfunc.spark_udf``
RESULT_TYPE = f"{OUTPUT_COLUMN} struct<{', '.join(f'{f}: {_FIELD_DDL[f]}' for f in OUTPUT_FIELDS)}>"


def _require_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "MLflow is not installed in this environment. Fix: pip install 'spark-ner[mlflow]' "
            "(Databricks runtimes ship it)"
        ) from None
    return mlflow


# ----------------------------------------------------------------------------- the config as TOML


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"config value {value!r} cannot be written as TOML")


def config_toml(data: Mapping[str, Any]) -> str:
    """``Config.to_dict()``-shaped data as TOML that ``load_config`` reads back (tables last)."""
    lines = ["[ensemble]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in data["ensemble"].items() if v is not None]
    for member in data["models"]:
        lines += ["", "[[models]]"]
        tables = {k: v for k, v in member.items() if isinstance(v, Mapping)}
        lines += [f"{k} = {_toml_value(v)}" for k, v in member.items() if k not in tables and v is not None]
        for key, table in tables.items():
            lines.append(f"[models.{key}]")
            lines += [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in table.items()]
    calibration = data.get("calibration") or {}
    if calibration.get("method", "none") != "none":  # it changes ner_score, so it travels with the members
        lines += ["", "[calibration]", f"method = {_toml_value(calibration['method'])}"]
        for key in ("slope", "shift"):
            lines.append(f"[calibration.{key}]")
            lines += [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in calibration.get(key, {}).items()]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- packing


def pack_ensemble(cfg: Config, out: Path) -> dict[str, Any]:
    """Copy every member into ``out/members/<name>`` and write ``config.toml`` and ``pins.json``.

    Returns the pins (member digests and the ``model_version`` the driver computes for ``cfg``).
    """
    from spark_ner.models import model_version, validate_sources

    sources = validate_sources(cfg)
    version = model_version(cfg, sources)
    (out / "members").mkdir(parents=True, exist_ok=True)
    data = cfg.to_dict()
    data.pop("source", None)
    data.pop("model_dir", None)
    for member, source in zip(data["models"], sources, strict=True):
        src = Path(source.path)
        if not src.exists():
            raise ConfigError(
                f"member {source.name!r}: {source.path!r} is not a local folder or file, so it cannot be copied "
                "into the MLflow model. Fix: point the member at a local copy (a Volume path on Databricks)"
            )
        dest = out / "members" / source.name
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            dest.mkdir()
            shutil.copy2(src, dest / src.name)
        member["path"] = f"./members/{source.name}" + ("" if src.is_dir() else f"/{src.name}")
        member.pop("revision", None)  # a copied hub snapshot is a folder now; its commit is in the pins
    (out / "config.toml").write_text(config_toml(data), encoding="utf-8")
    pins = {
        "model_version": version,
        "members": {
            s.name: {"digest": s.digest, "revision": getattr(s, "revision", None), "origin": m.path}
            for s, m in zip(sources, cfg.models, strict=True)
        },
        "spark_ner_version": __version__,
    }
    (out / "pins.json").write_text(json.dumps(pins, indent=2) + "\n", encoding="utf-8")
    return pins


def load_packed(folder: Path) -> Config:
    """The config of a packed ensemble, checked against its pins (raises on any other weights)."""
    from spark_ner.models import model_version, validate_sources

    cfg = load_config(folder / "config.toml")
    pins = json.loads((folder / "pins.json").read_text(encoding="utf-8"))
    sources = validate_sources(cfg)
    for s in sources:
        pinned = pins["members"].get(s.name, {}).get("digest")
        if pinned != s.digest:
            raise WeightsMismatchError(
                f"member {s.name!r} of the MLflow model has weights with digest {s.digest[:16]}, but the model "
                f"was logged with {str(pinned)[:16]}. Fix: log the model again (spark-ner log-model)"
            )
    got = model_version(cfg, sources)
    if got != pins["model_version"] and not any(p.get("revision") for p in pins["members"].values()):
        raise WeightsMismatchError(
            f"the MLflow model's ensemble has model_version {got}, but it was logged as {pins['model_version']}. "
            "Fix: log the model again (spark-ner log-model)"
        )
    return cfg


# ----------------------------------------------------------------------------- the pyfunc model


try:  # the optional extra: without MLflow the module still imports (and says how to install it)
    from mlflow.pyfunc import PythonModel as _PythonModelBase
except ImportError:  # pragma: no cover - exercised where mlflow is absent
    _PythonModelBase = object  # type: ignore[assignment,misc]


class EnsembleModel(_PythonModelBase):  # type: ignore[misc,valid-type]
    """Labels a column of names; one output row per input row (the contract's fields, nested)."""

    def load_context(self, context: Any) -> None:
        from spark_ner.ensemble import load_ensemble

        self.ensemble = load_ensemble(load_packed(Path(context.artifacts[ARTIFACT])))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if isinstance(model_input, pd.DataFrame):
            column = model_input["name"] if "name" in model_input.columns else model_input.iloc[:, 0]
        else:
            column = pd.Series(list(model_input))
        names = [v if isinstance(v, str) else None for v in column.tolist()]
        out = self.ensemble.label(names)
        records = out.loc[:, list(OUTPUT_FIELDS)].to_dict("records")
        return pd.DataFrame({OUTPUT_COLUMN: [_plain(r) for r in records]})


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """NaN -> None and numpy scalars -> Python, so MLflow's struct conversion keeps the nulls."""
    import math

    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "entities":
            # MLflow's Spark conversion cannot return a null array: [] here, null again in ner_spark_udf
            out[key] = [] if value is None else [{f: _scalar(e[f]) for f in ENTITY_FIELDS} for e in value]
        else:
            v = _scalar(value)
            out[key] = None if isinstance(v, float) and math.isnan(v) else v
    return out


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _signature() -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, Object, Property, Schema

    entity = Object(
        [
            Property("text", "string"),
            Property("label", "string"),
            Property("start", "integer"),
            Property("end", "integer"),
            Property("score", "double"),
        ]
    )
    types: dict[str, Any] = {
        "label": "string",
        "score": "double",
        "agreement": "double",
        "entities": Array(entity),
        "model_version": "string",
        "error": "string",
    }
    ner = Object([Property(f, types[f], required=False) for f in OUTPUT_FIELDS])
    return ModelSignature(
        inputs=Schema([ColSpec("string", "name", required=False)]),
        outputs=Schema([ColSpec(ner, OUTPUT_COLUMN)]),
    )


#: a synthetic input example (never a customer's name): what Unity Catalog and model serving show
INPUT_EXAMPLE: dict[str, list[str]] = {"name": ["Jane Example", "Example Trading Ltd", "Springfield"]}


def requirements() -> list[str]:
    """spark-ner's own runtime dependencies, pinned to the versions installed here (as MLflow's inference
    pins them), else the declared range. Why not inference: it maps the ``spark_ner`` module to a
    ``spark-ner==x`` pin no public index resolves and prunes the packages that pin depends on; the
    package itself travels with the model instead (``code_paths``)."""
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    try:
        declared = requires("spark-ner") or []
    except PackageNotFoundError:  # pragma: no cover - a source tree on sys.path without installing it
        declared = []
    out = []
    for line in declared:
        req = Requirement(line)
        if req.marker is not None and "extra" in str(req.marker):
            continue
        try:
            out.append(f"{req.name}=={version(req.name).split('+', 1)[0]}")  # 2.13.0+cpu -> 2.13.0
        except PackageNotFoundError:
            out.append(str(req))
    return out


def _package_copy(dest: Path) -> Path:
    """The installed ``spark_ner`` package, copied without caches, for ``code_paths``."""
    import spark_ner

    src = Path(spark_ner.__file__).resolve().parent
    shutil.copytree(src, dest / "spark_ner", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest / "spark_ner"


def _log_pyfunc(mlflow: Any, name: str, **kwargs: Any) -> Any:
    """``log_model(name=...)`` on MLflow 3, ``artifact_path=`` on MLflow 2 (Databricks 15.4/16.4 LTS ML)."""
    from packaging.version import Version

    if Version(mlflow.__version__).major >= 3:
        return mlflow.pyfunc.log_model(name=name, **kwargs)
    return mlflow.pyfunc.log_model(artifact_path=name, **kwargs)


def log_model(
    cfg: Config,
    name: str = "spark-ner",
    registered_model_name: str | None = None,
    run_id: str | None = None,
) -> Any:
    """Log ``cfg``'s ensemble as a pyfunc model in the active (or a new) MLflow run; returns its ModelInfo.

    Portable: the members and the ``spark_ner`` package travel inside the model (``code_paths``), its
    requirements are public packages, and it carries the signature and input example Unity Catalog needs.
    """
    mlflow = _require_mlflow()
    with tempfile.TemporaryDirectory(prefix="spark-ner-mlflow-") as tmp:
        packed = Path(tmp) / ARTIFACT
        pins = pack_ensemble(cfg, packed)
        code = _package_copy(Path(tmp) / "code")
        started = mlflow.active_run() is None
        run = mlflow.start_run(run_id=run_id) if started else mlflow.active_run()
        try:
            mlflow.set_tags({"spark_ner.model_version": pins["model_version"], "spark_ner.version": __version__})
            info = _log_pyfunc(
                mlflow,
                name,
                python_model=EnsembleModel(),
                artifacts={ARTIFACT: str(packed)},
                code_paths=[str(code)],
                signature=_signature(),
                input_example=pd.DataFrame(INPUT_EXAMPLE),
                pip_requirements=requirements(),
                registered_model_name=registered_model_name,
                metadata={"model_version": pins["model_version"], "members": list(pins["members"])},
            )
        finally:
            if started:
                mlflow.end_run()
    log.info("logged %s as %s (run %s)", pins["model_version"], info.model_uri, run.info.run_id)
    return info


def _registered_version(mlflow: Any, info: Any, name: str | None) -> str | None:
    """The registered version: ModelInfo has it on MLflow 3 (and late 2.x); earlier, ask the registry."""
    version = getattr(info, "registered_model_version", None)
    if version is not None or not name:
        return None if version is None else str(version)
    found = mlflow.MlflowClient().search_model_versions(f"name='{name}'")
    mine = [v for v in found if v.run_id == info.run_id]
    return str(max(int(v.version) for v in mine)) if mine else None


def ner_spark_udf(spark: SparkSession, model_uri: str) -> Any:
    """``mlflow.pyfunc.spark_udf`` for a logged spark_ner model, returning the same struct as
    ``ner_udf`` (null entities where the label is null): ``df.select(udf("name").alias("n"))``."""
    from pyspark.sql import functions as F

    mlflow = _require_mlflow()
    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=RESULT_TYPE, env_manager="local")

    def call(col: str | Column) -> Column:
        ner = udf(col)[OUTPUT_COLUMN]
        return ner.withField("entities", F.when(ner["label"].isNull(), F.lit(None)).otherwise(ner["entities"]))

    return call


# ----------------------------------------------------------------------------- spark-ner log-model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--name", default="spark-ner", help="the model's name inside the run (default: spark-ner)")
    parser.add_argument(
        "--registered-model-name",
        default=None,
        metavar="NAME",
        help="also register it (Unity Catalog: catalog.schema.model)",
    )
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI)")
    parser.add_argument("--registry-uri", default=None, help="MLflow registry URI (Unity Catalog: databricks-uc)")
    parser.add_argument("--experiment", default=None, help="MLflow experiment name (default: MLflow's)")
    parser.add_argument("--run-id", default=None, help="log into this existing run")


def run(args: argparse.Namespace) -> int:
    mlflow = _require_mlflow()
    cfg = config_from_args(args)
    if args.tracking_uri:
        mlflow.set_tracking_uri(args.tracking_uri)
    if args.registry_uri:
        mlflow.set_registry_uri(args.registry_uri)
    if args.experiment:
        mlflow.set_experiment(args.experiment)
    info = log_model(cfg, name=args.name, registered_model_name=args.registered_model_name, run_id=args.run_id)
    result = {
        "model_uri": info.model_uri,
        "run_id": info.run_id,
        "model_version": (info.metadata or {}).get("model_version"),
        "registered_model_version": _registered_version(mlflow, info, args.registered_model_name),
        "result_type": RESULT_TYPE,
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0
