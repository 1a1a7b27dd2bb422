"""``ensemble.attention`` (issue 22): the package's own attention registration, the plain matmul
attention for short unmasked batches, and the mask that stays off when nothing is padded."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from spark_ner.config import Attention, ConfigError, load_config
from spark_ner.ensemble import load_ensemble
from spark_ner.models import (
    SDPA_ATTENTION,
    SHORT_ATTENTION,
    SHORT_ATTENTION_MAX,
    short_attention,
    unpadded_mask,
    use_attention,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _tiny(kind: str) -> torch.nn.Module:
    from transformers import BertConfig, BertForTokenClassification, RobertaConfig, RobertaForTokenClassification

    torch.manual_seed(0)
    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}
    if kind == "bert":
        return BertForTokenClassification(BertConfig(vocab_size=120, attn_implementation="sdpa", **sizes)).eval()
    return RobertaForTokenClassification(RobertaConfig(vocab_size=120, attn_implementation="sdpa", **sizes)).eval()


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_matmul_attention_gives_sdpa_logits_masked_or_not(kind: str) -> None:
    model = _tiny(kind)
    ids = torch.randint(5, 120, (6, 9))
    mask = torch.ones(6, 9, dtype=torch.long)
    mask[2, 5:] = 0
    with torch.inference_mode():
        plain, masked = model(input_ids=ids).logits, model(input_ids=ids, attention_mask=mask).logits
    assert use_attention(model, short=True)
    assert model.config._attn_implementation == SHORT_ATTENTION
    with torch.inference_mode():
        torch.testing.assert_close(model(input_ids=ids).logits, plain, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, masked, atol=1e-5, rtol=1e-4)
    assert use_attention(model, short=False) and model.config._attn_implementation == SDPA_ATTENTION
    with torch.inference_mode():
        torch.testing.assert_close(model(input_ids=ids).logits, plain, atol=1e-5, rtol=1e-4)


def test_short_attention_computes_only_unmasked_short_inference_batches(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Its own path for the case it is for; SDPA's function (spied) for every other case."""
    import transformers.integrations.sdpa_attention as sdpa

    calls: list[str] = []
    real = sdpa.sdpa_attention_forward

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("sdpa")
        return real(*args, **kwargs)

    monkeypatch.setattr(sdpa, "sdpa_attention_forward", spy)
    module = torch.nn.Module().eval()
    q = torch.randn(3, 4, 7, 8)
    out, weights = short_attention(module, q, q, q, None)
    assert calls == [] and weights is None and out.shape == (3, 7, 4, 8)
    ref = torch.nn.functional.scaled_dot_product_attention(q, q, q).transpose(1, 2)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    long = torch.randn(1, 2, SHORT_ATTENTION_MAX + 1, 8)
    short_attention(module, long, long, long, None)
    short_attention(module, q, q, q, torch.zeros(3, 1, 7, 7, dtype=torch.bool))
    short_attention(module.train(), q, q, q, None)
    module.eval()
    # arguments that change attention (T5's position bias, attention sinks, a soft cap, a window): SDPA's
    short_attention(module, q, q, q, None, position_bias=torch.zeros(1, 4, 7, 7))
    short_attention(module, q, q, q, None, s_aux=torch.zeros(4))
    with pytest.raises(ValueError, match="softcap"):  # transformers' SDPA says it cannot: as without us
        short_attention(module, q, q, q, None, softcap=30.0)
    short_attention(module, q, q, q, None, sliding_window=4)
    assert calls == ["sdpa"] * 7
    short_attention(module, q, q, q, None, is_causal=False, position_ids=torch.arange(7), output_attentions=False)
    assert calls == ["sdpa"] * 7  # these change nothing: its own path


