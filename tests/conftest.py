"""Shared fixtures: tiny random BERT (WordPiece) and RoBERTa (byte-level BPE) members, one Spark session.

Nothing is downloaded: the tokenizers are trained here with ``tokenizers`` on a few hundred names,
the models are randomly initialised (seeded), saved as safetensors, and described by a TOML config.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SAMPLE_NAMES = [
    "John Smith",
    "María José García López",
    "Smith & Sons Ltd",
    "Banco Santander S.A.",
    "Mr & Mrs García",
    "JOHN SMITH",
    "SMITH, John",
    "Universidad de Buenos Aires",
    "Hospital San Juan de Dios",
    "New York",
    "Walmart #1234",
    "O'Brien Consulting GmbH",
    "Dr. Ana Pérez",
    "Società Italiana S.p.A.",
    "São Paulo Futebol Clube",
    "Zürich Versicherung AG",
    "株式会社トヨタ",
    "محمد علي",
    "Müller-Lüdenscheidt",
    "acme corp",
]

BERT_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
# RoBERTa member: BIOES with non-canonical type names, mapped by the config's label_map
ROBERTA_LABELS = ["O"] + [f"{p}-{t}" for t in ("PERSON", "COMPANY", "PLACE") for p in "BIES"]
ROBERTA_LABEL_MAP = {"PERSON": "PER", "COMPANY": "ORG", "PLACE": "LOC"}


def _corpus() -> list[str]:
    words = " ".join(SAMPLE_NAMES).split()
    extra = ["Acme", "Corp", "Inc", "Ltd", "S.A.", "Bank", "City", "Street", "Mary", "Peter", "Lopez"]
    return SAMPLE_NAMES * 5 + [" ".join(words[i : i + 3]) for i in range(len(words))] + extra * 3


def build_tiny_bert(out: Path, seed: int = 0) -> Path:
    """A 2-layer BERT token classifier (canonical BIO labels) with a WordPiece vocabulary trained here."""
    from spark_ner.tools.random_models import TINY, build_random_bert

    return build_random_bert(out, _corpus(), TINY, BERT_LABELS, seed)


def build_tiny_roberta(out: Path, seed: int = 1) -> Path:
    """A 2-layer RoBERTa token classifier (BIOES, own type names) with a byte-level BPE vocabulary."""
    from dataclasses import replace

    from spark_ner.tools.random_models import TINY, build_random_roberta

    return build_random_roberta(out, _corpus(), replace(TINY, vocab=400), ROBERTA_LABELS, seed)


def write_config(path: Path, bert: Path, roberta: Path, **ensemble: object) -> Path:
    """A TOML config over the two tiny members (CPU, fp32)."""
    ens = {"device": "cpu", "batch_size": 8, "max_length": 32, **ensemble}
    lines = ["[ensemble]"]
    for k, v in ens.items():
        lines.append(f"{k} = {v!r}".replace("'", '"') if isinstance(v, str) else f"{k} = {str(v).lower()}")
    lines += ["", "[[models]]", 'name = "bert"', f'path = "{bert}"', "weight = 1.0"]
    lines += ["", "[[models]]", 'name = "roberta"', f'path = "{roberta}"', "weight = 1.0", "[models.label_map]"]
    lines += [f'{k} = "{v}"' for k, v in ROBERTA_LABEL_MAP.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return build_tiny_bert(root / "bert"), build_tiny_roberta(root / "roberta")


@pytest.fixture(scope="session")
def tiny_config_path(tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    bert, roberta = tiny_models
    return write_config(tmp_path_factory.mktemp("conf") / "tiny.toml", bert, roberta)


@pytest.fixture(scope="session")
def tiny_config(tiny_config_path: Path):  # type: ignore[no-untyped-def]
    from spark_ner.config import load_config

    return load_config(tiny_config_path)


@pytest.fixture(scope="session")
def tiny_ensemble(tiny_config):  # type: ignore[no-untyped-def]
    from spark_ner.ensemble import load_ensemble

    return load_ensemble(tiny_config)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One local[2] session for the whole run (UI off, few shuffle partitions, fast JVM flags)."""
    from pyspark.sql import SparkSession

    warehouse = tmp_path_factory.mktemp("warehouse")
    jvm = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("spark-ner-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.python.worker.reuse", "true")
        .config("spark.driver.extraJavaOptions", f"{jvm} -Dderby.system.home={warehouse}")
        .config("spark.executor.extraJavaOptions", jvm)
        .config("spark.sql.warehouse.dir", str(warehouse / "tables"))
        .config("spark.sql.catalogImplementation", "hive")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
