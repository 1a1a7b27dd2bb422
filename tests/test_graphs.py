"""Static-shape forwards (spark_ner.graphs, issue 22 item 3): the row buckets, and that computing a
batch at its bucket's rows (leftover rows from earlier batches included) changes no label or score.

The CUDA graph capture itself runs only on a GPU (tests/test_gpu.py, scripts/gpu_check.sh); here the
same static buffers and rounding run eagerly on the CPU (``capture=False``)."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SAMPLE_NAMES

from spark_ner.config import load_config
from spark_ner.ensemble import load_ensemble
from spark_ner.errors import ConfigError
from spark_ner.graphs import ROW_STEP, StaticForwards, row_bucket


def test_row_buckets_cover_the_rows_and_waste_little() -> None:
    assert [row_bucket(n, 1024) for n in (1, 2, 3, 5, 100, 128, 129, 256, 257, 1000, 1024)] == [
        1, 2, 4, 8, 128, 128, 256, 256, 384, 1024, 1024,
    ]  # fmt: skip
    assert row_bucket(40, 64) == 64 and row_bucket(64, 64) == 64 and row_bucket(150, 200) == 200
    for batch in (1, 8, 64, 200, 1024, 4096):
        for n in range(1, batch + 1):
            b = row_bucket(n, batch)
            assert n <= b <= batch
            assert b - n < ROW_STEP if n > ROW_STEP else b < 2 * n
    for bad in (0, -1, 1025):
        with pytest.raises(ValueError, match=r"expected 1\.\.1024 rows"):
            row_bucket(bad, 1024)


def _rowwise(x: torch.Tensor) -> torch.Tensor:
    """A forward whose rows are independent, as a member's is without an attention mask."""
    e = torch.nn.functional.one_hot(x % 7, 7).float()
    return e.cumsum(dim=1) * (1 + x[:, :1, None].float())


def test_static_forwards_give_each_batch_its_own_rows_whatever_the_bucket_held() -> None:
    sf = StaticForwards(batch_size=256, capture=False)
    gen = torch.Generator().manual_seed(0)
    for rows, length in [(120, 5), (100, 5), (128, 5), (3, 5), (200, 9), (130, 9), (7, 9)]:
        ids = torch.randint(0, 1000, (rows, length), generator=gen)
        got = sf.forward("m", _rowwise, ids)
        assert got is not None and got.shape == (rows, length, 7)
        torch.testing.assert_close(got, _rowwise(ids), rtol=0, atol=0)
    # shapes (bucket, length): (128, 5), (4, 5), (256, 9), (8, 9); 100 rows reused 120's bucket
    assert len(sf) == 4
    assert sf.stats.padded_tokens == (8 + 28 + 0 + 1) * 5 + (56 + 126 + 1) * 9
    assert sf.stats.captures == sf.stats.replays == sf.stats.eager == 0  # nothing captured on a CPU


def test_static_forwards_beyond_their_cap_say_eager() -> None:
    sf = StaticForwards(batch_size=64, capture=False, max_graphs=2)
    for length in (3, 4):
        assert sf.forward("m", _rowwise, torch.ones(5, length, dtype=torch.long)) is not None
    assert sf.forward("m", _rowwise, torch.ones(5, 6, dtype=torch.long)) is None
    assert sf.forward("m", _rowwise, torch.ones(5, 3, dtype=torch.long)) is not None  # a known shape still is
    assert sf.forward("m", _rowwise, torch.ones(65, 3, dtype=torch.long)) is None  # above the batch size
    assert (len(sf), sf.stats.eager) == (2, 2)


def test_a_shape_is_made_the_capture_after_th_time_it_is_met() -> None:
    """One-off shapes (rare lengths of names with new words) run eagerly and cost no capture; the second
    time a shape is met it is made, and from then on it is reused."""
    sf = StaticForwards(batch_size=64, capture=False, capture_after=2)
    three, five = torch.ones(5, 3, dtype=torch.long), torch.ones(9, 5, dtype=torch.long)
    assert sf.forward("m", _rowwise, three) is None and len(sf) == 0  # met once: eager
    assert sf.forward("m", _rowwise, five) is None
    got = sf.forward("m", _rowwise, three)  # met twice: made
    assert got is not None and len(sf) == 1
    torch.testing.assert_close(got, _rowwise(three), rtol=0, atol=0)
    assert sf.forward("m", _rowwise, torch.ones(7, 3, dtype=torch.long)) is not None  # the same bucket (8, 3)
    assert sf.forward("other", _rowwise, three) is None  # per member
    assert (len(sf), sf.stats.eager) == (1, 3)
    with pytest.raises(ValueError, match="capture_after must be 1 or more, got 0"):
        StaticForwards(batch_size=8, capture_after=0)


def _names(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [*" ".join(SAMPLE_NAMES).split(), "Acme", "Corp", "Lopez", "Bank", "Street", "Mary", "Ltd"]
    return list(dict.fromkeys(" ".join(rng.choice(words, size=int(rng.integers(1, 5)))) for _ in range(n)))


def test_bucketed_forwards_keep_every_label_and_score(tiny_config) -> None:  # type: ignore[no-untyped-def]
    """The ensemble with its exact-length forwards at bucket rows (static buffers, eager on the CPU) gives
    the frame the plain one gives: twice, so the second pass runs over rows the first left behind."""
    cfg = replace(tiny_config, ensemble=replace(tiny_config.ensemble, batch_size=200, cpu_parallel="ops"))
    plain, bucketed = load_ensemble(cfg), load_ensemble(cfg)
    assert bucketed.graphs is None  # a CPU device: no graphs unless asked for, and then none either
    bucketed.graphs = StaticForwards(cfg.ensemble.batch_size, capture=False)
    for seed in (1, 2):
        names = _names(900, seed)
        want, got = plain.label(names, members=True), bucketed.label(names, members=True)
        assert got.label.tolist() == want.label.tolist()
        assert got.filter(like="member_label").equals(want.filter(like="member_label"))
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-5, atol=1e-6)
    stats = bucketed.graphs.stats
    assert len(bucketed.graphs) > 2 and stats.padded_tokens > 0
    assert bucketed.stats.forwards == plain.stats.forwards
    # the plan counts the bucket rows: what the device computes
    (p0, r0), (p1, r1) = plain.plan_tokens(names), bucketed.plan_tokens(names)
    assert r0 == r1 and p1 > p0


def test_cuda_graphs_key(tiny_config_path, caplog) -> None:  # type: ignore[no-untyped-def]
    plain = load_config(tiny_config_path)
    on = load_config(tiny_config_path, overrides={"ensemble.cuda_graphs": True})
    assert on.ensemble.cuda_graphs and not plain.ensemble.cuda_graphs
    assert on.fingerprint() == plain.fingerprint()  # a speed knob: the same labels
    with pytest.raises(ConfigError, match=r"ensemble\.compile = true and ensemble\.cuda_graphs = true.*Fix"):
        load_config(tiny_config_path, overrides={"ensemble.cuda_graphs": True, "ensemble.compile": True})
    with pytest.raises(ConfigError, match=r"ensemble\.cuda_graphs must be true or false"):
        load_config(tiny_config_path, overrides={"ensemble.cuda_graphs": "yes"})
    with caplog.at_level(logging.INFO, logger="spark_ner.ensemble"):
        assert load_ensemble(on).graphs is None
    assert "ensemble.cuda_graphs is on but the members run on cpu" in caplog.text
