"""MLflow against a local tracking store (a folder; no server): the ensemble as a pyfunc model (log,
load, ``spark_udf``) gives the in-process labels; eval logs its metrics and the confusion PNG.

``mlflow`` is an optional extra (``spark-ner[mlflow]``); CI installs it. Without it these tests skip.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import NAMES, assert_rows_match, tiny_roberta_args

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

from spark_ner import cli  # noqa: E402
from spark_ner.errors import WeightsMismatchError  # noqa: E402
from spark_ner.tools import mlflow_model  # noqa: E402


@pytest.fixture()
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a folder store: mlflow-skinny has no SQL store
    mlflow.set_experiment("Default")  # MLflow keeps the active experiment per process: reset it to this store's
    return uri


def _cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli.main(list(argv))
    return rc, buf.getvalue()


@pytest.mark.slow
def test_log_model_load_and_spark_udf_give_the_in_process_labels(  # type: ignore[no-untyped-def]
    spark, tiny_config_path, tiny_ensemble, tracking
) -> None:
    rc, out = _cli("log-model", "--config", str(tiny_config_path), "--experiment", "spark-ner-test")
    assert rc == 0
    logged = json.loads(out)
    expected = tiny_ensemble.label(NAMES)
    assert logged["model_version"] == expected["model_version"].dropna().iloc[0]

    # MLflow cannot return a null array: the pyfunc gives [] where the label is null (see the module)
    raw = expected.assign(entities=[[] if e is None else e for e in expected["entities"]])
    model = mlflow.pyfunc.load_model(logged["model_uri"])
    got = model.predict(pd.DataFrame({"name": NAMES}))
    assert len(got) == len(NAMES)
    assert_rows_match(list(got[mlflow_model.OUTPUT_COLUMN]), raw)

    df = spark.createDataFrame(list(enumerate(NAMES)), "id long, name string").repartition(2)
    udf = mlflow.pyfunc.spark_udf(spark, logged["model_uri"], result_type=mlflow_model.RESULT_TYPE, env_manager="local")
    rows = df.withColumn("n", udf("name")).select("id", "n.ner.*").orderBy("id").collect()
    assert_rows_match([r.asDict(recursive=True) for r in rows], raw)
    helper = mlflow_model.ner_spark_udf(spark, logged["model_uri"])
    rows = df.select("id", helper("name").alias("n")).select("id", "n.*").orderBy("id").collect()
    assert_rows_match([r.asDict(recursive=True) for r in rows], expected)


@pytest.mark.slow
def test_logged_model_is_portable_and_a_config_can_name_it(  # type: ignore[no-untyped-def]
    tiny_config_path, tracking, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package travels as code, the requirements are public packages, a synthetic input example and
    a full signature (what Unity Catalog asks for); registered, the model is an ensemble's source:
    ``base = "models:/name/1"`` labels as the original config does."""
    from spark_ner.config import load_config
    from spark_ner.ensemble import load_ensemble
    from spark_ner.errors import ModelSourceError
    from spark_ner.fetch import fetch_mlflow_member

    monkeypatch.setenv("SPARK_NER_FETCH_DIR", str(tmp_path / "fetched"))
    calibrated = {"calibration.method": "platt", "calibration.slope.PERSON": "2.5", "calibration.shift.NONE": "0.5"}
    rc, out = _cli(
        "log-model", "--config", str(tiny_config_path), "--registered-model-name", "spark-ner-test",
        "--registry-uri", tracking, *[a for k, v in calibrated.items() for a in ("--set", f"{k}={v}")],
    )  # fmt: skip
    assert rc == 0
    logged = json.loads(out)
    assert str(logged["registered_model_version"]) == "1"
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=logged["model_uri"], dst_path=str(tmp_path / "m")))
    reqs = (local / "requirements.txt").read_text().splitlines()
    assert not [r for r in reqs if r.lower().startswith(("spark-ner", "spark_ner"))], reqs
    assert any(r.startswith("torch==") for r in reqs) and any(r.startswith("transformers==") for r in reqs)
    assert (local / "code" / "spark_ner" / "__init__.py").is_file() and not list(local.rglob("__pycache__"))
    info = mlflow.models.get_model_info(logged["model_uri"])
    assert info.signature.inputs.input_names() == ["name"] and info.signature.outputs is not None
    example = json.loads((local / info.saved_input_example_info["artifact_path"]).read_text())
    assert "Jane Example" in json.dumps(example)

    original = load_config(tiny_config_path, overrides=calibrated)  # calibration travels with the model
    expected = load_ensemble(original).label(NAMES)
    conf = tmp_path / "from-registry.toml"
    conf.write_text('base = "models:/spark-ner-test/1"\n[ensemble]\ndevice = "cpu"\n', encoding="utf-8")
    cfg = load_config(conf)
    assert {m.path for m in cfg.models} == {"models:/spark-ner-test/1"}
    assert cfg.fingerprint() == original.fingerprint() != load_config(tiny_config_path).fingerprint()
    got = load_ensemble(cfg).label(NAMES)
    assert_rows_match(got.to_dict("records"), expected)
    with pytest.raises(ModelSourceError, match=r"no member of that name.*bert"):
        fetch_mlflow_member("models:/spark-ner-test/1", "nope")


