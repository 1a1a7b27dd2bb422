"""Evaluation metrics against hand-computed numbers, and the eval job's outputs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from spark_ner.config import NAME_LABELS, parse_config
from spark_ner.tools.evaluate import (
    POST_NOMINAL_FORMS,
    WRAPS,
    add_arguments,
    classification_metrics,
    confusion_matrix,
    evaluate,
    form_slices,
    normalize_labels,
    strip_legal_form,
)

P, G, L, N, M = "PERSON", "ORGANIZATION", "LOCATION", "NONE", "MISC"
GOLD = [P, P, P, P, G, G, G, L, N, N]
PRED = [P, P, P, G, G, G, P, L, N, L]


def test_confusion_matrix_by_hand() -> None:
    # rows gold, columns predicted, in NAME_LABELS order: NONE, PERSON, ORGANIZATION, LOCATION, MISC
    expected = np.array(
        [
            [1, 0, 0, 1, 0],  # NONE: one right, one called LOCATION
            [0, 3, 1, 0, 0],  # PERSON: three right, one called ORGANIZATION
            [0, 1, 2, 0, 0],  # ORGANIZATION: two right, one called PERSON
            [0, 0, 0, 1, 0],  # LOCATION: right
            [0, 0, 0, 0, 0],  # MISC: absent
        ]
    )
    assert NAME_LABELS == (N, P, G, L, M)
    np.testing.assert_array_equal(confusion_matrix(GOLD, PRED, NAME_LABELS), expected)


def test_classification_metrics_by_hand() -> None:
    m = classification_metrics(GOLD, PRED)
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(7 / 10)
    pc = m["per_class"]
    # NONE: tp 1, predicted 1, support 2
    assert (pc[N]["precision"], pc[N]["recall"]) == (pytest.approx(1.0), pytest.approx(0.5))
    assert pc[N]["f1"] == pytest.approx(2 / 3)
    # PERSON: tp 3, predicted 4, support 4
    assert (pc[P]["precision"], pc[P]["recall"], pc[P]["f1"]) == pytest.approx((0.75, 0.75, 0.75))
    # ORGANIZATION: tp 2, predicted 3, support 3
    assert (pc[G]["precision"], pc[G]["recall"], pc[G]["f1"]) == pytest.approx((2 / 3,) * 3)
    # LOCATION: tp 1, predicted 2, support 1 -> F1 = 2 * 0.5 * 1 / 1.5
    assert (pc[L]["precision"], pc[L]["recall"], pc[L]["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    # MISC: never gold, never predicted -> zeros, and left out of macro-F1
    assert (pc[M]["precision"], pc[M]["recall"], pc[M]["f1"], pc[M]["support"]) == (0, 0, 0, 0)
    assert [pc[x]["support"] for x in NAME_LABELS] == [2, 4, 3, 1, 0]
    assert [pc[x]["predicted"] for x in NAME_LABELS] == [1, 4, 3, 2, 0]
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.75 + 2 / 3 + 2 / 3) / 4)  # 0.6875
    assert m["weighted_f1"] == pytest.approx((2 * 2 / 3 + 4 * 0.75 + 3 * 2 / 3 + 1 * 2 / 3) / 10)
    assert m["confusion"]["labels"] == list(NAME_LABELS)
    assert m["confusion"]["matrix"][1] == [0, 3, 1, 0, 0]
    json.dumps(m)  # plain JSON types only


def test_unlabelled_rows_count_as_misses() -> None:
    m = classification_metrics([P, N, N], [None, N, P])
    assert m["unlabelled"] == 1
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["per_class"][P]["support"] == 1
    assert m["per_class"][P]["recall"] == 0.0
    assert m["per_class"][P]["precision"] == 0.0  # its one prediction was wrong
    assert m["per_class"][N]["precision"] == 1.0
    assert m["per_class"][N]["recall"] == 0.5
    assert sum(map(sum, m["confusion"]["matrix"])) == 2


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="rows"):
        confusion_matrix([P], [P, P], NAME_LABELS)
    with pytest.raises(ValueError, match="gold"):
        confusion_matrix(["Juan Pérez"], [P], NAME_LABELS)
    assert normalize_labels(["per", "ORG", "Location", "o", None, "misc"]) == [P, G, L, N, None, M]
    with pytest.raises(ValueError) as err:
        normalize_labels(["Juan Pérez"])
    assert "Juan" not in str(err.value)  # never echo names


class FakeEnsemble:
    """Stands in for spark_ner.ensemble.Ensemble: fixed answers per name."""

    def __init__(self, answers: dict[str, tuple[str, str, str]]) -> None:
        self.answers = answers

    def label(self, names: Sequence[Any] | pd.Series, members: bool = False) -> pd.DataFrame:
        rows = [self.answers[n] for n in names]
        frame = pd.DataFrame(
            {
                "label": [r[0] for r in rows],
                "score": [0.9] * len(rows),
                "agreement": [1.0 if r[1] == r[2] == r[0] else 0.5 for r in rows],
                "entities": [[] for _ in rows],
                "model_version": ["fake-0"] * len(rows),
                "error": [None] * len(rows),
            }
        )
        if members:
            frame["member_label__a"] = [r[1] for r in rows]
            frame["member_label__b"] = [r[2] for r in rows]
        return frame


def _fake_setup(tmp_path: Path) -> tuple[Path, Any, FakeEnsemble]:
    names = ["Ana Ruiz", "Acme S.A.", "N/A", "Madrid", "Bob", None]
    gold = ["PERSON", "ORG", "NONE", "LOCATION", "PERSON", "PERSON"]
    pd.DataFrame({"name": names, "label": gold}).to_csv(tmp_path / "gold.csv", index=False)
    cfg = parse_config({"models": [{"name": "a", "path": "/nowhere/a"}, {"name": "b", "path": "/nowhere/b"}]})
    fake = FakeEnsemble(
        {
            "Ana Ruiz": (P, P, P),
            "Acme S.A.": (G, G, P),
            "N/A": (N, N, N),
            "Madrid": (P, L, P),
            "Bob": (P, P, N),
        }
    )
    return tmp_path / "gold.csv", cfg, fake


def test_evaluate_writes_outputs(tmp_path: Path) -> None:
    path, cfg, fake = _fake_setup(tmp_path)
    out = tmp_path / "out"
    metrics = evaluate(path, "name", "label", cfg, out, ensemble=fake)
    assert metrics["evaluated"] == 5 and metrics["skipped"] == 1  # the null name
    systems = metrics["systems"]
    assert list(systems) == ["ensemble", "a", "b"]
    assert systems["ensemble"]["accuracy"] == pytest.approx(4 / 5)  # "N/A" read as text
    assert systems["a"]["accuracy"] == pytest.approx(5 / 5)
    assert systems["b"]["accuracy"] == pytest.approx(2 / 5)  # Acme, Madrid, Bob wrong
    assert metrics["agreement"]["full_share"] == pytest.approx(2 / 5)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["systems"]["b"]["confusion"]["matrix"] == systems["b"]["confusion"]["matrix"]
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    for heading in ("## Summary", "## ensemble", "## a", "## b", "## Confusion matrix"):
        assert heading in report
    assert "| ensemble | 0.8000 |" in report
    assert "Ana Ruiz" not in report
    # every score is 0.9 and 4 of 5 are right: one bin, ECE |0.8 - 0.9|, in the report's reliability table
    cal = metrics["calibration"]
    assert cal["count"][8] == 5 and cal["ece"] == pytest.approx(0.1)
    assert "expected calibration error 0.1000" in report and "| 0.8-0.9 | 5 | 0.900 | 0.800 |" in report


def test_evaluate_limit_parquet_and_missing_column(tmp_path: Path) -> None:
    path, cfg, fake = _fake_setup(tmp_path)
    pq_path = tmp_path / "gold.parquet"
    pd.read_csv(path, keep_default_na=False, na_values=[""]).to_parquet(pq_path)
    metrics = evaluate(pq_path, config=cfg, out_dir=tmp_path / "o2", limit=3, ensemble=fake)
    assert metrics["evaluated"] == 3
    from spark_ner.errors import InputColumnError

    with pytest.raises(InputColumnError):
        evaluate(pq_path, name_col="customer", config=cfg, out_dir=tmp_path / "o3", ensemble=fake)


def test_cli_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--input", "x.parquet", "--config", "c.toml", "--out", "o", "--limit", "10"])
    assert (args.name_col, args.label_col, args.limit, args.overrides) == ("name", "label", 10, [])


def test_evaluate_with_tiny_ensemble(tmp_path: Path, tiny_config_path: Path) -> None:
    """End to end with the real ensemble over the tiny random members from conftest (no skip: a
    broken import or fixture must fail here, not hide)."""
    config_path = tiny_config_path
    frame = pd.DataFrame(
        {
            "name": ["John Smith", "Acme Corp", "Madrid", "N/A", "Mary & John Smith"],
            "label": ["PERSON", "ORGANIZATION", "LOCATION", "NONE", "PERSON"],
        }
    )
    frame.to_parquet(tmp_path / "gold.parquet")
    metrics = evaluate(tmp_path / "gold.parquet", config=config_path, out_dir=tmp_path / "out")
    assert metrics["evaluated"] == 5
    assert set(metrics["systems"]) == {"ensemble", *metrics["members"]}
    for m in metrics["systems"].values():
        assert m["n"] == 5
        assert 0.0 <= m["accuracy"] <= 1.0
    assert metrics["model_version"]
    for name in ("metrics.json", "confusion.png", "report.md"):
        assert (tmp_path / "out" / name).is_file()


def test_form_slices_rewrite_the_gold_names() -> None:
    """Issue 25's dev slices: organisations without their legal form, accents stripped, ALL CAPS, lower."""
    pytest.importorskip("cleanco")
    frame = pd.DataFrame(
        {
            "name": ["Acme Holdings, Inc.", "Nordvik Systems", "José García", "Łódź", "Ana Ruiz c/o Acme S.A."],
            "label": ["ORGANIZATION", "ORGANIZATION", "PERSON", "LOCATION", "PERSON"],
            "entity_key": ["a", "b", "c", "d", "e"],
        }
    )
    assert strip_legal_form("Acme Holdings, Inc.") == "Acme Holdings" and strip_legal_form("Acme") == "Acme"
    sl = form_slices(frame)
    assert list(sl) == ["org-no-legal-form", "accents-stripped", "upper", "lower", "wrapped", "post-nominals"]
    org = sl["org-no-legal-form"]
    assert org["name"].tolist() == ["Acme Holdings", "Nordvik Systems"]  # persons are left out
    assert org["changed"].tolist() == [True, False] and set(org["label"]) == {"ORGANIZATION"}
    acc = sl["accents-stripped"]
    assert acc["name"].tolist() == ["Jose Garcia", "Lodz"] and acc["label"].tolist() == ["PERSON", "LOCATION"]
    assert sl["upper"]["name"].iloc[2] == "JOSÉ GARCÍA" and sl["lower"]["name"].iloc[0] == "acme holdings, inc."
    assert sl["upper"]["entity_key"].tolist() == frame["entity_key"].tolist()
    wrapped = ['"Acme Holdings, Inc."', "(Nordvik Systems)", "José García.", "Łódź,", '"Ana Ruiz c/o Acme S.A."']
    assert sl["wrapped"]["name"].tolist() == wrapped and sl["wrapped"]["changed"].all()
    post = sl["post-nominals"]  # persons only, a degree after the name
    assert post["name"].tolist() == ["José García Ph.D.", "Ana Ruiz c/o Acme S.A., MD"]
    assert set(post["label"]) == {"PERSON"} and post["changed"].all()


