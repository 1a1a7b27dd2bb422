"""BIO decoding with repair, spans and the name-level label, on hand-made probabilities."""

from __future__ import annotations

import numpy as np

from spark_ner.config import TAGS, Strategy
from spark_ner.decode import decode, decode_labels, decode_split, entity_records, entity_texts, label_names, row_argmax
from spark_ner.ensemble import combine
from spark_ner.tokenize import split_words


def onehot(*tags: str, p: float = 0.9) -> np.ndarray:
    out = np.full((len(tags), len(TAGS)), (1 - p) / (len(TAGS) - 1), dtype=np.float32)
    for i, t in enumerate(tags):
        out[i, TAGS.index(t)] = p
    return out


def run(names: list[str], tags: list[str]) -> tuple[list[str], list[list[dict[str, object]]]]:
    split = split_words(names, 32, case_restore=False)
    probs = onehot(*tags)
    dec = decode(probs, np.ones(len(tags), bool), split.bounds, split.starts, split.ends)
    return list(label_names(dec.label)), entity_records(dec, names)


def test_person_span_and_label() -> None:
    labels, ents = run(["Mr John Smith"], ["O", "B-PER", "I-PER"])
    assert labels == ["PERSON"]
    assert [(e["text"], e["label"], e["start"], e["end"]) for e in ents[0]] == [("John Smith", "PER", 3, 13)]


def test_i_without_b_opens_an_entity() -> None:
    labels, ents = run(["Acme Corp"], ["I-ORG", "I-ORG"])
    assert labels == ["ORGANIZATION"] and [e["text"] for e in ents[0]] == ["Acme Corp"]
    _, ents = run(["John Acme"], ["B-PER", "I-ORG"])  # type change opens a new entity
    assert [(e["text"], e["label"]) for e in ents[0]] == [("John", "PER"), ("Acme", "ORG")]


def test_b_after_b_splits_households() -> None:
    _, ents = run(["John & Mary Smith"], ["B-PER", "O", "B-PER", "I-PER"])
    assert [e["text"] for e in ents[0]] == ["John", "Mary Smith"]
    _, ents = run(["John Mary"], ["B-PER", "B-PER"])
    assert [e["text"] for e in ents[0]] == ["John", "Mary"]


def test_label_is_the_type_covering_most_characters() -> None:
    labels, _ = run(["Bob at Santander Consumer Bank"], ["B-PER", "O", "B-ORG", "I-ORG", "I-ORG"])
    assert labels == ["ORGANIZATION"]


def test_none_and_empty_names() -> None:
    labels, ents = run(["n/a", ""], ["O", "O", "O"])
    assert labels == ["NONE", "NONE"] and ents == [[], []]
    split = split_words(["", "x"], 32)
    dec = decode(onehot("O"), np.ones(1, bool), split.bounds, split.starts, split.ends)
    assert dec.score[0] == 1.0  # no words: certain there is no entity


def test_invalid_words_are_outside() -> None:
    split = split_words(["John Smith"], 32)
    dec = decode(onehot("B-PER", "I-PER"), np.array([True, False]), split.bounds, split.starts, split.ends)
    assert dec.ent_end.tolist() == [4]


def test_strategies() -> None:
    a = onehot("B-PER", p=0.6)
    b = onehot("B-ORG", p=0.9)
    valid = [np.ones(1, bool), np.ones(1, bool)]
    mean, _ = combine([a, b], valid, [1.0, 1.0], Strategy.MEAN)
    assert TAGS[int(mean.argmax())] == "B-ORG"
    weighted, _ = combine([a, b], valid, [5.0, 1.0], Strategy.MEAN)
    assert TAGS[int(weighted.argmax())] == "B-PER"
    mx, _ = combine([a, b], valid, [1.0, 1.0], Strategy.MAX)
    assert TAGS[int(mx.argmax())] == "B-ORG" and np.isclose(mx.sum(), 1.0)
    vote, _ = combine([a, b, a], [*valid, np.ones(1, bool)], [1.0, 1.0, 1.0], Strategy.VOTE)
    assert np.isclose(vote[0, TAGS.index("B-PER")], 2 / 3)
    # a member that lost the word (truncation) does not vote on it
    masked, any_valid = combine([a, b], [np.ones(1, bool), np.zeros(1, bool)], [1.0, 1.0], Strategy.MEAN)
    assert np.allclose(masked, a) and any_valid.tolist() == [True]


