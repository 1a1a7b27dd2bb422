"""Words with offsets into the original string, and per-member token ids as NumPy arrays.

Words are where the ensemble meets: BERT's WordPiece and RoBERTa's byte-level BPE split a name
differently, so every member is fed the same words (pre-split, RoBERTa with a prefix space) and
its sub-token probabilities are mapped back to those words. Each word keeps ``start``/``end``
offsets into the ORIGINAL input string, so spans are reported there whatever normalization did.

Speed (a GPU executor's CPU cores must keep up with the GPU, issue 18): names reuse a small
vocabulary of words, so the members share one word -> number table (:class:`WordVocab`) and each
keeps the token ids of the words it has seen as flat arrays; a batch of names is then encoded with
NumPy gathers. New words go to the Rust tokenizer directly, many words per call and no Python
object per word, with ids identical to the transformers tokenizer's (checked when it loads).
Splitting runs one regular expression over all names at once.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

# A word: letters/digits with their combining marks, optionally joined by apostrophes
# ("O'Brien", "D’Angelo"); any other non-space character is a word of its own ("&", ",", "#").
_MARKS = "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f\u0900-\u0903\u093a-\u094f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"  # noqa: E501
_ALNUM = rf"(?:[^\W_]|[{_MARKS}])"
WORD_RE = re.compile(rf"{_ALNUM}+(?:['’]{_ALNUM}+)*|[^\s]")


@dataclass(frozen=True)
class WordSplit:
    """The words of N names, flat: name ``i`` owns ``words[bounds[i]:bounds[i+1]]``."""

    words: list[str]  # normalized (NFC, case-restored) word text, as the members see it
    starts: np.ndarray  # int32 offsets into the ORIGINAL name
    ends: np.ndarray
    bounds: np.ndarray  # int64, length N + 1
    #: the names joined by "\n" in UTF-8 (lone surrogates passed through when ``surrogates``), and each
    #: word's byte range in it: entity texts are gathered from these without a string per entity
    utf8: bytes = b""
    byte_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    byte_ends: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    surrogates: bool = False
    #: each word's key in the shared vocabulary (:func:`span_keys`; None: computed from the words)
    keys: np.ndarray | None = None

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.bounds)


def restore_case(word: str) -> str:
    """``SMITH`` -> ``Smith``: cased models read title case best; offsets are unaffected."""
    return word[:1].upper() + word[1:].lower()


#: one-character words :func:`split_words` drops from a name's two ends when ``trim`` is on: the quotes,
#: brackets and separators that exports wrap names in ("\"Danaher\"", "(Danaher)", "Danaher,"), which the
#: trained members read as words of their own (EVALUATION.md: "(Danaher)" NONE, quoted LOCATION).
EDGE_PUNCTUATION = "\"'()[]{}<>«»“”„‘’‚‹›,;:."
#: a trailing full stop stays right after a word of at most this many letters or digits: an initial or an
#: abbreviation ("John Q.", "Acme S.A.", "Jr.", "Tic.", "MFG."), which the members read with their stops.
#: Chosen on dev (EVALUATION.md): 3 leaves every name as written as it was on the corpus dev and both
#: hold-out devs; 1 lifted "Danaher."-style names a little more (0.947 against 0.942 on the hold-out dev)
#: but lost "J. MORITA MFG.", "Ergül Akdeniz Tic." to PERSON.
ABBREVIATION_MAX = 3


#: quotes and brackets by kind (a name's "(" pairs with its ")", "“" with "”" or '"'): a kind's word at one end
#: stays when the name holds another of its kind elsewhere and none at the other end ("Romero (Mexico)",
#: 'Dwayne "The Rock"' keep theirs; "(Danaher)", '("Danaher")' lose theirs)
BRACKET_KINDS = ("()", "[]", "{}", "<>", "«»‹›", '"“”„', "'‘’‚")


def _trim_edges(name: str, words: list[str], starts: list[int], ends: list[int]) -> tuple[int, int]:
    """The range ``[lo, hi)`` of one name's words left when its edge punctuation is dropped (all of
    them when nothing else would be left): :func:`split_words`' ``trim``, one name at a time."""
    kind = [_KIND_OF.get(name[s], 0) if e - s == 1 else 0 for s, e in zip(starts, ends, strict=True)]

    def edge(k: int, trailing: bool) -> bool:
        if not (ends[k] - starts[k] == 1 and name[starts[k]] in EDGE_PUNCTUATION):
            return False
        return not (
            trailing
            and name[starts[k]] == "."
            and k > 0
            and starts[k] == ends[k - 1]
            and _WORD_CHAR.fullmatch(name[starts[k - 1]]) is not None
            and ends[k - 1] - starts[k - 1] <= ABBREVIATION_MAX
        )  # "S.A.", "Jr.": the stop ends an abbreviation

    def runs(ok: list[bool], ok_trailing: list[bool]) -> tuple[int, int]:
        lo, hi = 0, len(words)
        while lo < hi and ok[lo]:
            lo += 1
        while hi > lo and ok_trailing[hi - 1]:
            hi -= 1
        return lo, hi

    lead = [edge(k, False) for k in range(len(words))]
    trail = [edge(k, True) for k in range(len(words))]
    lo, hi = runs(lead, trail)
    if lo >= hi:
        return 0, len(words)
    for k in [*range(lo), *range(hi, len(words))]:  # a bracket or quote whose partner stays inside
        g = kind[k]
        if g:
            elsewhere = any(kind[j] == g for j in range(lo, hi))
            other_end = any(kind[j] == g for j in (range(hi, len(words)) if k < lo else range(lo)))
            if elsewhere and not other_end:
                lead[k] = trail[k] = False
    return runs(lead, trail)


_KIND_OF = {c: i for i, chars in enumerate(BRACKET_KINDS, start=1) for c in chars}
_WORD_CHAR = re.compile(_ALNUM)


def split_name(
    name: str, max_words: int, case_restore: bool = True, trim: bool = False
) -> tuple[list[str], list[int], list[int]]:
    """Split one name into (words, starts, ends); at most ``max_words`` words are kept (after the edge
    punctuation is dropped, with ``trim``: see :data:`EDGE_PUNCTUATION`)."""
    if trim:
        all_words, all_starts, all_ends = split_name(name, 1 << 62, case_restore)
        lo, hi = _trim_edges(name, all_words, all_starts, all_ends)
        hi = min(hi, lo + max_words)
        return all_words[lo:hi], all_starts[lo:hi], all_ends[lo:hi]
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    restore = case_restore and (name.isupper() or name.islower())
    ascii_only = name.isascii()
    for m in WORD_RE.finditer(name):
        if len(words) >= max_words:
            break
        w = m.group()
        if not ascii_only:
            w = unicodedata.normalize("NFC", w)
        words.append(restore_case(w) if restore else w)
        s, e = m.span()
        starts.append(s)
        ends.append(e)
    return words, starts, ends


