"""Choose the ensemble's member weights (global, or per member and type) on DEV, grouped by entity.

    python scripts/combination_search.py --config ~/.cache/spark-ner/models/starter.toml \
        --outside outside.parquet --outside outside_messy.parquet [--out combination.json]

Why: the vote must not fall below its best member. Two families of combination are searched on the
corpus DEV split: ``global`` (one weight per member, every member alone included, so the pick is
at least the best member on dev) and ``by-type`` (the global pick, then a factor per canonical type
on each member's vote: ``weights_by_type`` in the config). Which family ships is decided by 5-fold
cross-validation on dev with folds grouped by entity (dev holds several surface forms of one
entity; random folds leak); the pick of the winning family, refitted on all dev, is then scored
ONCE on the test split and on each outside-check file, beside every member alone and beside the
family not chosen. Member probabilities are computed once per split and cached in ``--cache``.
A dev-time tool: not part of the package.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import sys
import time
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spark_ner.config import ENTITY_TYPES, NAME_LABELS, MemberKind, Strategy, parse_config
from spark_ner.decode import decode, label_names
from spark_ner.ensemble import combine, load_ensemble, split_names
from spark_ner.lexicon import load_lexicon_member, tag_factors
from spark_ner.models import inspect_member
from spark_ner.tokenize import WordSplit
from spark_ner.tools.evaluate import classification_metrics

log = logging.getLogger("combination_search")

GLOBAL_GRID: dict[str, tuple[float, ...]] = {
    "rampart-bert": (0.0, 0.5, 1.0),
    "minilm-names": (0.0, 1.0, 1.5, 2.0),
    "roberta-names": (0.0, 0.25, 0.5, 1.0),
    "lexicon": (0.0, 0.5, 1.0, 2.0, 3.0),
}
TYPE_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def transformer_outputs(
    raw: dict[str, Any], base: Path, source: str, names: list[str], split: WordSplit, cache: Path, tag: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The transformer members' word probabilities and validity for ``names``, cached in ``cache`` keyed by
    their pins, the ensemble settings, the names and ``split``, their words as the members see them
    (``split_names``: a change of the split makes a new entry, not a stale one; the lexicon is scored live
    by the callers)."""
    cfg = parse_config(raw, source=source, base_dir=base)
    trans = [m for m in cfg.models if m.kind == MemberKind.TRANSFORMER]
    if not trans:
        return {}, {}
    key = json.dumps([[m.name, m.path, m.sha256, dict(m.label_map)] for m in trans]) + repr(cfg.ensemble)
    words = "\x1f".join(split.words) + split.starts.tobytes().hex() + split.bounds.tobytes().hex()
    digest = hashlib.sha256((key + "\n".join(names) + words).encode()).hexdigest()[:16]
    file = cache / f"{tag}-{digest}.npz"
    if file.is_file():
        with np.load(file, allow_pickle=False) as z:
            return {m.name: z[f"p:{m.name}"] for m in trans}, {m.name: z[f"v:{m.name}"] for m in trans}
    t0 = time.perf_counter()
    sub = parse_config({**raw, "models": [r for r in raw["models"] if r.get("kind", "transformer") != "lexicon"]},
                       source=source, base_dir=base)  # fmt: skip
    e = load_ensemble(sub)
    pred = e.predict(names)
    probs = {m.source.name: p for m, p in zip(e.members, pred.member_probs, strict=True)}
    valid = {m.source.name: v for m, v in zip(e.members, pred.member_valid, strict=True)}
    cache.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {**{f"p:{k}": v for k, v in probs.items()}, **{f"v:{k}": v for k, v in valid.items()}}
    np.savez(file, **arrays)
    log.info("%s: transformer members on %d names in %.0f s (cached)", tag, len(names), time.perf_counter() - t0)
    return probs, valid


