"""The names corpus: tags agree with the words, labels with the tags, splits never share."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from spark_ner.config import NAME_LABELS, TAGS
from spark_ner.starter.corpus import (
    COLUMNS,
    SPLITS,
    build_corpus,
    build_frames,
    is_valid_bio,
    label_from_tags,
    load_split,
)
from spark_ner.starter.vocab import DEGREES
from spark_ner.tokenize import split_name

SIZE = 3000


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, seed=0, size=SIZE)
    return out


@pytest.fixture(scope="module")
def frames(corpus_dir: Path) -> dict[str, pd.DataFrame]:
    return {s: load_split(corpus_dir / f"{s}.parquet") for s in SPLITS}


@pytest.fixture(scope="module")
def everything(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames.values(), ignore_index=True)


def test_files_columns_and_sizes(corpus_dir: Path, frames: dict[str, pd.DataFrame]) -> None:
    stats = json.loads((corpus_dir / "corpus_stats.json").read_text())
    assert (stats["seed"], stats["size"]) == (0, SIZE)
    assert sum(len(f) for f in frames.values()) == SIZE
    for frame in frames.values():
        assert tuple(frame.columns) == COLUMNS
        assert isinstance(frame["words"].iloc[0], list)
    share = len(frames["train"]) / SIZE
    assert 0.7 < share < 0.9
    assert len(frames["dev"]) > 0.05 * SIZE and len(frames["test"]) > 0.05 * SIZE


def test_build_is_idempotent(corpus_dir: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in corpus_dir.iterdir()}
    paths = build_corpus(corpus_dir, seed=0, size=SIZE)
    after = {p.name: p.stat().st_mtime_ns for p in corpus_dir.iterdir()}
    assert before == after
    assert set(paths) >= set(SPLITS)


def test_splits_are_disjoint(frames: dict[str, pd.DataFrame], everything: pd.DataFrame) -> None:
    assert everything["name"].is_unique
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not set(frames[a]["entity_key"]) & set(frames[b]["entity_key"])
            assert not set(frames[a]["name"]) & set(frames[b]["name"])


def test_words_tags_and_labels_agree(everything: pd.DataFrame) -> None:
    for name, words, tags, label in everything[["name", "words", "tags", "label"]].itertuples(index=False):
        got, starts, ends = split_name(name, 10**6, case_restore=False)
        assert words == got
        assert len(tags) == len(words) > 0
        assert set(tags) <= set(TAGS)
        assert is_valid_bio(tags), tags
        lengths = [e - s for s, e in zip(starts, ends, strict=True)]
        assert label == label_from_tags(tags, lengths)
        assert label in NAME_LABELS


def test_label_from_tags_rules() -> None:
    assert label_from_tags(["O", "O"]) == "NONE"
    assert label_from_tags(["B-PER", "I-PER", "O", "B-LOC"], [4, 5, 1, 6]) == "PERSON"
    assert label_from_tags(["B-PER", "O", "B-LOC"], [3, 1, 9]) == "LOCATION"
    assert label_from_tags(["B-ORG", "B-LOC"], [4, 4]) == "ORGANIZATION"  # tie: ORG before LOC
    assert not is_valid_bio(["O", "I-PER"])
    assert not is_valid_bio(["B-PER", "I-ORG"])
    assert is_valid_bio(["B-PER", "O", "B-PER", "I-PER"])


def _has(everything: pd.DataFrame, mask: pd.Series, at_least: int = 1) -> None:
    assert int(mask.sum()) >= at_least


def test_every_category_is_present(everything: pd.DataFrame) -> None:
    counts = everything["label"].value_counts()
    for label in NAME_LABELS:
        assert counts.get(label, 0) >= 0.02 * SIZE, label
    src = everything["source"]
    for kind in (
        "university",
        "school",
        "hospital",
        "bank",
        "insurer",
        "shop",
        "public",
        "association",
    ):
        _has(everything, src.str.startswith(f"template:{kind}:"))
    for prefix in (
        "tickers",
        "registry:oui",
        "registry:banks",
        "wnut16",
        "geonames:city",
        "geonames:country",
        "faker:region",
        "faker:company",
        "faker:household",
        "misc:nationality",
        "misc:event",
        "none:",
        "mixed",
    ):
        _has(everything, src.str.startswith(prefix))
    for locale in ("es_ES", "es_MX", "es_AR", "pt_BR", "en_US", "en_GB", "de_DE", "fr_FR", "it_IT"):
        _has(everything, src == f"faker:person:{locale}")


def test_messy_forms_are_present(everything: pd.DataFrame) -> None:
    names = everything["name"]
    labels = everything["label"]
    _has(everything, names.str.isupper() & (labels != "NONE"), 50)
    _has(everything, names.str.islower() & (labels != "NONE"), 10)
    surname_first = re.compile(r"^[A-ZÀ-Ý' -]{2,}, ?[A-ZÀ-Ý][a-zà-ÿ]")
    _has(everything, names.map(lambda n: bool(surname_first.match(n))) & (labels == "PERSON"), 10)
    _has(everything, names.str.contains(r"#\s?\d") & (labels == "ORGANIZATION"), 5)
    _has(everything, names.str.contains(r"\b[A-Z]\. [A-Z]") & (labels == "PERSON"), 5)


def test_spanish_two_surname_persons(everything: pd.DataFrame) -> None:
    es = everything[everything["source"].str.match(r"faker:person:es_")]
    plain = es[
        es["tags"].map(lambda t: t[0] == "B-PER" and t.count("B-PER") == 1 and "O" not in t)
        & es["words"].map(lambda w: len(w) >= 3 and all(x.isalpha() for x in w))
    ]
    assert len(plain) >= 0.3 * len(es)


def test_tagging_rules(everything: pd.DataFrame) -> None:
    """Titles and '&' are O in persons, '#' is O after an ORG, commas sit inside PER spans."""
    rows = list(everything[["words", "tags", "label", "source"]].itertuples(index=False))
    titles = [r for r in rows if r.label == "PERSON" and r.words[0] in ("Mr", "Mrs", "Sr", "Sra")]
    assert titles and all(r.tags[0] == "O" for r in titles)
    households = [r for r in rows if r.source.startswith("faker:household") and "&" in r.words]
    assert households
    for r in households:
        assert r.tags[r.words.index("&")] == "O"
    shared = [r for r in households if r.tags.count("B-PER") == 2]
    assert shared
    hashes = [r for r in rows if r.label == "ORGANIZATION" and "#" in r.words]
    assert hashes and all(r.tags[r.words.index("#")] == "O" for r in hashes)
    inverted = [r for r in rows if r.source.startswith("faker:person") and "," in r.words and r.tags[-1] != "O"]
    assert inverted and all(r.tags[r.words.index(",")] == "I-PER" for r in inverted)
    # post-nominals ("Ana Ruiz, CPA", "John Smith Ph.D."): degrees outside the person, who stays the label
    degrees = {d.replace(" ", "").casefold() for d in DEGREES}
    post = [r for r in rows if r.source.startswith("faker:person") and r.tags[-1] == "O"]
    assert len(post) >= 10
    for r in post:
        last = max(i for i, t in enumerate(r.tags) if t.endswith("-PER"))
        tail = "".join(r.words[last + 1 :]).casefold().strip(",").split(",")
        assert r.label == "PERSON" and set(r.tags[last + 1 :]) == {"O"} and set(tail) <= degrees, r
    none = [r for r in rows if r.label == "NONE"]
    assert none and all(set(r.tags) == {"O"} for r in none)


def test_deterministic() -> None:
    a = build_frames(800, seed=3)
    b = build_frames(800, seed=3)
    c = build_frames(800, seed=4)
    for split in SPLITS:
        pd.testing.assert_frame_equal(a[split], b[split])
    assert set(a["train"]["name"]) != set(c["train"]["name"])


def test_vocabulary_tables_stand_apart_from_the_generator() -> None:
    """#14: the tables are data in starter/vocab.py (no imports, no code); corpus.py holds the generator."""
    import ast
    import inspect

    from spark_ner.starter import corpus, vocab

    tree = ast.parse(inspect.getsource(vocab))
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert corpus.LOCALES is vocab.LOCALES and corpus.ORG_TEMPLATES is vocab.ORG_TEMPLATES
    assert len(inspect.getsource(corpus).splitlines()) < 1300


