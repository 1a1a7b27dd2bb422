"""Companies' surname-like bare names as the ensemble labels them: a probe of the lexicon's lone-company rule
(issue 25).

    python scripts/lone_companies_dev.py --lexicon ~/.cache/spark-ner/models/lexicon \
        --config /tmp/before.toml --config ~/.cache/spark-ner/models/starter.toml
    # the other side: the US census's 5,000 commonest surnames alone, as written and in CAPS
    python scripts/lone_companies_dev.py --census-surnames --config /tmp/before.toml --config ...

Names: the bare names (legal form cut, as the lexicon cuts it) of the SEC's and mimesis' companies whose key
is on the lexicon file's ``lone_company`` list, each once, as the list wrote it ("Danaher", "HEINEKEN"): gold
ORGANIZATION. Beside them the same words after a given name ("Anna Nordstrom"): gold PERSON, the reading the
rule must leave alone. Said plainly: the names come from the lists the rule reads, so the first share says that
the rule works end to end through the ensemble, not how it generalises; that is the dev's and the sealed
check's to say (EVALUATION.md). ``--census-surnames``: the cost side, common surnames standing alone (a person
who typed only a surname), the share of each label by census rank (lexicon v15's ``LONE_SURNAME_RANK``). A
dev-time tool: not part of the package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("lone_companies_dev")
GIVEN = ("Anna", "John", "Maria", "Peter")


def lone_names(lexicon: Path) -> list[str]:
    """The SEC's and mimesis' bare company names whose key the lexicon file lists as a lone company."""
    from spark_ner.lexicon import LEXICON_FILE
    from spark_ner.starter.lexicon_data import (
        bare_name,
        clean_org_name,
        key_of,
        mimesis_organisation_names,
        sec_company_names,
    )

    with np.load(lexicon / LEXICON_FILE, allow_pickle=False) as z:
        if "lone_company" not in z.files:
            raise SystemExit(f"{lexicon}: the lexicon file has no lone_company list (built before v12)")
        lone = set(z["lone_company"].tobytes().decode("utf-8").split("\n"))
    seen: dict[str, str] = {}
    for raw in (*sec_company_names(), *mimesis_organisation_names()):
        name = clean_org_name(raw)
        base = bare_name(name) if name else ""
        key = key_of(base) if base else ""
        if key in lone:
            seen.setdefault(key, base)
    return sorted(seen.values())


#: census rank bands of ``--census-surnames``
BANDS = ((1, 500), (501, 2000), (2001, 5000))


def surname_shares(ens: Any) -> str:
    """Per rank band: the share of lone surnames (as written and in CAPS) the ensemble labels each way."""
    from spark_ner.starter.lexicon_data import census_names

    top = [name for name, _rank in census_names("dist.all.last")[: BANDS[-1][1]]]
    parts = []
    for lo, hi in BANDS:
        words = top[lo - 1 : hi]
        labels = ens.label([*words, *(w.upper() for w in words)])["label"]
        shares = labels.value_counts(normalize=True).round(3).to_dict()
        parts.append(f"rank {lo}-{hi}: {shares}")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lexicon", type=Path, help="a v12+ lexicon folder (its lone_company list)")
    parser.add_argument("--config", action="append", required=True, help="an ensemble config; repeat to compare")
    parser.add_argument("--census-surnames", action="store_true", help="common surnames alone instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from spark_ner.config import load_config
    from spark_ner.ensemble import load_ensemble

    if args.census_surnames:
        for cfg in args.config:
            sys.stdout.write(f"{cfg}: {surname_shares(load_ensemble(load_config(cfg)))}\n")
        return
    if args.lexicon is None:
        parser.error("--lexicon is needed unless --census-surnames")

    bare = lone_names(args.lexicon)
    persons = [f"{GIVEN[i % len(GIVEN)]} {w.title()}" for i, w in enumerate(bare)]
    for cfg in args.config:
        ens = load_ensemble(load_config(cfg))
        org = float((ens.label(bare)["label"] == "ORGANIZATION").mean())
        per = float((ens.label(persons)["label"] == "PERSON").mean())
        line = f"{cfg}: {len(bare)} names; alone ORGANIZATION {org:.3f}; after a given name PERSON {per:.3f}"
        sys.stdout.write(line + "\n")


if __name__ == "__main__":
    main()