def masked_rows(keys: list[str], share: float) -> np.ndarray:
    """Which rows' entities the lexicon is made not to hold: ``share`` of the entities, by a salted hash
    (independent of :func:`fold_of`'s folds)."""
    if share <= 0:
        return np.zeros(len(keys), dtype=bool)
    return np.array([int(hashlib.sha256(f"mask:{k}".encode()).hexdigest(), 16) % 1000 < share * 1000 for k in keys])


def entity_lexicon_keys(entity_keys: list[str], names: list[str]) -> set[str]:
    """The lexicon keys of each entity's own text and of each row's whole name (what a masked row must
    not find)."""
    from spark_ner.lexicon import normalize_word
    from spark_ner.tokenize import split_name

    out: set[str] = set()
    for ek, name in zip(entity_keys, names, strict=True):
        for text in (ek.partition(":")[2] or ek, name):
            out.add(" ".join(normalize_word(w) for w in split_name(text, max_words=64)[0]))
    return out


def lexicon_hide(keys: list[str], names: list[str], share: float) -> tuple[np.ndarray, set[str]]:
    """``member_outputs``' ``hide`` for a dev of entity ``keys`` and ``names``: the masked rows, and the
    lexicon keys those rows must not find."""
    masked = masked_rows(keys, share)
    picked = np.flatnonzero(masked).tolist()
    return masked, entity_lexicon_keys([keys[i] for i in picked], [names[i] for i in picked])


def member_outputs(
    config: str,
    names: list[str],
    cache: Path,
    tag: str,
    hide: tuple[np.ndarray, set[str]] | None = None,
    shape_vote: bool = False,
) -> dict[str, Any]:
    """Each member's word probabilities for ``names`` (transformers cached by config digest and split tag).

    ``hide`` = (rows, keys): on those rows the lexicon member votes as if ``keys`` were not in its lists;
    ``shape_vote``: the hidden words may get the lexicon's shape vote (only fair with a shape model that
    never saw them: ``Lexicon.hide``, ``scripts/shape_dev.py``)."""
    path = Path(config).expanduser().resolve()
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    cfg = parse_config(raw, source=str(path), base_dir=path.parent)
    trans = [m for m in cfg.models if m.kind == MemberKind.TRANSFORMER]
    lexes = [m for m in cfg.models if m.kind == MemberKind.LEXICON]
    ens = cfg.ensemble
    split = split_names(names, ens)
    probs, valid = transformer_outputs(raw, path.parent, str(path), names, split, cache, tag)
    known = {}
    for m in trans:
        known[m.name] = inspect_member(m).projection.sum(axis=0) > 0
    for m in lexes:
        member = load_lexicon_member(inspect_member(m))
        probs[m.name], valid[m.name] = member.tag_probs(split)
        known[m.name] = member.projection.sum(axis=0) > 0
        if hide is not None and hide[0].any():
            rows, keys = hide
            member.lexicon.hide(keys, shape_vote=shape_vote)
            p_m, v_m = member.tag_probs(split)
            word_rows = np.repeat(rows, np.diff(split.bounds))
            probs[m.name] = np.where(word_rows[:, None], p_m, probs[m.name])
            valid[m.name] = np.where(word_rows, v_m, valid[m.name])
    order = [m.name for m in cfg.models]
    return {"split": split, "probs": probs, "valid": valid, "known": known, "order": order, "cfg": cfg}


def vote(d: dict[str, Any], weights: dict[str, float], by_type: dict[str, dict[str, float]]) -> np.ndarray:
    """Name labels of the weighted, label-set-aware mean with per-type factors (weight 0 = left out)."""
    return vote_scored(d, weights, by_type)[0]


