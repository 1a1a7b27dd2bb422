"""The lexicon member: word-level type probabilities from gazetteers, with no network and no GPU.

Why: the neural members learned names from a generated corpus and lack world knowledge (places
below country level, languages, bare brands). A gazetteer of real entities -- places at every
administrative level with their alternate names, country and language names in many languages,
given names and surnames with their frequency, listed companies, legal forms -- knows them. It
votes on the same words as the other members, through the same per-word combination, and only on
the words it knows (elsewhere it abstains), so ambiguity ("Jordan", "Paris Hilton") is left to the
combination.

The lists are one file, ``lexicon.npz`` (NumPy arrays only, read with ``allow_pickle=False``):

* ``categories``: the lexicon's own label set (``GIVEN_NAME``, ``PLACE``, ``LEGAL_FORM``, ...),
  mapped to the canonical types by the member's ``label_map`` like any member's labels;
* ``keys``: newline-joined normalised keys (:func:`normalize_word` per word, words joined by one
  space; a key may span several words);
* ``scores``: uint8 [keys, categories], 0..255 = how strongly a key is an entity of a category;
* optional, the word-shape model (:func:`shape_probs`): ``shape_table`` float16 [2**SHAPE_BUCKET_BITS, dim],
  ``shape_out`` float32 [dim + 1, len(SHAPE_CATEGORIES)] and ``shape_ngrams`` (the n-gram sizes it was hashed
  with, checked at load). Without them, words no list holds get no vote;
* optional, ``lone_company``: newline-joined one-word keys that are a listed or registered company's bare
  name and a surname or a small town ("danaher", "nordstrom", "kellogg"): a name of that one word alone is
  the company (:meth:`Lexicon._lone_company`); inside a longer name the word keeps its other reading.

Matching: longest match over each name's words (at most ``max_words`` per key). A matched word
gets ``p(category) = conf * s**3 / sum(s**3)`` and ``p(O) = 1 - conf``, where ``conf`` is the key's
best score (cubed shares: a city of millions outweighs a rare surname of the same spelling).
Cue categories (``SUFFIX_CUES``: legal forms; ``INSIDE_CUES``: organisation words) make a segment
of the name an organisation: a legal form that ends a segment after a name ("Acme, Inc."), or an
organisation word inside one ("Hospital San Juan"). Segments end at ``c/o``, ``attn``, ``/``,
brackets and spaced dashes, so "Ana Ruiz c/o Acme S.A." keeps its person. A title starting a segment
("Mlle De Sousa"), or post-nominals ending it after a person's name ("Rudolf Pokorný Ph.D."), makes it a
person. A word no list holds gets a weak vote for the kind its letters suggest (:meth:`Lexicon._shape`,
issue 25). A town, then a plural
nickname ("Boston Bruins") is a club (:meth:`Lexicon._place_club`); a company's bare name alone that is
also a surname or a small town ("Danaher", "Kellogg") is the company (:meth:`Lexicon._lone_company`); any
other word alone that the lists read mainly as a person's name ("Powell") is a person
(:meth:`Lexicon._lone_person`).
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spark_ner.config import ENTITY_TYPES, TAGS
from spark_ner.errors import ModelSourceError
from spark_ner.tokenize import KeyTable, WordSplit, WordVocab, code_points, grow, mix64, word_keys

log = logging.getLogger(__name__)

LEXICON_FILE = "lexicon.npz"
FORMAT_VERSION = 1
#: Cue categories: the segment around them becomes an organisation (see the module docstring).
SUFFIX_CUES = ("LEGAL_FORM",)
INSIDE_CUES = ("ORG_WORD",)
#: Place words ("Airport", "County", "Lake"): the segment is a place when one ends it, or when one
#: is in it and no organisation cue is.
PLACE_CUES = ("LOC_WORD",)
#: Titles ("Mr.", "Mlle", "Dra."): a segment that starts with one is a person ("Mlle De Sousa").
TITLE_CUES = ("TITLE",)
#: Post-nominals ("Ph.D.", "CSc.", "Esq."): a segment that ends with one or more of them after a person's name
#: is that person ("Rudolf Pokorný Ph.D.": a dotted degree reads like a legal form to the trained members).
POST_CUES = ("POST_NOMINAL",)
#: a word before post-nominals that the lists hold mainly as something else must be a person's name this
#: much (its person share) for the segment to be a person ("George Washington PhD": also a place)
POST_MIN_PERSON = 0.3
#: Endings of coined organisation names ("Altronics", "Qualitech"): an unknown word with one of
#: them gets a weak organisation vote (the other members decide with it).
COINED_SUFFIXES = (
    "tronics", "tronic", "tech", "tek", "soft", "ware", "corp", "labs", "logic", "logix", "matic", "mart",
    "plex", "systems", "sys", "pharma", "net", "com", "media", "works", "gen", "bio", "ify", "ex", "ix",
    "bank", "kasse", "fone", "phone", "tel", "cell", "pay",
)  # fmt: skip
COINED_MIN_LEN = 6
#: A capital inside a word after a lower-case letter ("SalamFone", "HelloFresh", "eBay") is how brands are
#: written; persons' names do it after these prefixes ("McDonald", "DeShawn", "LaToya", "AlHassan", "DosSantos"),
#: so a word whose capital follows one of them is no coined word. Words of at least ``CAMEL_MIN_LEN`` letters.
#: (A capital that starts a person's name the lists hold, "JoAnn", was tried as a guard too: it cost "OnMarine"
#: on dev and saved no dev name; EVALUATION.md.)
CAMEL_PERSON_PREFIXES = frozenset(
    {
        "mc", "mac", "de", "da", "di", "du", "la", "le", "lo", "van", "von", "vander", "fitz", "st", "o", "d", "l",
        "al", "el", "abd", "abdul", "abu", "bin", "ben", "ibn", "del", "dela", "della", "dos", "das", "den", "der",
        "ter", "ten",
    }
)  # fmt: skip
CAMEL_MIN_LEN = 4
COINED_CONF = 0.6
#: Acronyms ("BASF Coatings", "Qwimby GTX"): an unknown word of 3-5 capitals in a name that is not
#: all capitals and has no comma ("CORBO, Virginia") gets the same weak organisation vote.
ACRONYM_LEN = (3, 5)
#: "SURNAME, Given": how sure the comma form makes the lexicon that both parts are a person
INVERTED_CONF = 0.95
#: "Miraflores, Lima", "Austin, Texas": how sure a place, a comma and a place with no given-name reading after the
#: comma (key probability under PLACE_COMMA_MAX_GIVEN) make the lexicon of an address (``Lexicon._place_comma_place``)
PLACE_COMMA_CONF = 0.95
PLACE_COMMA_MAX_GIVEN = 0.05
#: "Horton, Burns and Gutierrez": how sure the listed-surnames form makes the lexicon of a firm
FIRM_CONF = 0.85
#: "Boston Bruins", "Toronto Maple Leafs": a place, then a plural nickname of one or two words, is a club
#: (``Lexicon._place_club``); how sure that form makes the lexicon of an organisation. Chosen on dev.
CLUB_CONF = 0.8
#: how surely a listed company, then a country, is that company's national branch (``_brand_country``);
#: chosen on dev with the union hold-out (EVALUATION.md, "A listed company, then a country")
BRAND_COUNTRY_CONF = 0.9
#: a name of one word that the lists read mainly as a person's name (its given-name and surname share of the
#: key's non-O mass at least this) is that person, surely (``Lexicon._lone_person``: "Powell", "ELLWOOD");
#: chosen on dev with the union hold-out (EVALUATION.md, "A surname alone is a person")
LONE_PERSON_SHARE = 0.5
#: ... when the lists hold the key at least this surely (1 - O): "student", "tenant" are surnames at 0.56 / 0.54
#: in one list, and alone are no persons (a review's finding; dev-neutral, EVALUATION.md)
LONE_PERSON_MIN_CONF = 0.6
CLUB_TAIL_MAX = 2
#: a nickname's last word ends in "s" but not in these ("Damascus", "Paris", "Ross": not plurals)
CLUB_NOT_PLURAL = ("ss", "us", "is")
CLUB_MIN_LEN = 4
#: plurals that name a kind of place, not a club ("Ahwatukee Foothills", "Miami Gardens"), beside the lists'
#: place words
CLUB_PLACE_PLURALS = frozenset(
    {
        "foothills", "heights", "hills", "springs", "falls", "gardens", "woods", "meadows", "estates", "acres",
        "lakes", "pines", "oaks", "palms", "shores", "sands", "flats", "plains", "ridges", "highlands", "lowlands",
        "keys", "isles", "islands", "villas", "terraces", "commons", "crossings", "landings", "narrows", "rapids",
        "docks", "quays", "towers", "fields", "parks", "mews", "downs", "moors", "banks", "bluffs", "cliffs",
        "dunes", "glades", "groves", "hollows", "knolls", "marshes", "mills", "orchards", "ponds", "shoals",
        "slopes", "summits", "trails", "vales", "valleys", "vistas", "waters", "cottages", "apartments", "lofts",
        "suites", "homes", "halls", "courts", "gates", "chambers",
    }
)  # fmt: skip
#: a nickname's last word that the lists hold as a person's name this surely (1 - O) is a surname
CLUB_SURE_PERSON = 0.6
#: Words that end a segment of a name ("Ana Ruiz c/o Acme S.A.": the cue does not reach "Ana Ruiz").
SEPARATORS = frozenset({"/", "(", ")", "[", "]", "|", ";", ":", "attn", "dba", "aka", "t/a", "c/o", "@"})
_DASHES = frozenset({"-", "–", "—"})
_AND_WORDS = frozenset({"&", "+", "and", "y", "e", "et", "und", "en"})


#: The word-shape model (issue 25): for a word no list holds, the type its letters suggest ("Corteva",
#: "Harsco": a company; "Usaquén": a place). Character n-grams of the word's key, hashed into buckets
#: (:func:`shape_ngrams`), averaged embeddings, one linear layer; trained by ``build-models`` on the
#: lists' own one-word entries (``spark_ner.starter.shape``) and stored in the lexicon file.
SHAPE_NGRAMS = (2, 3, 4, 5)  # 2 first: "<" + key + ">" has at least one, so every key has an n-gram
SHAPE_BUCKET_BITS = 18
#: the categories the shape model chooses between, in its output order
SHAPE_CATEGORIES = ("SURNAME", "PLACE", "COMPANY")
#: words shorter than this (key letters) get no shape vote: too few n-grams to say anything
SHAPE_MIN_LEN = 3
#: how sure the shape vote is (the rest is O: the other members decide), and where it votes
#: (``Lexicon._shape``): chosen on dev (EVALUATION.md)
SHAPE_CONF = 0.5
SHAPE_SCOPE = "any"


def is_coined_word(word: str, key: str) -> bool:
    """Whether a word of letters is written like a coined organisation name (the one test, for the fast path's
    word facts and for ``Lexicon._coined``): one of :data:`COINED_SUFFIXES` at the end of a word of
    :data:`COINED_MIN_LEN`+ letters ("Altronics"), or camel case (:func:`is_camel_case`: "SalamFone", "eBay").
    ``key``: its lexicon key."""
    if len(word) >= COINED_MIN_LEN and key.endswith(COINED_SUFFIXES) and key not in COINED_SUFFIXES:
        return True
    return is_camel_case(word)


def is_camel_case(word: str) -> bool:
    """Whether a word of :data:`CAMEL_MIN_LEN`+ letters has a capital after a lower-case letter ("SalamFone",
    "eBay") that no person's prefix explains (its first such capital; :data:`CAMEL_PERSON_PREFIXES`: "McDonald",
    "DeLaCruz"). "ß" has no capital, so "KLEIßNER" counts as all capitals."""
    if len(word) < CAMEL_MIN_LEN or word.isupper() or word.islower():
        return False
    for i in range(1, len(word)):
        if word[i].isupper() and word[i - 1].islower() and word[i - 1] != "ß":
            return word[:i].lower() not in CAMEL_PERSON_PREFIXES
    return False


def is_plural_word(word: str, key: str) -> bool:
    """Whether a word may be a club's plural nickname ("Bruins", "Leafs", "RHINOS"): letters, ending in
    "s" but not in :data:`CLUB_NOT_PLURAL`, at least :data:`CLUB_MIN_LEN` letters."""
    return word.isalpha() and len(key) >= CLUB_MIN_LEN and key.endswith("s") and not key.endswith(CLUB_NOT_PLURAL)


def shape_ngrams(keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hashed character n-grams of each key ("<key>", n in :data:`SHAPE_NGRAMS`): bucket ids (int64, all
    keys' n-grams in order) and each key's count. Stable across processes and machines (no Python
    ``hash``): the build and every worker must give a word the same buckets."""
    text = [f"<{k}>" for k in keys]
    lengths = np.fromiter((len(t) for t in text), dtype=np.int64, count=len(text))
    if not len(text):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cps = code_points("".join(text)).astype(np.uint64)
    owner = np.repeat(np.arange(len(text)), lengths)
    ids: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for n in SHAPE_NGRAMS:
        if len(cps) < n:
            continue
        start = np.flatnonzero(owner[: len(cps) - n + 1] == owner[n - 1 :])
        h = _fold(cps[start[:, None] + np.arange(n)], n)  # the hash of the keys of several words, on letters
        ids.append((h >> np.uint64(64 - SHAPE_BUCKET_BITS)).astype(np.int64))
        owners.append(owner[start])
    flat_owner = np.concatenate(owners)
    order = np.argsort(flat_owner, kind="stable")
    return np.concatenate(ids)[order], np.bincount(flat_owner, minlength=len(text)).astype(np.int64)


