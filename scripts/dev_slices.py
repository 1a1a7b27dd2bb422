"""Issue 25's dev loop: the corpus DEV split and its rewritten forms, scored with cached member outputs.

    python scripts/dev_slices.py [--model-dir ~/.cache/spark-ner/models] [--lexicon DIR] [--lexicon-only]
        [--split dev] [--corpus DIR] [--out figures.json]

Why: the lexicon's lists and rules change often and cheaply, the trained members do not. This scores
the ensemble (the config's weights) and each member alone on the split and on each
``spark_ner.tools.evaluate.form_slices`` slice (organisations without their legal form, accents
stripped, ALL CAPS, all lower), computing the transformer members' word probabilities once per set of
names (cached in ``--cache``) and the lexicon's every run, so a lexicon change costs seconds.
``--lexicon DIR`` scores another lexicon folder (a candidate build) in the member's place;
``--lexicon-only`` needs no trained member (before ``build-models`` has finished). ``--corpus DIR``
reads the split from another build's corpus (default: the model dir's), so two builds whose corpora
differ are compared on the same names.
Choices are made on DEV only (issue 25: the outside check is sealed). A dev-time tool: not part of
the package.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from combination_search import transformer_outputs, vote

from spark_ner.config import DEFAULT_CONFIG_PATH, NAME_LABELS, MemberKind, parse_config
from spark_ner.ensemble import split_names
from spark_ner.lexicon import load_lexicon_member
from spark_ner.models import inspect_member
from spark_ner.tools.evaluate import classification_metrics, form_slices

log = logging.getLogger("dev_slices")


def load_raw(model_dir: Path, lexicon: Path | None, lexicon_only: bool) -> tuple[dict[str, Any], Path]:
    """The starter config (default config with the model dir's members), lexicon path swapped if asked."""
    starter = model_dir / "starter.toml"
    path = starter if starter.is_file() else DEFAULT_CONFIG_PATH
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    models = []
    for m in raw["models"]:
        m = dict(m)
        if m.get("kind") == "lexicon":
            if lexicon is not None:
                m["path"] = str(lexicon)
                m.pop("sha256", None)
            elif not Path(m["path"]).is_absolute():
                m["path"] = str(model_dir / m["path"])
        elif lexicon_only:
            continue
        elif not Path(m["path"]).is_absolute():
            m["path"] = str(model_dir / m["path"])
        models.append(m)
    raw["models"] = models
    return raw, path.parent


def outputs(raw: dict[str, Any], base: Path, names: list[str], cache: Path, tag: str) -> dict[str, Any]:
    """Each member's word probabilities for ``names``: transformers cached by pins + names, lexicon live."""
    cfg = parse_config(raw, source="dev_slices", base_dir=base)
    trans = [m for m in cfg.models if m.kind == MemberKind.TRANSFORMER]
    lexes = [m for m in cfg.models if m.kind == MemberKind.LEXICON]
    ens = cfg.ensemble
    split = split_names(names, ens)
    probs, valid = transformer_outputs(raw, base, "dev_slices", names, split, cache, tag)
    known: dict[str, np.ndarray] = {m.name: inspect_member(m).projection.sum(axis=0) > 0 for m in trans}
    lex_seconds = 0.0
    for m in lexes:
        member = load_lexicon_member(inspect_member(m))
        t0 = time.perf_counter()
        probs[m.name], valid[m.name] = member.tag_probs(split)
        lex_seconds += time.perf_counter() - t0
        known[m.name] = member.projection.sum(axis=0) > 0
    order = [m.name for m in cfg.models]
    return {"split": split, "probs": probs, "valid": valid, "known": known, "order": order, "cfg": cfg,
            "lexicon_seconds": lex_seconds}  # fmt: skip


def row(system: str, gold: np.ndarray, pred: np.ndarray, changed: np.ndarray | None) -> dict[str, Any]:
    m = classification_metrics(list(gold), list(pred), list(NAME_LABELS))
    out: dict[str, Any] = {"system": system, "n": len(gold), "accuracy": round(m["accuracy"], 4),
                           "macro_f1": round(m["macro_f1"], 4)}  # fmt: skip
    for lab in NAME_LABELS:
        c = m["per_class"][lab]
        if c["support"] or c["predicted"]:
            out[lab] = (round(c["precision"], 3), round(c["recall"], 3))
    if changed is not None and changed.any():
        out["changed_n"] = int(changed.sum())
        out["changed_accuracy"] = round(float((gold[changed] == pred[changed]).mean()), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("~/.cache/spark-ner/models"))
    parser.add_argument("--lexicon", type=Path, default=None, help="a lexicon folder to score in the member's place")
    parser.add_argument("--lexicon-only", action="store_true", help="no trained member (before build-models ends)")
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: MODEL_DIR/corpus)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/spark-ner-slices"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    model_dir = args.model_dir.expanduser()
    raw, base = load_raw(model_dir, args.lexicon, args.lexicon_only)
    corpus_dir = args.corpus.expanduser() if args.corpus else model_dir / "corpus"
    frame = pd.read_parquet(corpus_dir / f"{args.split}.parquet")
    sets = {args.split: frame.assign(changed=False), **form_slices(frame)}
    results: dict[str, Any] = {}
    for tag, part in sets.items():
        d = outputs(raw, base, part["name"].tolist(), args.cache.expanduser(), f"{args.split}-{tag}")
        gold = part["label"].to_numpy()
        changed = part["changed"].to_numpy(dtype=bool) if tag != args.split else None
        weights = {m.name: m.weight for m in d["cfg"].models}
        by_type = {m.name: dict(m.weights_by_type) for m in d["cfg"].models if m.weights_by_type}
        rows = []
        if len(d["order"]) > 1:
            rows.append(row("ensemble", gold, vote(d, weights, by_type), changed))
        rows += [row(n, gold, vote(d, {n: 1.0}, {}), changed) for n in d["order"]]
        results[tag] = rows
        log.info("\n== %s (%d names; lexicon %.2f s)", tag, len(part), d["lexicon_seconds"])
        for r in rows:
            per = " ".join(f"{k[:3]}={v[0]:.3f}/{v[1]:.3f}" for k, v in r.items() if isinstance(v, tuple))
            extra = f" changed {r['changed_n']}: {r['changed_accuracy']:.4f}" if "changed_n" in r else ""
            log.info("%-14s acc %.4f macro-F1 %.4f  %s%s", r["system"], r["accuracy"], r["macro_f1"], per, extra)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
