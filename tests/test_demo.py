"""The demo customer table: realistic repetition, nulls and blanks, reproducible."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from spark_ner.tools import demo

ROWS = 20_000


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("demo") / "customers.parquet"
    path = demo.write_sample_table(out, rows=ROWS, seed=0)
    schema = pq.read_schema(path)
    assert [f.name for f in schema] == ["customer_id", "name", "country", "signup_date"]
    assert str(schema.field("customer_id").type) == "int64"
    assert str(schema.field("signup_date").type) == "date32[day]"
    return pd.read_parquet(path)


def test_rows_and_ids(table: pd.DataFrame) -> None:
    assert len(table) == ROWS
    assert table["customer_id"].is_unique
    assert table["country"].notna().all() and (table["country"].str.len() == 2).all()
    assert table["signup_date"].notna().all()


def test_repeated_names_nulls_and_blanks(table: pd.DataFrame) -> None:
    names = table["name"]
    assert 0.005 * ROWS <= names.isna().sum() <= 0.02 * ROWS
    assert (names.dropna().str.strip() == "").sum() > 0
    counts = names.value_counts()
    repeated = names.map(counts).fillna(1) > 1
    assert 0.4 <= repeated.mean() <= 0.6
    assert counts.iloc[0] >= 20  # Zipf-like head


def test_messy_forms(table: pd.DataFrame) -> None:
    names = table["name"].dropna()
    assert names.str.isupper().mean() > 0.05
    assert names.str.match(r"^[^\W\d_][^,]*, \w").any()  # "SURNAME, First"
    assert names.str.contains(r"\b(?:Mr|Mrs|Sr|Sra|Herr|Frau)\b\.?", regex=True).any()
    assert names.str.contains(" & | y | and ", regex=True).any()  # households, "& Sons"
    assert names.str.contains(r"\b(?:S\.A\.|S\.L\.|GmbH|Ltd|Inc\.?|LLC)\b", regex=True).any()
    assert names.str.contains(r"#\s?\d", regex=True).any()


def test_deterministic() -> None:
    a = demo.sample_table(3000, seed=0)
    b = demo.sample_table(3000, seed=0)
    pd.testing.assert_frame_equal(a, b)
    c = demo.sample_table(3000, seed=1)
    assert not a["name"].equals(c["name"])


def test_cli_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    out = tmp_path / "t.csv"
    args = parser.parse_args(["--out", str(out), "--rows", "500", "--seed", "1"])
    assert demo.run(args) == 0
    frame = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(frame.columns) == ["customer_id", "name", "country", "signup_date"]
    assert len(frame) == 500
    assert "500" in capsys.readouterr().out


def test_tiny_tables() -> None:
    assert len(demo.sample_table(0)) == 0
    assert len(demo.sample_table(3, seed=1)) == 3
