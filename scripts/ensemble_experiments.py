"""Reproduce EVALUATION.md's "four more ways tried": dev errors by source, extra members, stacking.

    python scripts/ensemble_experiments.py --config ~/.cache/spark-ner/models/starter.toml \
        [--extra roberta-e3=/tmp/rx/e3 --extra minilm-seed1=/tmp/rx/s1] [--stacking]

Extra members are folders trained with ``spark-ner train`` (commands in EVALUATION.md). Weights are
searched on the corpus DEV split only; the test split is scored once with the dev-best weights.
``--stacking`` fits the name-level combiner that was tried and not shipped, with random and with
entity-grouped 5-fold cross-validation on dev (the corpus holds several surface forms per entity,
so random folds leak). A dev-time tool: it is not part of the package.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import logging
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spark_ner.config import NAME_LABELS, Strategy, parse_config
from spark_ner.decode import decode, label_names, type_probs
from spark_ner.ensemble import combine, load_ensemble
from spark_ner.tools.evaluate import classification_metrics

log = logging.getLogger("ensemble_experiments")


def member_outputs(config: str, extra: list[str], corpus: Path) -> dict[str, dict[str, Any]]:
    """Each split's member word probabilities (distinct names), with the config's members + extras."""
    path = Path(config).expanduser().resolve()
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    for item in extra:
        name, _, folder = item.partition("=")
        raw["models"].append({"name": name, "path": str(Path(folder).expanduser().resolve()), "weight": 1.0})
    cfg = parse_config(raw, source=str(path), base_dir=path.parent)  # member paths resolve as in the file
    ens = load_ensemble(cfg)
    out = {}
    for split in ("dev", "test"):
        frame = pd.read_parquet(corpus / f"{split}.parquet")
        pred = ens.predict(frame["name"].tolist())
        out[split] = {"frame": frame, "pred": pred, "known": ens.known}
    out["members"] = {"names": [m.source.name for m in ens.members], "weights": ens.weights}
    return out


def vote(d: dict[str, Any], weights: tuple[float, ...]) -> np.ndarray:
    """Name labels of the label-set-aware weighted mean with ``weights`` (0 = member left out)."""
    pred, use = d["pred"], [i for i, w in enumerate(weights) if w > 0]
    probs, valid = combine(
        [pred.member_probs[i] for i in use],
        [pred.member_valid[i] for i in use],
        [weights[i] for i in use],
        Strategy.MEAN,
        [d["known"][i] for i in use],
    )
    sp = pred.split
    return np.asarray(label_names(decode(probs, valid, sp.bounds, sp.starts, sp.ends).label))


def macro_f1(gold: Any, pred: Any) -> float:
    return float(classification_metrics(list(gold), list(pred), list(NAME_LABELS))["macro_f1"])


def errors_by_source(d: dict[str, Any], weights: tuple[float, ...], members: list[str]) -> pd.DataFrame:
    """Dev errors per corpus source; ``members_agree``: minilm-names and roberta-names both wrong alike."""
    pred = d["pred"]
    sp = pred.split
    own = {
        name: decode(p, v, sp.bounds, sp.starts, sp.ends).label
        for name, p, v in zip(members, pred.member_probs, pred.member_valid, strict=True)
    }
    frame = d["frame"].assign(pred=vote(d, weights))
    family = frame["source"].str.split(":").str[:2].str.join(":")
    for prefix in ("faker:region", "faker:company", "faker:person", "faker:household", "template"):
        family = family.where(~frame["source"].str.startswith(prefix), prefix)
    wrong = frame["label"] != frame["pred"]
    agree = (
        wrong & (own["minilm-names"] == own["roberta-names"])
        if {"minilm-names", "roberta-names"} <= set(own)
        else wrong & False
    )
    table = (
        frame.assign(family=family, wrong=wrong, agree=agree)
        .groupby("family")
        .agg(names=("wrong", "size"), errors=("wrong", "sum"), members_agree=("agree", "sum"))
    )
    table["accuracy"] = (1 - table["errors"] / table["names"]).round(3)
    return table.sort_values("errors", ascending=False)


def stacking_features(d: dict[str, Any]) -> np.ndarray:
    """Per member: type mass (mean, max over words), own label; word count; casing."""
    pred, names = d["pred"], d["frame"]["name"].tolist()
    sp = pred.split
    n = len(sp.bounds) - 1
    word_name = np.repeat(np.arange(n), np.diff(sp.bounds))
    chars = (sp.ends - sp.starts).astype(np.float64)
    cols = []
    for probs, valid in zip(pred.member_probs, pred.member_valid, strict=True):
        tp = type_probs(probs).astype(np.float64) * valid[:, None]
        mass = np.zeros((n, 5))
        np.add.at(mass, word_name, tp * chars[:, None])
        total = np.bincount(word_name, weights=chars * valid, minlength=n)
        top = np.zeros((n, 5))
        np.maximum.at(top, word_name, tp)
        own = decode(probs, valid, sp.bounds, sp.starts, sp.ends).label
        cols += [mass / np.maximum(total, 1e-9)[:, None], top, np.eye(5)[own.astype(np.int64)]]
    nw = np.diff(sp.bounds)
    cols.append(np.stack([nw == 1, nw == 2, nw >= 3], axis=1).astype(np.float64))
    cols.append(np.array([(s.isupper(), s.islower(), any(c.isdigit() for c in s)) for s in names], dtype=np.float64))
    return np.concatenate(cols, axis=1).astype(np.float32)


def fit_predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, hidden: int, bag: int = 5) -> np.ndarray:
    """A bag of MLPs (or logistic regressions, hidden=0), full-batch Adam; mean softmax on x_new."""
    import torch

    torch.set_num_threads(1)
    xt, yt, xn = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(x_new)
    out = np.zeros((len(x_new), 5))
    for k in range(bag):
        torch.manual_seed(k)
        net: torch.nn.Module = (
            torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 5))
            if hidden
            else torch.nn.Linear(x.shape[1], 5)
        )
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        for _ in range(600):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
        with torch.no_grad():
            out += torch.softmax(net(xn), dim=1).numpy() / bag
    return out


def stacking(data: dict[str, Any]) -> None:
    dev, test = data["dev"], data["test"]
    x, x_test = stacking_features(dev), stacking_features(test)
    y = np.array([NAME_LABELS.index(v) for v in dev["frame"]["label"]])
    labels = np.asarray(NAME_LABELS, dtype=object)
    keys = dev["frame"]["entity_key"].tolist()
    folds = {
        "random": np.random.default_rng(0).integers(0, 5, len(y)),
        "by entity": np.array([int(hashlib.sha256(k.encode()).hexdigest(), 16) % 5 for k in keys]),
    }
    for hidden in (64, 16, 0):
        row = []
        for kind, fold in folds.items():
            p = np.zeros((len(y), 5))
            for k in range(5):
                p[fold == k] = fit_predict(x[fold != k], y[fold != k], x[fold == k], hidden)
            row.append(f"{kind} CV {macro_f1(dev['frame']['label'], labels[p.argmax(1)]):.4f}")
        test_f1 = macro_f1(test["frame"]["label"], labels[fit_predict(x, y, x_test, hidden).argmax(1)])
        log.info("stacker hidden=%d: dev %s; fitted on all dev, test %.4f", hidden, ", ".join(row), test_f1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="~/.cache/spark-ner/models/starter.toml")
    parser.add_argument("--corpus", type=Path, default=Path("~/.cache/spark-ner/models/corpus"))
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=FOLDER")
    parser.add_argument("--stacking", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    data = member_outputs(args.config, args.extra, args.corpus.expanduser())
    base = tuple(data["members"]["weights"][: len(data["members"]["weights"]) - len(args.extra)])
    trio = ["rampart-bert", "minilm-names", "roberta-names"]
    if data["members"]["names"][: len(base)] != trio:  # the weight grid below is the one searched for that trio
        raise SystemExit(
            f"--config must hold the 2026-11-22 starter trio {trio} (uncomment rampart-bert, drop the lexicon), "
            f"it holds {data['members']['names'][: len(base)]}; the current combination is searched by "
            "scripts/combination_search.py"
        )
    shipped = (*base, *(0.0,) * len(args.extra))
    dev_f1 = macro_f1(data["dev"]["frame"]["label"], vote(data["dev"], shipped))
    test_f1 = macro_f1(data["test"]["frame"]["label"], vote(data["test"], shipped))
    log.info("shipped weights %s: dev %.4f, test %.4f", shipped, dev_f1, test_f1)
    log.info(
        "dev errors by source:\n%s",
        errors_by_source(data["dev"], shipped, data["members"]["names"]).head(12).to_string(),
    )
    if args.extra:
        grid = [(0.5, 1.0), (1.0, 1.5, 2.0), (0.0, 0.25, 0.5), *([(0.0, 0.25, 0.5, 1.0, 1.5)] * len(args.extra))]
        scored = sorted(
            ((macro_f1(data["dev"]["frame"]["label"], vote(data["dev"], w)), w) for w in itertools.product(*grid)),
            reverse=True,
        )
        best_f1, best = scored[0]
        log.info(
            "dev-best weights %s: dev %.4f, test %.4f",
            best,
            best_f1,
            macro_f1(data["test"]["frame"]["label"], vote(data["test"], best)),
        )
    if args.stacking:
        stacking(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
