"""One named exception per kind of failure, so callers (and tests) can catch exactly what they mean.

Messages never contain input names or entity text: they name fields, paths and the fix.
"""

from __future__ import annotations


class SparkNerError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(SparkNerError, ValueError):
    """The configuration is invalid: names the key, what was expected, what came and the fix."""


class ModelSourceError(SparkNerError, FileNotFoundError):
    """A member's folder or hub id cannot be used (missing, offline, unreadable)."""


class UnsafeWeightsError(SparkNerError):
    """A member ships only pickle weights and the config did not allow them."""


class WeightsMismatchError(SparkNerError):
    """A weights file does not match the sha256 pinned in the config."""


class LabelMapError(ConfigError):
    """A member label maps to no canonical tag (PER/ORG/LOC/MISC/O)."""


class InputNotFoundError(SparkNerError, FileNotFoundError):
    """The input path or table does not exist, or cannot be read as the format given."""


class InputColumnError(SparkNerError, ValueError):
    """The input column is missing or is not a string column."""


class GoldLabelError(SparkNerError, ValueError):
    """Gold labels for evaluation are not PERSON/ORGANIZATION/LOCATION/MISC/NONE (or their tags)."""


class OutputExistsError(SparkNerError, FileExistsError):
    """The output exists and no write mode was given."""


class RowCountMismatchError(SparkNerError, RuntimeError):
    """Rows out differ from rows in: the write is refused so no data is lost or duplicated."""


class DeltaUnavailableError(SparkNerError, RuntimeError):
    """``--output-format delta`` on a cluster without the Delta Lake classes."""


class CacheError(SparkNerError, ValueError):
    """The cache location cannot be used (not a cache, wrong columns, a version mismatch)."""


class TrainingDataError(SparkNerError, ValueError):
    """The training data cannot be used: names the file, row number and column, never the name."""


class RampartCheckError(SparkNerError, RuntimeError):
    """The converted model does not reproduce the ONNX logits within tolerance."""