def shape_probs(table: np.ndarray, out: np.ndarray, keys: list[str]) -> np.ndarray:
    """The shape model's probabilities [len(keys), len(SHAPE_CATEGORIES)]: mean n-gram embedding
    (``table`` [buckets, dim]), then ``out`` [dim + 1, categories] (the last row is the bias), softmax."""
    ids, counts = shape_ngrams(keys)
    if not len(keys):
        return np.zeros((0, out.shape[1]), dtype=np.float32)
    sums = np.add.reduceat(table[ids].astype(np.float32), np.cumsum(counts) - counts, axis=0)
    mean = sums / np.maximum(counts, 1)[:, None]
    logits = mean @ out[:-1] + out[-1]
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


#: Letters that carry their mark inside them (NFKD leaves them whole), folded the way legacy systems
#: write them without accents: "Søren Ørsted" -> "Soren Orsted", "Łódź" -> "Lodz", "Đorđević" -> "Dordevic".
_FOLD = str.maketrans({
    "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th",
    "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ß": "ss", "ı": "i", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T",
    "ŀ": "l", "Ŀ": "L", "ĸ": "k", "ƒ": "f",
})  # fmt: skip


def fold_accents(text: str) -> str:
    """``text`` without its accents, as a legacy system would store it (case kept): NFKD marks
    stripped, then the letters that hold their mark (ø, ł, đ, æ, ß, ...) spelled in plain letters."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_FOLD)
    return unicodedata.normalize("NFC", kept)


def normalize_word(word: str) -> str:
    """Key form of one word: accents folded (:func:`fold_accents`), case-folded: ``MÜLLER`` -> ``muller``,
    ``Søren`` -> ``soren``, so a name matches its entry with or without its accents, in any case."""
    if word.isascii():
        return word.casefold()
    return fold_accents(word).casefold()


@dataclass(frozen=True)
class LexiconHeader:
    """What the driver reads without loading the lists: label set, sizes, digest."""

    categories: tuple[str, ...]
    n_keys: int
    max_words: int
    sha256: str


def lexicon_file(folder: Path) -> Path:
    return Path(folder) / LEXICON_FILE


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def read_header(folder: Path, member: str) -> LexiconHeader:
    """Check a lexicon folder as data (cheap: the small arrays only) and digest its file."""
    path = lexicon_file(folder)
    fix = "Fix: run `spark-ner build-models` (it builds the starter lexicon), or point path at a lexicon folder."
    if not path.is_file():
        raise ModelSourceError(f"member {member!r}: lexicon file {str(path)!r} does not exist. {fix}")
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format"][0])
            categories = tuple(str(c) for c in z["categories"])
            max_words = int(z["max_words"][0])
            n_keys = int(z["scores"].shape[0]) if "scores" in z.files else -1
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise ModelSourceError(f"member {member!r}: {path} is not a valid lexicon file ({exc}). {fix}") from None
    if version != FORMAT_VERSION:
        raise ModelSourceError(
            f"member {member!r}: {path} has lexicon format {version}, this spark_ner reads {FORMAT_VERSION}. {fix}"
        )
    if not categories or n_keys < 0:
        raise ModelSourceError(f"member {member!r}: {path} has no categories or no scores. {fix}")
    return LexiconHeader(categories, n_keys, max_words, _sha256(path))


def write_lexicon(
    path: Path,
    entries: dict[str, np.ndarray],
    categories: tuple[str, ...],
    max_words: int,
    shape: tuple[np.ndarray, np.ndarray] | None = None,
    lone_company: Collection[str] = (),
) -> None:
    """Write ``entries`` (key -> uint8 scores per category) as a lexicon file, byte-for-byte reproducible;
    ``shape``: the word-shape model's (table, out) (:func:`shape_probs`), stored beside the lists;
    ``lone_company``: one-word keys of ``entries`` a name of that word alone reads as a company
    (:meth:`Lexicon._lone_company`).

    Keys are sorted and the zip members carry a fixed timestamp, so the same lists give the same
    sha256 (the digest that goes into ``model_version``). The shape model is trained deterministically
    (one thread, a fixed seed): the same on one machine and torch; another CPU's kernels may round it apart.
    """
    import io

    keys = sorted(entries)
    for k in keys:
        if not k or "\n" in k:
            raise ValueError(f"invalid lexicon key {k!r}")
    scores = np.stack([entries[k] for k in keys]).astype(np.uint8) if keys else np.zeros((0, len(categories)), np.uint8)
    arrays = {
        "format": np.array([FORMAT_VERSION], dtype=np.int32),
        "categories": np.array(categories, dtype=np.str_),
        "max_words": np.array([max_words], dtype=np.int32),
        "keys": np.frombuffer("\n".join(keys).encode("utf-8"), dtype=np.uint8),
        "scores": scores,
    }
    lone = sorted(set(lone_company))
    bad = [k for k in lone if k not in entries or " " in k]
    if bad:
        raise ValueError(f"lone_company keys must be one-word keys of the entries, not {bad[:5]}")
    if lone:
        arrays["lone_company"] = np.frombuffer("\n".join(lone).encode("utf-8"), dtype=np.uint8)
    if shape is not None:
        arrays["shape_table"], arrays["shape_out"] = shape[0].astype(np.float16), shape[1].astype(np.float32)
        arrays["shape_ngrams"] = np.array(SHAPE_NGRAMS, dtype=np.int32)
    tmp = path.with_suffix(".npz.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    tmp.replace(path)


#: word flags of the fast path (:meth:`Lexicon._facts`): it has a letter or digit; it is a comma; it may
#: get the coined-word / acronym vote of ``_coined``; its key form is empty or holds a space (its name
#: goes through :meth:`Lexicon.match`); it may get the shape vote (:meth:`Lexicon._shape`); it may end a
#: club's plural nickname (:meth:`Lexicon._place_club`)
_ALNUM, _COMMA, _COIN, _ODD, _SHAPE, _PLURAL = 1, 2, 4, 8, 16, 32
_MAX_WORD_FACTS = 2_000_000
#: per key row bits (``Lexicon._row_bits``): it reads as a place; as a country; it is a person's name the lists
#: are sure of (:data:`CLUB_SURE_PERSON`); it is a given name (share >= 0.3); alone, it is a company (the file's
#: ``lone_company``); alone, it is a person (:data:`LONE_PERSON_SHARE`)
_ROW_PLACE, _ROW_COUNTRY, _ROW_SURE_PERSON, _ROW_GIVEN, _ROW_LONE, _ROW_LONE_PERSON = 1, 2, 4, 8, 16, 32


class _WordFacts:
    """Per distinct word a worker has seen: its one-word key row, its number among the words of keys of
    several words, the most words of a key it starts, its flags. Words are numbered by a
    :class:`~spark_ner.tokenize.WordVocab` (found by their keys, ``WordSplit.keys``: a known word costs
    no Python), and the facts follow it as a member's token cache does (``WordTokenizer.sync``)."""

    def __init__(self) -> None:
        self.vocab = WordVocab(max_size=_MAX_WORD_FACTS)
        self.generation, self.known = self.vocab.generation, 0
        self.row = np.zeros(0, dtype=np.int64)
        self.mid = np.zeros(0, dtype=np.int64)
        self.span = np.zeros(0, dtype=np.int64)
        self.flags = np.zeros(0, dtype=np.uint8)
        self.shape = np.zeros((0, len(SHAPE_CATEGORIES)), dtype=np.float32)