def test_member_without_a_type_does_not_vote_against_it() -> None:
    # rampart-like member: only O and PER tags; says O (0.95) on an ORG word
    partial = np.zeros((1, len(TAGS)), np.float32)
    partial[0, TAGS.index("O")] = 0.95
    partial[0, TAGS.index("B-PER")] = 0.05
    full = onehot("B-ORG", p=0.7)
    known_partial = np.zeros(len(TAGS), bool)
    known_partial[[TAGS.index("O"), TAGS.index("B-PER"), TAGS.index("I-PER")]] = True
    known_full = np.ones(len(TAGS), bool)
    valid = [np.ones(1, bool), np.ones(1, bool)]
    naive, _ = combine([partial, full], valid, [1.0, 1.0], Strategy.MEAN)
    assert TAGS[int(naive.argmax())] == "O"  # the naive mean lets the blind member win
    aware, _ = combine([partial, full], valid, [1.0, 1.0], Strategy.MEAN, [known_partial, known_full])
    assert TAGS[int(aware.argmax())] == "B-ORG" and np.isclose(aware.sum(), 1.0)
    # on a PER word it still counts fully, and where all agree on O nothing moves
    o_word = onehot("O", p=0.9)
    both_o, _ = combine([o_word, o_word], valid, [1.0, 1.0], Strategy.MEAN, [known_partial, known_full])
    assert TAGS[int(both_o.argmax())] == "O" and both_o[0, 0] > 0.85


def test_io_member_shares_b_and_i_by_the_others() -> None:
    io = np.zeros((1, len(TAGS)), np.float32)
    io[0, TAGS.index("I-PER")] = 1.0
    bio = onehot("B-PER", p=0.8)
    known_io = np.zeros(len(TAGS), bool)
    known_io[[0] + [TAGS.index(f"I-{t}") for t in ("PER", "ORG", "LOC", "MISC")]] = True
    out, _ = combine([io, bio], [np.ones(1, bool)] * 2, [1.0, 1.0], Strategy.MEAN, [known_io, np.ones(9, bool)])
    assert TAGS[int(out.argmax())] == "B-PER"


def test_row_argmax_is_numpys_argmax_ties_included() -> None:
    rng = np.random.default_rng(3)
    for cols in (1, 4, 5, 9):
        a = rng.integers(0, 3, size=(500, cols)).astype(np.float32)  # many ties: the first wins
        np.testing.assert_array_equal(row_argmax(a), a.argmax(axis=1))
    assert row_argmax(np.zeros((0, 5), np.float32)).shape == (0,)
    a = rng.integers(0, 3, size=(300, 5)).astype(np.float32)
    np.testing.assert_array_equal(row_argmax(np.asfortranarray(a)), a.argmax(axis=1))  # type-major, as decode
    wide = rng.random((50, 200)).astype(np.float32)  # past the int8 running index: NumPy's argmax
    np.testing.assert_array_equal(row_argmax(wide), wide.argmax(axis=1))


