"""A sample customer table to try the labeller on (``spark-ner demo-data``).

Why it looks like this: real customer tables repeat names a lot (the same company bought many
times, "CASH CUSTOMER" on thousands of rows), hold nulls and blanks, and mix persons, households,
companies with legal forms and store numbers, and junk. The deduplication in the labeller only
pays off on such data, so the demo table has a Zipf-like share of repeated names. Names come from
the corpus generators (:func:`spark_ner.starter.corpus.generate_names`); nothing is written twice.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spark_ner.cliargs import add_output_argument
from spark_ner.starter.corpus import LOCALES, generate_names

logger = logging.getLogger(__name__)

#: The mix of a retailer's customer table (generator group -> share of distinct names).
DEMO_SHARES: dict[str, float] = {
    "nationality": 0.001,
    "product": 0.001,
    "country": 0.001,
    "event": 0.002,
    "region": 0.004,
    "city": 0.01,
    "ticker": 0.04,
    "faker_company": 0.08,
    "org_template": 0.1,
    "mixed": 0.012,
    "none": 0.03,
    "household": 0.05,
    "person": 0.669,
}
FORMATS = ("parquet", "csv")
_SCHEMA = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("name", pa.string()),
        ("country", pa.string()),
        ("signup_date", pa.date32()),
    ]
)
_FIRST_DAY = np.datetime64("2010-01-01", "D")
_DAYS = int((np.datetime64("2025-12-31", "D") - _FIRST_DAY).astype(int)) + 1


def sample_table(
    rows: int = 200_000,
    seed: int = 0,
    dup_share: float = 0.5,
    null_share: float = 0.01,
    blank_share: float = 0.004,
) -> pd.DataFrame:
    """The customer table as a DataFrame (see :func:`write_sample_table`).

    ``dup_share`` of the named rows carry a name that occurs on at least one other row; those
    names are drawn Zipf-like (a few very frequent, most seen 2-3 times), with placeholder
    names such as "cash customer" ranked most frequent, as in real tables.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    rng = np.random.default_rng(seed)
    n_null = round(rows * null_share)
    n_blank = round(rows * blank_share)
    n_named = rows - n_null - n_blank
    n_rep_rows = round(n_named * dup_share)
    n_repeated = n_rep_rows // 5
    if n_repeated == 0:
        n_rep_rows = 0
    n_single = n_named - n_rep_rows
    pool = generate_names(n_single + n_repeated, seed=seed, shares=DEMO_SHARES, tag=False)

    order = rng.permutation(len(pool))
    placeholders = np.array([pool[i].source == "none:placeholder" for i in order], dtype=bool)
    order = np.concatenate([order[placeholders], order[~placeholders]])  # most frequent first
    repeated, single = order[:n_repeated], order[n_repeated:]
    if n_repeated:
        ranks = np.arange(1, n_repeated + 1, dtype=np.float64)
        weights = ranks**-0.9
        counts = 2 + rng.multinomial(n_rep_rows - 2 * n_repeated, weights / weights.sum())
        row_pool = np.concatenate([single, np.repeat(repeated, counts)])
    else:
        row_pool = single

    locale_iso = np.array([v[1] for v in LOCALES.values()])
    locale_w = np.array([v[2] for v in LOCALES.values()], dtype=np.float64)
    fallback = rng.choice(locale_iso, size=rows, p=locale_w / locale_w.sum())
    names: list[str | None] = [pool[i].name for i in row_pool]
    # placeholders ("cash customer") occur in every country; a real name keeps its country
    countries: list[str] = [
        str(fallback[k]) if pool[i].source.startswith("none:") or not pool[i].country else pool[i].country
        for k, i in enumerate(row_pool)
    ]
    names += [None] * n_null + [str(x) for x in rng.choice(["", " ", "  "], size=n_blank)]
    countries += [str(x) for x in fallback[len(row_pool) :]]
    perm = rng.permutation(rows)
    ids = 1_000_000 + np.cumsum(rng.integers(1, 4, size=rows, dtype=np.int64))
    dates = _FIRST_DAY + rng.integers(0, _DAYS, size=rows).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "customer_id": ids,
            "name": pd.Series([names[i] for i in perm], dtype=object),
            "country": [countries[i] for i in perm],
            "signup_date": pd.Series(dates).dt.date,
        }
    )


def write_sample_table(out: Path, rows: int = 200_000, seed: int = 0, fmt: str = "parquet") -> Path:
    """Write the sample customer table to ``out`` (parquet or csv) and return the path.

    Columns: ``customer_id`` (int64, unique), ``name`` (string, a few nulls and blanks),
    ``country`` (ISO code), ``signup_date`` (date). Same seed, same file.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}")
    out = Path(out)
    frame = sample_table(rows, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pandas(frame, schema=_SCHEMA, preserve_index=False), out)
    else:
        frame.to_csv(out, index=False)
    logger.info("wrote a sample customer table with %d rows", rows)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``spark-ner demo-data``."""
    add_output_argument(parser, "--out", dest="out", type=Path, help="file to write")
    parser.add_argument("--rows", type=int, default=200_000, help="rows (default 200000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--format",
        dest="format",
        choices=FORMATS,
        default=None,
        help="parquet or csv (default: from the file suffix, else parquet)",
    )


def run(args: argparse.Namespace) -> int:
    """``spark-ner demo-data``: write the table and say where it is."""
    fmt = args.format or ("csv" if Path(args.out).suffix.lower() == ".csv" else "parquet")
    path = write_sample_table(Path(args.out), rows=args.rows, seed=args.seed, fmt=fmt)
    print(f"wrote {args.rows} rows ({fmt}) to {path}")  # noqa: T201
    return 0