def split_words(names: Sequence[str], max_words: int, case_restore: bool = True, trim: bool = False) -> WordSplit:
    """Split many (non-null) names: what :func:`split_name` gives for each, computed over all at once.

    Vectorised over the names joined by newlines (whitespace, so no word spans two names), without
    a regular expression (issue 22: the host side must keep up with a GPU): every character's class
    comes from a table (:func:`_char_flags`), word beginnings and ends are NumPy arithmetic on those
    classes, and the word strings come from one ``str.split`` of the text with a space put in
    wherever a word starts inside a run of non-space characters ("O'Brien," -> "O'Brien ,").
    Case restoration and NFC (names that are not NFC) touch only the words that need them.
    """
    names = names if isinstance(names, list) else list(names)
    n = len(names)
    if not n:
        empty = np.zeros(0, np.int64)
        return WordSplit([], empty.astype(np.int32), empty.astype(np.int32), np.zeros(1, np.int64), keys=empty)
    joined = "\n".join(names)
    codes = code_points(joined)
    ascii_only = codes.dtype == np.uint8
    surrogates = False
    if ascii_only:
        utf8 = codes.tobytes()
        flags = _char_flags()[codes]
    else:
        flags = _flags_of(codes)
        try:
            utf8 = joined.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (Python strings only: Arrow's are valid UTF-8)
            utf8, surrogates = joined.encode("utf-8", "surrogatepass"), True
    word_char = (flags & _SPACE) == 0
    w = (flags & _WORD) != 0
    run = w.copy()  # characters of a letters-and-digits word; an apostrophe between two such joins them
    run[1:-1] |= (flags[1:-1] & _APOS != 0) & w[:-2] & w[2:]
    begin = word_char.copy()
    begin[1:] &= ~(run[1:] & run[:-1])
    end = word_char.copy()
    end[:-1] &= ~(run[:-1] & run[1:])
    starts = np.flatnonzero(begin)
    ends = np.flatnonzero(end) + 1
    lengths = np.fromiter(map(len, names), dtype=np.int64, count=n)
    name_start = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    owner = np.searchsorted(name_start, starts, side="right") - 1
    counts = np.bincount(owner, minlength=n).astype(np.int64)
    # the word strings: a space before every word that begins right after a non-space character
    inside = starts[1:][word_char[starts[1:] - 1]] if len(starts) else starts
    spaced = np.insert(codes, inside, 32)
    drop = _edge_words(codes, flags, starts, ends, owner, counts) if trim and len(starts) else None
    if drop is not None:  # edge punctuation (one character each) becomes a space: str.split skips it
        gone = starts[drop]
        spaced[gone + np.searchsorted(inside, gone, side="right")] = 32
        keep = ~drop
        owner, starts, ends = owner[keep], starts[keep], ends[keep]
        counts = np.bincount(owner, minlength=n).astype(np.int64)
    text = spaced.tobytes().decode("ascii" if ascii_only else "utf-32-le", "strict" if ascii_only else "surrogatepass")
    words = text.split()
    if len(words) != len(starts):  # cannot happen: the classes are str.isspace's
        raise AssertionError(f"split_words: {len(words)} words for {len(starts)} word starts")
    if ascii_only:
        byte_starts, byte_ends = starts.copy(), ends.copy()
    else:  # a character's UTF-8 bytes: 1-4 by code point (a passed-through surrogate takes 3); offsets move
        # by the extra bytes of the non-ASCII characters before them (few: no pass over every character)
        wide = np.flatnonzero(codes >= 0x80)
        c = codes[wide]
        extra = np.concatenate([[0], np.cumsum(1 + (c >= 0x800).astype(np.int64) + (c >= 0x10000))])
        byte_starts = starts + extra[np.searchsorted(wide, starts)]
        byte_ends = ends + extra[np.searchsorted(wide, ends)]
    starts -= name_start[owner]
    ends -= name_start[owner]
    if len(counts) and int(counts.max()) > max_words:
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        idx = np.flatnonzero((np.arange(len(owner)) - first[owner]) < max_words)
        words = [words[i] for i in idx.tolist()]
        owner, starts, ends = owner[idx], starts[idx], ends[idx]
        byte_starts, byte_ends = byte_starts[idx], byte_ends[idx]
        counts = np.minimum(counts, max_words)
    tag = None
    if not ascii_only or case_restore:
        words, tag = _normalize_words(words, owner, names, codes, flags, name_start, case_restore)
    keys = span_keys(codes, starts + name_start[owner], ends + name_start[owner], tag)
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return WordSplit(
        words, starts.astype(np.int32), ends.astype(np.int32), bounds, utf8, byte_starts, byte_ends, surrogates, keys
    )


def _edge_words(
    codes: np.ndarray, flags: np.ndarray, starts: np.ndarray, ends: np.ndarray, owner: np.ndarray, counts: np.ndarray
) -> np.ndarray | None:
    """Which words (``starts``/``ends`` into the joined text) are a name's edge punctuation: the runs of
    :data:`EDGE_PUNCTUATION` words at its start and at its end, bar a trailing full stop that ends an
    abbreviation and a bracket or quote whose partner stays inside (:data:`BRACKET_KINDS`); none of a name
    whose words would all go. None when no word goes. :func:`_trim_edges` over all names at once.

    Only names whose first or last word is such a character can lose one, so the runs are worked out on
    those names' words alone (most batches: none, or a few names ending in "Corp.")."""
    at = np.concatenate([[0], np.cumsum(counts)])  # each name's first word, and the end
    has = counts > 0
    ends_of = np.concatenate([at[:-1][has], at[1:][has] - 1])  # first and last word of every name
    at_end = ((ends[ends_of] - starts[ends_of]) == 1) & ((flags[starts[ends_of]] & _EDGE) != 0)
    if not at_end.any():
        return None
    cand = np.zeros(len(counts), dtype=bool)
    cand[owner[ends_of[at_end]]] = True
    sub = np.flatnonzero(cand[owner])  # the candidate names' words, names whole and in order
    drop_sub = _edge_runs(codes, flags, starts[sub], ends[sub], owner[sub], np.where(cand, counts, 0))
    if not drop_sub.any():
        return None
    drop = np.zeros(len(starts), dtype=bool)
    drop[sub[drop_sub]] = True
    return drop


def _edge_runs(
    codes: np.ndarray, flags: np.ndarray, starts: np.ndarray, ends: np.ndarray, owner: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """:func:`_edge_words` on whole names' words (``counts``: each name's words among them, 0 for the rest)."""
    first = starts[:-1]
    c = codes[starts]
    edge = ((ends - starts) == 1) & ((flags[starts] & _EDGE) != 0)
    trail = edge.copy()
    # a full stop right after a short word of letters or digits of the same name ends an abbreviation
    abbrev = np.zeros(len(starts), dtype=bool)
    abbrev[1:] = (
        (c[1:] == 46)
        & (owner[1:] == owner[:-1])
        & (starts[1:] == ends[:-1])
        & ((flags[first] & _WORD) != 0)
        & ((ends[:-1] - first) <= ABBREVIATION_MAX)
    )
    trail &= ~abbrev
    at = np.concatenate([[0], np.cumsum(counts)])  # each name's first word among these, and the end
    idx = np.arange(len(starts))

    def runs(lead_ok: np.ndarray, trail_ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inner_lead = np.concatenate([[0], np.cumsum(~lead_ok)])  # words before each word that are not edge
        inner_trail = np.concatenate([[0], np.cumsum(~trail_ok)])
        return inner_lead[idx + 1] == inner_lead[at[owner]], inner_trail[at[owner + 1]] == inner_trail[idx]

    lead_run, trail_run = runs(edge, trail)
    kind = np.zeros(len(starts), dtype=np.int64)  # every bracket and quote is edge punctuation (in the BMP)
    kind[edge] = _kind_table()[c[edge]]
    ends_kind = (kind > 0) & (lead_run | trail_run)
    if ends_kind.any():  # a bracket or quote at an end whose partner stays inside the name is kept
        n_kinds = len(BRACKET_KINDS) + 1
        key = owner * n_kinds + kind
        size = len(counts) * n_kinds
        inside = np.bincount(key[(kind > 0) & ~(lead_run | trail_run)], minlength=size)
        at_lead = np.bincount(key[(kind > 0) & lead_run], minlength=size)
        at_trail = np.bincount(key[(kind > 0) & trail_run], minlength=size)
        other_end = np.where(lead_run, at_trail[key], at_lead[key])
        blocked = ends_kind & (inside[key] > 0) & (other_end == 0)
        if blocked.any():
            lead_run, trail_run = runs(edge & ~blocked, trail & ~blocked)
    drop = lead_run | trail_run
    kept = counts - np.bincount(owner[drop], minlength=len(counts))
    return drop & (kept[owner] > 0)  # type: ignore[no-any-return]


@functools.cache
def _kind_table() -> np.ndarray:
    """Each BMP character's bracket kind (``BRACKET_KINDS``, from 1; 0: none)."""
    table = np.zeros(0x10000, dtype=np.uint8)
    for i, chars in enumerate(BRACKET_KINDS, start=1):
        table[[ord(ch) for ch in chars]] = i
    return table


# character classes of split_words: a word character (the expression's ``_ALNUM``), an apostrophe that
# may join two words, whitespace (``\s``, str.isspace), str.isupper/islower/Lt of the one character, and
# one of :data:`EDGE_PUNCTUATION` (``trim``)
_WORD, _APOS, _SPACE, _UPPER, _LOWER, _TITLE, _EDGE = 1, 2, 4, 8, 16, 32, 64


def _flags_of_chars(codes: Iterable[int]) -> np.ndarray:
    word = re.compile(_ALNUM)
    out = []
    for c in map(chr, codes):
        f = _WORD if word.fullmatch(c) else 0
        f |= _APOS if c in "'’" else 0
        f |= _SPACE if c.isspace() else 0
        f |= _UPPER if c.isupper() else 0
        f |= _LOWER if c.islower() else 0
        f |= _TITLE if unicodedata.category(c) == "Lt" else 0
        f |= _EDGE if c in EDGE_PUNCTUATION else 0
        out.append(f)
    return np.asarray(out, dtype=np.uint8)


@functools.cache
def _char_flags() -> np.ndarray:
    """The classes of the Basic Multilingual Plane's characters (built once per process, ~0.1 s)."""
    return _flags_of_chars(range(0x10000))


def _flags_of(codes: np.ndarray) -> np.ndarray:
    """Classes of code points; those past the BMP (rare in names) are classified one by one."""
    table = _char_flags()
    high = codes >= len(table)
    flags = table[np.minimum(codes, len(table) - 1)]
    if high.any():
        uniq, inv = np.unique(codes[high], return_inverse=True)
        flags[high] = _flags_of_chars(uniq.tolist())[inv]
    return flags


def _normalize_words(
    words: list[str],
    owner: np.ndarray,
    names: list[str],
    codes: np.ndarray,
    flags: np.ndarray,
    name_start: np.ndarray,
    case_restore: bool,
) -> tuple[list[str], np.ndarray]:
    """What :func:`split_name` does to a word: NFC in names that are not NFC, case restored in names
    that are ALL CAPS or all lower case (``str.isupper``/``islower``, from per-character classes).
    Also each word's tag for :func:`span_keys`: 1 case restored, 2 NFC (the key is the original text's)."""
    n = len(names)

    def per_name(ufunc: Any, x: np.ndarray) -> np.ndarray:
        """``ufunc`` over each name's characters and the separator after it (which changes nothing)."""
        return ufunc.reduceat(np.append(x, x.dtype.type(0)), name_start)  # type: ignore[no-any-return]

    fix_nfc = np.zeros(n, dtype=bool)
    if codes.dtype != np.uint8:
        odd = np.flatnonzero(per_name(np.maximum, codes) > 127)
        is_nfc = unicodedata.is_normalized
        fix_nfc[odd] = ~np.fromiter((is_nfc("NFC", names[i]) for i in odd.tolist()), dtype=bool, count=len(odd))
    restore = np.zeros(n, dtype=bool)
    if case_restore:
        case = per_name(np.bitwise_or, flags & (_UPPER | _LOWER | _TITLE))
        restore = (case == _UPPER) | (case == _LOWER)
    if not (fix_nfc.any() or restore.any()):
        return words, np.zeros(len(words), dtype=np.uint64)
    words = list(words)
    nfc = unicodedata.normalize
    for i in np.flatnonzero(fix_nfc[owner]).tolist():
        words[i] = nfc("NFC", words[i])
    for i in np.flatnonzero(restore[owner]).tolist():
        w = words[i]
        words[i] = w[:1].upper() + w[1:].lower()
    tag = restore[owner].astype(np.uint64) | (fix_nfc[owner].astype(np.uint64) << np.uint64(1))
    return words, tag


# ------------------------------------------------------------------ word keys
# A word's key: a 64-bit polynomial hash of its code points (position-free: prefix sums times inverse
# powers), its length and a tag mixed in by splitmix64. Computed for all words of a batch in NumPy, so
# looking words up needs no Python string hashing or dict probe (issue 22: the warm host side).
_BASE = np.uint64(0x9E3779B97F4A7C15)
_BASE_INV = np.uint64(pow(0x9E3779B97F4A7C15, -1, 1 << 64))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer (uint64, wrapping): every input bit reaches every output bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))  # type: ignore[no-any-return]


_POWERS: list[tuple[np.ndarray, np.ndarray]] = []


def _power_table(base: np.uint64, size: int) -> np.ndarray:
    """``base ** i`` for i < ``size`` (uint64, wrapping): blocks of 1,024 times the blocks' own powers,
    so no sequential ``cumprod`` runs over all of it."""
    with np.errstate(over="ignore"):
        block = np.full(1024, base, dtype=np.uint64)
        block[0] = 1
        block = np.cumprod(block)
        steps = np.full(-(-size // 1024), block[-1] * base, dtype=np.uint64)
        steps[0] = 1
        return (np.cumprod(steps)[:, None] * block[None, :]).ravel()[:size]  # type: ignore[no-any-return]


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``_BASE`` and ``_BASE_INV`` to the powers 0..n-1 (uint64, wrapping), kept and grown by doubling:
    recomputing them per batch was a sequential ``cumprod`` over every character of it (issue 22)."""
    if not _POWERS or len(_POWERS[0][0]) < n:
        size = max(n, 2 * len(_POWERS[0][0]) if _POWERS else 1 << 16)
        tables = [_power_table(base, size) for base in (_BASE, _BASE_INV)]
        _POWERS[:] = [(tables[0], tables[1])]  # replaced whole: a reader in another thread keeps its own
    powers, inverse = _POWERS[0]
    return powers[:n], inverse[:n]


def span_keys(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, tag: np.ndarray | None = None) -> np.ndarray:
    """Keys of the spans ``codes[starts[i]:ends[i]]`` (code points), ``tag`` mixed in (uint64 [W])."""
    powers, inverse = _powers(len(codes) + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
        np.cumsum(codes.astype(np.uint64) * powers[:-1], out=prefix[1:])
        poly = (prefix[ends] - prefix[starts]) * inverse[starts]
        shape = (ends - starts).astype(np.uint64)
        if tag is not None:
            shape = shape | (tag << np.uint64(48))
        return mix64(poly ^ mix64(shape))


def word_keys(words: list[str]) -> np.ndarray:
    """:func:`span_keys` of whole words (the key split_words gives a word it did not normalize)."""
    lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    ends = np.cumsum(lens)
    return span_keys(code_points("".join(words)), ends - lens, ends)


def code_points(text: str) -> np.ndarray:
    """``text``'s code points: uint8 when it is ASCII (one byte each), else uint32 (lone surrogates kept)."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")  # little-endian on any host


class KeyTable:
    """uint64 key -> int64 value, open addressing with linear probing in NumPy arrays (no deletes); a
    key's home slot comes from its splitmix64 mix, so structured keys (id pairs) do not cluster.

    Why not a dict: a batch's lookups are one vectorised pass (a few gathers) instead of a string hash
    and a probe per word into a table of a million words (~0.3 us each, cache misses included).
    """

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.vals = np.full(capacity, -1, dtype=np.int64)
        self.size = 0

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The value of every key, -1 where absent.

        The home slots are read for every key at once, straight into the answer; only keys whose home
        holds another key probe on (at load <= 1/2, a few in ten). ``take``, not fancy indexing: 2.4x
        faster on a table of a million slots (issue 22)."""
        mask = len(self.keys) - 1
        slot = (mix64(keys) & np.uint64(mask)).astype(np.int64)
        val = self.vals.take(slot)
        used = val >= 0
        found = used & (self.keys.take(slot) == keys)
        out = np.where(found, val, -1)
        todo = np.flatnonzero(used & ~found)
        slot = (slot[todo] + 1) & mask
        while len(todo):
            val = self.vals.take(slot)
            used = val >= 0
            found = used & (self.keys.take(slot) == keys[todo])
            out[todo[found]] = val[found]
            go_on = used & ~found
            todo, slot = todo[go_on], (slot[go_on] + 1) & mask
        return out

    def put(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Add distinct keys that are not in the table yet."""
        if 2 * (self.size + len(keys)) > len(self.keys):
            old = self.vals >= 0
            old_keys, old_vals = self.keys[old], self.vals[old]
            capacity = len(self.keys)
            while 2 * (self.size + len(keys)) > capacity:
                capacity *= 2
            self.keys = np.zeros(capacity, dtype=np.uint64)
            self.vals = np.full(capacity, -1, dtype=np.int64)
            self.size = 0
            self.put(old_keys, old_vals)
        mask = len(self.keys) - 1
        todo = np.arange(len(keys))
        slot = (mix64(keys) & np.uint64(mask)).astype(np.int64)
        while len(todo):
            free = np.flatnonzero(self.vals[slot] < 0)
            # one key per free slot: all write, the one whose write stayed wins (no sort), the others probe on
            self.keys[slot[free]] = keys[todo[free]]
            win = free[self.keys[slot[free]] == keys[todo[free]]]
            self.vals[slot[win]] = vals[todo[win]]
            rest = np.ones(len(todo), dtype=bool)
            rest[win] = False
            todo, slot = todo[rest], (slot[rest] + 1) & mask
        self.size += len(keys)


@dataclass(frozen=True)
class Encoded:
    """One member's token ids for N names, ready to batch.

    ``ids[offsets[i]:offsets[i+1]]`` is name ``i`` with special tokens, truncated to max_length.
    ``word_first[w]`` is the position (within its name's row) of word ``w``'s first sub-token,
    or -1 when the word was truncated away or has no tokens; ``word_ntok[w]`` counts its kept
    sub-tokens.
    """

    ids: np.ndarray
    offsets: np.ndarray
    word_first: np.ndarray
    word_ntok: np.ndarray

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        """Tokens per name; computed once (``batch_ids`` reads it per forward batch: a fresh ``np.diff``
        over the whole chunk each time was ~5% of the GPU path's warm host loop, issue 22)."""
        return np.diff(self.offsets)


class WordVocab:
    """The distinct words a worker has seen, numbered in first-seen order.

    The members of an ensemble share one, so a batch's words are looked up once (by key, in one
    vectorised pass: :class:`KeyTable`) and each member's token cache is an array indexed by these
    numbers. ``max_size`` bounds it: past that the table starts again (``generation`` tells the
    members to drop theirs).
    """

    def __init__(self, max_size: int = 2_000_000) -> None:
        self.max_size = max_size
        self.table = KeyTable()
        self.words: list[str] = []
        self._classes = np.zeros(0, dtype=np.uint8)  # see classes(); filled up to _n_classes
        self._n_classes = 0
        self._classes_lock = threading.Lock()  # members sync side by side (Ensemble._encode)
        self.generation = 0

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, words: list[str], keys: np.ndarray | None = None) -> np.ndarray:
        """The number of every word, adding the unseen ones; ``keys``: the words' keys where the caller
        has them (``WordSplit.keys``), else computed here."""
        if keys is None:
            keys = word_keys(words)
        ids = self.table.get(keys)
        miss = np.flatnonzero(ids < 0)
        if not len(miss):
            return ids
        uniq, first, inverse = np.unique(keys[miss], return_index=True, return_inverse=True)
        if len(self.words) + len(uniq) > self.max_size:  # full: start again with this batch's words
            self.table, self.words, self._n_classes = KeyTable(), [], 0
            self.generation += 1
            miss = np.arange(len(words))
            uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # new words numbered in first-seen order
        number = np.empty(len(uniq), dtype=np.int64)
        number[order] = len(self.words) + np.arange(len(uniq))
        self.table.put(uniq, number)
        self.words.extend([words[i] for i in miss[first[order]].tolist()])
        ids[miss] = number[inverse.reshape(-1)]
        return ids

    def classes(self, lo: int, hi: int) -> np.ndarray:
        """:func:`word_classes` of words ``lo:hi``, found once per word for all members' plain-word fast
        paths (each asked for them on its own; issue 22: the cold host side), when first asked. Safe
        beside other members' calls; the words themselves change only in :meth:`ids`, which the
        ensemble calls before its members sync."""
        with self._classes_lock:
            if hi > self._n_classes:
                self._classes = grow(self._classes, hi)
                self._classes[self._n_classes : hi] = word_classes(self.words[self._n_classes : hi])
                self._n_classes = hi
            return self._classes[lo:hi]


def grow(arr: np.ndarray, need: int) -> np.ndarray:
    """``arr`` with room for ``need`` items (rows of a 2-D array; capacity doubles: appends stay amortised O(1))."""
    if need <= len(arr):
        return arr
    out = np.zeros((max(need, 2 * len(arr), 1024), *arr.shape[1:]), dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


_PROBE_WORDS = ["Smith", "O'Brien", "José", "GARCÍA", "Müller", "&", ",", "1234", "S.A.", "co", "x" * 40, "株式会社"]


#: new plain words per call of the fast path (measured: 8,192-16,384 best on a 2 MiB L2, issue 22)
PLAIN_CHUNK_WORDS = 16_384


class WordTokenizer:
    """A member's fast tokenizer behind a word -> token-ids cache with NumPy output.

    The cache grows with the vocabulary of words seen, which for customer names is small (tens
    of thousands of distinct words cover millions of names); ``max_cache`` bounds it anyway.
    ``vocab``: the word numbering shared with the other members (a private one by default).
    """

    def __init__(self, tokenizer: Any, max_length: int, max_cache: int = 2_000_000, vocab: WordVocab | None = None):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.max_cache = max_cache
        empty = tokenizer("", add_special_tokens=True)["input_ids"]
        bare = tokenizer("", add_special_tokens=False)["input_ids"]
        if bare:
            raise ValueError("tokenizer produces tokens for the empty string; cannot pre-split words")
        cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        self.prefix = [cls_id] if cls_id is not None and empty[:1] == [cls_id] else []
        self.suffix = list(empty[len(self.prefix) :])
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else 0)
        self.vocab = vocab if vocab is not None else WordVocab(max_cache)
        self._generation = self.vocab.generation
        self._known = 0  # vocab words whose tokens are in the arrays below
        self._buf = np.zeros(0, dtype=np.int32)  # concatenated token ids of known words
        self._nbuf = 0
        self._woff = np.zeros(0, dtype=np.int64)  # per word number: offset into _buf
        self._wlen = np.zeros(0, dtype=np.int64)  # per word number: number of tokens
        self._backend, self._words_per_call = _rust_tokenizer(tokenizer)
        #: plain words (ASCII letters/digits) without the Rust pipeline, where that gives its ids (issue 22)
        self._plain = plain_words_tokenizer(self._backend) if self._backend is not None else None

    @property
    def rust_words_per_call(self) -> int | None:
        """Pre-split words per Rust call for new words, or None where the transformers call is used."""
        return self._words_per_call if self._backend is not None else None

    @property
    def plain_words(self) -> PlainWords | None:
        """The fast path for new plain words (ASCII letters/digits), or None where Rust takes them all."""
        return self._plain

    # ---------------------------------------------------------------- new words
    def tokenize_words(self, words: list[str], classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of each word alone, no special tokens: (tokens per word, flat ids). ``classes``:
        the words' :func:`word_classes` where the caller has them (the shared vocabulary keeps them).

        The Rust tokenizer is called on pre-split words, ``_words_per_call`` words per sequence
        (its ``word_ids`` give each token's word), which is what the transformers tokenizer gives
        for each word on its own, without a Python list per word.
        """
        if not words:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        try:
            "".join(words).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (Python strings only): tokenized as "?", not a crash
            words = [w.encode("utf-8", "replace").decode("utf-8") for w in words]
        if self._backend is None:  # no Rust tokenizer to call directly: the transformers call
            enc = self.tokenizer(words, add_special_tokens=False)["input_ids"]
            lens = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))
            flat = np.fromiter((t for x in enc for t in x), dtype=np.int32, count=int(lens.sum()))
            return lens, flat
        if self._plain is None:
            return self._tokenize_rust(words)
        plain = self._plain.accepts(word_classes(words) if classes is None else classes)
        if plain.all():
            return _in_pieces(self._plain, words)
        if not plain.any():
            return self._tokenize_rust(words)
        fast, slow = np.flatnonzero(plain), np.flatnonzero(~plain)
        is_plain = plain.tolist()  # itertools.compress: the words picked in C (a comprehension: ~0.3 us each)
        parts = [
            (fast, *_in_pieces(self._plain, list(itertools.compress(words, is_plain)))),
            (slow, *self._tokenize_rust(list(itertools.compress(words, (~plain).tolist())))),
        ]
        lens = np.zeros(len(words), dtype=np.int64)
        for idx, part_lens, _ in parts:
            lens[idx] = part_lens
        at = np.concatenate([[0], np.cumsum(lens)])
        flat = np.empty(int(at[-1]), dtype=np.int32)
        for idx, part_lens, part_flat in parts:
            inner = np.arange(len(part_flat)) - np.repeat(np.cumsum(part_lens) - part_lens, part_lens)
            flat[np.repeat(at[idx], part_lens) + inner] = part_flat
        return lens, flat

    def _tokenize_rust(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        k = self._words_per_call
        chunks = [words[i : i + k] for i in range(0, len(words), k)]
        # (not encode_batch_fast: it leaves word_ids out)
        encs = self._backend.encode_batch(chunks, is_pretokenized=True, add_special_tokens=False)
        flat = np.concatenate([np.asarray(e.ids, dtype=np.int32) for e in encs])
        owner = np.concatenate([np.asarray(e.word_ids, dtype=np.int64) + c * k for c, e in enumerate(encs)])
        lens = np.bincount(owner, minlength=len(words)).astype(np.int64)
        return lens, flat

    def pending(self) -> int:
        """Words of the vocabulary this member has not tokenized yet."""
        return len(self.vocab) if self._generation != self.vocab.generation else len(self.vocab) - self._known

    def sync(self) -> None:
        """Tokenize the vocabulary's words this member has not seen yet (safe to run beside other members)."""
        v = self.vocab
        if self._generation != v.generation:
            self._generation, self._known, self._nbuf = v.generation, 0, 0
        total = len(v.words)
        if self._known >= total:
            return
        classes = v.classes(self._known, total) if self._plain is not None else None  # only the fast path reads them
        lens, flat = self.tokenize_words(v.words[self._known : total], classes)
        self._woff = grow(self._woff, total)
        self._wlen = grow(self._wlen, total)
        self._buf = grow(self._buf, self._nbuf + len(flat))
        self._woff[self._known : total] = self._nbuf + np.concatenate([[0], np.cumsum(lens)[:-1]])
        self._wlen[self._known : total] = lens
        self._buf[self._nbuf : self._nbuf + len(flat)] = flat
        self._nbuf += len(flat)
        self._known = total

    def word_ids(self, words: list[str]) -> np.ndarray:
        """Cache slots for ``words`` (tokenizing the unseen ones in one call)."""
        ids = self.vocab.ids(words)
        self.sync()
        return ids

    def word_tokens(self, slot: int) -> list[int]:
        """Token ids of one cached word (tests, debugging)."""
        off, n = int(self._woff[slot]), int(self._wlen[slot])
        return self._buf[off : off + n].tolist()

    # ---------------------------------------------------------------- names
    def encode(self, split: WordSplit, slots: np.ndarray | None = None) -> Encoded:
        """Token ids for every name of ``split``, truncated to ``max_length`` with specials.

        ``slots``: the split's word numbers in the shared vocabulary, when the caller looked them
        up already (the ensemble does, once for all members).
        """
        if slots is None:
            slots = self.vocab.ids(split.words, split.keys)
        self.sync()
        woff = self._woff[slots]
        wlen = self._wlen[slots]
        n_pre, n_suf = len(self.prefix), len(self.suffix)
        budget = self.max_length - n_pre - n_suf
        # position of each word's first token inside its name's content (before truncation)
        cum = np.concatenate([[0], np.cumsum(wlen)])
        counts = np.diff(split.bounds)
        word_pos = cum[:-1] - np.repeat(cum[split.bounds[:-1]], counts)
        kept = np.clip(budget - word_pos, 0, wlen)  # sub-tokens of each word that fit
        kept_cum = np.concatenate([[0], np.cumsum(kept)])
        content_len = kept_cum[split.bounds[1:]] - kept_cum[split.bounds[:-1]]
        row_len = content_len + n_pre + n_suf
        offsets = np.concatenate([[0], np.cumsum(row_len)]).astype(np.int64)
        ids = np.empty(int(offsets[-1]), dtype=np.int64)
        starts = offsets[:-1]
        for j, t in enumerate(self.prefix):
            ids[starts + j] = t
        for j, t in enumerate(self.suffix):
            ids[starts + n_pre + content_len + j] = t
        tot = int(kept_cum[-1])
        if tot:
            # flat kept tokens, in order: source index in the cache, destination in ids
            shift = np.repeat(woff - kept_cum[:-1], kept)
            dst_shift = np.repeat(starts + n_pre - kept_cum[split.bounds[:-1]], content_len)
            pos = np.arange(tot)
            ids[dst_shift + pos] = self._buf[shift + pos]
        word_first = np.where(kept > 0, word_pos + n_pre, -1)
        return Encoded(ids, offsets, word_first.astype(np.int64), kept.astype(np.int64))


class PlainWords(Protocol):
    """A faster way to the Rust tokenizer's ids for the words it ``accepts``."""

    def accepts(self, classes: np.ndarray) -> np.ndarray:
        """Which words it takes, from their :func:`word_classes`."""
        ...

    def tokenize(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]: ...


def _in_pieces(plain: PlainWords, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``plain.tokenize`` in pieces of :data:`PLAIN_CHUNK_WORDS` words: its NumPy steps then work on arrays
    that stay in the CPU's cache (65,536 new words in one piece cost ~1.4x as much)."""
    if len(words) <= PLAIN_CHUNK_WORDS:
        return plain.tokenize(words)
    parts = [plain.tokenize(words[i : i + PLAIN_CHUNK_WORDS]) for i in range(0, len(words), PLAIN_CHUNK_WORDS)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


_LETTER, _DIGIT, _OTHER = 1, 2, 4
_ASCII_CLASS = np.full(128, _OTHER, dtype=np.uint8)
_ASCII_CLASS[[ord(c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"]] = _LETTER
_ASCII_CLASS[[ord(c) for c in "0123456789"]] = _DIGIT
_ASCII_ALNUM = np.zeros(256, dtype=bool)  # by byte: an ASCII letter or digit
_ASCII_ALNUM[:128] = _ASCII_CLASS != _OTHER


def word_classes(words: list[str]) -> np.ndarray:
    """Per word, the classes of its characters OR-ed: 1 an ASCII letter, 2 an ASCII digit, 4 anything
    else (0: the empty word). One pass over the words joined, whatever their alphabet.

    Why: the plain-word fast paths ask which new words they take; asked per class and per word where a
    batch held one non-ASCII word, that cost as much as tokenizing the words (issue 22)."""
    n = len(words)
    lens = np.fromiter(map(len, words), dtype=np.int64, count=n)
    codes = code_points("".join(words))
    cls = _ASCII_CLASS[np.minimum(codes, 127)]
    if codes.dtype != np.uint8:  # not all ASCII
        cls[codes > 127] = _OTHER
    out = np.zeros(n, dtype=np.uint8)
    full = lens > 0
    if full.any():
        out[full] = np.bitwise_or.reduceat(cls, (np.cumsum(lens) - lens)[full])
    return out


def _letters_or_digits(classes: np.ndarray) -> np.ndarray:
    """Per word (its :func:`word_classes`): ASCII letters only, or ASCII digits only (what byte-level
    BPE keeps whole as it is)."""
    return (classes == _LETTER) | (classes == _DIGIT)


class WordPieceTrie:
    """Greedy longest-match-first WordPiece for words of ASCII letters and digits, all words at once.

    Why: the Rust WordPiece builds a candidate string per (start, end) it tries, ~6 us per new word
    with small vocabularies (issue 22: the GPU path's cold host side). Here every word walks a trie of
    the vocabulary's ASCII pieces (a dense [node, character] table) one character per NumPy step; the
    longest piece seen on the walk is the token, as WordPiece picks it; a word with a position no piece
    matches, or longer than ``max_chars``, is the unknown token.
    """

    def __init__(self, vocab: dict[str, int], unk_id: int, prefix: str, max_chars: int, lowercase: bool) -> None:
        self.unk_id, self.max_chars, self.lowercase = unk_id, max_chars, lowercase
        self.col = np.full(256, 0, dtype=np.int64)
        alnum = np.flatnonzero(_ASCII_ALNUM)
        self.col[alnum] = np.arange(len(alnum))
        children: list[dict[int, int]] = [{}, {}]  # node 0: a word's start; node 1: after the prefix ("##")
        term = [-1, -1]
        for piece, tid in vocab.items():
            root = 0
            if prefix and piece.startswith(prefix):
                root, piece = 1, piece[len(prefix) :]
            if not piece or not piece.isascii() or not piece.isalnum():
                continue  # never part of a word of ASCII letters and digits
            node = root
            for ch in piece.encode("ascii"):
                nxt = children[node].get(ch)
                if nxt is None:
                    nxt = len(children)
                    children[node][ch] = nxt
                    children.append({})
                    term.append(-1)
                node = nxt
            term[node] = tid
        self.table = np.full((len(children), len(alnum)), -1, dtype=np.int32)
        for node, kids in enumerate(children):
            for ch, nxt in kids.items():
                self.table[node, self.col[ch]] = nxt
        self.term = np.asarray(term, dtype=np.int64)

    def accepts(self, classes: np.ndarray) -> np.ndarray:
        return (classes > 0) & (classes & _OTHER == 0)

    def tokenize(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(tokens per word, flat ids) of accepted words."""
        n = len(words)
        lens = np.fromiter(map(len, words), dtype=np.int64, count=n)
        text = "".join(words).encode("ascii")
        cols = self.col[np.frombuffer(text.lower() if self.lowercase else text, dtype=np.uint8)]
        begin = np.concatenate([[0], np.cumsum(lens)[:-1]])
        bad = lens > self.max_chars
        w = np.flatnonzero(~bad & (lens > 0))
        pos, stop_at = begin[w], begin[w] + lens[w]
        node = np.zeros(len(w), dtype=np.int64)
        cur = pos.copy()
        best_end = np.full(len(w), -1, dtype=np.int64)
        best_id = np.full(len(w), -1, dtype=np.int64)
        got_word: list[np.ndarray] = []
        got_step: list[np.ndarray] = []
        got_id: list[np.ndarray] = []
        step = 0
        while len(w):
            child = self.table[node, cols[cur]]  # cur < stop_at for every walker left
            moved = child >= 0
            node = np.where(moved, child, node)
            cur = cur + moved
            tid = np.where(moved, self.term[node], -1)
            hit = tid >= 0
            best_end = np.where(hit, cur, best_end)
            best_id = np.where(hit, tid, best_id)
            ended = ~moved | (cur >= stop_at)
            if ended.any():
                e = np.flatnonzero(ended)
                ok = e[best_id[e] >= 0]
                bad[w[e[best_id[e] < 0]]] = True
                got_word.append(w[ok])
                got_step.append(np.full(len(ok), step))
                got_id.append(best_id[ok])
                pos[ok] = cur[ok] = best_end[ok]
                node[ok] = 1
                best_end[ok] = best_id[ok] = -1
                keep = np.ones(len(w), dtype=bool)
                keep[e] = False
                keep[ok] = pos[ok] < stop_at[ok]
                w, pos, stop_at, node, cur, best_end, best_id = (
                    a[keep] for a in (w, pos, stop_at, node, cur, best_end, best_id)
                )
            step += 1
        words_of = np.concatenate(got_word) if got_word else np.zeros(0, np.int64)
        steps = np.concatenate(got_step) if got_step else np.zeros(0, np.int64)
        ids = np.concatenate(got_id) if got_id else np.zeros(0, np.int64)
        keep_tok = ~bad[words_of]
        words_of, steps, ids = words_of[keep_tok], steps[keep_tok], ids[keep_tok]
        order = np.lexsort((steps, words_of))
        words_of, ids = words_of[order], ids[order]
        out_lens = np.bincount(words_of, minlength=n).astype(np.int64)
        out_lens[bad] = 1
        at = np.concatenate([[0], np.cumsum(out_lens)])
        flat = np.empty(int(at[-1]), dtype=np.int32)
        flat[at[:-1][bad]] = self.unk_id
        inner = np.arange(len(ids)) - np.repeat(np.cumsum(out_lens[~bad]) - out_lens[~bad], out_lens[~bad])
        flat[np.repeat(at[:-1][~bad], out_lens[~bad]) + inner] = ids
        return out_lens, flat


class ModelOnly:
    """The tokenizer's model alone on each word (no normalizer, pre-tokenizer or ``Encoding``), for
    words that the pipeline would hand to it unchanged but for a byte-level prefix space: ASCII letters
    only, or digits only (byte-level BPE maps them to themselves and its split keeps them whole).
    ~2.3 vs ~4 us per new word."""

    def __init__(self, model: Any, prefix: str = "") -> None:
        self.model = model
        self.prefix = prefix  # byte level with add_prefix_space: the space's byte-level character, "Ġ"

    def accepts(self, classes: np.ndarray) -> np.ndarray:
        return _letters_or_digits(classes)

    def tokenize(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        toks = list(map(self.model.tokenize, [self.prefix + w for w in words] if self.prefix else words))
        lens = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
        flat = np.fromiter((t.id for ts in toks for t in ts), dtype=np.int32, count=int(lens.sum()))
        return lens, flat


class BytePairMerges:
    """Byte-pair encoding of plain words (ASCII letters only, or digits only), all words at once.

    Why: the Rust BPE behind byte-level tokenizers costs ~4 us per new word from Python (issue 22: the
    GPU path's cold host side). BPE merges the adjacent pair of lowest rank, leftmost first; since a
    merge's parts come from earlier merges, that is: per word, take its lowest-ranked pair and merge
    every occurrence left to right, until no pair of the word has a rank. Each such round runs over
    all words in NumPy, pairs looked up in a :class:`KeyTable` of (left id, right id) -> rank, new id.
    Only for plain BPE (no dropout, unknown token, affixes, byte fallback or ignored merges): checked.
    """

    def __init__(self, vocab: dict[str, int], merges: list[Any], prefix: str = "") -> None:
        self.prefix = prefix
        self.char_id = np.full(256, -1, dtype=np.int64)
        for code in np.flatnonzero(_ASCII_ALNUM).tolist():
            self.char_id[code] = vocab.get(chr(code), -1)
        self.prefix_id = vocab.get(prefix, -1) if prefix else -1
        pairs = [m.split(" ", 1) if isinstance(m, str) else m for m in merges]
        left = np.asarray([vocab.get(a, -1) for a, _ in pairs], dtype=np.int64)
        right = np.asarray([vocab.get(b, -1) for _, b in pairs], dtype=np.int64)
        new = np.asarray([vocab.get(a + b, -1) for a, b in pairs], dtype=np.int64)
        ok = (left >= 0) & (right >= 0) & (new >= 0)
        rank = np.flatnonzero(ok)
        keys = (left[ok].astype(np.uint64) << np.uint64(32)) | right[ok].astype(np.uint64)
        keys, first = np.unique(keys, return_index=True)  # a pair listed twice keeps its first rank
        self.table = KeyTable(max(1 << 10, 1 << int(8 * len(keys)).bit_length()))  # sparse: most pairs are absent
        self.table.put(keys, (rank[first] << 32) | new[ok][first])

    def usable(self) -> bool:
        return bool((self.char_id[_ASCII_ALNUM] >= 0).all()) and (not self.prefix or self.prefix_id >= 0)

    def accepts(self, classes: np.ndarray) -> np.ndarray:
        return _letters_or_digits(classes)

    def tokenize(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(tokens per word, flat ids) of accepted words."""
        n = len(words)
        lens = np.fromiter(map(len, words), dtype=np.int64, count=n)
        sym = self.char_id[np.frombuffer("".join(words).encode("ascii"), dtype=np.uint8)]
        owner = np.repeat(np.arange(n), lens)
        if self.prefix:  # the prefix symbol before every word
            at = np.concatenate([[0], np.cumsum(lens + 1)[:-1]])
            full = np.full(len(sym) + n, self.prefix_id, dtype=np.int64)
            keep = np.ones(len(full), dtype=bool)
            keep[at] = False
            full[keep] = sym
            sym, owner = full, np.repeat(np.arange(n), lens + 1)
        big = np.iinfo(np.int64).max
        val = self._pairs(sym, owner, np.arange(len(sym)))  # per symbol: its pair with the next one
        done_sym: list[np.ndarray] = []
        done_owner: list[np.ndarray] = []
        while len(sym):
            rank = np.where(val >= 0, val >> 32, big)
            best = np.full(n, big, dtype=np.int64)
            np.minimum.at(best, owner, rank)
            finished = best[owner] == big  # no pair of the word merges: its symbols are its tokens
            if finished.any():
                done_sym.append(sym[finished])
                done_owner.append(owner[finished])
                keep = ~finished
                sym, owner, val, rank = sym[keep], owner[keep], val[keep], rank[keep]
            c = np.flatnonzero(rank == best[owner])
            if not len(c):
                break
            # overlapping occurrences ("aaa" with a+a): every other one of a run, from its left
            run_start = np.concatenate([[True], c[1:] != c[:-1] + 1])
            start_of = np.maximum.accumulate(np.where(run_start, np.arange(len(c)), 0))
            c = c[(np.arange(len(c)) - start_of) % 2 == 0]
            sym[c] = val[c] & 0xFFFFFFFF
            dirty = np.zeros(len(sym), dtype=bool)  # pairs that changed: the merged symbol's, its left one's
            dirty[c] = True
            dirty[c[c > 0] - 1] = True
            keep = np.ones(len(sym), dtype=bool)
            keep[c + 1] = False
            sym, owner, val, dirty = sym[keep], owner[keep], val[keep], dirty[keep]
            at = np.flatnonzero(dirty)
            val[at] = self._pairs(sym, owner, at)
        all_sym = np.concatenate(done_sym) if done_sym else np.zeros(0, np.int64)
        all_owner = np.concatenate(done_owner) if done_owner else np.zeros(0, np.int64)
        order = np.argsort(all_owner, kind="stable")
        return np.bincount(all_owner, minlength=n).astype(np.int64), all_sym[order].astype(np.int32)

    def _pairs(self, sym: np.ndarray, owner: np.ndarray, at: np.ndarray) -> np.ndarray:
        """(rank << 32 | merged id) of the pairs (at, at + 1) within a word; -1 where none merges."""
        out = np.full(len(at), -1, dtype=np.int64)
        ok = at + 1 < len(sym)
        ok[ok] &= owner[at[ok]] == owner[at[ok] + 1]
        a = at[ok]
        out[ok] = self.table.get((sym[a].astype(np.uint64) << np.uint64(32)) | sym[a + 1].astype(np.uint64))
        return out


#: plain words the probe checks the fast paths on (ASCII letters, digits, both, case, long)
_PLAIN_PROBE = [
    "Smith", "SMITH", "smith", "Zyxwvut", "Qwimbyfaroth", "1234", "007", "A1", "x", "Bakomitu", "Ltd",
    "GmbH", "Mc", "a" * 120, "Aaaaaaaaaaaaaaaaaaaaaaa", "Nordvik", "Xq", "Zz9", "abcdefghijklmnopqrstuvwxyz",
]  # fmt: skip


def plain_words_tokenizer(rust: Any) -> PlainWords | None:
    """The fast path for plain words that gives ``rust``'s ids, or None.

    WordPiece under a BERT normalizer/pre-tokenizer (or none): :class:`WordPieceTrie`. A model whose
    normalizer is absent and whose pre-tokenizer keeps plain words whole (byte level, whitespace):
    :class:`ModelOnly`. Either is checked on probe words against ``rust`` before it is used.
    """
    import json

    try:
        spec = json.loads(rust.to_str())
    except Exception:  # a tokenizer that does not serialise: no fast path
        return None
    model, norm, pre = spec.get("model") or {}, spec.get("normalizer"), spec.get("pre_tokenizer")
    added = [str(t.get("content", "")) for t in spec.get("added_tokens") or []]
    if any(a.isascii() and a.isalnum() for a in added):  # Rust would match such an added token first
        return None
    fast: PlainWords | None = None
    if model.get("type") == "WordPiece" and (norm is None or norm.get("type") == "BertNormalizer"):
        vocab = model.get("vocab") or {}
        unk = vocab.get(model.get("unk_token"))
        keeps_words = pre is None or pre.get("type") in ("BertPreTokenizer", "Whitespace", "WhitespaceSplit")
        if unk is not None and keeps_words:
            lower = bool(norm and norm.get("lowercase"))
            prefix = model.get("continuing_subword_prefix") or ""
            fast = WordPieceTrie(vocab, unk, prefix, int(model.get("max_input_chars_per_word") or 100), lower)
    elif norm is None and pre is not None and pre.get("type") in ("ByteLevel", "Whitespace", "WhitespaceSplit"):
        space = pre.get("type") == "ByteLevel" and bool(pre.get("add_prefix_space"))
        fast = ModelOnly(rust.model, "\u0120" if space else "")
        plain_bpe = not any(model.get(k) for k in ("dropout", "unk_token", "continuing_subword_prefix"))
        plain_bpe &= not any(model.get(k) for k in ("end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges"))
        if model.get("type") == "BPE" and plain_bpe:
            bpe = BytePairMerges(model.get("vocab") or {}, model.get("merges") or [], "\u0120" if space else "")
            fast = bpe if bpe.usable() else fast
    if fast is None:
        return None
    probe = [w for w, ok in zip(_PLAIN_PROBE, fast.accepts(word_classes(_PLAIN_PROBE)), strict=True) if ok]
    encs = rust.encode_batch([[w] for w in probe], is_pretokenized=True, add_special_tokens=False)
    want = [e.ids for e in encs]
    lens, flat = fast.tokenize(probe)
    if lens.tolist() != [len(x) for x in want] or flat.tolist() != [t for x in want for t in x]:
        log.warning("tokenizer %s: the plain-word fast path disagrees on probe words; not used", type(rust).__name__)
        return None
    return fast


def _rust_tokenizer(tokenizer: Any) -> tuple[Any, int]:
    """A private copy of the tokenizer's Rust ``tokenizers.Tokenizer`` (no truncation or padding left
    on it by other calls), and how many pre-split words it may take per sequence.

    Many words per sequence is right for WordPiece and byte-level BPE (every word gets its own
    prefix space); a pre-tokenizer that marks only a sequence's first word (Metaspace "first")
    needs one word per sequence. Checked on probe words against the transformers tokenizer; where
    neither matches it, the transformers tokenizer is called instead (None).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None, 1
    try:
        from tokenizers import Tokenizer

        rust = Tokenizer.from_str(backend.to_str())
        rust.no_truncation()
        rust.no_padding()
    except Exception:  # an exotic backend that does not round-trip: use the transformers call
        log.warning("tokenizer %s: no private Rust copy; new words go through transformers", type(tokenizer).__name__)
        return None, 1
    want = tokenizer(_PROBE_WORDS, add_special_tokens=False)["input_ids"]
    flat_want = [t for x in want for t in x]
    for k in (256, 1):
        chunks = [_PROBE_WORDS[i : i + k] for i in range(0, len(_PROBE_WORDS), k)]
        encs = rust.encode_batch(chunks, is_pretokenized=True, add_special_tokens=False)
        got = [t for e in encs for t in e.ids]
        lens = np.zeros(len(_PROBE_WORDS), dtype=np.int64)
        for c, e in enumerate(encs):
            for w in e.word_ids:
                if w is not None:
                    lens[c * k + w] += 1
        if got == flat_want and lens.tolist() == [len(x) for x in want]:
            return rust, k
    log.warning(
        "tokenizer %s: pre-split words do not match; new words go through transformers", type(tokenizer).__name__
    )
    return None, 1


def pad_to(n: int, multiple: int = 8) -> int:
    """Round ``n`` up to a multiple of 8 (tensor-core friendly shapes, fewer distinct shapes)."""
    return -(-n // multiple) * multiple


def length_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length (longest first, stable)."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def uniform_batches(
    lengths: np.ndarray, batch_size: int, min_rows: int = 32, max_pad: float = 0.10
) -> list[np.ndarray]:
    """Device batches: the rows of one length together, so a batch has no padding and needs no attention
    mask (no padded FLOPs; SDPA's unmasked path; no mask built in Python); at most ``batch_size`` rows.
    Lengths with fewer than ``min_rows`` rows share padded batches, longest first (see :func:`packed`)."""
    order = np.argsort(-lengths, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(lengths[order])) + 1) if len(order) else []
    min_rows = min(min_rows, batch_size)
    out: list[np.ndarray] = []
    small: list[np.ndarray] = []
    for g in groups:
        if len(g) >= min_rows:
            out += [g[i : i + batch_size] for i in range(0, len(g), batch_size)]
        else:
            small.append(g)
    if small:
        rest = np.concatenate(small)
        out += packed(rest, lengths[rest], batch_size, min_rows, max_pad)
    return out


def packed(rows: np.ndarray, lens: np.ndarray, batch_size: int, min_rows: int, max_pad: float) -> list[np.ndarray]:
    """Rows of rare lengths (longest first) in batches padded to their first row: a batch closes at
    ``batch_size`` rows, or once it holds ``min_rows`` and the next row would take its padding above
    ``max_pad`` of its real tokens. Why the floor: a forward of a few rows costs a whole launch sequence;
    why the band: cut at ``batch_size`` alone, 300 names padded 1.6-4.3x (issue 22)."""
    out: list[np.ndarray] = []
    start, real, width = 0, 0, 0
    for i, n in enumerate(lens.tolist()):
        k = i - start
        if k and (k >= batch_size or (k >= min_rows and (k + 1) * width > (1 + max_pad) * (real + n))):
            out.append(rows[start:i])
            start, real, k = i, 0, 0
        if k == 0:
            width = n
        real += n
    if len(rows):
        out.append(rows[start:])
    return out


def batch_ids(enc: Encoded, rows: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``input_ids`` of ``rows`` at their exact longest length, and the attention mask, or None when
    every row has that length (nothing to mask: one gather, no mask built, SDPA's unmasked path)."""
    lens = enc.lengths[rows]
    width = int(lens.max()) if len(lens) else 1
    starts = enc.offsets[rows]
    if len(lens) and int(lens.min()) == width:  # row copies from a window view: no [rows x width] index
        return np.lib.stride_tricks.sliding_window_view(enc.ids, width)[starts], None
    ids, mask = batch_arrays(enc, rows, pad_id, 1)
    return ids, mask


@dataclass(frozen=True)
class WordPositions:
    """Where one batch's words are: their indices into the call's words, their kept sub-token counts,
    and the flat positions in the batch's ``[rows x width]`` logits that decoding reads (each word's
    first sub-token, or with aggregation over sub-tokens all ``ntok`` of them, in word order)."""

    widx: np.ndarray
    ntok: np.ndarray
    pos: np.ndarray


def word_positions(
    enc: Encoded, batches: Sequence[np.ndarray], bounds: np.ndarray, first_only: bool = True
) -> list[WordPositions]:
    """:class:`WordPositions` of every batch (rows of names split at ``bounds``, each batch as wide as
    its longest row, as :func:`batch_ids` builds it), in one vectorised pass.

    Why: the same arithmetic per batch cost ~0.3 ms of NumPy calls a batch, about 1 us per name on
    the GPU path's host side (issue 22). Words truncated away (``word_first`` -1) are left out.
    """
    nb = len(batches)
    sizes = np.fromiter(map(len, batches), dtype=np.int64, count=nb)
    order = np.concatenate(batches).astype(np.int64) if nb else np.zeros(0, np.int64)
    bstart = np.concatenate([[0], np.cumsum(sizes)])
    lengths = (enc.offsets[order + 1] - enc.offsets[order]).astype(np.int64)
    width = np.zeros(nb, dtype=np.int64)
    full = sizes > 0
    if len(order):
        width[full] = np.maximum.reduceat(lengths, bstart[:-1][full])
    bid = np.repeat(np.arange(nb), sizes)
    rpos = np.arange(len(order)) - bstart[bid]
    counts = bounds[order + 1] - bounds[order]
    cstart = np.cumsum(counts) - counts
    widx = np.repeat(bounds[order] - cstart, counts) + np.arange(int(counts.sum()))
    slot = np.repeat(np.arange(len(order)), counts)
    first = enc.word_first[widx]
    ok = first >= 0
    widx, slot, first = widx[ok], slot[ok], first[ok]
    wb = bid[slot]
    at = rpos[slot] * width[wb] + first
    ntok = enc.word_ntok[widx]
    if first_only:
        pos, pb = at, wb
    else:
        seg = np.cumsum(ntok) - ntok
        pos = np.repeat(at - seg, ntok) + np.arange(int(ntok.sum()))
        pb = np.repeat(wb, ntok)
    cut = np.arange(nb + 1)
    w_cut, p_cut = np.searchsorted(wb, cut).tolist(), np.searchsorted(pb, cut).tolist()
    return [
        WordPositions(widx[w_cut[b] : w_cut[b + 1]], ntok[w_cut[b] : w_cut[b + 1]], pos[p_cut[b] : p_cut[b + 1]])
        for b in range(nb)
    ]


def plan_padding(lengths: np.ndarray, batches: list[np.ndarray], multiple: int = 1) -> tuple[int, int]:
    """(padded, real) tokens of ``batches`` of rows of ``lengths``, each padded to its longest row
    rounded up to ``multiple``: the share of a device's work that is padding."""
    padded = sum(len(b) * pad_to(int(lengths[b].max()), multiple) for b in batches if len(b))
    return int(padded), int(lengths.sum())


def batch_arrays(enc: Encoded, rows: np.ndarray, pad_id: int, multiple: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Padded ``input_ids`` and ``attention_mask`` for ``rows`` (padded to a multiple of ``multiple``)."""
    lens = enc.lengths[rows]
    width = pad_to(int(lens.max()) if len(lens) else 1, multiple)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    col = np.arange(width)
    valid = col[None, :] < lens[:, None]
    src = enc.offsets[rows][:, None] + col[None, :]
    ids[valid] = enc.ids[src[valid]]
    mask[valid] = 1
    return ids, mask
