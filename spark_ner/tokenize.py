"""Words with offsets into the original string, and per-member token ids as NumPy arrays.

Words are where the ensemble meets: BERT's WordPiece and RoBERTa's byte-level BPE split a name
differently, so every member is fed the same words (pre-split, RoBERTa with a prefix space) and
its sub-token probabilities are mapped back to those words. Each word keeps ``start``/``end``
offsets into the ORIGINAL input string, so spans are reported there whatever normalization did.

Speed: names reuse a small vocabulary of words, so each member keeps a word -> token-ids cache
and a batch of names is encoded with NumPy gathers, not a per-name tokenizer call.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.bounds)


def restore_case(word: str) -> str:
    """``SMITH`` -> ``Smith``: cased models read title case best; offsets are unaffected."""
    return word[:1].upper() + word[1:].lower()


def split_name(name: str, max_words: int, case_restore: bool = True) -> tuple[list[str], list[int], list[int]]:
    """Split one name into (words, starts, ends); at most ``max_words`` words are kept."""
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


def split_words(names: Sequence[str], max_words: int, case_restore: bool = True) -> WordSplit:
    """Split many (non-null) names; ``max_words`` bounds the work on 100,000-character input."""
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    bounds = np.zeros(len(names) + 1, dtype=np.int64)
    for i, name in enumerate(names):
        w, s, e = split_name(name, max_words, case_restore)
        words += w
        starts += s
        ends += e
        bounds[i + 1] = len(words)
    return WordSplit(words, np.asarray(starts, np.int32), np.asarray(ends, np.int32), bounds)


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

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


class WordTokenizer:
    """A member's fast tokenizer behind a word -> token-ids cache with NumPy output.

    The cache grows with the vocabulary of words seen, which for customer names is small (tens
    of thousands of distinct words cover millions of names); ``max_cache`` bounds it anyway.
    """

    def __init__(self, tokenizer: Any, max_length: int, max_cache: int = 2_000_000) -> None:
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
        self._index: dict[str, int] = {}
        self._buf = np.zeros(0, dtype=np.int32)  # concatenated token ids of cached words
        self._woff = np.zeros(0, dtype=np.int64)  # per cache slot: offset into _buf
        self._wlen = np.zeros(0, dtype=np.int64)  # per cache slot: number of tokens

    def _add(self, new_words: list[str]) -> None:
        if len(self._index) + len(new_words) > self.max_cache:
            self._index.clear()
            self._buf = np.zeros(0, dtype=np.int32)
            self._woff = self._wlen = np.zeros(0, dtype=np.int64)
        enc = self.tokenizer(new_words, add_special_tokens=False)["input_ids"]
        lens = np.fromiter((len(x) for x in enc), dtype=np.int64, count=len(enc))
        flat = np.fromiter((t for x in enc for t in x), dtype=np.int32, count=int(lens.sum()))
        offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) + len(self._buf)
        first_slot = len(self._woff)
        self._index.update(zip(new_words, range(first_slot, first_slot + len(new_words)), strict=True))
        self._woff = np.concatenate([self._woff, offs])
        self._wlen = np.concatenate([self._wlen, lens])
        self._buf = np.concatenate([self._buf, flat])

    def word_ids(self, words: list[str]) -> np.ndarray:
        """Cache slots for ``words`` (tokenizing the unseen ones in one call)."""
        index = self._index
        new = list(dict.fromkeys(w for w in words if w not in index))
        if new:
            self._add(new)
            index = self._index
        return np.fromiter((index[w] for w in words), dtype=np.int64, count=len(words))

    def encode(self, split: WordSplit) -> Encoded:
        """Token ids for every name of ``split``, truncated to ``max_length`` with specials."""
        slots = self.word_ids(split.words)
        woff = self._woff[slots]
        wlen = self._wlen[slots]
        n_names = len(split.bounds) - 1
        budget = self.max_length - len(self.prefix) - len(self.suffix)
        # position of each word's first token inside its name's content (before truncation)
        cum = np.concatenate([[0], np.cumsum(wlen)])
        name_tok_start = cum[split.bounds[:-1]]
        word_name = np.repeat(np.arange(n_names), np.diff(split.bounds))
        word_pos = cum[:-1] - name_tok_start[word_name] if len(wlen) else np.zeros(0, np.int64)
        kept = np.clip(budget - word_pos, 0, wlen)  # sub-tokens of each word that fit
        kept_cum = np.concatenate([[0], np.cumsum(kept)])
        content_len = kept_cum[split.bounds[1:]] - kept_cum[split.bounds[:-1]]
        # flat kept tokens, in order
        tot = int(kept.sum())
        rep = np.repeat(woff - np.concatenate([[0], np.cumsum(kept)[:-1]]), kept) if tot else np.zeros(0, np.int64)
        content = self._buf[rep + np.arange(tot)] if tot else np.zeros(0, np.int32)
        row_len = content_len + len(self.prefix) + len(self.suffix)
        offsets = np.concatenate([[0], np.cumsum(row_len)]).astype(np.int64)
        ids = np.empty(int(offsets[-1]), dtype=np.int64)
        starts = offsets[:-1]
        for k, t in enumerate(self.prefix):
            ids[starts + k] = t
        content_cum = np.concatenate([[0], np.cumsum(content_len)[:-1]])
        content_dst = np.repeat(starts + len(self.prefix) - content_cum, content_len)
        ids[content_dst + np.arange(tot)] = content
        for k, t in enumerate(self.suffix):
            ids[starts + len(self.prefix) + content_len + k] = t
        word_first = np.where(kept > 0, word_pos + len(self.prefix), -1)
        return Encoded(ids, offsets, word_first.astype(np.int64), kept.astype(np.int64))


def pad_to(n: int, multiple: int = 8) -> int:
    """Round ``n`` up to a multiple of 8 (tensor-core friendly shapes, fewer distinct shapes)."""
    return -(-n // multiple) * multiple


def length_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length (longest first, stable)."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


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
