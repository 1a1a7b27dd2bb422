"""Checks on the hold-out builds of ``scripts/source_holdout.py``: weight candidates over seeds, accents.

    # union-dev macro-F1 of weight candidates on each hold-out build (one per training seed), and the mean
    python scripts/holdout_checks.py candidates --dev /tmp/holdout/union.parquet \
        --build /tmp/holdout/starter.toml --build /tmp/holdout_s1/starter.toml \
        --weights "minilm-names=1.5,roberta-names=0.5,lexicon=2;lexicon:MISC=2" \
        --weights "minilm-names=2,roberta-names=0.25,lexicon=2;minilm-names:PER=0.5,minilm-names:MISC=2"
    # the dev names that carry accents, scored as written and with their accents stripped
    python scripts/holdout_checks.py accents --dev /tmp/holdout/union.parquet --build /tmp/holdout/starter.toml \
        --weights "minilm-names=1.5,roberta-names=0.5,lexicon=2;lexicon:MISC=2"
    # realdev's persons (locales the members never saw) with post-nominals after them ("... Ph.D.")
    python scripts/holdout_checks.py post-nominals --dev /tmp/holdout/union.parquet \
        --build /tmp/holdout/starter.toml --weights "minilm-names=1.5,roberta-names=0.5,lexicon=2;lexicon:MISC=2"

Why: one hold-out build is one training seed, and weights chosen on it move with the seed. Candidates
are compared on the same dev over several seeds; the one with the best mean ships
(EVALUATION.md, "Second change"). The lexicon hides half the dev entities as in the search
(``--mask-lexicon``). Run it with ``PYTHONPATH`` set to an older ``git archive`` to score the same
candidates with an older lexicon. A dev-time tool: not part of the package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import combination_search as cs

from spark_ner.starter.corpus import strip_accents

log = logging.getLogger("holdout_checks")


def parse_weights(spec: str) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """``"a=1.5,b=0.5;b:MISC=2"`` -> ({a: 1.5, b: 0.5}, {b: {MISC: 2}}): weights, then per-type factors."""
    plain, _, typed = spec.partition(";")
    weights = {k.strip(): float(v) for k, _, v in (x.partition("=") for x in plain.split(",") if x.strip())}
    by_type: dict[str, dict[str, float]] = {}
    for item in (x for x in typed.split(",") if x.strip()):
        member_type, _, factor = item.partition("=")
        member, _, typ = member_type.partition(":")
        if not typ or not factor:
            raise SystemExit(f"--weights: {item!r} is not MEMBER:TYPE=FACTOR (e.g. lexicon:MISC=2)")
        by_type.setdefault(member.strip(), {})[typ.strip()] = float(factor)
    return weights, by_type


def _outputs(build: str, frame: pd.DataFrame, names: list[str], cache: Path, tag: str, mask: float) -> dict[str, Any]:
    hide = cs.lexicon_hide(frame["entity_key"].tolist(), names, mask)
    return cs.member_outputs(build, names, cache, tag, hide)


def candidates(args: argparse.Namespace) -> None:
    frame = pd.read_parquet(args.dev)
    gold = frame["label"].to_numpy()
    specs = [parse_weights(s) for s in args.weights]
    table = {s: [] for s in args.weights}
    realdev = (frame["part"] == "realdev").to_numpy()
    real_org = realdev & (gold == "ORGANIZATION")  # bank and operator registries: no legal form
    for build in args.build:
        d = _outputs(build, frame, frame["name"].tolist(), args.cache, "dev", args.mask_lexicon)
        for spec, (w, t) in zip(args.weights, specs, strict=True):
            pred = cs.vote(d, w, t)
            table[spec].append(round(cs.macro_f1(gold, pred), 4))
            if args.detail:  # the parts, and realdev's organisations (registry names, no legal form)
                log.info(
                    "%s %s: corpus-dev %.4f, realdev %.4f, realdev ORGANIZATION recall %.3f (%d)",
                    build,
                    spec,
                    cs.macro_f1(gold[~realdev], pred[~realdev]),
                    cs.macro_f1(gold[realdev], pred[realdev]),
                    float(np.mean(pred[real_org] == "ORGANIZATION")),
                    int(real_org.sum()),
                )
    for spec, scores in table.items():
        log.info("%-70s %s mean %.4f", spec, scores, float(np.mean(scores)))


def accents(args: argparse.Namespace) -> None:
    frame = pd.read_parquet(args.dev)
    frame = frame[[strip_accents(n) != n for n in frame["name"]]].reset_index(drop=True)
    gold = frame["label"].to_numpy()
    w, t = parse_weights(args.weights[0])
    log.info("%d dev names carry accents: %s", len(frame), frame["label"].value_counts().to_dict())
    for build in args.build:
        row = []
        for form, names in (
            ("as written", frame["name"].tolist()),
            ("stripped", [strip_accents(n) for n in frame["name"]]),
        ):
            d = _outputs(build, frame, names, args.cache, f"accents-{form.replace(' ', '-')}", 0.0)
            row.append(f"{form} {float(np.mean(cs.vote(d, w, t) == gold)):.3f}")
        log.info("%s: accuracy %s", build, ", ".join(row))


#: post-nominals that neither the corpus nor the lexicon holds (``vocab.DEGREES``): what the vote makes of a
#: degree nobody listed
UNLISTED_DEGREES = (
    "FRSA", "MCIPS", "M.Ed.", "D.Litt.", "RIBA", "FRICS", "MRICS", "CISSP", "FCIPD", "B.Com.", "MFA", "LL.D.",
    "FRCPC", "ChFC", "CIMA", "Dipl.-Kfm.", "MScEng", "DMin", "CMA", "AIA",
)  # fmt: skip


def faker_degrees() -> list[str]:
    """The post-nominals faker's person providers write (Latin script, generational ones left out): some of
    them are in ``vocab.DEGREES``, some not ("M.Pd", "S.T.", "DSc.")."""
    import importlib
    import pkgutil

    from faker.providers import person

    out: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"{person.__name__}.{module.name}"), "Provider", None)
        for attr in ("suffixes", "suffixes_male", "suffixes_female"):
            values = getattr(provider, attr, None) or ()
            out.update(v for v in values if v.isascii() and v not in ("I", "II", "III", "IV", "V", "Jr.", "Sr."))
    return sorted(out)


def post_nominals(args: argparse.Namespace) -> None:
    """realdev's persons as written, then with a post-nominal of faker's lists, then with one nobody lists."""
    frame = pd.read_parquet(args.dev)
    keep = (frame["label"] == "PERSON") & ~frame["name"].str.contains(",") & ~frame["name"].str.isupper()
    if "part" in frame:
        keep &= frame["part"] == "realdev"
    frame = frame[keep].reset_index(drop=True)
    w, t = parse_weights(args.weights[0])
    listed = faker_degrees()
    log.info("%d realdev persons; faker's post-nominals: %s", len(frame), " ".join(listed))

    def add(pool: tuple[str, ...] | list[str]) -> list[str]:
        return [f"{n}{', ' if i % 3 == 0 else ' '}{pool[i % len(pool)]}" for i, n in enumerate(frame["name"])]

    forms = {"as written": frame["name"].tolist(), "+ faker's": add(listed), "+ unlisted": add(UNLISTED_DEGREES)}
    for build in args.build:
        row = []
        for form, names in forms.items():
            d = _outputs(build, frame, names, args.cache, f"post-{form.split()[-1]}", args.mask_lexicon)
            row.append(f"{form} {float(np.mean(cs.vote(d, w, t) == 'PERSON')):.3f}")
        log.info("%s: PERSON recall %s", build, ", ".join(row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=("candidates", "accents", "post-nominals"))
    parser.add_argument("--dev", type=Path, required=True, help="union.parquet or realdev.parquet")
    parser.add_argument("--build", action="append", required=True, help="a hold-out build's starter.toml")
    parser.add_argument("--weights", action="append", required=True, help="MEMBER=W,...;MEMBER:TYPE=F,...")
    parser.add_argument("--mask-lexicon", type=float, default=0.5, metavar="SHARE")
    parser.add_argument("--detail", action="store_true", help="candidates: each part's macro-F1, realdev ORG recall")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/spark-ner-combination"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    {"candidates": candidates, "accents": accents, "post-nominals": post_nominals}[args.check](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
