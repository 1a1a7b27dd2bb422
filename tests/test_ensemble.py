"""The in-process ensemble against DESIGN.md's output contract, on a tiny BERT + RoBERTa pair."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE_NAMES
from hostile import NAMES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spark_ner.config import NAME_LABELS, load_config
from spark_ner.ensemble import OUTPUT_COLUMNS, load_ensemble

HOSTILE = [
    *NAMES,
    "x" * 3000,
    "\U0010ffff",
]


def check_contract(names: list[object], out: pd.DataFrame) -> None:
    assert list(out.columns[: len(OUTPUT_COLUMNS)]) == list(OUTPUT_COLUMNS)
    assert len(out) == len(names)
    for name, row in zip(names, out.itertuples(index=False), strict=True):
        if name is None:
            assert row.label is None and row.error is None
            continue
        assert row.error is None
        assert row.label in NAME_LABELS
        assert 0.0 <= row.score <= 1.0 + 1e-6 and 0.0 <= row.agreement <= 1.0 + 1e-6
        assert isinstance(name, str)
        for ent in row.entities:
            assert name[ent["start"] : ent["end"]] == ent["text"]
            assert ent["label"] in ("PER", "ORG", "LOC", "MISC")
            assert 0.0 <= ent["score"] <= 1.0 + 1e-6
        if not name.strip():
            assert row.label == "NONE" and row.entities == []
        if row.label != "NONE":
            assert row.entities


def test_contract_on_hostile_input(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    names = SAMPLE_NAMES + HOSTILE
    out = tiny_ensemble.label(names)
    check_contract(names, out)
    assert out.model_version.nunique() == 1 and out.model_version[0].startswith("bert+roberta@")


def test_deterministic_and_independent_of_order(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    names = SAMPLE_NAMES + HOSTILE
    first = tiny_ensemble.label(names)
    again = tiny_ensemble.label(names)
    pd.testing.assert_frame_equal(first, again)
    order = list(range(len(names)))
    random.Random(7).shuffle(order)
    shuffled = tiny_ensemble.label([names[i] for i in order])
    back = shuffled.iloc[np.argsort(order)].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, back, check_exact=False, rtol=1e-5)


def test_batch_size_does_not_change_labels(tiny_config, tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    small = load_ensemble(replace(tiny_config, ensemble=replace(tiny_config.ensemble, batch_size=1)))
    names = SAMPLE_NAMES * 2
    a, b = tiny_ensemble.label(names), small.label(names)
    assert a.label.tolist() == b.label.tolist()
    np.testing.assert_allclose(a.score, b.score, rtol=1e-4)


def test_duplicates_are_scored_once(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    before = tiny_ensemble.stats.names_scored
    out = tiny_ensemble.label(["John Smith"] * 50 + ["Acme Corp"] * 50 + [None] * 3)
    assert tiny_ensemble.stats.names_scored - before == 2
    assert out.label[:50].nunique() == 1 and out.label[50:100].nunique() == 1
    assert out.label[100:].isna().all()


def test_all_caps_scored_as_title_case_with_original_spans(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    out = tiny_ensemble.label(["JOHN SMITH", "John Smith"])
    # case restoration: the models see "John Smith" either way, so the labels are identical...
    assert out.label[0] == out.label[1]
    assert out.score[0] == pytest.approx(out.score[1])
    # ...while the spans still point into the ALL-CAPS original
    for ent in out.entities[0]:
        assert "JOHN SMITH"[ent["start"] : ent["end"]] == ent["text"] and ent["text"].isupper()


def test_nul_characters_do_not_merge_distinct_names(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    # pandas.factorize hashes "a\x00b" and "a\x00c" as one value; dedup must not
    before = tiny_ensemble.stats.names_scored
    out = tiny_ensemble.label(["a\x00b", "a\x00c", "", "\x00"])
    assert tiny_ensemble.stats.names_scored - before == 4
    assert out.label[2] == "NONE"
    assert out.label[3] == tiny_ensemble.label(["\x00"]).label[0]


def test_wrong_types_get_an_error_not_an_exception(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    out = tiny_ensemble.label(["John", 5, float("nan"), b"bytes"])
    assert out.error[1] == "expected a string, got int" and out.label[1] is None
    assert out.error[2] is None and out.label[2] is None  # NaN is a pandas null
    assert "bytes" in out.error[3]
    assert out.error[0] is None


def test_over_long_names_are_scored_on_their_first_tokens(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    long = "John Smith " + "filler " * 5000
    out = tiny_ensemble.label([long])
    assert out.error[0] is None and out.label[0] in NAME_LABELS
    assert all(e["end"] <= len("John Smith ") + 7 * 30 for e in out.entities[0])  # <= 32 words


def test_members_columns_and_agreement(tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    out = tiny_ensemble.label(SAMPLE_NAMES, members=True)
    cols = ["member_label__bert", "member_label__roberta"]
    assert set(cols) <= set(out.columns)
    expected = (out[cols].eq(out.label, axis=0)).mean(axis=1)
    np.testing.assert_allclose(out.agreement, expected)


@pytest.mark.parametrize("strategy", ["mean", "max", "vote"])
@pytest.mark.parametrize("aggregation", ["first", "average", "max"])
def test_every_strategy_and_aggregation_meets_the_contract(tiny_config_path, strategy, aggregation) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(tiny_config_path, {"ensemble.strategy": strategy, "ensemble.aggregation": aggregation})
    names = SAMPLE_NAMES + HOSTILE
    check_contract(names, load_ensemble(cfg).label(names))


def test_weights_and_strategy_change_the_model_version(tiny_config_path, tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    other = load_ensemble(load_config(tiny_config_path, {"models.roberta.weight": 3.0}))
    assert other.model_version != tiny_ensemble.model_version
    same = load_ensemble(load_config(tiny_config_path, {"ensemble.batch_size": 3}))
    assert same.model_version == tiny_ensemble.model_version


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), st.text(max_size=60)), max_size=12))
def test_property_every_row_once_in_order_with_valid_spans(tiny_ensemble, names) -> None:  # type: ignore[no-untyped-def]
    out = tiny_ensemble.label(names)
    check_contract(names, out)
    single = [tiny_ensemble.label([n]).label[0] for n in names]
    assert out.label.tolist() == single


def test_int8_cpu_path_meets_the_contract_and_has_its_own_version(tiny_config_path, tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    import torch

    q = load_ensemble(load_config(tiny_config_path, {"ensemble.precision": "int8"}))
    linears = [m for member in q.members for m in member.model.modules() if isinstance(m, torch.nn.Linear)]
    assert not linears, "int8: every Linear layer is replaced by its dynamically quantized form"
    names = SAMPLE_NAMES + HOSTILE
    check_contract(names, q.label(names))
    assert q.model_version != tiny_ensemble.model_version  # labels may differ from fp32: cached apart


@pytest.mark.parametrize("mode", ["batches", "ops"])
def test_cpu_parallel_modes_give_the_same_labels(tiny_config, mode) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    import torch

    from spark_ner.config import CpuParallel

    def ensemble(m: str):  # type: ignore[no-untyped-def]
        e = replace(tiny_config.ensemble, cpu_parallel=CpuParallel(m), num_threads=2, batch_size=2)
        return load_ensemble(replace(tiny_config, ensemble=e))

    ops = ensemble("ops")
    assert ops.lanes == 1 and torch.get_num_threads() == 2
    ens = ensemble(mode)
    assert ens.lanes == (2 if mode == "batches" else 1)
    assert torch.get_num_threads() == (1 if mode == "batches" else 2)  # lanes run single-threaded ops
    names = SAMPLE_NAMES * 3 + HOSTILE
    got, want = ens.label(names, members=True), ops.label(names, members=True)
    check_contract(names, got)
    assert got.label.tolist() == want.label.tolist()
    assert got.filter(like="member_label").equals(want.filter(like="member_label"))
    np.testing.assert_allclose(got.score, want.score, rtol=1e-5)


def test_a_failing_batch_marks_its_rows_and_the_rest_go_on_in_lanes(tiny_config) -> None:  # type: ignore[no-untyped-def]
    """Fault injection: a member that raises on long inputs fails those rows only, in order."""
    from dataclasses import replace

    e = replace(tiny_config.ensemble, num_threads=2, batch_size=1)
    ens = load_ensemble(replace(tiny_config, ensemble=e))
    assert ens.lanes == 2
    member = ens.members[0]
    forward = member.model.forward

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["input_ids"].shape[1] > 12:
            raise RuntimeError("injected fault")
        return forward(*args, **kwargs)

    member.model.forward = flaky
    long_name = "Maximiliano Alessandro Papadopoulos-Vanderbilt y Wolfeschlegelsteinhausen"
    names = ["Ana Gil", long_name, "Acme Corp", long_name, "Lima"]
    out = ens.label(names)
    assert len(out) == len(names) and list(out.columns) == list(OUTPUT_COLUMNS)
    bad = out.error.notna().tolist()
    assert bad == [False, True, False, True, False]
    assert out.error[1] == f"member {member.source.name} failed: RuntimeError"
    assert out.label[1] is None and out.label[[0, 2, 4]].notna().all()


def test_int8_on_cuda_is_refused_with_the_fix() -> None:
    from spark_ner.config import Precision
    from spark_ner.errors import ConfigError
    from spark_ner.models import resolve_dtype

    with pytest.raises(ConfigError, match=r"CPU path.*use 'fp16'"):
        resolve_dtype(Precision.INT8, "cuda:0")