class _MultiKeys:
    """The lexicon's keys of several words, found by their words' numbers: a key's hash is a fold of its
    words' numbers (:func:`_fold`), looked up in a :class:`~spark_ner.tokenize.KeyTable`, and a hit is
    checked against the key's own numbers (exact, whatever the hash does)."""

    def __init__(self, keys: list[list[str]], rows: list[int]) -> None:
        self.word_id: dict[str, int] = {}
        width = max((len(k) for k in keys), default=1)
        self.ids = np.full((len(keys), width), -1, dtype=np.int64)
        for m, parts in enumerate(keys):
            self.ids[m, : len(parts)] = [self.word_id.setdefault(w, len(self.word_id)) for w in parts]
        self.rows = np.asarray(rows, dtype=np.int64)
        self.lengths = (self.ids >= 0).sum(axis=1)
        self.table = KeyTable(max(1 << 10, 1 << int(2 * len(keys)).bit_length()))
        hashes = np.zeros(len(keys), dtype=np.uint64)
        for length in np.unique(self.lengths).tolist():
            of = np.flatnonzero(self.lengths == length)
            hashes[of] = _fold(self.ids[of, :length], length)
        uniq, first = np.unique(hashes, return_index=True)
        self.table.put(uniq, first)  # a hash two keys share (none seen): the first; find() checks the words

    def find(self, mid: np.ndarray, at: np.ndarray, length: int) -> np.ndarray:
        """The key row of the words ``mid[at : at + length]`` for each start in ``at`` (-1: no key)."""
        window = mid[at[:, None] + np.arange(length)]
        out = np.full(len(at), -1, dtype=np.int64)
        ok = (window >= 0).all(axis=1)
        if not ok.any():
            return out
        m = self.table.get(_fold(window[ok], length))
        hit = np.flatnonzero(ok)[m >= 0]
        m = m[m >= 0]
        same = (self.lengths[m] == length) & (self.ids[m, :length] == window[hit]).all(axis=1)
        out[hit[same]] = self.rows[m[same]]
        return out


def _fold(ids: np.ndarray, length: int) -> np.ndarray:
    """A uint64 hash of each row of word numbers [N, length] (the length mixed in)."""
    with np.errstate(over="ignore"):
        h = np.full(len(ids), length, dtype=np.uint64)
        for k in range(length):
            h = mix64(h * np.uint64(0x9E3779B97F4A7C15) + ids[:, k].astype(np.uint64))
    return h


