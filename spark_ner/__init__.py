"""spark_ner: label customer names (PERSON/ORGANIZATION/LOCATION/MISC/NONE) at lakehouse scale.

Public API (README, "Python" and "Spark"): ``load_config``, ``load_ensemble``, ``ner_udf``, ``with_ner_labels``,
``register_sql``. Heavy modules (torch, transformers, pyspark) load on first use only, so building
a UDF on the driver stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spark_ner.config import load_config

__version__ = "0.1.0"
__all__ = ["__version__", "load_config", "load_ensemble", "ner_udf", "register_sql", "with_ner_labels"]

_LAZY = {
    "load_ensemble": "spark_ner.ensemble",
    "ner_udf": "spark_ner.spark.udf",
    "with_ner_labels": "spark_ner.spark.udf",
    "register_sql": "spark_ner.spark.udf",
}

if TYPE_CHECKING:
    from spark_ner.ensemble import load_ensemble
    from spark_ner.spark.udf import ner_udf, register_sql, with_ner_labels


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spark_ner' has no attribute {name!r}")
