"""Words and offsets in the original string; per-member token ids; batching helpers."""

from __future__ import annotations

import numpy as np
import pytest

from spark_ner.models import load_tokenizer
from spark_ner.tokenize import WordTokenizer, batch_arrays, length_batches, pad_to, split_name, split_words


def test_words_keep_offsets_into_the_original() -> None:
    name = "  Smith  &   Sons,  Ltd  "
    words, starts, ends = split_name(name, 99, case_restore=False)
    assert words == ["Smith", "&", "Sons", ",", "Ltd"]
    assert [name[s:e] for s, e in zip(starts, ends, strict=True)] == words


def test_nfc_normalizes_but_offsets_stay_original() -> None:
    name = "Jose\u0301 Garci\u0301a"  # decomposed accents
    words, starts, ends = split_name(name, 99, case_restore=False)
    assert words == ["José", "García"]  # NFC, one word each (marks stay in the word)
    assert [name[s:e] for s, e in zip(starts, ends, strict=True)] == ["Jose\u0301", "Garci\u0301a"]


def test_all_caps_are_case_restored_for_the_models_only() -> None:
    name = "JOHN O'BRIEN"
    words, starts, ends = split_name(name, 99)
    assert words == ["John", "O'brien"]
    assert [name[s:e] for s, e in zip(starts, ends, strict=True)] == ["JOHN", "O'BRIEN"]
    assert split_name("john smith", 99)[0] == ["John", "Smith"]
    assert split_name("John SMITH", 99)[0] == ["John", "SMITH"]  # mixed case is left alone
    assert split_name("JOHN SMITH", 99, case_restore=False)[0] == ["JOHN", "SMITH"]


def test_max_words_bounds_work_on_huge_input() -> None:
    split = split_words(["a " * 100_000], max_words=32)
    assert len(split.words) == 32


@pytest.mark.parametrize("member", [0, 1], ids=["bert-wordpiece", "roberta-bpe"])
def test_encode_matches_the_tokenizer_on_presplit_words(tiny_models, member: int) -> None:  # type: ignore[no-untyped-def]
    tok = load_tokenizer(str(tiny_models[member]))
    wt = WordTokenizer(tok, max_length=32)
    names = ["John Smith", "Smith & Sons Ltd", "", "María José", "John Smith"]
    split = split_words(names, 32, case_restore=False)
    enc = wt.encode(split)
    for i, name in enumerate(names):
        words = split.words[split.bounds[i] : split.bounds[i + 1]]
        expected = tok(words, is_split_into_words=True)["input_ids"] if words else tok("")["input_ids"]
        assert enc.ids[enc.offsets[i] : enc.offsets[i + 1]].tolist() == expected, name
        # each word's first sub-token is where the tokenizer's word_ids says it is
        if words:
            word_ids = tok(words, is_split_into_words=True).word_ids()
            firsts = [word_ids.index(k) for k in range(len(words))]
            assert enc.word_first[split.bounds[i] : split.bounds[i + 1]].tolist() == firsts


def test_truncation_keeps_specials_and_marks_lost_words(tiny_models) -> None:  # type: ignore[no-untyped-def]
    tok = load_tokenizer(str(tiny_models[0]))
    wt = WordTokenizer(tok, max_length=6)
    split = split_words(["a b c d e f g h"], 32, case_restore=False)
    enc = wt.encode(split)
    row = enc.ids[enc.offsets[0] : enc.offsets[1]].tolist()
    assert len(row) == 6 and row[0] == tok.cls_token_id and row[-1] == tok.sep_token_id
    assert (enc.word_first[:4] >= 0).all() and (enc.word_first[4:] == -1).all()


def test_batches_sorted_padded_and_complete() -> None:
    lengths = np.array([3, 9, 1, 17, 9, 4])
    batches = length_batches(lengths, 4)
    assert sorted(np.concatenate(batches).tolist()) == list(range(6))
    assert [lengths[b].max() for b in batches] == [17, 3]
    assert pad_to(17) == 24 and pad_to(8) == 8


def test_batch_arrays_pad_to_multiple_of_8(tiny_models) -> None:  # type: ignore[no-untyped-def]
    tok = load_tokenizer(str(tiny_models[0]))
    wt = WordTokenizer(tok, max_length=32)
    enc = wt.encode(split_words(["John Smith", "Acme"], 32))
    ids, mask = batch_arrays(enc, np.array([0, 1]), wt.pad_id)
    assert ids.shape[1] % 8 == 0
    assert mask.sum(axis=1).tolist() == enc.lengths.tolist()