class Lexicon:
    """Loaded lists; :meth:`word_probs` scores the words of many names at once."""

    def __init__(self, folder: Path | str, member: str = "lexicon") -> None:
        path = lexicon_file(Path(folder))
        try:
            with np.load(path, allow_pickle=False) as z:
                self.categories: tuple[str, ...] = tuple(str(c) for c in z["categories"])
                self.max_words = int(z["max_words"][0])
                keys = z["keys"].tobytes().decode("utf-8").split("\n")
                lone = z["lone_company"].tobytes().decode("utf-8").split("\n") if "lone_company" in z.files else []
                scores = z["scores"].astype(np.float32) / 255.0
                #: the word-shape model (None in a lexicon built without one: no shape vote)
                self.shape_model: tuple[np.ndarray, np.ndarray] | None = None
                if "shape_table" in z.files:
                    self.shape_model = (z["shape_table"], z["shape_out"].astype(np.float32))
                    ngrams = tuple(int(n) for n in z["shape_ngrams"]) if "shape_ngrams" in z.files else ()
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ModelSourceError(f"member {member!r}: cannot read lexicon {path}: {exc}") from None
        if len(keys) != len(scores):
            raise ModelSourceError(f"member {member!r}: {path} holds {len(keys)} keys but {len(scores)} score rows")
        if self.shape_model is not None:
            table, out = self.shape_model
            want = ((1 << SHAPE_BUCKET_BITS, out.shape[0] - 1), (out.shape[0], len(SHAPE_CATEGORIES)), SHAPE_NGRAMS)
            if (table.shape, out.shape, ngrams) != want:
                raise ModelSourceError(
                    f"member {member!r}: {path}'s shape model (table {table.shape}, output {out.shape}, n-grams "
                    f"{ngrams}) is not the one this spark_ner hashes words for ({want}). Fix: rebuild the lexicon "
                    "with this spark_ner (`spark-ner build-models`)."
                )
        self.index: dict[str, int] = dict(zip(keys, range(len(keys)), strict=True))
        #: the member's labels: index 0 is O, then the categories (plain IO labels)
        self.labels: tuple[str, ...] = ("O", *self.categories)
        conf = scores.max(axis=1, keepdims=True)
        cubed = scores**3
        total = cubed.sum(axis=1, keepdims=True)
        share = np.divide(cubed, total, out=np.zeros_like(cubed), where=total > 0)
        # per key: probabilities over labels (O = 1 - conf)
        self.key_probs = np.concatenate([1.0 - conf, share * conf], axis=1).astype(np.float32)
        cats = list(self.categories)
        # cue kinds: "suffix" (legal form), "org" (organisation word), "place" (place word), "title", "post"
        cue_cols = [(cats.index(c), "suffix") for c in SUFFIX_CUES if c in cats]
        cue_cols += [(cats.index(c), "org") for c in INSIDE_CUES if c in cats]
        cue_cols += [(cats.index(c), "place") for c in PLACE_CUES if c in cats]
        cue_cols += [(cats.index(c), "title") for c in TITLE_CUES if c in cats]
        cue_cols += [(cats.index(c), "post") for c in POST_CUES if c in cats]
        # rows that are cues: (row -> (label index, score, kind)); a cue must be the key's best reading
        self._cues: dict[int, tuple[int, float, str]] = {}
        for col, kind in cue_cols:
            for row in np.flatnonzero((scores[:, col] > 0) & (scores[:, col] >= 0.9 * conf[:, 0])).tolist():
                self._cues.setdefault(row, (col + 1, float(scores[row, col]), kind))
        person = [cats.index(c) + 1 for c in ("GIVEN_NAME", "SURNAME") if c in cats]
        self._given = cats.index("GIVEN_NAME") + 1 if "GIVEN_NAME" in cats else None
        self._surname = cats.index("SURNAME") + 1 if "SURNAME" in cats else None
        self._company = cats.index("COMPANY") + 1 if "COMPANY" in cats else None
        self._country = cats.index("COUNTRY") + 1 if "COUNTRY" in cats else None
        self._city = cats.index("PLACE") + 1 if "PLACE" in cats else None
        place = [cats.index(c) + 1 for c in ("PLACE", "REGION", "COUNTRY") if c in cats]
        self._place_cols = np.array(place, dtype=np.int64)
        #: per key: its person share and its place share (for the "SURNAME, Given" form)
        self._person_share = self.key_probs[:, person].sum(axis=1) if person else np.zeros(len(keys), np.float32)
        self._place_share = self.key_probs[:, place].sum(axis=1) if place else np.zeros(len(keys), np.float32)
        #: cue rows that are also a person's name ("Mercado", "Cruz", "Sas"): see _apply_cues
        self._also_person = {r for r in self._cues if person and self.key_probs[r, person].sum() > 0}
        #: per key row: its best reading is a person's name (given name or surname)
        self._row_personal = np.isin(self.key_probs.argmax(axis=1), person).tolist()
        #: per first word of a multi-word key: the most words a key starting with it has (match tries no
        #: longer spans: most words start no multi-word key, so most positions cost one lookup, not max_words)
        self._span: dict[str, int] = {}
        multi: list[list[str]] = []
        multi_rows: list[int] = []
        for r, key in enumerate(keys):
            first, sep, _ = key.partition(" ")
            if sep:
                parts = key.split(" ")
                multi.append(parts)
                multi_rows.append(r)
                if len(parts) > self._span.get(first, 1):
                    self._span[first] = len(parts)
        self._multi = _MultiKeys(multi, multi_rows)
        self._norm: dict[str, str] = {}
        #: per key row: a cue (see _apply_cues), a country the way _brand_country reads one
        self._cue_row = np.zeros(len(keys), dtype=bool)
        self._cue_row[list(self._cues)] = True
        country = self.key_probs[:, self._country] if self._country is not None else np.zeros(len(keys))
        self._country_row = np.asarray(country >= 0.5)
        self._place_row = self._reads_as_place(self.key_probs) if len(place) else np.zeros(len(keys), dtype=bool)
        # per key row, one byte of _ROW_* bits (bytes: a rule reads a few rows per name, and NumPy's per-item
        # cost would dominate; a byte per key, not a Python list's eight)
        sure = (1.0 - self.key_probs[:, 0] >= CLUB_SURE_PERSON) & (self._person_share >= 0.4)
        given = self.key_probs[:, self._given] >= 0.3 if self._given is not None else np.zeros(len(keys), bool)
        bits = self._place_row * _ROW_PLACE | self._country_row * _ROW_COUNTRY | sure * _ROW_SURE_PERSON
        #: per key row: a name of that one word alone is a company ("Danaher"; :meth:`_lone_company`)
        self._lone_row = np.zeros(len(keys), dtype=bool)
        self._lone_row[[self.index[k] for k in lone if k in self.index]] = True
        bits |= self._lone_row * _ROW_LONE
        #: per key row: a name of that one word alone is a person (:meth:`_lone_person`); not a lone company
        listed_conf = 1.0 - self.key_probs[:, 0]
        self._lone_person_row = (
            (self._person_share > 0)
            & (listed_conf >= LONE_PERSON_MIN_CONF)
            & (self._person_share >= LONE_PERSON_SHARE * listed_conf)
            & ~self._lone_row
        )
        bits |= self._lone_person_row * _ROW_LONE_PERSON
        self._row_bits: bytes = (bits | given * _ROW_GIVEN).astype(np.uint8).tobytes()
        shape_cols = [cats.index(c) + 1 for c in SHAPE_CATEGORIES if c in cats]
        if self.shape_model is not None and len(shape_cols) != len(SHAPE_CATEGORIES):
            raise ModelSourceError(
                f"member {member!r}: {path} has a shape model but not its categories {SHAPE_CATEGORIES}"
            )
        self._shape_cols = np.array(shape_cols, dtype=np.int64)
        self._no_shape: set[str] = set()  # keys hidden from the lists and from the shape vote (hide)
        self._words = _WordFacts()
        log.info("lexicon %s loaded: %d keys, %d categories", member, len(keys), len(cats))

    def hide(self, keys: Collection[str], shape_vote: bool = False) -> None:
        """Make the lists not hold ``keys`` (normalised keys, one or several words): a dev-time check scores
        names as if no list held them. The word facts start again (they cache each word's key row).

        ``shape_vote``: whether a hidden one-word key may still get the shape vote. Off by default: the
        shape model learned from the lists, so it has seen the hidden keys, and its vote on them would be
        a leak. On only with a shape model built without them (``scripts/shape_dev.py --fair-lexicon``)."""
        rows = [self.index.pop(k) for k in keys if k in self.index]
        if rows:
            self._multi.rows[np.isin(self._multi.rows, rows)] = -1
        if not shape_vote:
            self._no_shape.update(k for k in keys if " " not in k)
        self._words = _WordFacts()

    def _key(self, word: str) -> str:
        norm = self._norm.get(word)
        if norm is None:
            norm = normalize_word(word)
            if len(self._norm) < 1_000_000:
                self._norm[word] = norm
        return norm

    def match(self, words: list[str]) -> list[tuple[int, int, int]]:
        """Longest matches over one name's words: (first word, end word, key row)."""
        norm = [self._key(w) for w in words]
        out: list[tuple[int, int, int]] = []
        i, n = 0, len(norm)
        span = self._span
        while i < n:
            for j in range(min(n, i + span.get(norm[i], 1)), i, -1):
                row = self.index.get(" ".join(norm[i:j]) if j > i + 1 else norm[i])
                if row is not None:
                    out.append((i, j, row))
                    i = j
                    break
            else:
                i += 1
        return out

    def _segments(self, words: list[str], starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
        """Word ranges between separators (``c/o``, ``attn``, ``/``, brackets, a dash with a space before it)."""
        segs: list[tuple[int, int]] = []
        begin = 0
        n = len(words)
        for k, w in enumerate(words):
            low = w.casefold()
            spaced_dash = low in _DASHES and k > 0 and starts[k] > ends[k - 1]
            # "c/o", "a/c", "t/a": one letter on either side of a slash belongs to the separator
            letter_slash = len(low) == 1 and ((k + 1 < n and words[k + 1] == "/") or (k > 0 and words[k - 1] == "/"))
            if low in SEPARATORS or spaced_dash or letter_slash:
                if k > begin:
                    segs.append((begin, k))
                begin = k + 1
        if begin < len(words):
            segs.append((begin, len(words)))
        return segs

    def _cue_row_is_person(self, matches: list[tuple[int, int, int]], i: int) -> bool:
        return any(row in self._also_person for a, _b, row in matches if a == i)

    def word_probs(
        self,
        words: list[str],
        starts: np.ndarray,
        ends: np.ndarray,
        bounds: np.ndarray,
        keys: np.ndarray | None = None,
        fast: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities over :attr:`labels` [W, 1 + categories] and which words it voted on [W].

        ``keys``: the words' keys (``WordSplit.keys``; computed when None). ``fast``: matching
        (:meth:`_fast_match`) and the rules' opening checks (:meth:`_rules_may_change`) run over all names
        at once, and only the names a rule may change go through the per-name Python below; False sends
        every name through :meth:`match` and every rule (the reference the fast path is tested against).
        Why: the per-name loop cost ~20 us per name, more than the GPU path's whole host budget per name
        (issue 22).
        """
        probs = np.zeros((len(words), len(self.labels)), dtype=np.float32)
        valid = np.zeros(len(words), dtype=bool)
        n = len(bounds) - 1
        slot = self._facts(words, word_keys(words) if keys is None else keys) if len(words) else None
        if fast and slot is not None:
            row, mlen, flags, slow = self._fast_match(slot, bounds)
            hit = row >= 0
            probs[hit] = self.key_probs[row[hit]]
            valid[hit] = True
        else:
            row, mlen, flags = np.full(len(words), -1, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8)
            slow = np.ones(n, dtype=bool)
        # pass 1 for the names the vectorised match leaves (or all): their matches, in one fancy-indexed copy
        found: dict[int, list[tuple[int, int, int]]] = {}
        at: list[int] = []
        rows: list[int] = []
        for k in np.flatnonzero(slow).tolist():
            b0, b1 = int(bounds[k]), int(bounds[k + 1])
            matches = self.match(words[b0:b1]) if b1 > b0 else []
            found[k] = matches
            for i, j, r in matches:
                at.extend(range(b0 + i, b0 + j))
                rows.extend([r] * (j - i))
        if at:
            idx = np.array(at, dtype=np.int64)
            probs[idx] = self.key_probs[np.array(rows, dtype=np.int64)]
            valid[idx] = True
        listed = valid.copy()  # the words a list holds (before the rules)
        # pass 2: the rules, each only on the names it can change (the same checks the rules open with)
        todo = slow | self._rules_may_change(row, mlen, flags, valid, bounds) if fast and len(words) else slow
        coin = self._company is not None
        todo_names = np.flatnonzero(todo)
        fast_at = np.flatnonzero(mlen)  # the fast path's matches, as lists: (first word, words, row)
        first = np.searchsorted(fast_at, bounds[todo_names])
        stop = np.searchsorted(fast_at, bounds[todo_names + 1])
        at_l, len_l, row_l = fast_at.tolist(), mlen[fast_at].tolist(), row[fast_at].tolist()
        # _place_club opens with its last word's own checks, which the word facts hold (_PLURAL): a name of the
        # fast path whose last word has no such flag is one where it returns at once (a call saved per name)
        if len(flags):
            club = (flags[np.maximum(bounds[todo_names + 1] - 1, 0)] & _PLURAL != 0).tolist()
        else:
            club = [True] * len(todo_names)
        for k, m0, m1, club_may in zip(todo_names.tolist(), first.tolist(), stop.tolist(), club, strict=True):
            b0, b1 = int(bounds[k]), int(bounds[k + 1])
            if b1 == b0:
                continue
            got = found.get(k)  # None: matched by _fast_match
            matches = (
                got
                if got is not None
                else [(a - b0, a - b0 + w, r) for a, w, r in zip(at_l[m0:m1], len_l[m0:m1], row_l[m0:m1], strict=True)]
            )
            name_words = words[b0:b1]
            p, v = probs[b0:b1], valid[b0:b1]
            if matches:
                self._rules(name_words, matches, starts[b0:b1], ends[b0:b1], p, v, club_may or got is not None)
            if coin and sum(j - i for i, j, _ in matches) < b1 - b0:
                self._coined(name_words, p, v, listed[b0:b1])  # last: to the rules, a coined word is unknown
        if self.shape_model is not None and slot is not None:
            self._shape(slot, bounds, listed, probs, valid)
        return probs, valid

    def _rules(
        self,
        name_words: list[str],
        matches: list[tuple[int, int, int]],
        starts: np.ndarray,
        ends: np.ndarray,
        p: np.ndarray,
        v: np.ndarray,
        club_may: bool,
    ) -> None:
        """The rules on one name with at least one match, in order (each reads what the ones before wrote)."""
        if self._cues and any(r in self._cues for _, _, r in matches):
            self._apply_cues(name_words, matches, starts, ends, p, v)
        if "," in name_words:
            self._inverted(name_words, matches, p, v)
            self._firm(name_words, matches, p, v)
            self._place_comma_place(name_words, matches, p, v)
        self._brand_place(name_words, p, v)
        if club_may:
            self._place_club(name_words, matches, p, v)
        self._place_brand(name_words, p, v)
        self._brand_country(name_words, matches, p, v)
        self._lone_company(name_words, matches, p, v)
        self._lone_person(name_words, matches, p, v)

    def _fast_match(
        self, facts: np.ndarray, bounds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What :meth:`match` finds, for all names at once: per word, the row of the match that covers it
        (-1: none), the length of the match it starts (0: none), its flags; per name, whether it is left to
        :meth:`match` (a word whose key form is empty or holds a space). Longest match first, left to
        right: every position's longest key (one-word keys from the word facts, keys of several words
        by their words' numbers, :class:`_MultiKeys`), then the greedy walk, one step per word for all
        names together."""
        table = self._words
        row1, flags, mid, span = table.row[facts], table.flags[facts], table.mid[facts], table.span[facts]
        counts = np.diff(bounds)
        n = len(counts)
        owner = np.repeat(np.arange(n), counts)
        slow = np.zeros(n, dtype=bool)
        slow[owner[flags & _ODD != 0]] = True
        name_end = bounds[1:][owner]
        best_len = (row1 >= 0).astype(np.int64)
        best_row = row1.copy()
        pos = np.flatnonzero(span > 1)
        for length in range(int(span.max(initial=1)), 1, -1):
            p = pos[(span[pos] >= length) & (pos + length <= name_end[pos]) & (best_len[pos] < length)]
            if len(p):
                r = self._multi.find(mid, p, length)
                best_len[p[r >= 0]] = length
                best_row[p[r >= 0]] = r[r >= 0]
        mlen = np.zeros(len(facts), dtype=np.int64)  # per word: the length of the match it starts
        cur, stop = bounds[:-1][counts > 0], bounds[1:][counts > 0]
        while len(cur):  # the greedy walk: the next match is looked for where the last one ends
            mlen[cur] = best_len[cur]
            cur = cur + np.maximum(best_len[cur], 1)
            cur, stop = cur[cur < stop], stop[cur < stop]
        mlen[slow[owner]] = 0  # left to match()
        at = np.flatnonzero(mlen)
        first = np.cumsum(mlen[at]) - mlen[at]
        covered = np.repeat(at - first, mlen[at]) + np.arange(int(mlen[at].sum()))
        row = np.full(len(facts), -1, dtype=np.int64)
        row[covered] = np.repeat(best_row[at], mlen[at])
        return row, mlen, flags, slow

    def _rules_may_change(
        self, row: np.ndarray, mlen: np.ndarray, flags: np.ndarray, valid: np.ndarray, bounds: np.ndarray
    ) -> np.ndarray:
        """Per name: whether a rule of pass 2 may change it, from the checks each rule opens with (a
        superset: a name marked here goes through the rules, which decide; one not marked is one where
        every rule returns before it writes)."""
        n = len(bounds) - 1
        counts = np.diff(bounds)
        nonempty = counts > 0
        first, last = bounds[:-1][nonempty], bounds[1:][nonempty] - 1
        owner = np.repeat(np.arange(n), counts)

        def any_of(word_mask: np.ndarray) -> np.ndarray:
            out = np.zeros(n, dtype=bool)
            out[owner[word_mask]] = True
            return out

        starts = mlen > 0
        coined = any_of(~valid & (flags & _COIN != 0)) if self._company is not None else np.zeros(n, dtype=bool)
        rule = any_of(flags & _COMMA != 0)  # _inverted, _firm; and the three below return on a comma
        if self._cues:
            rule |= any_of(starts & self._cue_row[np.maximum(row, 0)])
        may = np.zeros(len(first), dtype=bool)
        if len(self._place_cols):
            place = self._place_row[np.maximum(row, 0)]
            alnum = flags & _ALNUM != 0
            # _brand_place: an unknown (or not alphanumeric) first word, every known word a place
            all_place = ~any_of(valid & alnum & ~place)[nonempty]
            may |= ~(valid[first] & alnum[first]) & all_place
            may |= valid[first] & place[first] & ~valid[last]  # _place_brand: a place first, an unknown last
            may |= valid[first] & place[first] & (flags[last] & _PLURAL != 0)  # _place_club: then a plural
        if self._country is not None:  # _brand_country: two matches or more, the last one a country
            n_matches = np.bincount(owner[starts], minlength=n)[nonempty]
            may |= (n_matches >= 2) & valid[last] & self._country_row[np.maximum(row[last], 0)]
        rule[nonempty] |= may
        # _lone_company, _lone_person: one word with letters or digits, a lone company's or a person's key
        at = np.maximum(row, 0)
        lone = self._lone_row[at] | self._lone_person_row[at]
        alnum_words = np.bincount(owner[flags & _ALNUM != 0], minlength=n)
        rule |= (alnum_words == 1) & any_of(valid & lone & (mlen == 1))
        return coined | (any_of(valid) & rule)

    def _facts(self, words: list[str], keys: np.ndarray) -> np.ndarray:
        """Each word's number in the word facts the fast path reads (:class:`_WordFacts`), adding new words."""
        facts = self._words
        slot = facts.vocab.ids(words, keys)
        if facts.generation != facts.vocab.generation:  # full: it started again with this batch's words
            facts.generation, facts.known = facts.vocab.generation, 0
        total = len(facts.vocab)
        if facts.known == total:
            return slot
        new_words = facts.vocab.words[facts.known : total]
        row = np.empty(len(new_words), dtype=np.int64)
        mid = np.empty(len(new_words), dtype=np.int64)
        span = np.empty(len(new_words), dtype=np.int64)
        flags = np.zeros(len(new_words), dtype=np.uint8)
        shape_at: list[int] = []  # the new words the shape vote may reach, and their keys
        shape_keys: list[str] = []
        for k, w in enumerate(new_words):
            norm = self._key(w)
            row[k] = self.index.get(norm, -1)
            mid[k] = self._multi.word_id.get(norm, -1)
            span[k] = self._span.get(norm, 1)
            f = _ALNUM if any(c.isalnum() for c in w) else 0
            if w == ",":
                f |= _COMMA
            if self._nickname_word(w, norm, int(row[k])):
                f |= _PLURAL
            if not norm or any(c.isspace() for c in norm):  # "¨" folds to " ": joined keys would not split back
                f |= _ODD
            if w.isalpha() and (
                is_coined_word(w, norm) or (w.isupper() and ACRONYM_LEN[0] <= len(w) <= ACRONYM_LEN[1])
            ):
                f |= _COIN
            elif (
                row[k] < 0
                and w.isalpha()
                and len(norm) >= SHAPE_MIN_LEN
                and norm.isalpha()
                and norm not in self._no_shape
            ):
                f |= _SHAPE
                shape_at.append(k)
                shape_keys.append(norm)
            flags[k] = f
        shape = np.zeros((len(new_words), len(SHAPE_CATEGORIES)), dtype=np.float32)
        if self.shape_model is not None and shape_at:
            shape[shape_at] = shape_probs(*self.shape_model, shape_keys)
        facts.row, facts.mid, facts.span, facts.flags = (
            grow(a, total) for a in (facts.row, facts.mid, facts.span, facts.flags)
        )
        facts.row[facts.known : total] = row
        facts.mid[facts.known : total] = mid
        facts.span[facts.known : total] = span
        facts.flags[facts.known : total] = flags
        facts.shape = grow(facts.shape, total)
        facts.shape[facts.known : total] = shape
        facts.known = total
        return slot

    def _reads_as_place(self, probs: np.ndarray) -> np.ndarray:
        """Per row of probabilities over :attr:`labels`: at least half of what it says (1 - O) is a place."""
        return np.asarray(probs[:, self._place_cols].sum(axis=1) >= 0.5 * (1.0 - probs[:, 0]))

    def _brand_place(self, words: list[str], probs: np.ndarray, valid: np.ndarray) -> None:
        """Abstain on "Sinch Australia", "n26 france", "Spk Karlsruhe": an unknown head then a place.

        A name whose leading words no list knows and whose other words read as a place is more often a
        company's branch than a place ("Qwimby Paris"); the lexicon only knows the place, so it leaves
        the name to the other members instead of calling it LOCATION. A comma ("Vedado, La Habana")
        keeps the place reading: that is how addresses are written. Chosen on dev (EVALUATION.md).
        """
        if (valid[0] and any(c.isalnum() for c in words[0])) or "," in words or not len(self._place_cols):
            return  # a known first word ends most names here (the rule: ~1.3 us per name, was ~2.5)
        alnum = [k for k, w in enumerate(words) if any(c.isalnum() for c in w)]
        if len(alnum) < 2 or valid[alnum[0]]:
            return
        known = [k for k in alnum if valid[k]]
        if not known or any(not valid[k] for k in alnum if k > known[0]):
            return  # the unknown words must all lead
        tail = np.flatnonzero(valid[known[0] :]) + known[0]
        if self._reads_as_place(probs[tail]).all():
            valid[tail] = False

    def _place_brand(self, words: list[str], probs: np.ndarray, valid: np.ndarray) -> None:
        """Abstain on "Auckland Blues", "Stavanger Oilers": a place, then words no list knows.

        The mirror of :meth:`_brand_place`: leading words that read as a place and trailing words that
        are unknown to every list (letters only: "Berlin 10115" is an address) are more often a club or
        a company named after its town than a place; the lexicon knows only the town, so it leaves the
        name to the other members. A comma keeps the place reading. Chosen on dev (EVALUATION.md).
        """
        if not valid[0] or valid[-1] or "," in words or not len(self._place_cols):
            return  # a known last word ends most names here
        alnum = [k for k, w in enumerate(words) if any(c.isalnum() for c in w)]
        unknown = [k for k in alnum if not valid[k]]
        if len(alnum) < 2 or not unknown or any(valid[k] for k in alnum if k > unknown[0]):
            return  # the unknown words must all trail
        if not all(words[k].isalpha() for k in unknown):
            return
        head = np.flatnonzero(valid[: unknown[0]])
        if self._reads_as_place(probs[head]).all():
            valid[head] = False

    def _nickname_word(self, word: str, key: str, row: int) -> bool:
        """Whether a name's last word may end a club's nickname (the checks of :meth:`_place_club` that read
        the word alone, ``row`` its one-word key row or -1; also the fast path's ``_PLURAL`` flag): a plural
        (:func:`is_plural_word`), not a place plural (:data:`CLUB_PLACE_PLURALS`), not a surname the lists are
        sure of ("Hughes", "Simmons"), not a given name's patronymic ("Williams", "Evans")."""
        if not is_plural_word(word, key) or key in CLUB_PLACE_PLURALS:
            return False
        if row >= 0 and self._row_bits[row] & _ROW_SURE_PERSON:
            return False
        singular = self.index.get(key[:-1], -1)
        return singular < 0 or not self._row_bits[singular] & _ROW_GIVEN

    def _place_club(
        self, words: list[str], matches: list[tuple[int, int, int]], probs: np.ndarray, valid: np.ndarray
    ) -> None:
        """Vote organisation on "Boston Bruins", "Toronto Maple Leafs": a club named after its town.

        Leading words that read as a place (not a country), then one or two words that end in a plural
        (:func:`is_plural_word`) and are not a place, a place word ("Heights", "Foothills":
        :data:`CLUB_PLACE_PLURALS`), a surname the lists are sure of ("Dallas Hughes") or a patronymic
        ("Williams": "William" is a given name). The lists know the town, not the club; the form says
        organisation more often than place or person. A comma, a digit or a sign keeps the other readings.
        Chosen on dev (EVALUATION.md)."""
        if len(words) < 2 or self._company is None or not len(self._place_cols):
            return
        key = self._key(words[-1])
        if not key.endswith("s") or not self._nickname_word(words[-1], key, self.index.get(key, -1)):
            return  # (the first test is the cheap one: most names the rules look at end in no plural)
        if not matches or matches[0][0] != 0 or not self._row_bits[matches[0][2]] & _ROW_PLACE:
            return  # the first word is no place (or no list holds it)
        if any(not w.isalpha() and w != "." for w in words):
            return  # "Boston 02115 Suites", "Paris, Texas", "Smith & Sons"
        row_at = {i: (a, b, row) for a, b, row in matches for i in range(a, b)}
        for tail in range(1, CLUB_TAIL_MAX + 1):
            h = len(words) - tail
            head = [i for i in range(h) if words[i] != "."]
            if not head:
                return
            if any(i not in row_at or row_at[i][1] > h for i in head):
                continue  # a head word no list holds, or a key that runs into the nickname
            head_rows = {row_at[i][2] for i in head}
            if not all(self._row_bits[r] & _ROW_PLACE for r in head_rows):
                continue
            if any(self._row_bits[r] & _ROW_COUNTRY for r in head_rows):
                return  # "Netherlands Antilles": a country's part, not a town's club
            tail_rows = [row_at[i][2] for i in range(h, len(words)) if i in row_at]
            if any(r in self._cues or self._row_bits[r] & _ROW_PLACE for r in tail_rows):
                return  # "Chicago Heights", "Palm Springs": a place
            _vote_for(probs, valid, slice(None), self._company, CLUB_CONF)
            return

    def _brand_country(
        self, words: list[str], matches: list[tuple[int, int, int]], probs: np.ndarray, valid: np.ndarray
    ) -> None:
        """Abstain on "Telenor Norge", "Orange Slovensko": a name, then a country, is a company's national
        branch more often than anything else. When a word before the country is a company the lists hold
        and every word before it is in a list ("Ericsson Danmark", "Vodacom Lesotho"), vote organisation on
        the whole name (:data:`BRAND_COUNTRY_CONF`). Not when the country word is also a person's name
        ("England", "Helena"), nor after a given name ("Michael Jordan"), nor after a comma or a place.
        Chosen on dev (EVALUATION.md)."""
        if self._country is None or len(matches) < 2 or matches[-1][1] != len(words) or "," in words:
            return
        last = self.key_probs[matches[-1][2]]
        person = [c for c in (self._given, self._surname) if c is not None]
        if last[self._country] < 0.5 or (person and float(last[person].sum()) > 0.1):
            return  # "England", "Jordan", "Helena": a person's name too
        first = self.key_probs[matches[0][2]]
        if matches[0][0] == 0 and self._given is not None and first[self._given] >= 0.3:
            return
        head = [row for _a, b, row in matches if b < len(words)]
        if self._reads_as_place(self.key_probs[head]).any():
            return  # a place, then its country: an address
        listed = sum(b - a for a, b, _row in matches[:-1]) == matches[-1][0]
        if listed and self._company is not None and float(self.key_probs[head, self._company].max()) >= 0.5:
            _vote_for(probs, valid, slice(None), self._company, BRAND_COUNTRY_CONF)
            return
        valid[:] = False

    def _alone(self, words: list[str], matches: list[tuple[int, int, int]], bit: int) -> tuple[int, int] | None:
        """(word, key row) when the name is that one listed word (no other word with a letter or digit) and its
        row has ``bit`` (:data:`_ROW_LONE`, :data:`_ROW_LONE_PERSON`); else None."""
        if len(matches) != 1:
            return None
        i, j, row = matches[0]
        if j != i + 1 or not self._row_bits[row] & bit:
            return None
        if any(any(c.isalnum() for c in w) for k, w in enumerate(words) if k != i):
            return None  # another word: not a name of one word
        return i, row

    def _lone_company(
        self, words: list[str], matches: list[tuple[int, int, int]], probs: np.ndarray, valid: np.ndarray
    ) -> None:
        """Vote organisation on "Danaher", "Nordstrom", "KELLOGG": a name that is one word, a listed or
        registered company's bare name that is also a surname or a small town (the file's ``lone_company``,
        chosen at build: not a given name, a city, a country). A customer table's lone surname or village is
        rarer than a company's bare name; inside a longer name ("Anna Nordstrom", "Kellogg, Idaho") the word
        keeps its other reading. Chosen on dev (EVALUATION.md)."""
        if self._company is None:
            return
        found = self._alone(words, matches, _ROW_LONE)
        if found is not None:
            i, row = found
            _vote_for(probs, valid, i, self._company, 1.0 - float(self.key_probs[row, 0]))

    def _lone_person(
        self, words: list[str], matches: list[tuple[int, int, int]], probs: np.ndarray, valid: np.ndarray
    ) -> None:
        """Vote person, surely, on "Powell", "ELLWOOD", "Bonita": a name of one word that the lists read mainly
        as a person's name (:data:`LONE_PERSON_SHARE`, :data:`LONE_PERSON_MIN_CONF`) and that is no lone
        company. A customer table's name column holds lone surnames far more often than lone towns, yet the
        trained members learned from a corpus whose one-word names are nearly all places, and outvote the lists'
        weaker reading. Inside a longer name the word keeps its reading. Chosen on dev (EVALUATION.md)."""
        found = self._alone(words, matches, _ROW_LONE_PERSON)
        if found is None:
            return
        i, row = found
        given, surname = self._given, self._surname
        if surname is None or (given is not None and self.key_probs[row, given] > self.key_probs[row, surname]):
            col = given
        else:
            col = surname
        if col is not None:
            _vote_for(probs, valid, i, col, 1.0)

    def _shape(
        self, slot: np.ndarray, bounds: np.ndarray, listed: np.ndarray, probs: np.ndarray, valid: np.ndarray
    ) -> None:
        """The shape model's vote on the words no list holds and no rule decided ("Corteva": a company by its
        letters), weak (:data:`SHAPE_CONF`): the other members decide with it. :data:`SHAPE_SCOPE` "alone":
        only in names where no word is in a list (a name with a listed word is the lists' and the rules'
        to read); "any": in every name. Both chosen between on dev (EVALUATION.md)."""
        words = self._words
        vote = (words.flags[slot] & _SHAPE != 0) & ~listed & ~valid  # not a word of a key of several words
        if SHAPE_SCOPE == "alone":
            owner = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
            has_listed = np.zeros(len(bounds) - 1, dtype=bool)
            has_listed[owner[listed]] = True
            vote &= ~has_listed[owner]
        at = np.flatnonzero(vote)
        if not len(at):
            return
        probs[at] = 0.0
        probs[at[:, None], self._shape_cols] = SHAPE_CONF * words.shape[slot[at]]
        probs[at, 0] = 1.0 - SHAPE_CONF
        valid[at] = True

    def _coined(self, words: list[str], probs: np.ndarray, valid: np.ndarray, listed: np.ndarray) -> None:
        """A weak organisation vote on unknown coined words ("Altronics", "Qualitech"): words no list holds
        (``listed``) and no rule voted on. It runs after the rules, which read such a word as unknown
        ("Spacetel Guiné-Bissau": an unknown head, then a place, is a branch; :meth:`_brand_place`)."""
        if self._company is None or valid.all():
            return
        acronyms = "," not in words and not all(w.isupper() for w in words if w.isalpha())
        for k, w in enumerate(words):
            if valid[k] or listed[k] or not w.isalpha():
                continue
            coined = is_coined_word(w, self._key(w))
            if coined or (acronyms and w.isupper() and ACRONYM_LEN[0] <= len(w) <= ACRONYM_LEN[1]):
                _vote_for(probs, valid, k, self._company, COINED_CONF)

    def _comma_pair(self, words: list[str], matches: list[tuple[int, int, int]]) -> tuple[int, dict[int, int]] | None:
        """(the comma's position, each matched word's key row) for a name of one comma with 1-3 words on each side
        and no cue ("Corbo, Virginia", "Miraflores, Lima"); None for any other name."""
        if words.count(",") != 1 or len(words) > 6:
            return None
        c = words.index(",")
        if not 1 <= c <= 3 or not 1 <= len(words) - c - 1 <= 3:
            return None
        row_at = {i: row for a, b, row in matches for i in range(a, b)}
        if any(row_at.get(i) in self._cues for i in range(len(words))):
            return None
        return c, row_at

    def _place_comma_place(
        self, words: list[str], matches: list[tuple[int, int, int]], probs: np.ndarray, valid: np.ndarray
    ) -> None:
        """ "Miraflores, Lima", "Austin, Texas": one comma, every word on each side in a list and read mainly as a
        place (more place than person), none a cue, and no given-name reading after the comma
        (:data:`PLACE_COMMA_MAX_GIVEN`: "Durham, Charlotte" is a person): a district then its city, or a city then
        its region, not "SURNAME, Given". Votes LOCATION on the words (:data:`PLACE_COMMA_CONF`). The trained
        members read the comma form as an inverted person. Chosen on dev (EVALUATION.md)."""
        if self._city is None:
            return
        pair = self._comma_pair(words, matches)
        if pair is None:
            return
        c, row_at = pair
        for i in range(len(words)):
            if i == c:
                continue
            row = row_at.get(i)
            if row is None or not self._row_bits[row] & _ROW_PLACE:
                return
            if self._place_share[row] <= self._person_share[row]:
                return
            if i > c and self._given is not None and self.key_probs[row, self._given] >= PLACE_COMMA_MAX_GIVEN:
                return  # "Durham, Charlotte", "Buchanan, Jordan": a given name after the comma is a person
        for i in range(len(words)):
            if i != c:
                _vote_for(probs, valid, i, self._city, PLACE_COMMA_CONF)

    def _inverted(
        self, words: list[str], matches: list[tuple[int, int, int]], probs: np.ndarray, valid: np.ndarray
    ) -> None:
        """ "SURNAME, Given" ("Corbo, Virginia"): a given name after the one comma, a surname or an unknown
        word before it, no organisation reading: both parts are a person, whatever else they may be."""
        if self._given is None:
            return
        pair = self._comma_pair(words, matches)
        if pair is None:
            return
        c, row_at = pair
        before, after = range(0, c), range(c + 1, len(words))
        first = row_at.get(after.start)
        if first is None or self.key_probs[first, self._given] <= 0.02:
            return
        city = self._city is not None and self.key_probs[first, self._city] > self.key_probs[first, self._given]
        if city and len(after) == 1:
            return  # "Le Marais, Paris", "Hackney, London": a district, then its city (an address)
        for i in before:
            row = row_at.get(i)
            if row is None:
                if not words[i].isalpha():
                    return
            elif self._person_share[row] < 0.3 or self._place_share[row] > 2 * self._person_share[row]:
                return
        for i in (*before, *after):
            if len(words[i]) == 1 and not words[i].isalpha():
                continue
            _vote_for(probs, valid, i, self._surname if i < c and self._surname else self._given, INVERTED_CONF)

    def _firm(
        self, words: list[str], matches: list[tuple[int, int, int]], probs: np.ndarray, valid: np.ndarray
    ) -> None:
        """ "Horton, Burns and Gutierrez", "Benavides, Aponte y Romo": three or more surnames listed with
        commas and a closing "and" / "y" / "&" name a firm (no person's name is written that way; a
        household, "Smith, John and Mary", has given names after its comma, and is left alone; "Peters,
        Walton & Sawyer" is a firm though "Sawyer" is also a given name)."""
        if self._company is None or words.count(",") < 1 or len(words) > 12:
            return
        cut = [k for k, w in enumerate(words) if w == "," or w.casefold() in _AND_WORDS]
        if not cut or words[cut[-1]] == "," or len(cut) < 2:
            return
        parts, begin = [], 0
        for k in (*cut, len(words)):
            parts.append(range(begin, k))
            begin = k + 1
        if len(parts) < 3 or any(not 1 <= len(p) <= 2 for p in parts):
            return
        row_at = {i: row for a, b, row in matches for i in range(a, b)}
        given_parts = 0
        for n, part in enumerate(parts):
            for i in part:
                if not words[i].isalpha() or len(words[i]) < 2:
                    return
                row = row_at.get(i)
                if row is not None and (row in self._cues or self._place_share[row] > self._person_share[row]):
                    return  # a cue, or a place ("Bonaire, Saint Eustatius and Saba"): not this form
            first = row_at.get(part.start)
            if n and first is not None and self._given and self._surname:
                given_parts += self.key_probs[first, self._given] > self.key_probs[first, self._surname]
        if given_parts >= 2:
            return  # given names after the comma ("Smith, John and Mary"): a household
        _vote_for(probs, valid, slice(None), self._company, FIRM_CONF)

    def _apply_cues(
        self,
        words: list[str],
        matches: list[tuple[int, int, int]],
        starts: np.ndarray,
        ends: np.ndarray,
        probs: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """Per segment, the strongest cue decides it: a legal form ending it (ORG), a place word ending
        it (LOC), an organisation word in it (ORG), a place word in it (LOC), post-nominals ending it after a
        person's name (PER), a title starting it (PER)."""
        cue_at = {
            i: (j, *self._cues[row])
            for i, j, row in matches
            if row in self._cues
            # a one-word legal form that is also a name must be written in capitals: "SAS", not "Sas"
            and not (
                self._cues[row][2] == "suffix" and j == i + 1 and row in self._also_person and not words[i].isupper()
            )
        }
        if not cue_at:
            return
        # words whose best reading is a person's name: with them, a cue that is also a name ("Elvia
        # Mercado", "Ana Cruz") reads as a surname, not as an organisation word
        personal = [False] * len(words)  # (Python lists: names are a few words, NumPy's per-call cost dominates)
        for i, j, row in matches:
            if self._row_personal[row]:
                personal[i:j] = [True] * (j - i)
        trivial = [len(w) == 1 or not w[0].isalnum() for w in words]  # initials, "&", ","
        for s0, s1 in self._segments(words, starts, ends):
            if s1 - s0 < 2:
                continue
            found: dict[str, tuple[int, int, int, float]] = {}  # rule -> (first, end, label, strength)
            for i, (j, label, strength, kind) in cue_at.items():
                if not (s0 <= i and j <= s1):
                    continue
                rest = [*range(s0, i), *range(j, s1)]
                if all(trivial[r] for r in rest):
                    continue  # a cue alone in its segment (or with initials and signs) is only itself
                if kind == "suffix":
                    if j == s1 and i > s0:  # a legal form counts only as the segment's suffix, after a name
                        found.setdefault("suffix", (i, j, label, strength))
                    continue
                if kind == "title":
                    if i == s0:
                        found.setdefault("title", (i, j, label, strength))
                    continue
                if kind == "post":
                    continue  # read below, once per segment (_post_nominal_name)
                all_personal = all(personal[r] or trivial[r] for r in rest)
                if kind == "place" and all_personal:
                    continue  # "Veronica Lake": a place word after a person's name is a surname
                after_and = i > s0 and words[i - 1].casefold() in _AND_WORDS  # "Smith & Sons", "Ruiz y Asociados"
                if kind == "org" and all_personal and not after_and and self._cue_row_is_person(matches, i):
                    continue
                if kind == "place":
                    found.setdefault("place-end" if j == s1 else "place", (i, j, label, strength))
                else:
                    found.setdefault("org", (i, j, label, strength))
            if not found.keys() - {"title"} and self._given is not None:
                post = self._post_nominal_name(words, matches, cue_at, s0, s1, trivial, personal)
                if post is not None:  # the person's words, before the post-nominals
                    found["post"] = (post[0], post[1], self._given, post[2])
            for rule in ("suffix", "place-end", "org", "place", "post", "title"):
                if rule not in found:
                    continue
                i, j, label, strength = found[rule]
                conf = min(1.0, strength)
                if rule == "title":  # the title keeps its own reading; the rest is a person
                    if self._given is None:
                        break
                    seg, label = slice(j, s1), self._given
                elif rule == "post":  # the post-nominals keep their own reading; the words before are a person
                    seg = slice(i, j)
                else:
                    seg = slice(s0, s1)
                _vote_for(probs, valid, seg, label, conf)
                break

    def _post_nominal_name(
        self,
        words: list[str],
        matches: list[tuple[int, int, int]],
        cue_at: dict[int, tuple[int, int, float, str]],
        s0: int,
        s1: int,
        trivial: list[bool],
        personal: list[bool],
    ) -> tuple[int, int, float] | None:
        """The person's words of a segment that ends with post-nominals ("Jane Doe, MD, PhD"), and how sure:
        after a leading title, every word a person's name or one no list holds, at least one a person's name,
        no other cue and no "&" / "and" ("Baker & Tilly CPA" is a firm). None when the segment is not that."""
        post_end = {j: (i, strength) for i, (j, _label, strength, kind) in cue_at.items() if kind == "post"}
        end, conf = s1, 0.0
        while end > s0:
            if end in post_end:
                end, strength = post_end[end][0], post_end[end][1]
                conf = max(conf, strength)
            elif trivial[end - 1] and not words[end - 1][0].isalnum():
                end -= 1  # ", " between post-nominals
            else:
                break
        if conf == 0.0:
            return None
        start = s0
        title = cue_at.get(s0)
        if title is not None and title[3] == "title":
            start = title[0]
        rows = {i: row for i, _j, row in matches}
        has_person = False
        for k in range(start, end):
            if words[k].casefold() in _AND_WORDS:
                return None
            if trivial[k]:
                continue
            row = rows.get(k)
            if row is not None and row in self._cues:
                return None
            if personal[k]:
                has_person = True
            elif row is not None and self._person_share[row] < POST_MIN_PERSON:
                return None  # a place or a company ("Jackson Hole Ph.D." is not written)
        return (start, end, min(1.0, conf)) if has_person else None


def _vote_for(probs: np.ndarray, valid: np.ndarray, at: int | slice, label: int, conf: float) -> None:
    """The words ``at`` vote for ``label`` this surely (the rest is O), in place of what they had: how every
    rule writes its reading."""
    probs[at] = 0.0
    probs[at, label] = conf
    probs[at, 0] = 1.0 - conf
    valid[at] = True


@dataclass
class LexiconMember:
    """A loaded lexicon member: what the ensemble combines beside the transformer members.

    ``source`` is the driver's ``models.MemberSource`` (typed loosely: ``models`` imports this
    module, not the other way round). No tokenizer, no device: it runs on the CPU in microseconds.
    """

    source: Any
    lexicon: Lexicon
    projection: np.ndarray  # [1 + categories, len(TAGS)], from the member's label_map
    device: str = "cpu"

    def tag_probs(self, split: WordSplit) -> tuple[np.ndarray, np.ndarray]:
        """Canonical tag probabilities [W, len(TAGS)] of the split's words and which ones it voted on [W]."""
        probs, valid = self.lexicon.word_probs(split.words, split.starts, split.ends, split.bounds, split.keys)
        return (probs @ self.projection).astype(np.float32), valid


def load_lexicon_member(source: Any) -> LexiconMember:
    """Load the lists of a member that ``models.inspect_member`` checked (``source.path`` is its folder)."""
    lexicon = Lexicon(source.path, source.name)
    got = lexicon_digest(source.path)
    if got != source.digest:
        raise ModelSourceError(
            f"member {source.name!r}: lexicon {source.path} changed since it was checked (sha256 {got[:16]}, "
            f"checked {source.digest[:16]}). Fix: rebuild it once, then start the job again."
        )
    if source.projection.shape != (len(lexicon.labels), len(TAGS)):
        raise ModelSourceError(f"member {source.name!r}: its label set changed since it was checked. Fix: reload.")
    return LexiconMember(source, lexicon, np.asarray(source.projection, dtype=np.float32))


def tag_factors(weights_by_type: dict[str, float] | Any) -> np.ndarray | None:
    """Per-tag factors [len(TAGS)] from a member's ``weights_by_type`` (O and missing types: 1); None if all 1."""
    if not weights_by_type:
        return None
    out = np.ones(len(TAGS), dtype=np.float32)
    for t in ENTITY_TYPES:
        f = float(weights_by_type.get(t, 1.0))
        out[TAGS.index(f"B-{t}")] = out[TAGS.index(f"I-{t}")] = f
    return None if np.all(out == 1.0) else out


def lexicon_digest(folder: Path | str) -> str:
    """sha256 of the lexicon file (the member's digest in ``model_version``)."""
    return _sha256(lexicon_file(Path(folder)))


__all__ = [
    "FORMAT_VERSION",
    "LEXICON_FILE",
    "Lexicon",
    "LexiconHeader",
    "LexiconMember",
    "fold_accents",
    "lexicon_digest",
    "load_lexicon_member",
    "normalize_word",
    "read_header",
    "tag_factors",
    "write_lexicon",
]
