"""The scheme of a member path given as a URI: one definition shared by config (which validates paths
and resolves ``base = "models:/..."``) and fetch (which copies URI members), so neither imports the other's
module for it and the lazy import config -> fetch makes no circle."""

from __future__ import annotations

import re

_URI_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
#: schemes of MLflow models: a model logged by ``spark-ner log-model`` as a member or a config's base
MLFLOW_SCHEMES: tuple[str, ...] = ("models", "runs")


def uri_scheme(path: str) -> str | None:
    """``s3`` for ``s3://b/k``, ``dbfs`` for ``dbfs:/x``; None for folders and hub ids (no ':' in those)."""
    m = _URI_RE.match(path)
    return m.group(1).lower() if m else None
