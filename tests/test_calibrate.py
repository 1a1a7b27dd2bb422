"""Calibration of ner_score: the config table's strict schema, the map, the fit and the reliability diagram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spark_ner.calibrate import calibrate_scores, fit_calibration, fit_platt, reliability
from spark_ner.config import NAME_LABELS, CalibrationConfig, CalibrationMethod, load_config, parse_config
from spark_ner.errors import ConfigError

MODELS = [{"name": "m", "path": "/tmp/nowhere"}]


def test_schema_is_strict_and_names_the_key() -> None:
    cfg = parse_config({"models": MODELS})
    assert cfg.calibration.method == CalibrationMethod.NONE
    cfg = parse_config({"models": MODELS, "calibration": {"method": "platt", "slope": {"PERSON": 2}}})
    assert cfg.calibration.slope == {"PERSON": 2.0} and cfg.calibration.shift == {}
    bad = [
        ({"methd": "platt"}, "calibration.'methd'"),
        ({"method": "isotonic"}, "calibration.method"),
        ({"slope": {"PER": 1.0}}, "calibration.slope.PER"),
        ({"slope": {"PERSON": 0}}, "calibration.slope.PERSON"),
        ({"shift": {"NONE": "x"}}, "calibration.shift.NONE"),
        ({"shift": [1.0]}, "calibration.shift"),
    ]
    for raw, key in bad:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("'", "'?")):
            parse_config({"models": MODELS, "calibration": raw})


def test_fingerprint_changes_only_with_a_calibration(tmp_path: Path) -> None:
    base = parse_config({"models": MODELS})
    none = parse_config({"models": MODELS, "calibration": {"method": "none", "slope": {"PERSON": 2.0}}})
    platt = parse_config({"models": MODELS, "calibration": {"method": "platt", "slope": {"PERSON": 2.0}}})
    assert base.fingerprint() == none.fingerprint() != platt.fingerprint()
    assert load_config().calibration.method in (CalibrationMethod.NONE, CalibrationMethod.PLATT)


def test_map_is_identity_when_off_and_monotone_per_label() -> None:
    score = np.array([0.0, 0.3, 0.6, 0.9, 1.0, np.nan])
    label = np.array([1, 1, 1, 1, 1, 1])
    assert calibrate_scores(score, label, CalibrationConfig()) is score
    cal = CalibrationConfig(CalibrationMethod.PLATT, {"PERSON": 2.0}, {"PERSON": 1.0})
    out = calibrate_scores(score, label, cal)
    assert np.isnan(out[-1]) and np.all(np.diff(out[:-1]) > 0) and np.all((out[:-1] > 0) & (out[:-1] < 1))
    z = 2.0 * np.log(0.6 / 0.4) + 1.0
    assert out[2] == pytest.approx(1 / (1 + np.exp(-z)))
    # a label without parameters is left as it is
    other = calibrate_scores(np.array([0.6]), np.array([NAME_LABELS.index("LOCATION")]), cal)
    assert other[0] == pytest.approx(0.6)


def test_fit_recovers_an_under_confident_score_and_lowers_the_ece() -> None:
    rng = np.random.default_rng(0)
    true_p = rng.uniform(0.5, 0.99, 20_000)
    correct = rng.uniform(size=true_p.size) < true_p
    # an under-confident score: the logit shrunk by half
    logit = np.log(true_p / (1 - true_p)) / 2.0
    score = 1 / (1 + np.exp(-logit))
    slope, shift = fit_platt(score, correct)
    assert slope == pytest.approx(2.0, rel=0.1) and abs(shift) < 0.15
    label = np.full(score.size, NAME_LABELS.index("PERSON"))
    cal = fit_calibration(score, label, correct)
    assert set(cal.slope) == {"PERSON"}  # labels with too few rows keep the identity
    before = reliability(score, correct)
    after = reliability(calibrate_scores(score, label, cal), correct)
    assert before.ece > 0.1 and after.ece < 0.02


def test_reliability_diagram_counts_and_ece() -> None:
    score = np.array([0.05, 0.15, 0.95, 0.95, np.nan])
    correct = np.array([0, 1, 1, 0, 1], dtype=bool)
    r = reliability(score, correct, bins=10)
    assert sum(r.count) == 4 and r.count[0] == 1 and r.count[1] == 1 and r.count[9] == 2
    assert r.accuracy[9] == 0.5 and r.mean_score[9] == 0.95
    expected = (abs(0 - 0.05) + abs(1 - 0.15) + 2 * abs(0.5 - 0.95)) / 4
    assert r.ece == pytest.approx(expected, abs=1e-4)


def test_ensemble_reports_the_calibrated_score(tiny_config_path: Path) -> None:
    """The one hook in Ensemble._decode: same labels, each name score mapped by its label's table."""
    from spark_ner.ensemble import load_ensemble

    names = ["Ana Ruiz", "Acme S.A.", "Madrid", "zzz"]
    raw = load_config(tiny_config_path)
    plain = load_ensemble(raw).label(names)
    table = {"method": "platt", "slope": {lab: 2.0 for lab in NAME_LABELS}, "shift": {"PERSON": 0.5}}
    cal_cfg = load_config(tiny_config_path, {"calibration": table})
    out = load_ensemble(cal_cfg).label(names)
    assert out["label"].tolist() == plain["label"].tolist()
    idx = np.array([NAME_LABELS.index(lab) for lab in plain["label"]])
    want = calibrate_scores(plain["score"].to_numpy(), idx, cal_cfg.calibration)
    np.testing.assert_allclose(out["score"].to_numpy(), want, rtol=1e-6)
    assert not np.allclose(out["score"].to_numpy(), plain["score"].to_numpy())
    assert out["model_version"].iloc[0] != plain["model_version"].iloc[0]  # the table is in the fingerprint
