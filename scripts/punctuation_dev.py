"""How wrapping punctuation moves name-level labels: the union hold-out dev as written, quoted, in brackets,
with a trailing full stop and with a trailing comma.

    python scripts/punctuation_dev.py --dev /tmp/holdout/union.parquet --config /tmp/holdout/starter_v12.toml [--off]
    python scripts/punctuation_dev.py --dev ... --config ... --bounds 0,1,2,3,4,5

Why: customer tables carry names as CSV exports left them ("\\"Danaher\\"", "(Danaher)", "Danaher."), and the
trained members read the punctuation as words unless ``ensemble.trim_punctuation`` drops it (EVALUATION.md,
"Wrapping punctuation"); ``--off`` scores each form with it off too, ``--cut`` with the ends stripped
before scoring (the bound a fix can reach). The lexicon is not masked here, so
"as written" reads higher than the hold-out checks' masked figures; the forms are compared with each other.
A dev-time tool: not part of the package.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from spark_ner.config import load_config
from spark_ner.ensemble import load_ensemble

FORMS: dict[str, Callable[[str], str]] = {
    "as written": lambda n: n,
    'quoted "..."': lambda n: f'"{n}"',
    "in brackets (...)": lambda n: f"({n})",
    "trailing full stop": lambda n: n if n.endswith(".") else n + ".",
    "trailing comma": lambda n: n + ",",
}


#: characters cut from a name's ends with --cut
EDGE = "\"'()[]{}.,;: "


def macro_f1(gold: np.ndarray, got: np.ndarray) -> float:
    """Macro-F1 over the gold labels."""
    out = []
    for label in sorted(set(gold)):
        tp = int(((got == label) & (gold == label)).sum())
        fp = int(((got == label) & (gold != label)).sum())
        fn = int(((got != label) & (gold == label)).sum())
        out.append(2 * tp / max(1, 2 * tp + fp + fn))
    return float(np.mean(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", required=True, help="a hold-out dev parquet (name, label)")
    parser.add_argument("--config", required=True, help="the build to score with (its starter.toml)")
    parser.add_argument(
        "--cut", action="store_true", help="also score each form with edge punctuation cut first (the fix's bound)"
    )
    parser.add_argument("--off", action="store_true", help="also score each form with ensemble.trim_punctuation off")
    parser.add_argument(
        "--bounds",
        default="",
        metavar="N,N,...",
        help="instead, for each bound on tokenize.ABBREVIATION_MAX, score the names as written and with a full stop",
    )
    args = parser.parse_args()
    frame = pd.read_parquet(args.dev)
    frame = frame[frame["name"].str.strip().str.len() > 0]
    names, gold = frame["name"].tolist(), frame["label"].to_numpy()
    one = np.array([len(n.split()) == 1 for n in names])
    ens = load_ensemble(load_config(args.config))
    if args.bounds:  # how the trailing full stop's bound was chosen (EVALUATION.md, "Wrapping punctuation")
        import spark_ner.tokenize as tokenize

        for bound in (int(b) for b in args.bounds.split(",")):
            tokenize.ABBREVIATION_MAX = bound
            for form in ("as written", "trailing full stop"):
                got = ens.label([FORMS[form](n) for n in names])["label"].to_numpy()
                sys.stdout.write(f"ABBREVIATION_MAX {bound} {form:20} macro-F1 {macro_f1(gold, got):.4f}\n")
        return
    runs = [(form, wrap, False, ens) for form, wrap in FORMS.items()]
    if args.off:
        off = load_ensemble(load_config(args.config, overrides={"ensemble.trim_punctuation": False}))
        runs += [(f"{form}, trim off", wrap, False, off) for form, wrap in FORMS.items()]
    runs += [(f"{form}, cut", wrap, True, ens) for form, wrap in FORMS.items()] if args.cut else []
    for form, wrap, cut, ens in runs:
        t = time.perf_counter()
        texts = [wrap(n) for n in names]
        if cut:  # what a fix could reach: the quotes, brackets and trailing stops cut before scoring
            texts = [x.strip(EDGE) or x for x in texts]
        got = ens.label(texts)["label"].to_numpy()
        sys.stdout.write(
            f"{form:25} macro-F1 {macro_f1(gold, got):.4f}  accuracy {float((got == gold).mean()):.4f}  "
            f"one-word names {float((got[one] == gold[one]).mean()):.4f} ({int(one.sum())})  "
            f"[{time.perf_counter() - t:.0f} s]\n"
        )


if __name__ == "__main__":
    main()