def test_unpadded_mask_is_none_only_for_an_unpadded_bidirectional_forward() -> None:
    from transformers.masking_utils import bidirectional_mask_function, causal_mask_function

    args = {
        "batch_size": 2,
        "q_length": 5,
        "kv_length": 5,
        "device": "cpu",
        "mask_function": bidirectional_mask_function,
    }
    assert unpadded_mask(**args, attention_mask=None, allow_is_bidirectional_skip=True) is None
    padded = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    got = unpadded_mask(**args, attention_mask=padded, allow_is_bidirectional_skip=True)
    assert got is not None and not bool(got[0, 0, 0, 4]) and bool(got[1, 0, 0, 4])
    # a causal caller (no bidirectional skip allowed) gets the mask built for it
    causal = unpadded_mask(
        **{**args, "mask_function": causal_mask_function}, attention_mask=None, allow_is_causal_skip=False
    )
    assert causal is not None and not bool(causal[0, 0, 0, 1])


def test_attention_key_and_the_ensemble_labels(tiny_config_path) -> None:  # type: ignore[no-untyped-def]
    plain = load_config(tiny_config_path)
    matmul = load_config(tiny_config_path, overrides={"ensemble.attention": "matmul"})
    assert matmul.ensemble.attention == Attention.MATMUL and plain.ensemble.attention == Attention.AUTO
    assert matmul.fingerprint() == plain.fingerprint()  # a speed knob: the same labels
    with pytest.raises(ConfigError, match=r"ensemble\.attention = 'fast' is not allowed; choose one of: auto, matmul"):
        load_config(tiny_config_path, overrides={"ensemble.attention": "fast"})
    names = ["Maria Garcia", "ACME Holdings Ltd", "Lake Como", "j smith & sons", "", "Dr. Anna-Lena Weiß"]
    ens_plain, ens_matmul = load_ensemble(plain), load_ensemble(matmul)
    assert {m.model.config._attn_implementation for m, _ in ens_matmul.transformers()} == {SHORT_ATTENTION}
    assert SHORT_ATTENTION not in {m.model.config._attn_implementation for m, _ in ens_plain.transformers()}
    a, b = ens_plain.label(pd.Series(names)), ens_matmul.label(pd.Series(names))
    pd.testing.assert_series_equal(a["label"], b["label"])
    pd.testing.assert_series_equal(a["score"], b["score"], atol=1e-5, rtol=1e-4)
    assert a["entities"].tolist() == b["entities"].tolist()


def test_the_package_attention_passes_no_mask_where_transformers_would_build_one(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """transformers 5.17 does not skip the all-ones mask while a CUDA stream captures (its
    ``_ignore_bidirectional_mask_sdpa`` says no then), and SDPA with a mask cannot take flash attention.
    Made to say no here as under capture: transformers' SDPA then gets a mask, the package's none."""
    import transformers.masking_utils as masking

    seen: list[bool] = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs.get("attn_mask") is None)
        return real(*args, **kwargs)

    monkeypatch.setattr(masking, "_ignore_bidirectional_mask_sdpa", lambda *a, **k: False)
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    model = _tiny("bert")
    ids = torch.randint(5, 120, (4, 7))
    with torch.inference_mode():
        want = model(input_ids=ids).logits
    assert seen and not any(seen)  # transformers' own: a mask in every layer
    seen.clear()
    assert use_attention(model, short=False)
    with torch.inference_mode():
        got = model(input_ids=ids).logits
    assert seen and all(seen)  # the package's: none
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_gpu_workers_get_the_tasks_threads_not_one(tiny_config_path) -> None:  # type: ignore[no-untyped-def]
    """``ensemble.num_threads`` on a GPU worker: its threads run torch's ops (no CPU lanes there), so the
    worker's threads, not the 1 a CPU worker's lanes each take."""
    from spark_ner.ensemble import configure_threads, cpu_lanes, worker_threads

    before = torch.get_num_threads()
    cfg = load_config(tiny_config_path, overrides={"ensemble.num_threads": 2, "ensemble.cpu_parallel": "batches"})
    try:
        assert cpu_lanes(cfg, "cpu") == 2
        configure_threads(cfg, "cpu")
        assert torch.get_num_threads() == 1  # CPU: two lanes of one thread each
        configure_threads(cfg, "cuda:0")
        assert torch.get_num_threads() == worker_threads(cfg) == 2
    finally:
        torch.set_num_threads(before)
