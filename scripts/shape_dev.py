"""The lexicon's shape vote on the hold-out dev: where it votes and how sure, over training seeds.

    python scripts/shape_dev.py --fair-lexicon /tmp/lexfair --dev /tmp/holdout/union.parquet \
        --build /tmp/holdout/starter.toml --build /tmp/holdout_s1/starter.toml \
        --variant off --variant any:0.5 --variant alone:0.5

Why: the shape model learns from the lists' own entries, and the hold-out dev's entities are in the lists
(``--mask-lexicon`` only hides them from the lookup). Scored with the built lexicon, the model would have
learned the very words it is asked about. ``--fair-lexicon`` builds (once) the same lists with a shape model
that never saw a word of the dev (``build_lexicon(shape_exclude=...)``), and every variant runs with it;
``off`` is the same lexicon with the shape vote taken out. Weights: the shipped ones (``--weights``).
A dev-time tool: not part of the package; no outside-check package is read.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import combination_search as cs
from holdout_checks import parse_weights

import spark_ner.lexicon as lexicon_module
from spark_ner.lexicon import LEXICON_FILE, normalize_word

log = logging.getLogger("shape_dev")
WORD = re.compile(r"[^\W\d_]+")


def dev_words(frame: pd.DataFrame) -> set[str]:
    """Every word key of the dev's names and entity keys (what the fair shape model must not learn)."""
    out: set[str] = set()
    for ek, name in zip(frame["entity_key"], frame["name"], strict=True):
        for text in (ek.partition(":")[2], name):
            out.update(normalize_word(w) for w in WORD.findall(text))
    return out


def fair_config(build: Path, lexicon: Path, out: Path) -> Path:
    """``build`` (a hold-out starter.toml) with its lexicon member pointed at ``lexicon``."""
    text = build.read_text(encoding="utf-8")
    m = re.search(r'path = "([^"]*/lexicon)".*\nsha256 = "([0-9a-f]+)"', text)
    if m is None:
        raise SystemExit(f"{build}: no lexicon member with a path and sha256 pin")
    sha = hashlib.sha256((lexicon / LEXICON_FILE).read_bytes()).hexdigest()
    block = m.group(0).replace(m.group(1), str(lexicon)).replace(m.group(2), sha)
    out.write_text(text.replace(m.group(0), block), encoding="utf-8")
    return out


def score(frame: pd.DataFrame, pred: np.ndarray) -> dict[str, Any]:
    gold = frame["label"].to_numpy()
    real = (frame["part"] == "realdev").to_numpy()
    org = gold == "ORGANIZATION"
    one = np.array([len(WORD.findall(n)) == 1 for n in frame["name"]])
    return {
        "macro_f1": cs.macro_f1(gold, pred),
        "corpus_dev": cs.macro_f1(gold[~real], pred[~real]),
        "realdev": cs.macro_f1(gold[real], pred[real]),
        "org_recall": float(np.mean(pred[org] == "ORGANIZATION")),
        "one_word_org_recall": float(np.mean(pred[org & one] == "ORGANIZATION")),
        "accuracy": float(np.mean(pred == gold)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fair-lexicon", type=Path, required=True, help="built here (once) if missing")
    parser.add_argument("--dev", type=Path, default=Path("/tmp/holdout/union.parquet"))
    parser.add_argument("--build", action="append", required=True, help="a hold-out starter.toml (one per seed)")
    parser.add_argument("--variant", action="append", required=True, help="off, or SCOPE:CONF (any:0.5, alone:0.5)")
    parser.add_argument("--weights", default="minilm-names=1.5,roberta-names=0.5,lexicon=2;lexicon:MISC=2")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/spark-ner-combination"))
    parser.add_argument("--mask-lexicon", type=float, default=0.5, metavar="SHARE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    frame = pd.read_parquet(args.dev)
    names = frame["name"].tolist()
    if not (args.fair_lexicon / LEXICON_FILE).is_file():
        from spark_ner.starter.lexicon_data import build_lexicon

        build_lexicon(args.fair_lexicon, shape_exclude=dev_words(frame))
    weights, by_type = parse_weights(args.weights)
    hide = cs.lexicon_hide(frame["entity_key"].tolist(), names, args.mask_lexicon)
    shape = lexicon_module.Lexicon._shape
    rows = []
    for variant in args.variant:
        if variant == "off":
            lexicon_module.Lexicon._shape = lambda *_a, **_k: None  # type: ignore[method-assign]
        else:
            scope, _, conf = variant.partition(":")
            lexicon_module.Lexicon._shape = shape  # type: ignore[method-assign]
            lexicon_module.SHAPE_SCOPE, lexicon_module.SHAPE_CONF = scope, float(conf)
        for k, build in enumerate(args.build):
            config = fair_config(Path(build), args.fair_lexicon, args.fair_lexicon / f"config_{k}.toml")
            d = cs.member_outputs(str(config), names, args.cache, "dev", hide, shape_vote=True)
            rows.append({"variant": variant, "build": build, **score(frame, cs.vote(d, weights, by_type))})
            log.info("%s", {k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()})
    table = pd.DataFrame(rows).groupby("variant", sort=False).mean(numeric_only=True).round(4)
    log.info("mean over the builds:\n%s", table.to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
