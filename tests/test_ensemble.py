"""The in-process ensemble against the output contract (README, "What you get"), on a tiny BERT + RoBERTa pair."""

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
from spark_ner.config import OUTPUT_FIELDS as OUTPUT_COLUMNS
from spark_ner.ensemble import load_ensemble

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


def test_wrapping_punctuation_is_dropped_with_spans_on_the_original(tiny_config, tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    """Exports wrap names in quotes and brackets and end them with separators: the members see the name
    alone (same label and score as the bare name), the entity texts carry no quote; a stop that ends an
    abbreviation ("S.A.") stays a word. With ``ensemble.trim_punctuation`` off, the members read them."""
    from dataclasses import replace

    bare = "John Smith"
    wrapped = [
        '"John Smith"',
        "(John Smith)",
        "John Smith.",
        "John Smith,",
        "\u201cJohn Smith\u201d",
        "('John Smith');",
    ]
    more = ["Acme S.A.", "Acme S.A", "()", '"']
    out = tiny_ensemble.label([bare, *wrapped, *more])
    check_contract([bare, *wrapped, *more], out)
    for i, name in enumerate(wrapped, start=1):
        assert out.label[i] == out.label[0] and out.score[i] == pytest.approx(out.score[0]), name
        assert [e["text"] for e in out.entities[i]] == [e["text"] for e in out.entities[0]], name
        assert [e["start"] for e in out.entities[i]] == [e["start"] + name.index("J") for e in out.entities[0]], name
    assert out.score[7] != pytest.approx(out.score[8])  # "S.A." keeps its stop: the members read it
    off = load_ensemble(replace(tiny_config, ensemble=replace(tiny_config.ensemble, trim_punctuation=False)))
    assert off.label(['"John Smith"']).score[0] != pytest.approx(out.score[1])


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
    forward = member.forward_module.forward

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["input_ids"].shape[1] > 12:
            raise RuntimeError("injected fault")
        return forward(*args, **kwargs)

    member.forward_module.forward = flaky
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


# ----------------------------------------------------------------------------- model_version


def test_model_version_follows_strategy_weights_and_the_weights_digest(  # type: ignore[no-untyped-def]
    tiny_config_path, tiny_models, tiny_ensemble, tmp_path
) -> None:
    """SECURITY.md: model_version derives from the weights' digests and the label-relevant config."""
    import shutil

    from conftest import write_config

    base = tiny_ensemble.model_version
    # label-relevant config: the strategy, a member's weight
    assert load_ensemble(load_config(tiny_config_path, {"ensemble.strategy": "vote"})).model_version != base
    assert load_ensemble(load_config(tiny_config_path, {"models.roberta.weight": 3.0})).model_version != base
    # speed knobs are not
    assert load_ensemble(load_config(tiny_config_path, {"ensemble.batch_size": 3})).model_version == base
    # the weights: the same bytes elsewhere keep the version, one changed byte changes it
    bert, roberta = tiny_models
    copy = shutil.copytree(bert, tmp_path / "bert")
    conf = write_config(tmp_path / "copy.toml", copy, roberta)
    assert load_ensemble(load_config(conf)).model_version == base
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # inside the last tensor's data: still a valid safetensors file
    weights.write_bytes(bytes(data))
    changed = load_ensemble(load_config(conf)).model_version
    assert changed != base and changed.startswith("bert+roberta@")


# ----------------------------------------------------------------------------- values, by hand


def _hand_word_probs(member, names: list[str], aggregation: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """One member's canonical-tag probabilities per word, computed here from its own forward pass
    on each name alone: fp32 softmax, projected onto TAGS, then first / average / max over the
    word's sub-tokens (average and max renormalized)."""
    import torch

    from spark_ner.tokenize import split_name

    tok = member.tokenizer
    specials = tok("", add_special_tokens=True)["input_ids"]
    proj = torch.from_numpy(member.source.projection)
    rows = []
    for name in names:
        words = split_name(name, 32, case_restore=True)[0]
        pieces = [tok(w, add_special_tokens=False)["input_ids"] for w in words]
        ids = specials[:1] + [t for p in pieces for t in p] + specials[1:]
        with torch.inference_mode():
            logits = member.model(input_ids=torch.tensor([ids])).logits[0].float()
        probs = (torch.softmax(logits, dim=-1) @ proj).numpy()
        pos = 1
        for p in pieces:
            tokens = probs[pos : pos + len(p)]
            pos += len(p)
            if aggregation == "first":
                rows.append(tokens[0])
            else:
                red = tokens.mean(axis=0) if aggregation == "average" else tokens.max(axis=0)
                rows.append(red / red.sum())
    return np.asarray(rows)


VALUE_NAMES = ["John Smith", "XIOMARA QUETZALCOATL", "Papadopoulos & Sons Ltd", "Wolfeschlegelstein GmbH", "acme corp"]


@pytest.fixture(scope="module")
def two_berts(tiny_models, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Two canonical-label BERT members (same vocabulary, different weights), weights 1 and 3:
    both can emit every tag, so the combination is the plain weighted formula."""
    from conftest import build_tiny_bert

    root = tmp_path_factory.mktemp("two-berts")
    other = build_tiny_bert(root / "b2", seed=5)
    conf = root / "two.toml"
    conf.write_text(
        '[ensemble]\ndevice = "cpu"\nbatch_size = 4\nmax_length = 32\n\n'
        f'[[models]]\nname = "b1"\npath = "{tiny_models[0]}"\nweight = 1.0\n\n'
        f'[[models]]\nname = "b2"\npath = "{other}"\nweight = 3.0\n',
        encoding="utf-8",
    )
    return conf


@pytest.mark.parametrize("aggregation", ["first", "average", "max"])
def test_aggregation_values_match_a_hand_computation(two_berts, aggregation) -> None:  # type: ignore[no-untyped-def]
    ens = load_ensemble(load_config(two_berts, {"ensemble.aggregation": aggregation}))
    pred = ens.predict(VALUE_NAMES)
    pieces = [len(ens.members[0].tokenizer(w, add_special_tokens=False)["input_ids"]) for w in pred.split.words]
    assert max(pieces) > 1  # words of several sub-tokens, or average/max would equal first
    for member, got, valid in zip(ens.members, pred.member_probs, pred.member_valid, strict=True):
        assert valid.all()
        np.testing.assert_allclose(got, _hand_word_probs(member, VALUE_NAMES, aggregation), atol=2e-5)


@pytest.mark.parametrize("strategy", ["mean", "max", "vote"])
def test_strategy_values_match_a_hand_computation(two_berts, strategy) -> None:  # type: ignore[no-untyped-def]
    ens = load_ensemble(load_config(two_berts, {"ensemble.strategy": strategy}))
    pred = ens.predict(VALUE_NAMES)
    p1, p2 = pred.member_probs
    w1, w2 = 1.0, 3.0
    if strategy == "mean":
        want = (w1 * p1 + w2 * p2) / (w1 + w2)
    elif strategy == "max":
        top = np.maximum(p1, p2)
        want = top / top.sum(axis=1, keepdims=True)
    else:
        eye = np.eye(p1.shape[1])
        want = (w1 * eye[p1.argmax(1)] + w2 * eye[p2.argmax(1)]) / (w1 + w2)
    np.testing.assert_allclose(pred.probs, want, atol=1e-6)


def test_agreement_is_the_share_of_member_weight(tiny_models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A PERSON-only member (weight 1) and an ORGANIZATION-only member (weight 3): the mean says
    ORGANIZATION for every name, with agreement 3 / (1 + 3); vote says the same; with the weights
    swapped, PERSON at 0.75."""
    from helpers import force_label

    per = force_label(tiny_models[0], tmp_path / "per", "B-PER")
    org = force_label(tiny_models[0], tmp_path / "org", "B-ORG")
    names = ["John Smith", "ACME CORP", "Zürich Versicherung AG", "", None]
    for w_per, w_org, label in ((1.0, 3.0, "ORGANIZATION"), (3.0, 1.0, "PERSON")):
        for strategy in ("mean", "vote"):
            conf = tmp_path / f"{w_per}-{strategy}.toml"
            conf.write_text(
                f'[ensemble]\ndevice = "cpu"\nstrategy = "{strategy}"\n\n'
                f'[[models]]\nname = "per"\npath = "{per}"\nweight = {w_per}\n\n'
                f'[[models]]\nname = "org"\npath = "{org}"\nweight = {w_org}\n',
                encoding="utf-8",
            )
            out = load_ensemble(load_config(conf)).label(names, members=True)
            assert out.member_label__per[:3].tolist() == ["PERSON"] * 3
            assert out.member_label__org[:3].tolist() == ["ORGANIZATION"] * 3
            assert out.label[:3].tolist() == [label] * 3
            np.testing.assert_allclose(out.agreement[:3], 0.75)
            assert out.label[3] == "NONE" and out.agreement[3] == 1.0  # both members agree on nothing
            assert out.label[4] is None


# ----------------------------------------------------------------------------- CUDA out of memory


def test_cuda_oom_halves_the_batch_down_to_one_row(tiny_config, tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    """``torch.cuda.OutOfMemoryError`` (constructible without CUDA) on every forward pass of more
    than one row: the batch of 8 is retried in halves, 8 -> 4 -> 2 -> 1, and every row comes out
    with the labels it gets without the fault."""
    from dataclasses import replace

    import torch

    e = replace(tiny_config.ensemble, batch_size=8, num_threads=1)
    ens = load_ensemble(replace(tiny_config, ensemble=e))
    member = ens.members[0]
    forward = member.forward_module.forward
    rows_seen: list[int] = []

    def oom_above_one_row(*args, **kwargs):  # type: ignore[no-untyped-def]
        rows_seen.append(int(kwargs["input_ids"].shape[0]))
        if rows_seen[-1] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return forward(*args, **kwargs)

    member.forward_module.forward = oom_above_one_row
    names = SAMPLE_NAMES[:8]
    out = ens.label(names)
    assert rows_seen[0] == 8 and sorted(set(rows_seen)) == [1, 2, 4, 8]
    assert rows_seen.count(1) == 8  # each row scored once, alone
    assert out.error.isna().all()
    want = tiny_ensemble.label(names)
    assert out.label.tolist() == want.label.tolist()
    np.testing.assert_allclose(out.score, want.score, rtol=1e-5)


def test_cuda_oom_on_a_single_row_marks_only_that_row(tiny_config) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    import torch

    e = replace(tiny_config.ensemble, batch_size=8, num_threads=1)
    ens = load_ensemble(replace(tiny_config, ensemble=e))
    member = ens.members[0]
    forward = member.forward_module.forward
    long_name = "Maximiliano Alessandro Papadopoulos Vanderbilt"

    def oom_on_long_rows(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["input_ids"].shape[1] > 12:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return forward(*args, **kwargs)

    member.forward_module.forward = oom_on_long_rows
    out = ens.label(["Ana Gil", long_name, "Acme Corp", "Lima"])
    assert out.error.notna().tolist() == [False, True, False, False]
    assert out.error[1].startswith("CUDA out of memory scoring one row of ")
    assert out.label[1] is None and out.label[[0, 2, 3]].notna().all()


# ----------------------------------------------------------------------------- SentencePiece member


@pytest.fixture(scope="module")
def sentencepiece_member(tmp_path_factory):  # type: ignore[no-untyped-def]
    from conftest import BERT_LABELS, _corpus
    from helpers import build_tiny_sentencepiece

    return build_tiny_sentencepiece(tmp_path_factory.mktemp("sp") / "xlmr", _corpus(), BERT_LABELS)


def test_sentencepiece_member_labels_words_with_original_offsets(sentencepiece_member, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A Unigram/Metaspace (SentencePiece) member that says B-PER for every token: every word of
    every name becomes one PER entity whose offsets index the ORIGINAL string, ALL-CAPS and
    accented names included."""
    from helpers import force_label

    from spark_ner.tokenize import split_name

    member = force_label(sentencepiece_member, tmp_path / "xlmr-per", "B-PER")
    conf = tmp_path / "sp.toml"
    conf.write_text(f'[ensemble]\ndevice = "cpu"\n\n[[models]]\nname = "xlmr"\npath = "{member}"\n', encoding="utf-8")
    ens = load_ensemble(load_config(conf))
    assert ens.members[0].model.config.model_type == "xlm-roberta"
    names = [
        "John Smith",
        "MARÍA JOSÉ GARCÍA",
        "Jose\u0301 Garci\u0301a",
        "O'Brien & Sons",
        "  São   Paulo  ",
        "株式会社",
    ]
    out = ens.label(names)
    check_contract(names, out)
    for name, ents in zip(names, out.entities, strict=True):
        _, starts, ends = split_name(name, 32)
        assert [(e["start"], e["end"], e["label"]) for e in ents] == [
            (s, t, "PER") for s, t in zip(starts, ends, strict=True)
        ]
        assert [e["text"] for e in ents] == [name[s:t] for s, t in zip(starts, ends, strict=True)]
    assert out.label.tolist() == ["PERSON"] * len(names)


def test_sentencepiece_member_beside_wordpiece_and_bpe(sentencepiece_member, tiny_models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import write_config

    conf = write_config(tmp_path / "three.toml", *tiny_models)
    conf.write_text(
        conf.read_text() + f'\n[[models]]\nname = "xlmr"\npath = "{sentencepiece_member}"\nweight = 1.0\n',
        encoding="utf-8",
    )
    ens = load_ensemble(load_config(conf))
    names = SAMPLE_NAMES + HOSTILE
    out = ens.label(names, members=True)
    check_contract(names, out)
    assert out.model_version[0].startswith("bert+roberta+xlmr@")
    assert out.member_label__xlmr.notna().sum() == sum(isinstance(n, str) for n in names)


# ----------------------------------------------------------------------------- issue 18: the fast host path


def _fresh(tiny_config, **ensemble):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return load_ensemble(replace(tiny_config, ensemble=replace(tiny_config.ensemble, **ensemble)))


def test_pipeline_steps_do_not_change_the_output(tiny_config) -> None:  # type: ignore[no-untyped-def]
    """label() sends chunk k+1 to the lanes before it decodes chunk k: any chunk size, same frame."""
    names = [*SAMPLE_NAMES, None, *HOSTILE, "John Smith", 7, *SAMPLE_NAMES[:5]]
    whole = _fresh(tiny_config, num_threads=2).label(names, members=True)
    for step in (1, 3, 7):
        ens = _fresh(tiny_config, num_threads=2)
        ens.pipeline_names = step
        pd.testing.assert_frame_equal(ens.label(names, members=True), whole)
    single = _fresh(tiny_config, num_threads=1)  # no lanes: one device thread feeds the members
    single.pipeline_names = 4
    pd.testing.assert_frame_equal(single.label(names, members=True), whole, check_exact=False, rtol=1e-5)


def test_members_tokenize_side_by_side_and_agree(tiny_config) -> None:  # type: ignore[no-untyped-def]
    """Thousands of new words: each member tokenizes them in its own lane thread (Rust, no GIL)."""
    words = [f"Zq{i:05d}x" for i in range(3000)]
    names = [f"{a} {b}" for a, b in zip(words[::2], words[1::2], strict=True)]
    two = _fresh(tiny_config, num_threads=2)
    assert two.lanes == 2
    got = two.label(names)
    assert all(wt is None or wt.pending() == 0 for wt in two.tokenizers)
    want = _fresh(tiny_config, num_threads=1).label(names)
    assert got.label.tolist() == want.label.tolist()
    np.testing.assert_allclose(got.score, want.score, rtol=1e-5)


def test_arrow_columns_hold_the_pandas_rows(tiny_config, tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    """The Arrow output (for the Arrow UDF) has exactly label()'s rows: nulls, repeats, failed rows."""
    import pyarrow as pa

    entity = pa.struct(
        [
            ("text", pa.string()),
            ("label", pa.string()),
            ("start", pa.int32()),
            ("end", pa.int32()),
            ("score", pa.float64()),
        ]
    )
    arrow_type = pa.struct(
        [
            ("label", pa.string()),
            ("score", pa.float64()),
            ("agreement", pa.float64()),
            ("entities", pa.list_(entity)),
            ("model_version", pa.string()),
            ("error", pa.string()),
        ]
    )
    names = [*SAMPLE_NAMES, None, "", *HOSTILE, "John Smith", 5, "John Smith", float("nan")]
    for ens in (tiny_ensemble, _fresh(tiny_config, num_threads=2, batch_size=1)):
        cols = ens.label_columns(names)
        want = cols.to_pandas().to_dict("records")
        got = cols.to_arrow(arrow_type).to_pylist()
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            w = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in w.items()}
            assert g == w
    # failed rows: null label, score and entities, the error kept (fault injected like the lanes test)
    ens = _fresh(tiny_config, num_threads=1, batch_size=1)
    forward = ens.members[0].forward_module.forward

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["input_ids"].shape[1] > 12:
            raise RuntimeError("injected fault")
        return forward(*args, **kwargs)

    ens.members[0].forward_module.forward = flaky
    long_name = "Maximiliano Alessandro Papadopoulos-Vanderbilt y Wolfeschlegelsteinhausen"
    rows = ens.label_columns(["Ana Gil", long_name, long_name]).to_arrow(arrow_type).to_pylist()
    assert rows[0]["error"] is None and rows[0]["entities"] is not None
    assert rows[1]["label"] is None and rows[1]["entities"] is None and "RuntimeError" in rows[1]["error"]
    assert rows[2] == rows[1]


def test_int8_api_is_still_in_torch() -> None:
    """The int8 path calls torch.ao.quantization.quantize_dynamic, which torch 2.13 marks deprecated;
    torchao's replacement measured 1.7-2.0x fp32 on this CPU where it is 4-5x (issue 18), so it stays.
    This test fails the day a torch drops it: move ``models.quantize_int8`` to torchao then (README)."""
    import warnings

    import torch

    from spark_ner.models import quantize_int8

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = quantize_int8(torch.nn.Sequential(torch.nn.Linear(8, 8)))
    assert type(q[0]).__module__.startswith("torch.ao.nn.quantized"), type(q[0])
    assert not [w for w in caught if "deprecated" in str(w.message)]  # silenced once, at load
    with torch.inference_mode():
        assert q(torch.ones(2, 8)).shape == (2, 8)


def test_label_stream_runs_one_pipeline_across_batches(tiny_config, tiny_ensemble) -> None:  # type: ignore[no-untyped-def]
    """Batch k+1's chunks start before batch k is decoded; every batch still gets exactly its rows."""
    batches = [SAMPLE_NAMES[:7], [], [None, None], [*SAMPLE_NAMES, "John Smith", 3], HOSTILE, ["John Smith"] * 4]
    ens = _fresh(tiny_config, num_threads=2)
    ens.pipeline_names = 3
    outs = [cols.to_pandas(members=True) for cols in ens.label_stream(iter(batches))]
    assert len(outs) == len(batches)
    for got, names in zip(outs, batches, strict=True):
        pd.testing.assert_frame_equal(got, tiny_ensemble.label(names, members=True), check_exact=False, rtol=1e-5)


def test_small_batches_fill_one_chunk_and_its_full_forward_batches(tiny_config) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: a stream of small batches (Spark's Arrow batches) is scored in chunks filled across
    them, so a chunk's forward batches are as few and as full as one big call's; each batch still
    gets exactly its rows, in order."""
    names = [f"{a} {b}" for a in SAMPLE_NAMES[:12] for b in ("Smith", "Ltd", "Lopez y Hijos")]
    batches = [names[i : i + 5] for i in range(0, len(names), 5)]
    one = _fresh(tiny_config, num_threads=1)
    want = one.label(names)
    stream = _fresh(tiny_config, num_threads=1)
    outs = [c.to_pandas() for c in stream.label_stream(iter(batches))]
    assert [len(o) for o in outs] == [len(b) for b in batches]
    pd.testing.assert_frame_equal(pd.concat(outs, ignore_index=True), want, check_exact=False, rtol=1e-5)
    assert stream.stats.forwards == one.stats.forwards  # not one set of forward batches per small batch
    apart = _fresh(tiny_config, num_threads=1)
    for b in batches:
        apart.label(b)
    assert apart.stats.forwards > stream.stats.forwards


def test_classifier_on_the_picked_positions_keeps_the_labels(tiny_config) -> None:  # type: ignore[no-untyped-def]
    """Both tiny members have their classifier split off (run on the words' positions only); the
    whole-model path gives the same labels and scores."""
    split = load_ensemble(tiny_config)
    whole = load_ensemble(tiny_config)
    members = [m for m, _ in split.transformers()]
    assert members and all(m.head is not None and m.forward_module is m.encoder for m in members)
    for m, _ in whole.transformers():
        m.head = m.encoder = None
        assert m.forward_module is m.model
    names = SAMPLE_NAMES * 2 + HOSTILE
    got, want = split.label(names, members=True), whole.label(names, members=True)
    check_contract(names, got)
    assert got.label.tolist() == want.label.tolist()
    assert got.filter(like="member_label").equals(want.filter(like="member_label"))
    np.testing.assert_allclose(got.score, want.score, rtol=1e-5, atol=1e-6)


def test_shared_position_rows_keep_the_labels(tiny_config) -> None:  # type: ignore[no-untyped-def]
    """Batches of one length give the members their position ids and token types as one shared
    [1, length] row (``models.shared_row_inputs``: BERT counts from 0, RoBERTa from after its padding
    id); labels, member labels and scores are those of the members' own inputs."""
    from spark_ner.tools.bench import host_names

    shared = load_ensemble(tiny_config)
    own = load_ensemble(tiny_config)
    members = [m for m, _ in shared.transformers()]
    pad = members[1].forward_module.embeddings.padding_idx  # RoBERTa's
    assert [m.row_inputs for m in members] == [
        (0, ("position_ids", "token_type_ids")),
        (pad + 1, ("position_ids", "token_type_ids")),
    ]
    used: list[bool] = []
    for m in members:
        forward = m.forward_module.forward

        def spy(*args, _forward=forward, **kwargs):  # type: ignore[no-untyped-def]
            used.append("position_ids" in kwargs)
            return _forward(*args, **kwargs)

        m.forward_module.forward = spy
    for m, _ in own.transformers():
        m.row_inputs = None
    names = host_names(3000, seed=4) + SAMPLE_NAMES + HOSTILE  # many rows of each length: one-length batches
    got, want = shared.label(names, members=True), own.label(names, members=True)
    assert any(used) and not all(used)  # one-length batches took the shared row; padded ones did not
    assert got.label.tolist() == want.label.tolist()
    assert got.filter(like="member_label").equals(want.filter(like="member_label"))
    np.testing.assert_allclose(got.score, want.score, rtol=1e-5, atol=1e-6)


def test_a_head_that_is_more_than_a_linear_is_not_split() -> None:
    """ModernBERT's token-classification head is a dense layer, then the classifier: the probe tells the
    split logits from the model's, so that member keeps the whole-model call."""
    import torch
    from transformers import ModernBertConfig, ModernBertForTokenClassification

    from spark_ner.models import shared_row_inputs, split_head

    torch.manual_seed(0)
    cfg = ModernBertConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_labels=5,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        cls_token_id=1,
        sep_token_id=2,
    )
    model = ModernBertForTokenClassification(cfg).eval()
    assert split_head(model) is None
    assert shared_row_inputs(torch.nn.Linear(4, 4)) is None  # no embeddings: nothing shared
    assert split_head(torch.nn.Linear(4, 4)) is None  # no encoder, no classifier


@pytest.mark.parametrize("on", [False, True])
def test_loading_sets_numpys_huge_pages_as_configured(tiny_config, on) -> None:  # type: ignore[no-untyped-def]
    """``ensemble.huge_pages`` reaches NumPy's own switch (read back through it); labels are the same either way."""
    from dataclasses import replace

    from spark_ner.ensemble import configure_huge_pages

    core = getattr(np, "_core", None) or np.core  # NumPy 2 / NumPy 1
    switch = core.multiarray._set_madvise_hugepage
    before = switch(not on)  # the opposite, so loading has to change it
    try:
        ens = load_ensemble(replace(tiny_config, ensemble=replace(tiny_config.ensemble, huge_pages=on)))
        assert switch(on) is on  # what loading left
        assert configure_huge_pages(ens.cfg) is on
        big = np.ones(1 << 21)  # 16 MB: above NumPy's 4 MB threshold, allocated under the setting
        assert float(big.sum()) == float(1 << 21)
        got = ens.label(SAMPLE_NAMES + HOSTILE)
        other = load_ensemble(replace(tiny_config, ensemble=replace(tiny_config.ensemble, huge_pages=not on)))
        assert switch(not on) is not on
        want = other.label(SAMPLE_NAMES + HOSTILE)
        assert got.label.tolist() == want.label.tolist() and np.array_equal(got.score, want.score, equal_nan=True)
    finally:
        switch(before)
