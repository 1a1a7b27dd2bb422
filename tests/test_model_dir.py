"""Where bare-named members resolve: ``--model-dir`` / argument > $SPARK_NER_MODEL_DIR > the config's
``model_dir`` > ~/.cache/spark-ner/models (issue 23: a job on Databricks finds members on a Volume)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from spark_ner.config import ENV_MODEL_DIR, add_config_arguments, config_from_args, load_config
from spark_ner.errors import ConfigError


def _config(tmp_path: Path, model_dir: str | None) -> Path:
    path = tmp_path / "c.toml"
    head = f'model_dir = "{model_dir}"\n' if model_dir is not None else ""
    path.write_text(head + '[[models]]\nname = "bert"\npath = "bert"\n', encoding="utf-8")
    return path


def _member_dir(cfg_path: Path, **kwargs: str) -> Path:
    return Path(load_config(cfg_path, **kwargs).models[0].path).parent  # type: ignore[arg-type]


def test_precedence_argument_then_env_then_file_then_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_MODEL_DIR, raising=False)
    path = _config(tmp_path, "/volumes/file")
    assert _member_dir(path) == Path("/volumes/file")
    monkeypatch.setenv(ENV_MODEL_DIR, "/volumes/env")
    assert _member_dir(path) == Path("/volumes/env")
    assert _member_dir(path, model_dir="/volumes/arg") == Path("/volumes/arg")
    monkeypatch.delenv(ENV_MODEL_DIR)
    assert _member_dir(_config(tmp_path, None)) == Path("~/.cache/spark-ner/models").expanduser()


def test_a_relative_model_dir_is_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_MODEL_DIR, raising=False)
    cfg = load_config(_config(tmp_path, "models"))
    assert Path(cfg.models[0].path) == tmp_path / "models" / "bert"
    assert cfg.model_dir == str(tmp_path / "models")


def test_model_dir_flag_and_the_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MODEL_DIR, "/volumes/env")
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    path = _config(tmp_path, None)
    args = parser.parse_args(["--config", str(path), "--model-dir", "/volumes/flag", "--set", "models.bert.weight=2"])
    cfg = config_from_args(args)
    assert cfg.models[0].path == "/volumes/flag/bert" and cfg.models[0].weight == 2.0
    assert cfg.fingerprint() == load_config(path, overrides={"models.bert.weight": "2"}).fingerprint()  # where != what


def test_a_bad_model_dir_names_the_key_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('model_dir = 3\n[[models]]\nname = "bert"\npath = "bert"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model_dir = 3.*Fix"):
        load_config(path)


def test_a_uri_model_dir_gives_uri_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--model-dir hdfs:///models`` (YARN cluster mode): bare names become URIs every node copies once."""
    monkeypatch.delenv(ENV_MODEL_DIR, raising=False)
    cfg = load_config(_config(tmp_path, None), model_dir="hdfs:///models/spark-ner/")
    assert cfg.models[0].path == "hdfs:///models/spark-ner/bert"
    assert load_config(_config(tmp_path, "s3://bucket/models")).models[0].path == "s3://bucket/models/bert"
