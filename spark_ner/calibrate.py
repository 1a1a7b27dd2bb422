"""Calibration of ``ner_score``: a score that means the chance the label is right.

Why: the decoder's name score is the char-weighted mean of the combined word probabilities of the
winning type. Members spread their mass and the lexicon abstains, so that mean runs low: on the
hidden check names scored 0.6-0.7 were right 88% of the time (expected calibration error 0.12).
A per-label Platt map, ``sigmoid(slope[label] * logit(score) + shift[label])``, fitted on the dev
split with folds grouped by entity (``scripts/combination_search.py --calibrate``), turns it into a
probability. The map is monotone per label, so it never changes a label, only its score; entity
scores (``entities[].score``) are left as the decoder gives them.

Pure NumPy; parameters come from the config's ``[calibration]`` table (``config.CalibrationConfig``,
strictly validated there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spark_ner.config import NAME_LABELS, CalibrationConfig, CalibrationMethod

#: scores are clipped to [EPS, 1 - EPS] before the logit (a score of exactly 0 or 1 stays finite)
EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1.0 - EPS)
    return np.log(q) - np.log1p(-q)


def calibrate_scores(score: np.ndarray, label: np.ndarray, cal: CalibrationConfig) -> np.ndarray:
    """Calibrated name scores (float64 [N]) of ``score`` [N] for name labels ``label`` [N] (index into NAME_LABELS).

    Identity when ``cal.method`` is ``none``; NaN stays NaN.
    """
    if cal.method == CalibrationMethod.NONE or len(score) == 0:
        return score
    slope = np.array([cal.slope.get(lab, 1.0) for lab in NAME_LABELS], dtype=np.float64)
    shift = np.array([cal.shift.get(lab, 0.0) for lab in NAME_LABELS], dtype=np.float64)
    idx = np.asarray(label, dtype=np.int64)
    z = slope[idx] * _logit(np.asarray(score, dtype=np.float64)) + shift[idx]
    return 1.0 / (1.0 + np.exp(-z))


def fit_platt(score: np.ndarray, correct: np.ndarray, l2: float = 1e-3, steps: int = 50) -> tuple[float, float]:
    """(slope, shift) of a one-feature logistic regression of ``correct`` on ``logit(score)`` (Newton steps).

    A small L2 pull toward the identity (slope 1, shift 0) keeps a label with few or one-sided
    examples from running off.
    """
    x = _logit(np.asarray(score, dtype=np.float64))
    y = np.asarray(correct, dtype=np.float64)
    theta = np.array([1.0, 0.0])
    prior = np.array([1.0, 0.0])
    n = max(len(x), 1)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(theta[0] * x + theta[1])))
        grad = np.array([np.dot(p - y, x), np.sum(p - y)]) / n + l2 * (theta - prior)
        w = p * (1 - p)
        hess = np.array([[np.dot(w, x * x), np.dot(w, x)], [np.dot(w, x), np.sum(w)]]) / n + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta = theta - step
        if np.abs(step).max() < 1e-8:
            break
    slope = max(float(theta[0]), 1e-3)  # the map must stay increasing
    return slope, float(theta[1])


def fit_calibration(score: np.ndarray, label: np.ndarray, correct: np.ndarray, min_rows: int = 30) -> CalibrationConfig:
    """A Platt map per name label from (score, label index, right or wrong); labels with few rows stay identity."""
    slope: dict[str, float] = {}
    shift: dict[str, float] = {}
    label = np.asarray(label, dtype=np.int64)
    for i, lab in enumerate(NAME_LABELS):
        rows = label == i
        if int(rows.sum()) < min_rows:
            continue
        a, b = fit_platt(np.asarray(score)[rows], np.asarray(correct)[rows])
        slope[lab], shift[lab] = round(a, 4), round(b, 4)
    return CalibrationConfig(CalibrationMethod.PLATT, slope, shift)


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram: per equal-width score bin, its rows, mean score and accuracy; and the ECE."""

    edges: tuple[float, ...]
    count: tuple[int, ...]
    mean_score: tuple[float, ...]
    accuracy: tuple[float, ...]
    ece: float


def reliability(score: np.ndarray, correct: np.ndarray, bins: int = 10) -> Reliability:
    """Expected calibration error over ``bins`` equal-width bins (NaN scores left out) and its diagram."""
    s = np.asarray(score, dtype=np.float64)
    c = np.asarray(correct, dtype=np.float64)
    keep = ~np.isnan(s)
    s, c = s[keep], c[keep]
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    mean_s = np.bincount(which, weights=s, minlength=bins) / np.maximum(count, 1)
    acc = np.bincount(which, weights=c, minlength=bins) / np.maximum(count, 1)
    ece = float(np.sum(count * np.abs(acc - mean_s)) / max(len(s), 1))
    return Reliability(
        tuple(float(e) for e in edges),
        tuple(int(x) for x in count),
        tuple(round(float(x), 4) for x in mean_s),
        tuple(round(float(x), 4) for x in acc),
        round(ece, 4),
    )


__all__ = ["EPS", "Reliability", "calibrate_scores", "fit_calibration", "fit_platt", "reliability"]
