"""Word probabilities -> BIO entities with spans -> one name-level label, vectorised over names.

Pure NumPy on flat word arrays (no per-row Python except building the entity records), fp32.
Repair rule: an ``I-X`` that does not continue an ``X`` entity opens one (as a ``B-X`` would).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from spark_ner.config import ENTITY_FIELDS, ENTITY_TYPES, NAME_LABELS, TAGS
from spark_ner.tokenize import WordSplit

N_TYPES = len(ENTITY_TYPES)
_B = np.array([TAGS.index(f"B-{t}") for t in ENTITY_TYPES])
_I = np.array([TAGS.index(f"I-{t}") for t in ENTITY_TYPES])
if not ((np.arange(1, len(TAGS), 2) == _B).all() and (_I == _B + 1).all()):  # read below as strided columns
    raise AssertionError(f"decode: TAGS must be O, then B-/I- pairs per entity type; got {TAGS}")


@dataclass(frozen=True)
class Decoded:
    """Decoding of N names: name-level label index (into NAME_LABELS) and score, plus entities."""

    label: np.ndarray  # int8 [N], 0 = NONE
    score: np.ndarray  # float64 [N]
    ent_name: np.ndarray  # int64 [E] owning name, sorted
    ent_type: np.ndarray  # int64 [E] 1..4 (index into NAME_LABELS; ENTITY_TYPES[t-1] is the tag)
    ent_start: np.ndarray  # int64 [E] char offsets into the original name
    ent_end: np.ndarray
    ent_score: np.ndarray  # float64 [E]

    def entity_slice(self, lo: int, hi: int) -> slice:
        """The entities of names ``lo:hi`` (entities are sorted by name)."""
        e0, e1 = np.searchsorted(self.ent_name, [lo, hi]).tolist()
        return slice(e0, e1)

    def names(self, lo: int, hi: int) -> Decoded:
        """The decoding of names ``lo:hi`` alone (entities renumbered to their names there)."""
        ents = self.entity_slice(lo, hi)
        return Decoded(
            self.label[lo:hi],
            self.score[lo:hi],
            self.ent_name[ents] - lo,
            self.ent_type[ents],
            self.ent_start[ents],
            self.ent_end[ents],
            self.ent_score[ents],
        )


def row_argmax(a: np.ndarray) -> np.ndarray:
    """``a.argmax(axis=1)`` for a short last axis (ties: the first), by comparing whole columns.

    Why: NumPy's argmax over an axis of 5 costs ~30 ns a row; one pass per column costs ~1 ns a row
    (decoding runs it on every word of every member, issue 22). Branch-free: column ``k`` beats every
    column before it where ``more``, and a later winner has a larger ``k``, so the answer is the
    largest such ``k`` (a running maximum; a masked write per column mispredicts on random winners
    and cost 8x more)."""
    if a.shape[1] == 0 or not len(a):
        return np.zeros(len(a), dtype=np.int64)
    if a.shape[1] > 127:  # the int8 running maximum below; never a decoding axis
        return np.asarray(a.argmax(axis=1), dtype=np.int64)
    idx = np.zeros(len(a), dtype=np.int8)
    best = a[:, 0].copy()
    more = np.empty(len(a), dtype=bool)
    for k in range(1, a.shape[1]):
        col = a[:, k]
        np.greater(col, best, out=more)
        np.maximum(idx, more.view(np.int8) * np.int8(k), out=idx)
        np.maximum(best, col, out=best)
    return idx.astype(np.int64)


def type_probs(probs: np.ndarray) -> np.ndarray:
    """[W, 9] tag probabilities -> [W, 5] (O, PER, ORG, LOC, MISC) = p(B-X) + p(I-X).

    Built type-major (a transposed view of [5, W]): every later step reads whole columns, and
    the sum of strided tag columns costs a fifth of fancy-indexed copies (issue 22)."""
    out = np.empty((N_TYPES + 1, len(probs)), dtype=probs.dtype)
    tags = probs.T
    out[0] = tags[0]
    np.add(tags[1::2], tags[2::2], out=out[1:])  # B-X, then I-X right after it, for each type X
    return out.T


def _entities(
    probs: np.ndarray, valid: np.ndarray, bounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per word: type probabilities [W, 5], type, entity begins; the entity words and their entity numbers."""
    w = len(probs)
    tp = type_probs(probs) if w else np.zeros((0, N_TYPES + 1), np.float32)
    wtype = row_argmax(tp)
    wtype = np.where(valid, wtype, 0)
    is_ent = wtype > 0
    prev_type = np.concatenate([[0], wtype[:-1]])
    prev_type[bounds[:-1][bounds[:-1] < bounds[1:]]] = 0  # a name's first word continues nothing
    t_idx = np.maximum(wtype - 1, 0)  # wtype is 0..N_TYPES (np.clip costs 5x)
    rows = np.arange(w)
    # p(B-X) > p(I-X) of each word's type X, gathered from the flat [W * 9] tags (a 2-D gather costs 3x)
    b_beats_i = np.zeros(0, bool)
    if w:
        flat = np.ascontiguousarray(probs).reshape(-1)
        at = rows * probs.shape[1] + 1 + 2 * t_idx  # B-X of the word's type X; I-X is the next column
        b_beats_i = flat.take(at) > flat.take(at + 1)
    begins = is_ent & ((prev_type != wtype) | b_beats_i)
    ent_words = np.flatnonzero(is_ent)
    eid = (np.cumsum(begins) - 1)[ent_words]
    return tp, wtype, begins, ent_words, eid, rows