def test_evaluate_scores_the_slices(tmp_path: Path) -> None:
    """``--slices``: each rewritten form labelled by the same ensemble, per system, in metrics and report."""
    pytest.importorskip("cleanco")
    path, cfg, fake = _fake_setup(tmp_path)
    answers = dict(fake.answers)
    for name, ans in list(answers.items()):  # the rewritten names get the clean name's answers
        wraps = [w.format(name) for w in (*WRAPS, *POST_NOMINAL_FORMS)]
        for form in (name.upper(), name.lower(), strip_legal_form(name), *wraps):
            answers.setdefault(form, ans)
    metrics = evaluate(path, config=cfg, out_dir=tmp_path / "o", ensemble=FakeEnsemble(answers), slices=True)
    sl = metrics["slices"]
    assert list(sl) == ["org-no-legal-form", "upper", "lower", "wrapped", "post-nominals"]  # no accents: no such slice
    assert sl["org-no-legal-form"]["n"] == 1 and sl["org-no-legal-form"]["changed"] == 1  # "Acme"
    assert sl["upper"]["n"] == 5 and list(sl["upper"]["systems"]) == ["ensemble", "a", "b"]
    assert sl["upper"]["systems"]["ensemble"]["accuracy"] == pytest.approx(4 / 5)
    report = (tmp_path / "o" / "report.md").read_text()
    assert "## Rewritten forms" in report and "| org-no-legal-form | 1 | 1 |" in report
