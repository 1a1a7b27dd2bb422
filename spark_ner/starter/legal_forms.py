"""An organisation name without its trailing legal forms: cleanco's ``basename``, the same result, faster.

Why: cleanco compares a name's tail with each of its terms in turn (a list slice and a compare per term,
~40 us a name here). The corpus strips the registries' ~45,000 organisation names (~76,000 calls with
the repeated strips) for each seed's vocabulary, ~5 s each, and a bench process draws names from up to
six seeds; the lexicon build strips ~64,000 more. Here the terms are indexed by their last word; from
each match the scan takes the next term in cleanco's own order whose words end the name, so the
deletions are cleanco's, in cleanco's order, and so is the result (``tests/test_corpus.py`` compares the
two on registry names).
"""

from __future__ import annotations

import functools
import re

#: (position in cleanco's term order, number of words, the words) of the terms ending with a word
_Terms = dict[str, tuple[tuple[int, int, list[str]], ...]]


@functools.lru_cache(maxsize=1)
def _terms_by_last_word() -> _Terms:
    """cleanco's default terms (``prepare_default_terms``: longest first, then by name), by last word."""
    from cleanco.clean import prepare_default_terms

    index: dict[str, list[tuple[int, int, list[str]]]] = {}
    for order, (size, words) in enumerate(prepare_default_terms()):
        if size:  # an empty term matches only an empty name, and removes nothing from it
            index.setdefault(words[-1], []).append((order, size, words))
    return {last: tuple(terms) for last, terms in index.items()}


def basename(name: str) -> str:
    """``"Acme Holdings, Inc."`` -> ``"Acme Holdings"``: exactly ``cleanco.basename(name)`` (suffixes only)."""
    from cleanco.clean import normalized, strip_punct, strip_tail

    index = _terms_by_last_word()
    name = strip_tail(name)
    words = name.split()
    keys = [strip_punct(w) for w in normalized(name).split()]
    after = 0  # cleanco's loop has passed every term before this position
    while keys:
        for order, size, term in index.get(keys[-1], ()):
            if order >= after and keys[-size:] == term:
                del keys[-size:]
                del words[-size:]
                after = order + 1
                break
        else:
            break
    return strip_tail(" ".join(words))


@functools.lru_cache(maxsize=65536)
def strip_legal_form(name: str) -> str:
    """:func:`basename` without a trailing comma or space; ``name`` itself where nothing alphanumeric is left."""
    base = basename(name).strip(" ,")
    return base if base and any(c.isalnum() for c in base) else name


#: "Co.,Ltd", "Networks,Inc." as registries write them
_LEGAL_GLUE_RE = re.compile(r"(?<=[.\w]),(?=[A-Za-z])")


def bare(name: str) -> str:
    """The name without its legal forms, stripped until none is left ("X Technology Co.,Ltd" -> "X Technology";
    cleanco needs the space after the comma)."""
    name = _LEGAL_GLUE_RE.sub(", ", name)
    for _ in range(3):
        base = strip_legal_form(name)
        if base == name:
            break
        name = base
    return name