def reference_decode(
    probs: np.ndarray, valid: np.ndarray, bounds: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[list[int], list[float], list[tuple[int, int, int, int, float]]]:
    """The decoding rules word by word, name by name, in plain Python (the module docstring's)."""
    labels: list[int] = []
    scores: list[float] = []
    ents: list[tuple[int, int, int, int, float]] = []
    for i in range(len(bounds) - 1):
        prev, cur = 0, None
        mine: list[list[float]] = []  # [type, start, end, score sum, words]
        o_scores = []
        for w in range(int(bounds[i]), int(bounds[i + 1])):
            tp = [float(probs[w, 0])] + [float(probs[w, 2 * t + 1] + probs[w, 2 * t + 2]) for t in range(4)]
            t = int(np.argmax(tp)) if valid[w] else 0
            if valid[w]:
                o_scores.append(tp[0])
            if t and (t != prev or probs[w, 2 * t - 1] > probs[w, 2 * t]):
                cur = [t, int(starts[w]), int(ends[w]), tp[t], 1]
                mine.append(cur)
            elif t:
                assert cur is not None
                cur[2], cur[3], cur[4] = int(ends[w]), cur[3] + tp[t], cur[4] + 1
            prev = t
        cover = [0.0] * 5
        for t, a, b, _, _ in mine:
            cover[int(t)] += b - a
        label = int(np.argmax(cover[1:])) + 1 if max(cover[1:]) > 0 else 0
        if label:
            chars = [(e[2] - e[1], e[3] / e[4]) for e in mine if e[0] == label]
            scores.append(sum(c * s for c, s in chars) / sum(c for c, _ in chars))
        else:
            scores.append(sum(o_scores) / len(o_scores) if o_scores else 1.0)
        labels.append(label)
        ents += [(i, int(e[0]), int(e[1]), int(e[2]), e[3] / e[4]) for e in mine]
    return labels, scores, ents


def test_decode_is_the_word_by_word_rules() -> None:
    """The vectorised decoder against :func:`reference_decode` on random probabilities, invalid words and
    names of 0-6 words; ``decode_labels`` (a member's label alone) gives the same labels."""
    rng = np.random.default_rng(5)
    for _ in range(5):
        n = 400
        counts = rng.integers(0, 7, size=n)
        bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        w = int(bounds[-1])
        lens = rng.integers(1, 6, size=w)
        starts = np.zeros(w, np.int64)
        for i in range(n):  # words of a name one space apart
            at = 0
            for j in range(int(bounds[i]), int(bounds[i + 1])):
                starts[j], at = at, at + int(lens[j]) + 1
        ends = starts + lens
        probs = rng.dirichlet(np.full(len(TAGS), 0.3), size=w).astype(np.float32)
        valid = rng.random(w) > 0.1
        dec = decode(probs, valid, bounds, starts, ends)
        labels, scores, ents = reference_decode(probs, valid, bounds, starts, ends)
        assert dec.label.tolist() == labels
        np.testing.assert_allclose(dec.score, scores, rtol=1e-5)
        got = list(
            zip(dec.ent_name.tolist(), dec.ent_type.tolist(), dec.ent_start.tolist(), dec.ent_end.tolist(), strict=True)
        )
        assert got == [e[:4] for e in ents]
        np.testing.assert_allclose(dec.ent_score, [e[4] for e in ents], rtol=1e-5)
        assert decode_labels(probs, valid, bounds, starts, ends).tolist() == labels


def test_mean_is_the_weighted_sum_over_members_to_the_bit() -> None:
    """The mean adds member by member (no [M, W, 9] stack): the same floats as the stacked sum it replaced."""
    rng = np.random.default_rng(3)
    for m in (1, 2, 3, 5):
        probs = [rng.dirichlet(np.ones(len(TAGS)), size=500).astype(np.float32) for _ in range(m)]
        valid = [rng.random(500) > 0.1 for _ in range(m)]
        weights = rng.random(m).tolist()
        got, any_valid = combine(probs, valid, weights, Strategy.MEAN)
        wm = np.asarray(weights, dtype=np.float32)[:, None, None] * np.stack(valid)[:, :, None].astype(np.float32)
        total = wm.sum(axis=0)
        want = (np.stack(probs) * wm).sum(axis=0) / np.where(total > 0, total, 1.0)
        assert got.dtype == np.float32 and np.array_equal(got, want.astype(np.float32))
        assert any_valid.tolist() == (total[:, 0] > 0).tolist()


def test_entity_texts_are_the_original_spans_in_any_script() -> None:
    """``decode_split``'s byte ranges give each entity's text as ``name[start:end]`` of the original string:
    accents, combining marks, CJK, emoji (4 UTF-8 bytes), punctuation inside and around words."""
    from hostile import NAMES as HOSTILE

    extra = ["Zoë Ångström", "株式会社 トヨタ", "José 🚀 Núñez", "e\u0301tienne D'Arc"]
    names = [n for n in HOSTILE if isinstance(n, str)] + extra
    split = split_words(names, 32, case_restore=True, trim=True)
    rng = np.random.default_rng(11)
    probs = rng.dirichlet(np.full(len(TAGS), 0.3), size=len(split.words)).astype(np.float32)
    valid = np.ones(len(split.words), bool)
    dec, texts = decode_split(probs, valid, split)
    plain = decode(probs, valid, split.bounds, split.starts, split.ends)
    assert all(np.array_equal(getattr(dec, f), getattr(plain, f)) for f in dec.__dataclass_fields__)
    assert len(dec.ent_name) > 20
    assert texts.strings() == entity_texts(dec, names)
    assert texts.arrow().to_pylist() == entity_texts(dec, names)