def test_packed_ensemble_refuses_other_weights(tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    packed = tmp_path / "ensemble"
    pins = mlflow_model.pack_ensemble(tiny_config, packed)
    assert set(pins["members"]) == {m.name for m in tiny_config.models}
    cfg = mlflow_model.load_packed(packed)  # the copies match their pins
    assert all(m.path.startswith(str(packed / "members")) for m in cfg.models)
    weights = packed / "members" / "bert" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit of a tensor: the same size, another digest
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsMismatchError, match="Fix"):
        mlflow_model.load_packed(packed)


def test_config_toml_round_trips(tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from spark_ner.config import load_config

    data = tiny_config.to_dict()
    data.pop("source")
    data.pop("model_dir")
    path = tmp_path / "c.toml"
    path.write_text(mlflow_model.config_toml(data), encoding="utf-8")
    assert load_config(path).fingerprint() == tiny_config.fingerprint()


def test_config_toml_keeps_the_calibration(tiny_config_path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A calibrated config (the defaults are) logs its [calibration]: it changes ner_score and model_version."""
    from spark_ner.config import load_config

    cfg = load_config(
        tiny_config_path,
        overrides={"calibration.method": "platt", "calibration.slope.PERSON": 2.5, "calibration.shift.NONE": 0.5},
    )
    assert cfg.fingerprint() != load_config(tiny_config_path).fingerprint()
    data = cfg.to_dict()
    data.pop("source")
    data.pop("model_dir")
    path = tmp_path / "c.toml"
    path.write_text(mlflow_model.config_toml(data), encoding="utf-8")
    assert load_config(path).fingerprint() == cfg.fingerprint()


def _metrics(run_id: str) -> dict[str, Any]:
    return dict(mlflow.get_run(run_id).data.metrics)


@pytest.mark.slow
def test_eval_logs_metrics_members_and_confusion(tiny_config_path, tracking, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gold = tmp_path / "gold.csv"
    pd.DataFrame(
        {
            "name": ["John Smith", "Acme Corp", "New York", "Banco Santander S.A.", "Mary Lopez", "Peter"],
            "label": ["PERSON", "ORGANIZATION", "LOCATION", "ORGANIZATION", "PERSON", "PERSON"],
        }
    ).to_csv(gold, index=False)
    out = tmp_path / "eval"
    rc, _ = _cli("eval", "--input", str(gold), "--out", str(out), "--config", str(tiny_config_path), "--mlflow")
    assert rc == 0
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1
    run = runs[0]
    metrics = _metrics(run.info.run_id)
    saved = json.loads((out / "metrics.json").read_text())
    assert metrics["ensemble.accuracy"] == pytest.approx(saved["systems"]["ensemble"]["accuracy"])
    assert "bert.macro_f1" in metrics and "roberta.macro_f1" in metrics  # per member
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"confusion.png", "metrics.json", "report.md"} <= artifacts


@pytest.mark.slow
def test_train_logs_through_accelerates_mlflow_tracker(tracking, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from spark_ner.starter.train import TrainArgs, train

    rows = [
        {"name": n, "tags": t}
        for n, t in [
            ("John Smith", ["B-PER", "I-PER"]),
            ("Acme Corp", ["B-ORG", "I-ORG"]),
            ("New York", ["B-LOC", "I-LOC"]),
            ("Mary Lopez", ["B-PER", "I-PER"]),
            ("Banco Santander", ["B-ORG", "I-ORG"]),
            ("Paris", ["B-LOC"]),
        ]
        * 4
    ]
    data = tmp_path / "train.parquet"
    pd.DataFrame(rows).to_parquet(data)
    args = TrainArgs(
        **tiny_roberta_args(
            data,
            data,
            output_dir=tmp_path / "model",
            vocab_size=200,
            epochs=2,
            batch_size=8,
            log_with="mlflow",
            tracker_project="spark-ner-train-test",
        )
    )
    metrics = train(args)
    experiment = mlflow.get_experiment_by_name("spark-ner-train-test")
    assert experiment is not None
    runs = mlflow.search_runs([experiment.experiment_id], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["from_scratch"] == "roberta" and run.data.params["epochs"] == "2"
    assert run.data.metrics["final_dev_f1"] == pytest.approx(metrics["dev"]["f1"])
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "dev_f1")
    assert len(history) == 2  # one point per epoch
