"""Arrow batches in, the contract's Arrow struct out: the scoring loop a Spark task runs, without Spark.

Why here (runtime, no pyspark): the Spark Arrow UDF and ``spark-ner bench --sections executor`` (which
runs it in N processes sharing one GPU, on a machine without pyspark) must run the same function, so
what is measured is what Spark runs. One pipeline spans all batches of a task
(:meth:`Ensemble.label_stream`): batch k+1 is read, split, encoded and its forward passes launched
before batch k is decoded and converted.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from spark_ner.config import ENTITY_FIELDS, OUTPUT_FIELDS
from spark_ner.ensemble import DistinctNames, Ensemble
from spark_ner.errors import InputColumnError, RowCountMismatchError

__all__ = ["arrow_distinct", "label_arrow_stream", "ner_arrow_type", "string_column"]

#: Arrow types of the contract's fields, as pyspark maps ``spark_ner.spark.udf.NER_STRUCT``
#: (string, double, int32); tests/test_engine.py checks the two agree.
_ENTITY_ARROW = {"text": "string", "label": "string", "start": "int32", "end": "int32", "score": "float64"}
_OUTPUT_ARROW = {"label": "string", "score": "float64", "agreement": "float64", "model_version": "string"}


def ner_arrow_type() -> Any:
    """The contract's output struct as a ``pyarrow`` type (fields in ``OUTPUT_FIELDS`` order)."""
    import pyarrow as pa

    entity = pa.struct([pa.field(f, _ENTITY_ARROW[f]) for f in ENTITY_FIELDS])
    types = {**{k: pa.type_for_alias(v) for k, v in _OUTPUT_ARROW.items()}, "error": pa.string()}
    types["entities"] = pa.list_(pa.field("element", entity))
    return pa.struct([pa.field(f, types[f]) for f in OUTPUT_FIELDS])


def not_a_string_column(got: str) -> InputColumnError:
    """The one refusal of a non-string argument (Arrow and Pandas batch paths)."""
    return InputColumnError(
        f"the NER UDF expects a string column, got {got}; cast the column to string first "
        "(SQL: ner_label(CAST(col AS STRING)))"
    )


def arrow_distinct(array: Any) -> DistinctNames:
    """An Arrow string column as :class:`DistinctNames`: Arrow's dictionary encoding (first-seen order,
    nulls -1) makes the distinct names, so only they become Python strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = string_column(array)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())  # a string view
    encoded = column.dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return DistinctNames(codes, encoded.dictionary.to_pylist())


def string_column(array: Any) -> Any:
    """The Arrow string column of ``array`` (its first column for a batch or table); other Arrow types
    are refused with the fix."""
    import pyarrow as pa

    if isinstance(array, pa.RecordBatch | pa.Table):
        array = array.column(0)
    t = array.type
    is_view = getattr(pa.types, "is_string_view", lambda _: False)  # pyarrow 16+
    if pa.types.is_string(t) or pa.types.is_large_string(t) or is_view(t):
        return array
    if pa.types.is_struct(t):
        got = f"a struct (fields {', '.join(f.name for f in t)})"
    else:  # Spark's names for what Arrow carries, as the Pandas path reports them
        kinds: list[tuple[Any, str]] = [(pa.types.is_list, "array"), (pa.types.is_large_list, "array")]
        kinds += [(pa.types.is_binary, "binary"), (pa.types.is_large_binary, "binary"), (pa.types.is_map, "map")]
        got = f"values of type {next((name for test, name in kinds if test(t)), str(t))}"
    raise not_a_string_column(got)


#: called once per output batch: (rows, seconds spent labelling it, not counting waits for input)
BatchHook = Callable[[int, float], None]


def label_arrow_stream(
    ensemble: Ensemble | Callable[[], Ensemble],
    batches: Iterable[Any],
    arrow_type: Any | None = None,
    on_batch: BatchHook | None = None,
) -> Iterator[Any]:
    """Label each Arrow batch of names (``pa.Array``, ``ChunkedArray`` or a ``RecordBatch`` whose first
    column holds them); yields one ``pa.StructArray`` of ``arrow_type`` (default :func:`ner_arrow_type`)
    per batch, rows in order, pipelined across batches.

    ``ensemble``: the ensemble, or a function that loads it, called at the first non-empty batch (an
    empty partition never loads a model). ``on_batch(rows, busy_s)`` after each non-empty batch: the
    seconds since the previous batch was handed back, less the time spent waiting for the caller's
    next input batch (what a Spark task reports as busy).
    """
    import pyarrow as pa

    out_type = arrow_type if arrow_type is not None else ner_arrow_type()
    empty = pa.array([], type=out_type)
    source = iter(batches)
    first = DistinctNames(np.zeros(0, dtype=np.int64), [])
    for array in source:
        first = arrow_distinct(array)
        if len(first.codes):
            break
        yield empty
    if not len(first.codes):
        return
    ens = ensemble if isinstance(ensemble, Ensemble) else ensemble()
    sizes: deque[int] = deque([len(first.codes)])
    empties: deque[int] = deque()  # per empty input batch: how many non-empty ones come before it
    waited = 0.0

    def names() -> Iterator[DistinctNames]:
        nonlocal waited
        yield first
        while True:
            t = time.perf_counter()
            array = next(source, None)
            waited += time.perf_counter() - t
            if array is None:
                return
            values = arrow_distinct(array)
            if len(values.codes):
                sizes.append(len(values.codes))
                yield values
            else:
                empties.append(done + len(sizes))

    done = 0
    t0 = time.perf_counter()
    for i, cols in enumerate(ens.label_stream(names())):
        while empties and empties[0] <= i:
            empties.popleft()
            yield empty
        n = sizes.popleft()
        out = cols.to_arrow(out_type)
        if len(out) != n:
            raise RowCountMismatchError(f"the ensemble returned {len(out)} rows for a batch of {n}")
        done = i + 1  # read by names(): where an empty input batch goes
        if on_batch is not None:
            on_batch(n, time.perf_counter() - t0 - waited)
        yield out
        t0, waited = time.perf_counter(), 0.0
    while empties:
        empties.popleft()
        yield empty
