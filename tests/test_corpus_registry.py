"""The corpus' registry organisations (issue 25): real registered names, mostly without their legal
form, in customer-table forms, from the same loader as the lexicon, grouped into splits by entity."""

from __future__ import annotations

import importlib.util
import random
from collections import Counter

import pytest

from spark_ner.starter import corpus
from spark_ner.starter.corpus import entity_key, generate_names, is_valid_bio, registry_org_pool
from spark_ner.starter.legal_forms import bare

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("stdnum") is None or importlib.util.find_spec("schwifty") is None,
    reason="python-stdnum / schwifty are not installed (pip install 'spark-ner[starter]')",
)


def test_one_loader_for_the_lexicon_and_the_corpus() -> None:
    """Both read lexicon_data.registry_organisations: tens of thousands of cleaned names, every source."""
    from spark_ner.starter.lexicon_data import clean_org_name, registry_organisations

    orgs = registry_organisations()
    by_source = Counter(o.source for o in orgs)
    assert len(orgs) > 40_000
    assert set(by_source) == {"stdnum:oui", "stdnum:imsi", "stdnum:banks", "schwifty:banks"}
    assert all(clean_org_name(o.name) == o.name for o in orgs[::97])
    assert {o.country for o in orgs if o.source == "schwifty:banks"} >= {"DE", "GB", "ES", "AT"}
    assert clean_org_name("Private") == "" and clean_org_name(" \u201eAcme\u201c ,") == "Acme"
    pool = registry_org_pool()
    assert len(pool) > 30_000
    assert {src for _n, _c, src in pool} == {
        "registry:oui:stdnum",
        "registry:imsi:stdnum",
        "registry:banks:stdnum",
        "registry:banks:schwifty",
    }


def test_pool_leaves_out_notes_odd_names_and_bare_surnames() -> None:
    pool = registry_org_pool(frozenset({"miller", "wilson"}))
    names = {n for n, _c, _s in pool}
    assert not any(n.endswith("-alt-") or "(" in n or "%" in n for n in names)
    assert all(len(n.split()) <= 8 for n in names)
    keys = {entity_key(bare(n)) for n in names}
    assert "miller" not in keys and "wilson" not in keys  # "Miller & Co." would teach that a surname is a company
    assert len(keys) == len(pool)  # one name per entity


def test_generated_rows_are_organisations_mostly_without_a_legal_form() -> None:
    records = generate_names(600, seed=0, shares={"registry_org": 1.0})
    assert len(records) == 600
    assert all(r.label == "ORGANIZATION" and is_valid_bio(r.tags) for r in records)
    assert all(r.source.startswith("registry:") and r.keys[0].startswith("ORG:") for r in records)
    bare = sum(entity_key(r.name) == r.keys[0].removeprefix("ORG:") for r in records)
    assert bare > 0.5 * len(records)  # the name is its bare (legal-form-free) entity most of the time
    assert sum(r.name.isupper() for r in records) > 60
    assert sum(r.name.islower() for r in records) > 20


def test_the_same_entity_keeps_one_key_with_or_without_its_legal_form() -> None:
    """Key = the bare name, so "X Technology Co.,Ltd" and "x technology" fall in one entity group (one split)."""
    v = corpus._vocab(0)
    rng = random.Random(1)
    keys: dict[str, set[str]] = {}
    for _ in range(3000):
        sample = corpus.gen_registry_org(rng, v)
        assert sample is not None
        rec = corpus._finish(sample, rng, True)
        assert rec is not None
        keys.setdefault(rec.keys[0], set()).add(rec.name)
    several = [k for k, names in keys.items() if len(names) > 1]
    assert several  # the same entity came in more than one form, under one key
    assert bare("Shenzhen Colorwin Optical Technology Co.,Ltd") == "Shenzhen Colorwin Optical Technology"
    assert corpus._title_words("BANCO DI CREDITO COOPERATIVO CMC") == "Banco di Credito Cooperativo CMC"