def _name_label(
    n: int, ent_name: np.ndarray, ent_type: np.ndarray, chars: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The entity type covering most characters per name, (with ``weights``) its char-weighted sum, and its cover.

    Sums per (name, type) by ``bincount`` (sequential, like ``np.add.at``, several times faster)."""
    k = N_TYPES + 1
    key = ent_name * k + ent_type
    cover = np.bincount(key, weights=chars, minlength=n * k).reshape(n, k)
    best = row_argmax(cover[:, 1:]) + 1
    flat = cover.reshape(-1)
    first = np.arange(n) * k  # each name's row in the flat [n * k] cover
    label = np.where(flat.take(first + best) > 0, best, 0)
    lab_cover = flat.take(first + label)
    wsum = None
    if weights is not None:
        wsum = np.bincount(key, weights=weights, minlength=n * k).take(first + label)
    return label, wsum, lab_cover


def _last_words(ent_words: np.ndarray, eid: np.ndarray) -> np.ndarray:
    """Each entity's last word (words of an entity are consecutive; eid runs 0..n_ent-1 in order)."""
    last = np.flatnonzero(np.concatenate([eid[1:] != eid[:-1], [True]])) if len(eid) else eid
    return ent_words[last]


def decode(
    probs: np.ndarray,
    valid: np.ndarray,
    bounds: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
) -> Decoded:
    """Decode flat word probabilities ``probs`` [W, 9] of names split at ``bounds`` [N+1]."""
    return _decode_words(probs, valid, bounds, starts, ends)[0]


def decode_split(probs: np.ndarray, valid: np.ndarray, split: WordSplit) -> tuple[Decoded, EntityTexts]:
    """:func:`decode` of ``split``'s words, and its entities' texts as byte ranges of the names' UTF-8: an
    entity begins where its first word begins and ends where its last word ends (the word indices the
    decoder has; finding them again by offsets cost two binary searches per entity, issue 22)."""
    dec, first, last = _decode_words(probs, valid, split.bounds, split.starts, split.ends)
    return dec, EntityTexts(split.utf8, split.byte_starts[first], split.byte_ends[last], split.surrogates)


def _decode_words(
    probs: np.ndarray, valid: np.ndarray, bounds: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[Decoded, np.ndarray, np.ndarray]:
    """:func:`decode`, and each entity's first and last word."""
    n = len(bounds) - 1
    w = len(probs)
    tp, wtype, begins, ent_words, eid, rows = _entities(probs, valid, bounds)
    word_name = np.repeat(np.arange(n), np.diff(bounds))
    n_ent = int(begins.sum())
    wscore = tp.T.reshape(-1).take(wtype * w + rows) if w else np.zeros(0, np.float32)  # tp is type-major
    ent_name = word_name[begins]
    ent_type = wtype[begins]
    first = np.flatnonzero(begins)
    last = _last_words(ent_words, eid)
    ent_start = starts[first].astype(np.int64)
    ent_end = ends[last].astype(np.int64)
    ssum = np.bincount(eid, weights=wscore[ent_words], minlength=n_ent)
    scnt = np.bincount(eid, minlength=n_ent)
    ent_score = ssum / np.maximum(scnt, 1)

    # name label: the entity type covering most characters; its score is the char-weighted mean
    chars = (ent_end - ent_start).astype(np.float64)
    label, wsum, lab_cover = _name_label(n, ent_name, ent_type, chars, chars * ent_score)
    assert wsum is not None
    score = np.divide(wsum, lab_cover, out=np.zeros(n), where=lab_cover > 0)
    # NONE: how sure the ensemble is that no word is an entity (1.0 for names with no words)
    o_sum = np.bincount(word_name[valid], weights=tp[valid, 0], minlength=n) if w else np.zeros(n)
    o_cnt = np.bincount(word_name[valid], minlength=n) if w else np.zeros(n)
    none_score = np.divide(o_sum, o_cnt, out=np.ones(n), where=o_cnt > 0)
    score = np.where(label == 0, none_score, score)
    return Decoded(label.astype(np.int8), score, ent_name, ent_type, ent_start, ent_end, ent_score), first, last


def decode_labels(
    probs: np.ndarray, valid: np.ndarray, bounds: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """``decode(...).label`` without the scores and entity records: a member's own name label, which the
    ensemble needs only for agreement and member labels (full decoding runs once, on the ensemble)."""
    n = len(bounds) - 1
    _, wtype, begins, ent_words, eid, _ = _entities(probs, valid, bounds)
    word_name = np.repeat(np.arange(n), np.diff(bounds))
    ent_start = starts[begins].astype(np.int64)
    chars = (ends[_last_words(ent_words, eid)] - ent_start).astype(np.float64)
    label, _, _ = _name_label(n, word_name[begins], wtype[begins], chars, None)
    return label.astype(np.int8)


# the keys of an entity record, from the one definition (unpacking fails loudly if it changes shape)
_TEXT, _LABEL, _START, _END, _SCORE = ENTITY_FIELDS
_TYPE_NAMES = np.asarray(ENTITY_TYPES, dtype=object)


def entity_texts(dec: Decoded, names: list[str]) -> list[str]:
    """Each entity's text: its span of the ORIGINAL name (``name[start:end]``)."""
    owner, starts, ends = dec.ent_name.tolist(), dec.ent_start.tolist(), dec.ent_end.tolist()
    return [names[i][s:e] for i, s, e in zip(owner, starts, ends, strict=True)]


def records(
    texts: list[str], types: np.ndarray, starts: np.ndarray, ends: np.ndarray, scores: np.ndarray, bounds: np.ndarray
) -> list[list[dict[str, object]]]:
    """Entity dicts {text, label, start, end, score} from flat columns; name ``i`` owns ``bounds[i]:bounds[i+1]``.

    One dict display per entity (not ``dict(zip(...))``) and one list slice per name.
    """
    labels = _TYPE_NAMES[types - 1].tolist() if len(types) else []
    flat = [
        {_TEXT: t, _LABEL: lab, _START: s, _END: e, _SCORE: sc}
        for t, lab, s, e, sc in zip(texts, labels, starts.tolist(), ends.tolist(), scores.tolist(), strict=True)
    ]
    return [flat[a:b] for a, b in pairwise(bounds.tolist())]


def entity_bounds(dec: Decoded, n: int) -> np.ndarray:
    """[n + 1] offsets: name ``i`` owns entities ``bounds[i]:bounds[i+1]`` (entities are sorted by name)."""
    return np.concatenate([[0], np.cumsum(np.bincount(dec.ent_name, minlength=n))]).astype(np.int64)


def entity_records(dec: Decoded, names: list[str]) -> list[list[dict[str, object]]]:
    """Per name, its entities as dicts {text, label, start, end, score} with original-string spans."""
    bounds = entity_bounds(dec, len(names))
    return records(entity_texts(dec, names), dec.ent_type, dec.ent_start, dec.ent_end, dec.ent_score, bounds)


def label_names(idx: np.ndarray) -> np.ndarray:
    """Label indices -> label strings (object array)."""
    return np.asarray(NAME_LABELS, dtype=object)[idx]


@dataclass(frozen=True)
class EntityTexts:
    """Each entity's text as a byte range of the names' UTF-8 text (see ``WordSplit.utf8``).

    Why: the Arrow output gathers the bytes into a string array in one NumPy step, where a Python
    slice per entity cost ~2 us per name on the GPU path's host side (issue 22).
    """

    utf8: bytes
    start: np.ndarray  # int64 byte offsets into utf8
    end: np.ndarray
    surrogates: bool = False  # utf8 carries lone surrogates (passed through); Arrow cannot hold them

    def entities(self, ents: slice) -> EntityTexts:
        """The entities ``ents`` (the bytes are shared, not copied)."""
        return EntityTexts(self.utf8, self.start[ents], self.end[ents], self.surrogates)

    def strings(self) -> list[str]:
        errors = "surrogatepass" if self.surrogates else "strict"
        u = self.utf8
        return [u[a:b].decode("utf-8", errors) for a, b in zip(self.start.tolist(), self.end.tolist(), strict=True)]

    def arrow(self) -> Any:
        """The texts as a ``pyarrow`` string array, gathered from the bytes (no Python string per entity)."""
        import pyarrow as pa

        if self.surrogates:  # what pyarrow says about a lone surrogate, as it always did
            return pa.array(self.strings(), type=pa.string())
        lens = self.end - self.start
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
        total = int(offsets[-1])
        src = np.frombuffer(self.utf8, dtype=np.uint8)
        data = src[np.repeat(self.start - offsets[:-1], lens) + np.arange(total)] if total else src[:0]
        return pa.StringArray.from_buffers(len(lens), pa.py_buffer(offsets), pa.py_buffer(data.tobytes()))

    @staticmethod
    def concat(parts: list[EntityTexts]) -> EntityTexts:
        shift = np.cumsum([0, *[len(p.utf8) for p in parts]])
        return EntityTexts(
            b"".join(p.utf8 for p in parts),
            np.concatenate([p.start + o for p, o in zip(parts, shift, strict=False)] or [np.zeros(0, np.int64)]),
            np.concatenate([p.end + o for p, o in zip(parts, shift, strict=False)] or [np.zeros(0, np.int64)]),
            any(p.surrogates for p in parts),
        )
