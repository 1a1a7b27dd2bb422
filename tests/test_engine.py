"""The pyspark-free Arrow scoring loop (``spark_ner.engine``) and the device batch plan (issue 22)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
from conftest import SAMPLE_NAMES
from hostile import NAMES as HOSTILE

from spark_ner.config import CpuParallel
from spark_ner.engine import arrow_distinct, label_arrow_stream, ner_arrow_type
from spark_ner.ensemble import load_ensemble
from spark_ner.errors import InputColumnError

NAMES = [n if isinstance(n, str) else None for n in [*SAMPLE_NAMES, *HOSTILE]] * 2


def test_arrow_type_is_pysparks_mapping_of_the_contract() -> None:
    """One contract: the runtime's Arrow type is what pyspark maps ``NER_STRUCT`` to."""
    from pyspark.sql.pandas.types import to_arrow_type

    from spark_ner.spark.udf import NER_STRUCT

    assert ner_arrow_type() == to_arrow_type(NER_STRUCT)


def _rounded(rows: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    """Output rows with every score rounded to 5 places (what float noise of batching can move)."""

    def fix(x: object) -> object:
        if isinstance(x, dict):
            return {k: round(v, 5) if k in ("score", "agreement") and v is not None else fix(v) for k, v in x.items()}
        return [fix(e) for e in x] if isinstance(x, list) else x

    return [fix(r) for r in rows]  # type: ignore[misc]


def test_stream_gives_what_label_gives_batch_by_batch_empty_batches_included(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    chunks = [NAMES[:7], [], NAMES[7:20], NAMES[20:], []]
    batches = [pa.array([], type=pa.string()), *(pa.array(c, type=pa.string()) for c in chunks)]
    seen: list[tuple[int, float]] = []
    got = list(label_arrow_stream(tiny_ensemble, batches, on_batch=lambda n, s: seen.append((n, s))))
    assert [len(g) for g in got] == [len(b) for b in batches]
    assert [n for n, _ in seen] == [len(c) for c in chunks if c] and all(s >= 0 for _, s in seen)
    for g, c in zip(got[1:], chunks, strict=True):
        want = tiny_ensemble.label_columns(c).to_arrow(ner_arrow_type()) if c else pa.array([], ner_arrow_type())
        # the stream fills its chunks across batches: other rows share a forward batch, so scores may
        # move in the last float bits (padding), never a label, span or text
        assert _rounded(g.to_pylist()) == _rounded(want.to_pylist())
    whole = pa.concat_arrays(got).to_pandas()
    frame = tiny_ensemble.label(NAMES)
    assert [x["label"] for x in whole] == frame["label"].tolist()


def test_record_batches_and_a_lazy_loader(tiny_config) -> None:  # type: ignore[no-untyped-def]
    loads: list[int] = []

    def loader():  # type: ignore[no-untyped-def]
        loads.append(1)
        return load_ensemble(tiny_config)

    empty = pa.record_batch([pa.array([], type=pa.string())], names=["name"])
    assert [len(x) for x in label_arrow_stream(loader, [empty, empty])] == [0, 0]
    assert loads == []  # an empty partition loads no model
    rb = pa.record_batch([pa.array(NAMES[:9], type=pa.string())], names=["name"])
    out = list(label_arrow_stream(loader, [rb]))
    assert loads == [1] and len(out) == 1 and len(out[0]) == 9


@pytest.mark.parametrize(
    ("array", "said"),
    [
        (pa.array([1, 2]), "int64"),
        (pa.array([[1], [2]]), "array"),
        (pa.array([b"x"]), "binary"),
        (pa.array([{"a": "x"}]), "struct (fields a)"),
    ],
)
def test_a_column_that_is_not_strings_is_refused_with_the_fix(array, said) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputColumnError, match=rf"{re.escape(said)}.*CAST\(col AS STRING\)"):
        arrow_distinct(array)


def test_the_device_batch_plan_keeps_labels_and_pads_nothing(tiny_config) -> None:  # type: ignore[no-untyped-def]
    """The GPU's way (one feeder thread launching every batch, torch on one thread) on this CPU: the
    same labels as two CPU lanes taking whole batches, and the padded/real token ratio within 1.10."""
    one = replace(tiny_config.ensemble, batch_size=8, num_threads=1, cpu_parallel=CpuParallel.OPS)
    lanes = replace(one, num_threads=2, cpu_parallel=CpuParallel.BATCHES)
    dev = load_ensemble(replace(tiny_config, ensemble=one))
    cpu = load_ensemble(replace(tiny_config, ensemble=lanes))
    assert (dev.lanes, cpu.lanes) == (1, 2)
    names = [n for n in NAMES if n] * 3 + [f"{n} {i}" for i, n in enumerate(SAMPLE_NAMES * 20)]
    got, want = dev.label(names, members=True), cpu.label(names, members=True)
    assert got.label.tolist() == want.label.tolist()
    assert got.filter(like="member_label").equals(want.filter(like="member_label"))
    np.testing.assert_allclose(got.score, want.score, rtol=1e-5)
    padded, real = dev.plan_tokens(names)
    assert real > 0 and padded <= 1.10 * real


def test_entity_texts_are_the_original_spans_in_arrow_and_pandas(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    """Entity texts are gathered as UTF-8 byte ranges (issue 22): every text must still be
    ``name[start:end]`` of the ORIGINAL name (accents, astral characters, CJK, NFD, case-restored
    names, repeats, nulls), the same in the Arrow and the pandas output."""
    extra = ["JOSÉ GARCÍA", "Jose\u0301 Garci\u0301a", "\U0001f600 Emoji Ltd", "株式会社 トヨタ", "O'Brien, Mary-Ann"]
    names = [*NAMES, *extra, *extra]
    arrow = tiny_ensemble.label_columns(names).to_arrow(ner_arrow_type()).to_pylist()
    frame = tiny_ensemble.label(names)
    seen = 0
    for name, row, ents in zip(names, arrow, frame["entities"], strict=True):
        got = row["entities"]
        assert (got is None) == (ents is None)
        for a, p in zip(got or [], ents if ents is not None else [], strict=True):
            assert a["text"] == name[a["start"] : a["end"]] == p["text"]
            seen += 1
    assert seen > 20  # the random members find entities in these names
    # a lone surrogate (possible in Python strings, never in Arrow's): pandas output keeps it
    odd = "Bad \ud800 Name"
    for ent in tiny_ensemble.label([odd])["entities"][0] or []:
        assert ent["text"] == odd[ent["start"] : ent["end"]]


@pytest.mark.parametrize("kind", ["string", "large_string", "chunked"])
def test_arrow_distinct_is_first_seen_order_with_nulls(tiny_ensemble, kind: str) -> None:  # type: ignore[no-untyped-def]
    """The Arrow path factorizes with Arrow's dictionary encoding (issue 22): distinct names in
    first-seen order, nulls -1, strings that differ only after a NUL kept apart; labels as from a list."""
    values = ["b", None, "a\x00b", "b", "a\x00c", None, "Acme Ltd", "a\x00b"]
    if kind == "chunked":
        array = pa.chunked_array([values[:3], values[3:]], type=pa.string())
    else:
        array = pa.array(values, type=pa.large_string() if kind == "large_string" else pa.string())
    got = arrow_distinct(array)
    assert got.distinct == ["b", "a\x00b", "a\x00c", "Acme Ltd"]
    assert got.codes.tolist() == [0, -1, 1, 0, 2, -1, 3, 1]
    out = next(label_arrow_stream(tiny_ensemble, [array]))
    assert out.equals(tiny_ensemble.label_columns(values).to_arrow(ner_arrow_type()))
