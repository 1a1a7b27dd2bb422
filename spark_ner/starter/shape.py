"""Train the lexicon's word-shape model on the lists' own one-word entries (issue 25).

Why: the organisations the ensemble still misses are mostly one coined word no list holds ("Corteva",
"Harsco", "Banglalion"): the lexicon abstains and the trained members, which learned names from a
generated corpus, call them places. The letters of a word say something of its kind (company names are
coined: "-ex", "-ix", "-tronic", odd letter pairs; places and surnames follow their languages' spelling),
and the lists hold hundreds of thousands of examples of each: every one-word given name / surname, place
and company key. A fastText-style model (hashed character n-grams, :func:`spark_ner.lexicon.shape_ngrams`;
mean embedding; one linear layer) learns them in seconds on one core; the lexicon member uses it only on
words it does not hold (``Lexicon._shape``).

Deterministic: one thread, a fixed seed, data in key order; the weights are stored as float16.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Collection

import numpy as np

from spark_ner.lexicon import SHAPE_BUCKET_BITS, SHAPE_CATEGORIES, SHAPE_MIN_LEN, shape_ngrams

log = logging.getLogger(__name__)

#: which lexicon categories teach each of the shape model's outputs (a key's best category decides)
TEACHERS: dict[str, tuple[str, ...]] = {
    "SURNAME": ("GIVEN_NAME", "SURNAME"),
    "PLACE": ("PLACE", "REGION", "COUNTRY"),
    "COMPANY": ("COMPANY",),
}
#: words of company names that no list holds and that occur in at most this many of them ("foxtron",
#: "pivotech" from "Foxtron Vehicle Technologies", "Pivotech Systems") also teach COMPANY: a list's
#: one-word companies are few (~11k against ~270k places); 0: only one-word keys
INSIDE_MAX = 3
DIM = 16
EPOCHS = 2
BATCH = 512
LR = 1e-2


def shape_examples(
    keys: list[str], scores: np.ndarray, categories: tuple[str, ...], exclude: Collection[str] = ()
) -> tuple[list[str], np.ndarray]:
    """One-word, letters-only keys whose best category teaches an output (:data:`TEACHERS`), with the
    output's index; keys in ``exclude`` left out (a dev set's own words, to score the model fairly)."""
    teach = {
        categories.index(c): out for out, name in enumerate(SHAPE_CATEGORIES) for c in TEACHERS[name] if c in categories
    }
    company = categories.index("COMPANY")
    best = scores.argmax(axis=1)
    words: list[str] = []
    labels: list[int] = []
    inside: Counter[str] = Counter()
    for key, b in zip(keys, best.tolist(), strict=True):
        if " " in key:
            if b == company:
                inside.update(set(key.split(" ")))
        elif b in teach and key.isalpha() and len(key) >= SHAPE_MIN_LEN and key not in exclude:
            words.append(key)
            labels.append(teach[b])
    if INSIDE_MAX:
        known = set(keys)
        rare = [w for w, n in sorted(inside.items()) if n <= INSIDE_MAX and w.isalpha() and len(w) >= SHAPE_MIN_LEN]
        rare = [w for w in rare if w not in known and w not in exclude]
        words.extend(rare)
        labels.extend([SHAPE_CATEGORIES.index("COMPANY")] * len(rare))
    return words, np.asarray(labels, dtype=np.int64)


def train_shape(words: list[str], labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The shape model's weights: ``table`` float16 [2**SHAPE_BUCKET_BITS, DIM] and ``out`` float32
    [DIM + 1, categories] (the last row is the bias). Classes weighted to balance (companies are ~3% of
    the one-word keys): the prior on an unknown word is the combination's business, not the model's."""
    import torch

    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(seed)
        ids, counts = shape_ngrams(words)
        offsets = np.cumsum(counts) - counts
        n_out = len(SHAPE_CATEGORIES)
        freq = np.bincount(labels, minlength=n_out).astype(np.float64)
        if (freq == 0).any():
            raise ValueError(
                f"shape model: no training word for {[SHAPE_CATEGORIES[i] for i in np.flatnonzero(freq == 0)]}"
            )
        emb = torch.nn.EmbeddingBag(1 << SHAPE_BUCKET_BITS, DIM, mode="mean", sparse=True)
        lin = torch.nn.Linear(DIM, n_out)
        with torch.no_grad():
            emb.weight.normal_(0.0, 0.1, generator=gen)
            lin.weight.normal_(0.0, 0.1, generator=gen)
            lin.bias.zero_()
        opt_emb = torch.optim.SparseAdam(list(emb.parameters()), lr=LR)
        opt_lin = torch.optim.Adam(lin.parameters(), lr=LR)
        weight = torch.tensor(len(labels) / (n_out * freq), dtype=torch.float32)
        ids_t, y_all = torch.from_numpy(ids), torch.from_numpy(labels)
        for _epoch in range(EPOCHS):
            order = torch.randperm(len(words), generator=gen).numpy()
            for b0 in range(0, len(order), BATCH):
                idx = order[b0 : b0 + BATCH]
                take = np.concatenate([np.arange(offsets[i], offsets[i] + counts[i]) for i in idx])
                off = np.cumsum(counts[idx]) - counts[idx]
                logits = lin(emb(ids_t[take], torch.from_numpy(off)))
                loss = torch.nn.functional.cross_entropy(logits, y_all[idx], weight=weight)
                opt_emb.zero_grad()
                opt_lin.zero_grad()
                loss.backward()
                opt_emb.step()
                opt_lin.step()
        table = emb.weight.detach().numpy().astype(np.float16)
        out = np.concatenate([lin.weight.detach().numpy().T, lin.bias.detach().numpy()[None]]).astype(np.float32)
    finally:
        torch.set_num_threads(threads)
    log.info(
        "lexicon: shape model on %d words (%s) in %.0f s",
        len(words),
        freq.astype(int).tolist(),
        time.perf_counter() - t0,
    )
    return table, out


__all__ = ["DIM", "TEACHERS", "shape_examples", "train_shape"]