def test_legal_forms_basename_is_cleancos_on_registry_names() -> None:
    """The indexed basename gives cleanco's own result (the lexicon and the corpus depend on it): on every
    50th registry and listed-company name, once more on its result (the corpus strips until nothing
    changes), and on names built to hit the order of cleanco's terms."""
    from cleanco import basename as cleanco_basename
    from pytickersymbols import PyTickerSymbols

    from spark_ner.starter.legal_forms import basename
    from spark_ner.starter.lexicon_data import registry_organisations

    names = [org.name for org in registry_organisations()[::50]]
    names += [str(s.get("name") or "") for s in PyTickerSymbols().get_all_stocks()][::5]
    names += ["", " , ", "Inc", "Ltd.", "Acme Inc Inc", "Acme GmbH & Co. KG", "X, Inc.", "Société Générale S.A."]
    names += ["AB  Volvo  AB", "Volvo Ab (publ)", "Nordvik Holding AS ASA", "CO., LTD.", "Shenzhen X Tech Co. Ltd"]
    stripped = [basename(n) for n in names]
    assert stripped == [cleanco_basename(n) for n in names]
    assert [basename(n) for n in stripped] == [cleanco_basename(n) for n in stripped]
    assert sum(s != n for s, n in zip(stripped, names, strict=True)) > len(names) // 3  # most carry a form
