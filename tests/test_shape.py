"""The lexicon's word-shape model (issue 25): stable n-gram buckets, a model that learns what kind of
word a spelling is, and its vote on the words no list holds (fast path = per-name reference)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spark_ner.starter.shape as shape_mod
from spark_ner.errors import ModelSourceError
from spark_ner.lexicon import (
    LEXICON_FILE,
    SHAPE_BUCKET_BITS,
    SHAPE_CATEGORIES,
    SHAPE_CONF,
    SHAPE_NGRAMS,
    Lexicon,
    shape_ngrams,
    shape_probs,
    write_lexicon,
)
from spark_ner.starter.shape import shape_examples, train_shape
from spark_ner.tokenize import split_words

CATS = ("GIVEN_NAME", "SURNAME", "PLACE", "COMPANY", "LEGAL_FORM")
#: word endings of each kind (what the model must learn from letters alone)
ENDINGS = {
    "SURNAME": ("son", "ez", "ski", "escu", "ovic"),
    "PLACE": ("ville", "burg", "stad", "hausen", "ford"),
    "COMPANY": ("ova", "anta", "elco", "umia", "adyne"),  # none a coined ending of Lexicon._coined
}
SYLLABLES = ("ka", "lo", "mer", "tin", "ber", "sa", "vo", "ri", "den", "mar", "qui", "zel", "pa", "dor", "fen", "lu")


def _words(kind: str, n: int, rng: random.Random, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
        word = stem + rng.choice(ENDINGS[kind])
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray, dict[str, list[str]]]:
    """A shape model trained on 500 made-up words of each kind, and 100 unseen words of each kind."""
    rng, taken = random.Random(0), set()
    train = {k: _words(k, 500, rng, taken) for k in ENDINGS}
    unseen = {k: _words(k, 100, rng, taken) for k in ENDINGS}
    words = [w for k in SHAPE_CATEGORIES for w in train[k]]
    labels = np.repeat(np.arange(len(SHAPE_CATEGORIES)), 500)
    mp = pytest.MonkeyPatch()
    mp.setattr(shape_mod, "EPOCHS", 30)  # 1,500 words: a few steps per epoch
    try:
        table, out = train_shape(words, labels)
    finally:
        mp.undo()
    return table, out, unseen


def test_ngram_buckets_are_the_same_in_every_process() -> None:
    """The build and every Spark worker must give a word the same buckets: no salted Python hash."""
    keys = ["corteva", "zürich", "o", "harsco", "a-b"]
    ids, counts = shape_ngrams(keys)
    assert counts.tolist() == [sum(max(0, len(k) + 2 - n + 1) for n in SHAPE_NGRAMS) for k in keys]
    assert ids.min() >= 0 and ids.max() < 1 << SHAPE_BUCKET_BITS
    code = (
        "import json, sys; from spark_ner.lexicon import shape_ngrams; "
        "print(json.dumps(shape_ngrams(sys.argv[1:])[0].tolist()))"
    )
    for seed in ("1", "2"):
        got = subprocess.run(
            [sys.executable, "-c", code, *keys],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(got) == ids.tolist()
    empty_ids, empty_counts = shape_ngrams([])
    assert len(empty_ids) == 0 and len(empty_counts) == 0


def test_the_model_tells_kinds_of_word_it_never_saw(
    trained: tuple[np.ndarray, np.ndarray, dict[str, list[str]]],
) -> None:
    table, out, unseen = trained
    assert table.dtype == np.float16 and table.shape[0] == 1 << SHAPE_BUCKET_BITS
    assert out.shape == (shape_mod.DIM + 1, len(SHAPE_CATEGORIES))
    for k, kind in enumerate(SHAPE_CATEGORIES):
        p = shape_probs(table, out, unseen[kind])
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
        assert float(np.mean(p.argmax(axis=1) == k)) >= 0.9, kind


def test_training_is_deterministic() -> None:
    rng, taken = random.Random(1), set()
    words = [w for k in SHAPE_CATEGORIES for w in _words(k, 200, rng, taken)]
    labels = np.repeat(np.arange(len(SHAPE_CATEGORIES)), 200)
    a, b = train_shape(words, labels), train_shape(words, labels)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    with pytest.raises(ValueError, match="no training word for \\['COMPANY'\\]"):
        train_shape(words[:400], labels[:400])


def test_examples_are_one_word_keys_and_rare_words_of_company_names() -> None:
    keys = ["acme", "ana", "bank of qwimby", "foxtron", "foxtron vehicle", "oslo", "zorblax vehicle", "x"]
    scores = np.zeros((len(keys), len(CATS)), dtype=np.uint8)
    best = {"acme": "COMPANY", "ana": "GIVEN_NAME", "bank of qwimby": "COMPANY", "foxtron": "COMPANY",
            "foxtron vehicle": "COMPANY", "oslo": "PLACE", "zorblax vehicle": "COMPANY", "x": "PLACE"}  # fmt: skip
    for i, k in enumerate(keys):
        scores[i, CATS.index(best[k])] = 255
    words, labels = shape_examples(keys, scores, CATS, exclude={"oslo"})
    got = dict(zip(words, (SHAPE_CATEGORIES[i] for i in labels.tolist()), strict=True))
    # "x": too short; "oslo": excluded; "foxtron": a key itself, so taught once; "qwimby", "vehicle" (in
    # 2 company names), "zorblax": words of company names that are no key
    assert got == {
        "acme": "COMPANY", "ana": "SURNAME", "foxtron": "COMPANY", "qwimby": "COMPANY", "vehicle": "COMPANY",
        "zorblax": "COMPANY", "bank": "COMPANY",
    }  # fmt: skip


def _lexicon(folder: Path, shape: tuple[np.ndarray, np.ndarray] | None) -> Lexicon:
    entries = {
        "ana": np.array([255, 0, 0, 0, 0], np.uint8),
        "smith": np.array([0, 230, 100, 0, 0], np.uint8),
        "paris": np.array([0, 0, 255, 0, 0], np.uint8),
        "san juan": np.array([0, 0, 230, 0, 0], np.uint8),
        "juan": np.array([255, 0, 0, 0, 0], np.uint8),
        "inc .": np.array([0, 0, 0, 0, 255], np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_lexicon(folder / LEXICON_FILE, entries, CATS, max_words=4, shape=shape)
    return Lexicon(folder)


def test_unknown_words_get_the_shape_vote_and_the_fast_path_agrees(
    trained: tuple[np.ndarray, np.ndarray, dict[str, list[str]]], tmp_path: Path
) -> None:
    table, out, unseen = trained
    lex = _lexicon(tmp_path / "with", (table, out))
    plain = _lexicon(tmp_path / "without", None)
    assert lex.shape_model is not None and plain.shape_model is None
    rng = random.Random(3)
    pool = [
        "Ana",
        "Smith",
        "Paris",
        "San",
        "Juan",
        "Inc.",
        ",",
        "&",
        "12",
        "x",
        *[w.title() for ws in unseen.values() for w in ws],
    ]
    names = [unseen["COMPANY"][0].title(), f"Ana {unseen['SURNAME'][0].title()}", "Smith Paris", "Dorville 75011"]
    names += [" ".join(rng.choice(pool) for _ in range(rng.randint(1, 4))) for _ in range(500)]
    sp = split_words(names, 8)
    got = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, sp.keys)
    ref = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, fast=False)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    without = plain.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, sp.keys)
    probs, valid = got
    company = lex.labels.index("COMPANY")
    # a coined company word alone: a weak company vote, the rest O
    assert valid[0] and not without[1][0]
    assert probs[0, 1:].argmax() + 1 == company and probs[0, 0] == pytest.approx(1 - SHAPE_CONF)
    assert probs[0].sum() == pytest.approx(1.0)
    # the vote adds, it changes nothing the lists say: known words keep their probabilities
    listed = without[1]
    np.testing.assert_array_equal(probs[listed], without[0][listed])
    new = valid & ~listed
    shaped = [sp.words[i] for i in np.flatnonzero(new)]
    assert shaped and all(w.isalpha() and len(w) >= 3 for w in shaped)
    assert "12" not in shaped and "x" not in shaped
    # "Dorville 75011": a word with a number beside it still gets its vote; the number none
    i = int(sp.bounds[3])
    assert valid[i] and not valid[i + 1]


def test_hidden_keys_are_not_found_by_either_path(tmp_path: Path) -> None:
    """``Lexicon.hide`` (the dev checks' masked entities): the fast path caches each word's key row, so
    hiding must reach the cache and the keys of several words, not only the index."""
    lex = _lexicon(tmp_path / "lex", None)
    sp = split_words(["Paris", "San Juan", "Ana Smith"], 8)
    before = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, sp.keys)
    assert before[1].all()
    lex.hide(["paris", "san juan"])
    for fast in (True, False):
        probs, valid = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, sp.keys, fast=fast)
        assert valid.tolist() == [False, False, True, True, True]  # "Juan" alone is a given name
        assert probs[2].argmax() == lex.labels.index("GIVEN_NAME")


def test_words_of_a_listed_key_of_several_words_get_no_shape_vote(
    trained: tuple[np.ndarray, np.ndarray, dict[str, list[str]]], tmp_path: Path
) -> None:
    """ "Qwimbu San Juan": the brand-then-place rule makes the lexicon abstain on "San Juan" (a place key);
    "San" is no one-word key, but a list holds it inside "san juan", so the shape vote leaves it alone."""
    lex = _lexicon(tmp_path / "lex", trained[:2])
    sp = split_words(["Qwimbu San Juan"], 8)
    for fast in (True, False):
        _probs, valid = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, sp.keys, fast=fast)
        assert valid.tolist() == [True, False, False]


def test_hidden_words_get_the_shape_vote_only_when_told(
    trained: tuple[np.ndarray, np.ndarray, dict[str, list[str]]], tmp_path: Path
) -> None:
    """The shape model learned from the lists, hidden keys included: by default a hidden word gets no shape
    vote (it would be a leak in the dev checks); ``shape_vote=True`` is for a model that never saw them."""
    sp = split_words(["Paris"], 8)
    for shape_vote, want in ((False, [False]), (True, [True])):
        lex = _lexicon(tmp_path / f"lex{shape_vote}", trained[:2])
        lex.hide(["paris"], shape_vote=shape_vote)
        for fast in (True, False):
            assert lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, sp.keys, fast=fast)[1].tolist() == want


def test_a_shape_model_hashed_another_way_is_refused(
    trained: tuple[np.ndarray, np.ndarray, dict[str, list[str]]], tmp_path: Path
) -> None:
    lex = _lexicon(tmp_path / "lex", trained[:2])
    assert lex.shape_model is not None
    with np.load(tmp_path / "lex" / LEXICON_FILE) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["shape_ngrams"] = np.array([3, 4], dtype=np.int32)
    (tmp_path / "odd").mkdir()
    np.savez(tmp_path / "odd" / LEXICON_FILE, **arrays)
    with pytest.raises(ModelSourceError, match=r"n-grams .* is not the one this spark_ner hashes words for"):
        Lexicon(tmp_path / "odd")
