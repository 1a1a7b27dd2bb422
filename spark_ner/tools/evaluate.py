"""Evaluation: name-level metrics for the ensemble and for each member alone (``spark-ner eval``).

Why each member too: the ensemble only earns its cost if it beats its best member, and a member
that drags the vote down shows up here first. The metric functions are pure (lists in, numbers
out) so they are tested against hand-computed numbers; :func:`evaluate` runs the ensemble
in-process on a labelled file and writes ``metrics.json``, ``confusion.png`` and ``report.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from spark_ner.calibrate import reliability
from spark_ner.cliargs import add_deprecated_alias, add_output_argument
from spark_ner.config import NAME_LABELS, Config, add_config_arguments, config_from_args, load_config
from spark_ner.errors import ConfigError, GoldLabelError, InputColumnError, InputNotFoundError

logger = logging.getLogger(__name__)

MEMBER_PREFIX = "member_label__"
ENSEMBLE = "ensemble"

_ALIASES: dict[str, str] = {
    **{label.casefold(): label for label in NAME_LABELS},
    "per": "PERSON",
    "org": "ORGANIZATION",
    "loc": "LOCATION",
    "o": "NONE",
}


class Labeler(Protocol):
    """What :func:`evaluate` needs from an ensemble (``spark_ner.ensemble.Ensemble``)."""

    def label(self, names: Sequence[Any] | pd.Series, members: bool = False) -> pd.DataFrame: ...


# ----------------------------------------------------------------------------- pure metrics


def _check_known(values: Sequence[Any], labels: Sequence[str], what: str) -> None:
    known = set(labels)
    bad = sum(1 for v in values if v not in known)
    if bad:
        # the offending values are not echoed: a wrong column could hold customer names
        raise ValueError(f"{bad} {what} value(s) are not among the labels {', '.join(labels)}; check the label column")


def confusion_matrix(gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str]) -> np.ndarray:
    """Counts ``[i, j]`` of rows with gold ``labels[i]`` predicted as ``labels[j]``.

    A ``None`` prediction (the system failed on that row) is no prediction: the row is left
    out of the matrix, but :func:`classification_metrics` still counts it as a miss.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} rows but pred has {len(pred)}")
    _check_known(gold, labels, "gold")
    _check_known([p for p in pred if p is not None], labels, "predicted")
    index = {label: i for i, label in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        if p is not None:
            cm[index[g], index[p]] += 1
    return cm


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def classification_metrics(
    gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str] = NAME_LABELS
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support, confusion matrix.

    Macro-F1 averages over the classes that occur in ``gold`` only (a class absent from the
    data says nothing about the system). Precision of a class never predicted is 0.0. Rows
    predicted ``None`` count in support and as wrong, in no class's predictions.
    """
    cm = confusion_matrix(gold, pred, labels)
    n = len(gold)
    support = np.array([sum(1 for g in gold if g == label) for label in labels], dtype=np.int64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    per_class: dict[str, dict[str, float | int]] = {}
    f1s: list[float] = []
    for i, label in enumerate(labels):
        p = _ratio(tp[i], predicted[i])
        r = _ratio(tp[i], support[i])
        f1 = _ratio(2 * p * r, p + r)
        per_class[label] = {
            "precision": p,
            "recall": r,
            "f1": f1,
            "support": int(support[i]),
            "predicted": int(predicted[i]),
        }
        f1s.append(f1)
    present = [f for f, s in zip(f1s, support, strict=True) if s > 0]
    return {
        "n": n,
        "accuracy": _ratio(int(tp.sum()), n),
        "macro_f1": float(np.mean(present)) if present else 0.0,
        "weighted_f1": _ratio(sum(f * s for f, s in zip(f1s, support, strict=True)), n),
        "unlabelled": sum(1 for p in pred if p is None),
        "per_class": per_class,
        "confusion": {"labels": list(labels), "matrix": cm.tolist()},
    }


def normalize_labels(values: Sequence[Any]) -> list[str | None]:
    """Gold labels as NAME_LABELS: case-insensitive, ``PER``/``ORG``/``LOC``/``O`` accepted.

    Nulls stay ``None``; anything else unknown is an error (without echoing the value).
    """
    out: list[str | None] = []
    bad = 0
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out.append(None)
            continue
        label = _ALIASES.get(str(v).strip().casefold())
        if label is None:
            bad += 1
        out.append(label)
    if bad:
        raise GoldLabelError(
            f"{bad} gold label(s) are not one of {', '.join(NAME_LABELS)} (or PER/ORG/LOC/MISC/O). "
            "Fix: map the --label-col values to those labels"
        )
    return out


# ----------------------------------------------------------------------------- form slices

#: The rewritten forms :func:`form_slices` makes of a labelled split (issue 25): what customer tables
#: do to names that the corpus holds cleanly.
SLICES = ("org-no-legal-form", "accents-stripped", "upper", "lower", "wrapped", "post-nominals")

#: how the ``wrapped`` slice wraps a split's names, row ``i`` taking ``WRAPS[i % 4]``: as CSV exports and
#: hand-typed tables leave them (quoted, in brackets, a trailing full stop or comma)
WRAPS = ('"{}"', "({})", "{}.", "{},")
#: how the ``post-nominals`` slice writes a degree after a person's name, row ``i`` taking ``POST_NOMINAL_FORMS[i % 8]``
POST_NOMINAL_FORMS = ("{} Ph.D.", "{}, MD", "{} MBA", "{}, CPA", "{} Esq.", "{}, B.Sc.", "{} CSc.", "{}, PhD")


def strip_legal_form(name: str) -> str:
    """``"Acme Holdings, Inc."`` -> ``"Acme Holdings"``: the name without its trailing legal form
    (cleanco's basename, as the corpus strips them; unchanged when it has none or cleanco is absent)."""
    try:
        import cleanco  # noqa: F401  (the starter extra)
    except ImportError:  # the starter extra is not installed: no slice without a legal form
        return name
    from spark_ner.starter import legal_forms

    return legal_forms.strip_legal_form(name)


def form_slices(frame: pd.DataFrame, name_col: str = "name", label_col: str = "label") -> dict[str, pd.DataFrame]:
    """A labelled split rewritten in the forms real tables hold, one frame per :data:`SLICES` entry.

    Why: a split's own messy forms are few and differ by source, so they cannot say what a form costs.
    Each slice rewrites the same gold names: ``org-no-legal-form`` every organisation without its
    legal form (all of them, the ones that never had one too: "organisations without a legal form");
    ``accents-stripped`` every name that has accents, without them (``lexicon.fold_accents``: "Łódź"
    -> "Lodz"); ``upper`` and ``lower`` every name in capitals / small letters; ``wrapped`` every name
    quoted, in brackets, with a full stop or a comma after it, in turn (:data:`WRAPS`); ``post-nominals``
    every person with a degree after the name (:data:`POST_NOMINAL_FORMS`: "Ana Ruiz, CPA"). Gold labels are
    unchanged; a ``changed`` column says which rows the rewrite altered. Other columns are kept.
    """
    from spark_ner.lexicon import fold_accents

    names = frame[name_col].astype(str)
    labels = frame[label_col].astype(str).str.upper()
    orgs = frame[labels.isin(("ORGANIZATION", "ORG"))]
    persons = frame[labels.isin(("PERSON", "PER"))]
    # each rewrite of a slice's row: (its position in the slice, its name) -> the name rewritten
    rewrite: dict[str, tuple[pd.DataFrame, Callable[[int, str], str]]] = {
        "org-no-legal-form": (orgs, lambda _, n: strip_legal_form(n)),
        "accents-stripped": (frame[names.map(lambda n: fold_accents(n) != n)], lambda _, n: fold_accents(n)),
        "upper": (frame, lambda _, n: n.upper()),
        "lower": (frame, lambda _, n: n.lower()),
        "wrapped": (frame, lambda i, n: WRAPS[i % len(WRAPS)].format(n)),
        "post-nominals": (persons, lambda i, n: POST_NOMINAL_FORMS[i % len(POST_NOMINAL_FORMS)].format(n)),
    }
    out: dict[str, pd.DataFrame] = {}
    for name in SLICES:
        part, fn = rewrite[name]
        part = part.copy()
        new = [fn(i, str(n)) for i, n in enumerate(part[name_col])]
        part["changed"] = [a != b for a, b in zip(new, part[name_col].astype(str), strict=True)]
        part[name_col] = new
        out[name] = part.reset_index(drop=True)
    return out


def slice_metrics(
    ensemble: Labeler,
    frame: pd.DataFrame,
    name_col: str,
    label_col: str,
    members: Sequence[str],
) -> dict[str, Any]:
    """Each :func:`form_slices` slice labelled by ``ensemble``: per system, the metrics of the slice."""
    out: dict[str, Any] = {}
    for name, part in form_slices(frame, name_col, label_col).items():
        gold = normalize_labels(part[label_col].tolist())
        keep = [i for i, g in enumerate(gold) if g is not None]
        if not keep:
            continue
        names = [str(part[name_col].iloc[i]) for i in keep]
        gold_s = [str(gold[i]) for i in keep]
        labelled = label_with_progress(ensemble, names)
        systems = {ENSEMBLE: classification_metrics(gold_s, _system_labels(labelled, "label"))}
        for member in members:
            col = f"{MEMBER_PREFIX}{member}"
            if col in labelled.columns:
                systems[member] = classification_metrics(gold_s, _system_labels(labelled, col))
        out[name] = {"n": len(keep), "changed": int(part["changed"].iloc[keep].sum()), "systems": systems}
    return out


# ----------------------------------------------------------------------------- evaluate


def load_table(path: Path | str, columns: Sequence[str]) -> pd.DataFrame:
    """Read ``columns`` of a parquet file/folder or a CSV (text kept as text: "N/A" is a name)."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"--input {str(path)!r} does not exist. Fix: pass an existing parquet or CSV file")
    wanted = list(dict.fromkeys(columns))
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        head = pd.read_csv(path, sep=sep, nrows=0)
        _require_columns(list(head.columns), wanted)
        return pd.read_csv(path, sep=sep, usecols=wanted, dtype=str, keep_default_na=False, na_values=[""])
    import pyarrow.dataset as ds

    # the schema only (a file or a partitioned folder), so a wrong column fails before any read
    try:
        schema = ds.dataset(str(path), format="parquet").schema
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputNotFoundError(
            f"--input {str(path)!r} cannot be read as parquet ({type(exc).__name__}). "
            "Fix: pass a parquet file or folder, or a .csv/.tsv file"
        ) from None
    _require_columns(schema.names, wanted)
    return pd.read_parquet(path, columns=wanted)


def _require_columns(have: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in have]
    if missing:
        raise InputColumnError(
            f"input has no column(s) {', '.join(missing)}; it has: {', '.join(map(str, have))}. "
            "Fix: pass --name-col/--label-col."
        )


def _system_labels(frame: pd.DataFrame, col: str) -> list[str | None]:
    return [v if isinstance(v, str) else None for v in frame[col].tolist()]


#: names per ``label`` call when evaluating, so a long input reports progress as it goes
PROGRESS_CHUNK = 20_000


def label_with_progress(ensemble: Labeler, names: list[str], chunk: int = PROGRESS_CHUNK) -> pd.DataFrame:
    """``ensemble.label(names, members=True)`` in chunks, with a progress bar on a terminal and a
    log line per chunk (``-v``): a 100k-name gold file takes minutes on a CPU."""
    from tqdm.auto import tqdm

    if len(names) <= chunk:
        return ensemble.label(names, members=True)
    parts = []
    t0 = time.perf_counter()
    with tqdm(total=len(names), unit="name", desc="eval", disable=None) as bar:
        for start in range(0, len(names), chunk):
            parts.append(ensemble.label(names[start : start + chunk], members=True))
            done = min(start + chunk, len(names))
            bar.update(done - start)
            rate = done / max(time.perf_counter() - t0, 1e-9)
            logger.info("eval: labelled %d of %d names (%.0f names/s)", done, len(names), rate)
    return pd.concat(parts, ignore_index=True)


def evaluate(
    input_path: Path | str,
    name_col: str = "name",
    label_col: str = "label",
    config: Config | Path | str | None = None,
    out_dir: Path | str = "eval",
    limit: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    group_col: str | None = None,
    ensemble: Labeler | None = None,
    slices: bool = False,
) -> dict[str, Any]:
    """Label the names of a gold file with the ensemble; score it and each member alone.

    Writes ``metrics.json``, ``confusion.png`` (ensemble) and ``report.md`` into ``out_dir`` and
    returns the metrics. Rows with a null name or gold label are skipped (and counted).
    ``ensemble`` lets a caller pass an already loaded ensemble; otherwise one is loaded from
    ``config`` (a :class:`Config`, a TOML path, or None for the default). ``slices`` also labels
    the gold names rewritten by :func:`form_slices` (``metrics["slices"]``, a table in the report).
    """
    cfg = config if isinstance(config, Config) else load_config(config, overrides=overrides)
    cols = [name_col, label_col] + ([group_col] if group_col else [])
    frame = load_table(input_path, cols)
    if limit is not None:
        frame = frame.head(max(int(limit), 0))
    gold_all = normalize_labels(frame[label_col].tolist())
    names_all = frame[name_col].tolist()
    keep = [i for i, (n, g) in enumerate(zip(names_all, gold_all, strict=True)) if isinstance(n, str) and g is not None]
    skipped = len(frame) - len(keep)
    names = [names_all[i] for i in keep]
    gold = [gold_all[i] for i in keep]
    gold_s: list[str] = [g for g in gold if g is not None]
    if not names:
        raise InputColumnError(
            "no rows with both a name and a gold label to evaluate. Fix: check --name-col and --label-col"
        )

    if ensemble is None:
        from spark_ner.ensemble import load_ensemble

        t_load = time.perf_counter()
        ensemble = load_ensemble(cfg)
        load_seconds = time.perf_counter() - t_load
    else:
        load_seconds = 0.0
    t0 = time.perf_counter()
    out = label_with_progress(ensemble, names)
    seconds = time.perf_counter() - t0
    if len(out) != len(names):
        raise RuntimeError(f"the ensemble returned {len(out)} rows for {len(names)} names")

    member_names = [m.name for m in cfg.models]
    preds: dict[str, list[str | None]] = {ENSEMBLE: _system_labels(out, "label")}
    for name in member_names:
        col = f"{MEMBER_PREFIX}{name}"
        if col in out.columns:
            preds[name] = _system_labels(out, col)
        else:
            logger.warning("the ensemble returned no labels for member %s", name)
    systems = {sys_name: classification_metrics(gold_s, p) for sys_name, p in preds.items()}

    agree = pd.to_numeric(out["agreement"], errors="coerce").to_numpy(dtype=float)
    score = pd.to_numeric(out["score"], errors="coerce").to_numpy(dtype=float)
    correct = np.array([p == g for p, g in zip(preds[ENSEMBLE], gold_s, strict=True)])
    full = agree >= 1.0 - 1e-9
    errors = int(out["error"].notna().sum()) if "error" in out else 0
    versions = out["model_version"].dropna().unique().tolist() if "model_version" in out else []
    metrics: dict[str, Any] = {
        "input": str(input_path),
        "name_col": name_col,
        "label_col": label_col,
        "rows": len(frame),
        "evaluated": len(names),
        "skipped": skipped,
        "errors": errors,
        "labels": list(NAME_LABELS),
        "model_version": str(versions[0]) if versions else None,
        "config_fingerprint": cfg.fingerprint(),
        "members": member_names,
        "seconds": {"load": round(load_seconds, 3), "label": round(seconds, 3)},
        "names_per_second": round(len(names) / seconds, 1) if seconds > 0 else None,
        "agreement": {
            "mean": _nanmean(agree),
            "full_share": float(full.mean()),
            "accuracy_full": _ratio(int(correct[full].sum()), int(full.sum())),
            "accuracy_split": _ratio(int(correct[~full].sum()), int((~full).sum())),
        },
        "mean_score": _nanmean(score),
        # does ner_score mean what it says? (reliability diagram, 10 equal-width bins; spark_ner.calibrate)
        "calibration": asdict(reliability(score, correct)),
        "systems": systems,
    }
    if group_col:
        groups = frame[group_col].tolist()
        by: dict[str, list[bool]] = {}
        for i, ok in zip(keep, correct.tolist(), strict=True):
            by.setdefault(str(groups[i]), []).append(ok)
        metrics["by_group"] = {k: {"n": len(v), "accuracy": _ratio(sum(v), len(v))} for k, v in sorted(by.items())}

    if slices:
        kept = frame.iloc[keep].reset_index(drop=True)
        metrics["slices"] = slice_metrics(ensemble, kept, name_col, label_col, member_names)

    out_path = Path(out_dir)
    out_path.mkdir(parents=True, exist_ok=True)
    (out_path / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    plot_confusion(systems[ENSEMBLE], out_path / "confusion.png", title=ENSEMBLE)
    (out_path / "report.md").write_text(render_report(metrics), encoding="utf-8")
    logger.info(
        "evaluated %d names: accuracy %.4f, macro-F1 %.4f",
        len(names),
        systems[ENSEMBLE]["accuracy"],
        systems[ENSEMBLE]["macro_f1"],
    )
    return metrics


def _nanmean(a: np.ndarray) -> float | None:
    return float(np.nanmean(a)) if a.size and not np.isnan(a).all() else None


def plot_confusion(metrics: Mapping[str, Any], path: Path, title: str = "") -> Path | None:
    """Row-normalised confusion heatmap with counts; skipped (None) without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning("matplotlib is not installed; confusion.png not written")
        return None
    labels = metrics["confusion"]["labels"]
    cm = np.asarray(metrics["confusion"]["matrix"], dtype=np.int64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    fig = Figure(figsize=(6.4, 5.4), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{cm[i, j]}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_title(f"{title}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
    fig.tight_layout()
    fig.savefig(str(path))
    return path


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def render_report(metrics: Mapping[str, Any]) -> str:
    """``report.md``: a summary across systems, then a per-class table per system."""
    systems: Mapping[str, Mapping[str, Any]] = metrics["systems"]
    lines = [
        "# spark_ner evaluation",
        "",
        f"- input: `{metrics['input']}` (name column `{metrics['name_col']}`, gold column `{metrics['label_col']}`)",
        f"- rows evaluated: {metrics['evaluated']} (skipped: {metrics['skipped']}, errors: {metrics['errors']})",
        f"- model version: `{metrics['model_version']}`; config fingerprint `{metrics['config_fingerprint']}`",
        f"- labelling time: {metrics['seconds']['label']} s ({metrics['names_per_second']} names/s)",
        f"- members agree fully on {metrics['agreement']['full_share']:.1%} of rows "
        f"(accuracy there {metrics['agreement']['accuracy_full']:.4f}, "
        f"elsewhere {metrics['agreement']['accuracy_split']:.4f})",
        "",
        "## Summary",
        "",
        "| system | accuracy | macro-F1 | weighted F1 | unlabelled |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, m in systems.items():
        lines.append(
            f"| {name} | {_fmt(m['accuracy'])} | {_fmt(m['macro_f1'])} | {_fmt(m['weighted_f1'])} | {m['unlabelled']} |"
        )
    for name, m in systems.items():
        lines += [
            "",
            f"## {name}",
            "",
            "| label | precision | recall | F1 | support | predicted |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for label, c in m["per_class"].items():
            lines.append(
                f"| {label} | {_fmt(c['precision'])} | {_fmt(c['recall'])} | {_fmt(c['f1'])} | "
                f"{c['support']} | {c['predicted']} |"
            )
    ens = systems.get(ENSEMBLE)
    if ens is not None:
        labels = ens["confusion"]["labels"]
        lines += [
            "",
            f"## Confusion matrix ({ENSEMBLE}; rows gold, columns predicted)",
            "",
            "| gold \\ pred | " + " | ".join(labels) + " |",
            "| --- |" + " ---: |" * len(labels),
        ]
        for label, row in zip(labels, ens["confusion"]["matrix"], strict=True):
            lines.append(f"| {label} | " + " | ".join(str(x) for x in row) + " |")
    cal = metrics.get("calibration")
    if cal:
        lines += [
            "",
            f"## Calibration of the ensemble's score (expected calibration error {cal['ece']:.4f})",
            "",
            "| score bin | names | mean score | accuracy |",
            "| --- | ---: | ---: | ---: |",
        ]
        for k, n in enumerate(cal["count"]):
            if n:
                lo, hi = cal["edges"][k], cal["edges"][k + 1]
                lines.append(f"| {lo:.1f}-{hi:.1f} | {n} | {cal['mean_score'][k]:.3f} | {cal['accuracy'][k]:.3f} |")
    if metrics.get("slices"):
        lines += [
            "",
            "## Rewritten forms (ensemble; PERSON precision: how many names called persons are persons)",
            "",
            "| slice | names | changed | accuracy | macro-F1 | PERSON P / R | ORGANIZATION P / R | LOCATION P / R |",
            "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
        ]
        for name, sl in metrics["slices"].items():
            m = sl["systems"][ENSEMBLE]
            pr = {
                lab: f"{m['per_class'][lab]['precision']:.3f} / {m['per_class'][lab]['recall']:.3f}"
                for lab in ("PERSON", "ORGANIZATION", "LOCATION")
            }
            lines.append(
                f"| {name} | {sl['n']} | {sl['changed']} | {_fmt(m['accuracy'])} | {_fmt(m['macro_f1'])} | "
                f"{pr['PERSON']} | {pr['ORGANIZATION']} | {pr['LOCATION']} |"
            )
    if "by_group" in metrics:
        lines += ["", "## Ensemble accuracy by group", "", "| group | n | accuracy |", "| --- | ---: | ---: |"]
        for group, g in metrics["by_group"].items():
            lines.append(f"| {group} | {g['n']} | {_fmt(g['accuracy'])} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``spark-ner eval``."""
    parser.add_argument("--input", required=True, type=Path, help="gold file (parquet or csv)")
    parser.add_argument("--name-col", default="name", help="names column (default: name)")
    parser.add_argument("--label-col", default="label", help="gold label column (default: label)")
    add_config_arguments(parser)
    add_output_argument(parser, "--out", dest="out", type=Path, help="folder for the metrics/report")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N rows only")
    parser.add_argument("--group-col", default=None, help="also report ensemble accuracy per value of this column")
    parser.add_argument(
        "--slices",
        action="store_true",
        help="also score the gold names rewritten: organisations without their legal form, accents stripped, "
        "ALL CAPS, all lower, wrapped in quotes, brackets, a trailing stop or comma, persons with a degree after "
        "the name (metrics.json 'slices', a table in report.md)",
    )
    log_with = parser.add_argument(
        "--log-with",
        dest="mlflow",
        choices=["mlflow"],
        default=None,
        help="log the metrics (ensemble and each member), metrics.json, report.md and confusion.png to an "
        "MLflow run ($MLFLOW_TRACKING_URI; the mlflow extra)",
    )
    add_deprecated_alias(parser, "--mlflow", log_with, stores="mlflow", use="--log-with mlflow")
    experiment = parser.add_argument(
        "--experiment", dest="mlflow_experiment", default=None, metavar="NAME", help="MLflow experiment"
    )
    add_deprecated_alias(parser, "--mlflow-experiment", experiment)


def mlflow_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers worth charting, flat: ``<system>.accuracy``, ``<system>.<LABEL>.f1``, agreement, speed."""
    flat: dict[str, Any] = {
        "evaluated": metrics.get("evaluated"),
        "errors": metrics.get("errors"),
        "names_per_second": metrics.get("names_per_second"),
        "mean_score": metrics.get("mean_score"),
        **{f"agreement.{k}": v for k, v in (metrics.get("agreement") or {}).items()},
    }
    for system, m in metrics["systems"].items():
        for key in ("accuracy", "macro_f1", "weighted_f1", "unlabelled"):
            flat[f"{system}.{key}"] = m.get(key)
        for label, c in m.get("per_class", {}).items():
            for key in ("precision", "recall", "f1"):
                flat[f"{system}.{label}.{key}"] = c.get(key)
    return {k: float(v) for k, v in flat.items() if isinstance(v, int | float) and math.isfinite(float(v))}


def log_to_mlflow(metrics: Mapping[str, Any], out_dir: Path, experiment: str | None = None) -> str:
    """One MLflow run (nested under an active one) with the metrics, the config's identity as params,
    and the files ``evaluate`` wrote; returns the run id."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "--mlflow needs MLflow, which is not installed. Fix: pip install 'spark-ner[mlflow]'"
        ) from None
    if experiment:
        mlflow.set_experiment(experiment)
    with mlflow.start_run(nested=mlflow.active_run() is not None) as active:
        mlflow.log_params(
            {
                "input": metrics.get("input"),
                "model_version": metrics.get("model_version"),
                "config_fingerprint": metrics.get("config_fingerprint"),
                "members": ",".join(metrics.get("members") or []),
            }
        )
        mlflow.set_tag("spark_ner.model_version", str(metrics.get("model_version")))
        mlflow.log_metrics(mlflow_metrics(metrics))
        for name in ("metrics.json", "report.md", "confusion.png"):
            if (out_dir / name).is_file():
                mlflow.log_artifact(str(out_dir / name))
        return str(active.info.run_id)


def run(args: argparse.Namespace) -> int:
    """``spark-ner eval``: evaluate and print the summary table."""
    metrics = evaluate(
        args.input,
        name_col=args.name_col,
        label_col=args.label_col,
        config=config_from_args(args),  # --config, --model-dir, --set
        out_dir=args.out,
        limit=args.limit,
        group_col=args.group_col,
        slices=getattr(args, "slices", False),
    )
    print(f"{'system':<24} {'accuracy':>9} {'macro-F1':>9}")  # noqa: T201
    for name, m in metrics["systems"].items():
        print(f"{name:<24} {m['accuracy']:>9.4f} {m['macro_f1']:>9.4f}")  # noqa: T201
    for name, sl in (metrics.get("slices") or {}).items():
        m = sl["systems"][ENSEMBLE]
        print(  # noqa: T201
            f"slice {name:<18} {sl['n']:>6} names: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, "
            f"PERSON precision {m['per_class']['PERSON']['precision']:.4f}"
        )
    print(f"wrote metrics.json, confusion.png and report.md to {args.out}")  # noqa: T201
    if getattr(args, "mlflow", False):
        run_id = log_to_mlflow(metrics, Path(args.out), getattr(args, "mlflow_experiment", None))
        print(f"logged to MLflow run {run_id}")  # noqa: T201
    return 0