def vote_scored(
    d: dict[str, Any], weights: dict[str, float], by_type: dict[str, dict[str, float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`vote`'s name labels, with the decoder's (uncalibrated) name score and label index."""
    use = [n for n in d["order"] if weights.get(n, 0) > 0]
    probs = []
    for n in use:
        f = tag_factors(by_type.get(n, {}))
        probs.append(d["probs"][n] if f is None else d["probs"][n] * f)
    out, ok = combine(probs, [d["valid"][n] for n in use], [weights[n] for n in use], Strategy.MEAN,
                      [d["known"][n] for n in use])  # fmt: skip
    total = out.sum(axis=1, keepdims=True)
    out = np.divide(out, total, out=np.zeros_like(out), where=total > 0)
    sp = d["split"]
    dec = decode(out, ok, sp.bounds, sp.starts, sp.ends)
    return np.asarray(label_names(dec.label)), dec.score, dec.label.astype(np.int64)


def calibration_figures(
    dev: tuple[np.ndarray, np.ndarray, np.ndarray], gold_dev: np.ndarray, folds: np.ndarray, others: dict[str, Any]
) -> dict[str, Any]:
    """Per-label Platt calibration of ner_score: fitted on dev (entity-grouped 5-fold CV for dev's own
    figure), refitted on all dev and applied to the other splits; ECE (10 bins) before and after."""
    from spark_ner.calibrate import calibrate_scores, fit_calibration, reliability

    labels, score, idx = dev
    correct = labels == gold_dev
    held = np.empty(len(score))
    for k in np.unique(folds):
        tr = folds != k
        cal_k = fit_calibration(score[tr], idx[tr], correct[tr])
        held[~tr] = calibrate_scores(score[~tr], idx[~tr], cal_k)
    cal = fit_calibration(score, idx, correct)
    out: dict[str, Any] = {
        "slope": dict(cal.slope),
        "shift": dict(cal.shift),
        "dev": {
            "before": asdict(reliability(score, correct)),
            "after (grouped CV)": asdict(reliability(held, correct)),
        },
    }
    for split, (lab_s, score_s, idx_s, gold_s) in others.items():
        ok = lab_s == gold_s
        out[split] = {
            "before": asdict(reliability(score_s, ok)),
            "after": asdict(reliability(calibrate_scores(score_s, idx_s, cal), ok)),
        }
    return out


_CODE = {lab: i for i, lab in enumerate(NAME_LABELS)}


def macro_f1(gold: Any, pred: Any) -> float:
    """evaluate.classification_metrics' macro-F1 (classes present in gold), vectorised for the search."""
    g = np.fromiter((_CODE.get(x, -1) for x in gold), dtype=np.int64)
    p = np.fromiter((_CODE.get(x, -2) if x is not None else -2 for x in pred), dtype=np.int64)
    f1s = []
    for c in range(len(NAME_LABELS)):
        support = int((g == c).sum())
        if support == 0:
            continue
        tp = int(((g == c) & (p == c)).sum())
        predicted = int((p == c).sum())
        prec = tp / predicted if predicted else 0.0
        rec = tp / support
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return float(np.mean(f1s)) if f1s else 0.0


def candidates_global(
    order: list[str], fixed: dict[str, float] | None = None
) -> list[tuple[dict[str, float], dict[str, dict[str, float]]]]:
    fixed = fixed or {}
    grids = [(fixed[n],) if n in fixed else GLOBAL_GRID.get(n, (0.0, 0.5, 1.0, 2.0)) for n in order]
    out = []
    for w in itertools.product(*grids):
        if any(x > 0 for x in w):
            out.append((dict(zip(order, w, strict=True)), {}))
    return out


def candidates_by_type(
    base: dict[str, float], order: list[str], per_type_members: list[str]
) -> list[tuple[dict[str, float], dict[str, dict[str, float]]]]:
    """The global pick with a factor per type on each of ``per_type_members`` (one member at a time)."""
    out = [(base, {})]
    for n in per_type_members:
        if base.get(n, 0) <= 0:
            continue
        for f in itertools.product(TYPE_FACTORS, repeat=len(ENTITY_TYPES)):
            out.append((base, {n: dict(zip(ENTITY_TYPES, f, strict=True))}))
    return out


def fold_of(keys: list[str], k: int = 5) -> np.ndarray:
    return np.array([int(hashlib.sha256(x.encode()).hexdigest(), 16) % k for x in keys])


def choose(gold: np.ndarray, preds: list[np.ndarray], mask: np.ndarray, complexity: list[float], tol: float) -> int:
    """The simplest candidate within ``tol`` of the best macro-F1 on ``mask`` (one-standard-error rule)."""
    scores = np.array([macro_f1(gold[mask], p[mask]) for p in preds])
    near = np.flatnonzero(scores >= scores.max() - tol)
    return int(min(near.tolist(), key=lambda i: (complexity[i], -scores[i])))


def standard_error(gold: np.ndarray, pred: np.ndarray, folds: np.ndarray) -> float:
    """Standard error of a macro-F1 on dev, from its spread over the entity-grouped folds."""
    per_fold = [macro_f1(gold[folds == k], pred[folds == k]) for k in np.unique(folds)]
    return float(np.std(per_fold, ddof=1) / np.sqrt(len(per_fold)))


def grouped_cv(
    gold: np.ndarray, preds: list[np.ndarray], folds: np.ndarray, complexity: list[float], tol: float
) -> tuple[float, int]:
    """Entity-grouped CV of the selection rule: held-out macro-F1, and the rule's pick on all dev."""
    held = np.empty(len(gold), dtype=object)
    for k in np.unique(folds):
        tr = folds != k
        held[~tr] = preds[choose(gold, preds, tr, complexity, tol)][~tr]
    return macro_f1(gold, held), choose(gold, preds, np.ones(len(gold), bool), complexity, tol)


def type_complexity(by_type: dict[str, dict[str, float]]) -> float:
    """How far per-type factors are from 1 (sum of |log2 factor|): the tie-break toward plain weights."""
    return float(sum(abs(np.log2(f)) for factors in by_type.values() for f in factors.values() if f > 0))


def surface_form(name: str, label: str) -> str:
    """The messy form a corpus name is written in, as far as the text shows it (the corpus keeps no
    ``form`` column; accents stripped cannot be told from a name that had none)."""
    letters = [c for c in name if c.isalpha()]
    if label == "PERSON" and "," in name:
        return "inverted"
    if letters and all(c.isupper() for c in letters) and len(letters) > 1:
        return "upper"
    if letters and all(c.islower() for c in letters):
        return "lower"
    return "as-is"


def report(name: str, gold: Any, pred: Any, frame: pd.DataFrame) -> dict[str, Any]:
    m = classification_metrics(list(gold), list(pred), list(NAME_LABELS))
    out: dict[str, Any] = {
        "system": name,
        "accuracy": round(float(np.mean(np.asarray(gold) == np.asarray(pred))), 4),
        "macro_f1": round(float(m["macro_f1"]), 4),
    }
    per = m.get("per_class", {})
    for lab in NAME_LABELS:
        if lab in per:
            out[f"{lab}_p"] = round(float(per[lab]["precision"]), 3)
            out[f"{lab}_r"] = round(float(per[lab]["recall"]), 3)
    ok = pd.Series(np.asarray(gold) == np.asarray(pred), index=frame.index)
    for col in ("source", "form", "in_lexicon"):
        if col in frame:
            out[f"by_{col}"] = {str(k): round(float(v), 3) for k, v in ok.groupby(frame[col]).mean().items()}
    if "in_lexicon" in frame:  # macro-F1 on names the lexicon holds whole / does not
        for held, part in frame.groupby("in_lexicon"):
            g, p = (
                np.asarray(gold)[frame.index.get_indexer(part.index)],
                np.asarray(pred)[frame.index.get_indexer(part.index)],
            )
            out[f"macro_f1_in_lexicon_{bool(held)}"] = round(macro_f1(g, p), 4)
    if "part" in frame:  # a dev made of parts (corpus dev + scripts/source_holdout.py's realdev): each one's macro-F1
        for part, rows in frame.groupby("part"):
            at = frame.index.get_indexer(rows.index)
            out[f"macro_f1_part_{part}"] = round(macro_f1(np.asarray(gold)[at], np.asarray(pred)[at]), 4)
    if "legal_form" in frame:  # the slice "organisations without a legal form": its recall
        bare = (np.asarray(gold) == "ORGANIZATION") & ~frame["legal_form"].to_numpy(dtype=bool)
        out["org_no_legal_form_recall"] = round(float(ok[bare].mean()), 3) if bare.any() else None
        out["org_no_legal_form_n"] = int(bare.sum())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="~/.cache/spark-ner/models/starter.toml")
    parser.add_argument("--corpus", type=Path, default=Path("~/.cache/spark-ner/models/corpus"))
    parser.add_argument("--dev", type=Path, default=None, help="a parquet to choose on instead of the corpus dev split")
    parser.add_argument(
        "--mask-lexicon",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="on this share of the dev entities the lexicon does not hold the entity (scripts/source_holdout.py)",
    )
    parser.add_argument("--outside", action="append", default=[], help="outside-check parquet(s) to score once")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/spark-ner-combination"))
    parser.add_argument("--per-type", action="append", default=None, help="members given per-type factors")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument(
        "--calibrate",
        choices=("chosen", "config"),
        default=None,
        help="fit [calibration] on dev for the chosen family's pick or the config's weights; ECE per split",
    )
    parser.add_argument("--fix", action="append", default=[], metavar="NAME=WEIGHT", help="keep a member's weight")
    parser.add_argument(
        "--tie-tol",
        type=float,
        default=-1.0,
        help="by-type picks within this macro-F1 of the best go to factors nearest 1 (-1: one std. error; 0: argmax)",
    )
    parser.add_argument(
        "--before",
        default="rampart-bert=1,minilm-names=1.5,roberta-names=0.5",
        help="the previously shipped weights, scored beside the picks ('' to skip)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    corpus = args.corpus.expanduser()
    frames = {s: pd.read_parquet(corpus / f"{s}.parquet") for s in ("dev", "test")}
    if args.dev is not None:
        frames["dev"] = pd.read_parquet(args.dev)
    for split in ("dev", "test"):  # messy forms of the corpus splits, read off the text
        f = frames[split]
        f["form"] = [surface_form(n, g) for n, g in zip(f["name"], f["label"], strict=True)]
    for path in args.outside:
        frames[Path(path).stem] = pd.read_parquet(path)
    hide = lexicon_hide(frames["dev"]["entity_key"].tolist(), frames["dev"]["name"].tolist(), args.mask_lexicon)
    masked = hide[0]
    data = {
        s: member_outputs(args.config, f["name"].tolist(), args.cache, s, hide if s == "dev" else None)
        for s, f in frames.items()
    }
    lexicon = next((m for m in data["dev"]["cfg"].models if m.kind == MemberKind.LEXICON), None)
    if lexicon is not None:  # is the whole name a key of the lexicon's lists? (the rest: generalisation)
        from spark_ner.lexicon import Lexicon, normalize_word

        lex = Lexicon(lexicon.path, lexicon.name)
        for split, frame in frames.items():
            sp = data[split]["split"]
            words = [sp.words[sp.bounds[i] : sp.bounds[i + 1]] for i in range(len(frame))]
            keys = [" ".join(normalize_word(w) for w in ws) for ws in words]
            frame["in_lexicon"] = [k in lex.index for k in keys]
        frames["dev"]["in_lexicon"] &= ~masked
    dev = data["dev"]
    order = dev["order"]
    gold = frames["dev"]["label"].to_numpy()
    folds = fold_of(frames["dev"]["entity_key"].tolist())

    fixed = {k: float(v) for k, _, v in (f.partition("=") for f in args.fix)}
    fam_g = candidates_global(order, fixed)
    preds_g = [vote(dev, w, t) for w, t in fam_g]
    cv_g, pick_g = grouped_cv(gold, preds_g, folds, [0.0] * len(fam_g), 0.0)
    base = fam_g[pick_g][0]
    per_type = args.per_type or [n for n in order if n in ("lexicon", "roberta-names", "minilm-names")]
    fam_t = candidates_by_type(base, order, per_type)
    preds_t = [vote(dev, w, t) for w, t in fam_t]
    best_t = int(np.argmax([macro_f1(gold, p) for p in preds_t]))
    tol = standard_error(gold, preds_t[best_t], folds) if args.tie_tol < 0 else args.tie_tol
    log.info("by-type: ties within %.4f macro-F1 (one standard error on dev) go to factors nearest 1", tol)
    cv_t, pick_t = grouped_cv(gold, preds_t, folds, [type_complexity(t) for _w, t in fam_t], tol)
    families = {
        "global": (cv_g, fam_g[pick_g], macro_f1(gold, preds_g[pick_g])),
        "by-type": (cv_t, fam_t[pick_t], macro_f1(gold, preds_t[pick_t])),
    }
    chosen = "by-type" if cv_t > cv_g else "global"
    for fam, (cv, (w, t), dev_f1) in families.items():
        log.info("%s: dev grouped-CV %.4f, dev (refit) %.4f, weights %s, by type %s%s", fam, cv, dev_f1, w, t,
                 "  <- chosen" if fam == chosen else "")  # fmt: skip
    results: dict[str, Any] = {"families": {}, "chosen": chosen, "splits": {}}
    for fam, (cv, (w, t), dev_f1) in families.items():
        results["families"][fam] = {"cv": round(cv, 4), "dev": round(dev_f1, 4), "weights": w, "by_type": t}
    for split, d in data.items():
        gold_s = frames[split]["label"].to_numpy()
        rows = []
        if args.before:
            before = {k: float(v) for k, _, v in (x.partition("=") for x in args.before.split(","))}
            rows.append(report("ensemble (before)", gold_s, vote(d, before, {}), frames[split]))
        for fam, (_cv, (w, t), _f) in families.items():
            rows.append(report(f"ensemble ({fam})", gold_s, vote(d, w, t), frames[split]))
        cfg_w = {m.name: m.weight for m in d["cfg"].models}
        cfg_t = {m.name: dict(m.weights_by_type) for m in d["cfg"].models if m.weights_by_type}
        rows.append(report("ensemble (config)", gold_s, vote(d, cfg_w, cfg_t), frames[split]))
        for n in order:
            rows.append(report(n, gold_s, vote(d, {n: 1.0}, {}), frames[split]))
        results["splits"][split] = rows
        log.info("\n== %s (%d names)", split, len(gold_s))
        for r in rows:
            log.info("%-22s acc %.4f macro-F1 %.4f  %s", r["system"], r["accuracy"], r["macro_f1"],
                     " ".join(f"{k}={v}" for k, v in r.items() if k.endswith(("_p", "_r"))))  # fmt: skip
            for col in ("by_source", "by_form", "by_in_lexicon"):
                if col in r:
                    log.info("    %s: %s", col, r[col])
            extra = {k: v for k, v in r.items() if k.startswith(("macro_f1_in_", "macro_f1_part_", "org_no_legal"))}
            if extra:
                log.info("    %s", extra)
    if args.calibrate:
        w, t = families[chosen][1]
        if args.calibrate == "config":
            w = {m.name: m.weight for m in dev["cfg"].models}
            t = {m.name: dict(m.weights_by_type) for m in dev["cfg"].models if m.weights_by_type}
        others = {}
        for split, d in data.items():
            if split != "dev":
                lab_s, score_s, idx_s = vote_scored(d, w, t)
                others[split] = (lab_s, score_s, idx_s, frames[split]["label"].to_numpy())
        cal = calibration_figures(vote_scored(dev, w, t), gold, folds, others)
        results["calibration"] = cal
        log.info("\ncalibration (%s): slope %s shift %s", args.calibrate, cal["slope"], cal["shift"])
        for split in cal:
            if split not in ("slope", "shift"):
                log.info("  %s ECE: %s", split, {k: v["ece"] for k, v in cal[split].items()})
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
