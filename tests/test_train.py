"""spark_ner.starter.train: span F1 on hand-made cases, data formats, outputs, and exact resume.

The model is a tiny randomly initialised BERT whose WordPiece vocabulary is trained here with
``tokenizers``; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from spark_ner.config import TAGS
from spark_ner.starter.train import (
    TrainArgs,
    TrainingDataError,
    add_arguments,
    args_from_namespace,
    extract_spans,
    latest_checkpoint,
    load_examples,
    span_f1,
    train,
)
from spark_ner.tokenize import split_name

FIRST = ["John", "Mary", "Peter", "Ana", "José", "Li", "Fatima", "Olga", "Jean-Luc"]
LAST = ["Smith", "García", "Müller", "O'Brien", "Chen", "Khan", "Dubois"]
ORGS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Banco Santander"]
SUFFIX = ["Ltd", "Corp", "S.A.", "GmbH", "Inc"]
CITIES = ["Paris", "New York", "São Paulo", "Berlin", "Buenos Aires"]


def _bio(name: str, etype: str) -> list[str]:
    words = split_name(name, 10**6, case_restore=False)[0]
    return [f"B-{etype}"] + [f"I-{etype}"] * (len(words) - 1)


def _rows(n: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        k = rng.random()
        if k < 0.4:
            name, etype = f"{rng.choice(FIRST)} {rng.choice(LAST)}", "PER"
        elif k < 0.75:
            name, etype = f"{rng.choice(ORGS)} {rng.choice(SUFFIX)}", "ORG"
        else:
            name, etype = rng.choice(CITIES), "LOC"
        if rng.random() < 0.2:
            name = name.upper()
        words = split_name(name, 10**6, case_restore=False)[0]
        rows.append({"name": name, "words": words, "tags": _bio(name, etype)})
    return rows


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    out = {}
    for split, n, seed in (("train", 160, 0), ("dev", 40, 1)):
        out[split] = root / f"{split}.parquet"
        pd.DataFrame(_rows(n, seed)).to_parquet(out[split])
    return out


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT encoder (no head) with a cased WordPiece vocabulary trained here."""
    import torch
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    text = [r["name"] for r in _rows(300, 7)] + FIRST + LAST + ORGS + SUFFIX + CITIES
    tok.train_from_iterator(text, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(out)
    fast.save_pretrained(out)
    return out


def _args(data: dict[str, Path], init: Path, out: Path, **kw: object) -> TrainArgs:
    base: dict[str, object] = dict(
        train_file=data["train"],
        eval_file=data["dev"],
        init=init,
        output_dir=out,
        epochs=2,
        batch_size=16,
        lr=1e-3,
        seed=3,
        progress=False,
    )
    base.update(kw)
    return TrainArgs(**base)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- metrics


def test_extract_spans_is_lenient_like_seqeval() -> None:
    tags = ["I-PER", "I-PER", "O", "I-ORG", "B-ORG", "I-LOC", "B-PER", "B-PER", "I-PER"]
    assert extract_spans(tags) == [
        ("PER", 0, 2),
        ("ORG", 3, 4),
        ("ORG", 4, 5),
        ("LOC", 5, 6),
        ("PER", 6, 7),
        ("PER", 7, 9),
    ]
    assert extract_spans(["O", "O"]) == []
    assert extract_spans([]) == []
    assert extract_spans(["B-MISC"]) == [("MISC", 0, 1)]


def test_span_f1_exact_numbers() -> None:
    gold = [["B-PER", "I-PER", "O", "B-ORG"], ["B-LOC", "I-LOC"], ["O", "B-MISC"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"], ["O", "B-MISC"]]
    m = span_f1(gold, pred)
    # gold: PER 0-2, ORG 3-4, LOC 0-2, MISC 1-2; pred: PER 0-2, LOC 3-4, LOC 0-1, MISC 1-2
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["support"] == 4
    assert m["word_accuracy"] == 0.75
    per = m["per_type"]
    assert list(per) == ["PER", "ORG", "LOC", "MISC"]
    assert per["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert per["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert per["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert per["MISC"]["f1"] == 1.0

    # 2 of 3 predicted right, 2 of 4 gold found: P 2/3, R 1/2, F1 4/7
    m2 = span_f1([["B-PER", "B-ORG", "B-LOC", "B-MISC"]], [["B-PER", "B-ORG", "B-PER", "O"]])
    assert m2["precision"] == pytest.approx(2 / 3)
    assert m2["recall"] == pytest.approx(0.5)
    assert m2["f1"] == pytest.approx(4 / 7)
    assert span_f1([["O"]], [["O"]])["f1"] == 0.0


# ----------------------------------------------------------------------------- data formats


def test_load_examples_tags_string_and_spans(tmp_path: Path) -> None:
    csv = tmp_path / "tags.csv"
    pd.DataFrame({"name": ["John Smith", None, "Acme Ltd"], "tags": ["B-PER I-PER", "O", "B-ORG I-ORG"]}).to_csv(
        csv, index=False
    )
    names, tags = load_examples(csv)
    assert names == ["John Smith", "Acme Ltd"]
    assert tags == [["B-PER", "I-PER"], ["B-ORG", "I-ORG"]]

    spans = tmp_path / "spans.parquet"
    name = "Mr & Mrs García, Paris"
    pd.DataFrame(
        {
            "name": [name, "nobody"],
            "spans": [
                [
                    {"start": 9, "end": 15, "label": "PERSON"},
                    {"start": 17, "end": 22, "label": "LOC"},
                ],
                [],
            ],
        }
    ).to_parquet(spans)
    names, tags = load_examples(spans)
    assert split_name(name, 10**6, case_restore=False)[0] == [
        "Mr",
        "&",
        "Mrs",
        "García",
        ",",
        "Paris",
    ]
    assert tags == [["O", "O", "O", "B-PER", "O", "B-LOC"], ["O"]]

    as_json = tmp_path / "spans.csv"
    pd.DataFrame({"name": ["Acme Corp"], "spans": [json.dumps([{"start": 0, "end": 9, "label": "ORG"}])]}).to_csv(
        as_json, index=False
    )
    assert load_examples(as_json)[1] == [["B-ORG", "I-ORG"]]


def test_load_examples_rejects_bad_rows_without_echoing_names(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"name": ["Secret Person"], "tags": [["B-PER"]]}).to_parquet(bad)
    with pytest.raises(TrainingDataError, match="row 0: 1 tags for 2 words") as err:
        load_examples(bad)
    assert "Secret" not in str(err.value)
    unknown = tmp_path / "unknown.parquet"
    pd.DataFrame({"name": ["Acme"], "tags": [["B-COMPANY"]]}).to_parquet(unknown)
    with pytest.raises(TrainingDataError, match="unknown tag"):
        load_examples(unknown)
    nothing = tmp_path / "nothing.parquet"
    pd.DataFrame({"name": ["Acme"]}).to_parquet(nothing)
    with pytest.raises(TrainingDataError, match="'tags' or a 'spans'"):
        load_examples(nothing)


def test_cli_arguments_map_to_train_args(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(
        [
            "--train-file",
            "t.parquet",
            "--output-dir",
            str(tmp_path),
            "--from-scratch",
            "roberta",
            "--hidden-size",
            "64",
            "--quick",
            "--mixed-precision",
            "bf16",
        ]
    )
    args = args_from_namespace(ns)
    assert args.from_scratch == "roberta" and args.init is None and args.hidden_size == 64
    assert args.max_steps == 200 and args.mixed_precision == "bf16"
    with pytest.raises(SystemExit):
        parser.parse_args(["--train-file", "t", "--output-dir", "o", "--init", "a", "--from-scratch", "roberta"])


# ----------------------------------------------------------------------------- training


def _weights(folder: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_train_writes_model_tokenizer_metrics_and_args(data: dict[str, Path], tiny_bert: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    metrics = train(_args(data, tiny_bert, out, max_steps=12, mixed_precision="bf16"))
    files = {p.name for p in out.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "metrics.json",
        "train_args.json",
    } <= files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth"))]
    assert "checkpoints" not in files
    config = json.loads((out / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(TAGS))] == list(TAGS)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["steps"] == 12 == metrics["steps"]
    assert 0.0 <= saved["dev"]["f1"] <= 1.0 and "per_type" in saved["dev"]
    assert saved["dev_examples"] == 40 and saved["train_examples"] == 160
    resolved = json.loads((out / "train_args.json").read_text())
    assert resolved["init"] == str(tiny_bert) and resolved["max_steps"] == 12
    # no CUDA here: bf16 is refused in favour of fp32
    import torch

    if not torch.cuda.is_available():
        assert resolved["mixed_precision_used"] == "no" == saved["mixed_precision"]

    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(out)
    assert model.config.num_labels == len(TAGS)
    assert AutoTokenizer.from_pretrained(out)("John Smith")["input_ids"]


def test_training_learns(data: dict[str, Path], tiny_bert: Path, tmp_path: Path) -> None:
    metrics = train(_args(data, tiny_bert, tmp_path / "learn", epochs=4, lr=3e-3))
    f1s = [h["f1"] for h in metrics["history"]]
    assert len(f1s) == 4
    assert f1s[-1] > 0.5, f1s


def test_resume_gives_the_same_weights(data: dict[str, Path], tiny_bert: Path, tmp_path: Path) -> None:
    # 10 steps per epoch, 2 epochs; checkpoint every 4 steps; killed after step 14 (mid epoch 2,
    # last checkpoint at step 12) and resumed.
    kw = dict(checkpoint_every=4, keep_checkpoints=2)
    full = train(_args(data, tiny_bert, tmp_path / "full", **kw))
    part = tmp_path / "part"
    stopped = train(_args(data, tiny_bert, part, interrupt_after=14, **kw))
    assert stopped["interrupted"] and stopped["step"] == 14
    assert not (part / "model.safetensors").exists()
    ckpt = latest_checkpoint(part)
    assert ckpt is not None and ckpt.name == "step-00000012"
    assert len(list((part / "checkpoints").iterdir())) == 2  # older ones pruned
    resumed = train(_args(data, tiny_bert, part, resume=True, **kw))
    assert resumed["steps"] == full["steps"] == 20
    a, b = _weights(tmp_path / "full"), _weights(part)
    assert a.keys() == b.keys()
    import torch

    for k in a:
        assert torch.equal(a[k], b[k]), k  # type: ignore[arg-type]
    assert resumed["dev"] == full["dev"]


def test_from_scratch_roberta(data: dict[str, Path], tmp_path: Path) -> None:
    from spark_ner.starter.train import load_tokenizer
    from spark_ner.tokenize import WordTokenizer, split_words

    out = tmp_path / "rob"
    metrics = train(
        TrainArgs(
            train_file=data["train"],
            eval_file=data["dev"],
            output_dir=out,
            from_scratch="roberta",
            vocab_size=300,
            hidden_size=32,
            layers=1,
            heads=2,
            max_steps=6,
            batch_size=16,
            progress=False,
        )
    )
    assert metrics["steps"] == 6
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "roberta" and config["num_hidden_layers"] == 1
    tok = load_tokenizer(out, 32)
    assert tok.add_prefix_space
    enc = WordTokenizer(tok, 32).encode(split_words(["Mary Smith"], 64))
    assert enc.ids[0] == tok.cls_token_id and enc.ids[-1] == tok.sep_token_id
    assert (enc.word_first >= 0).all()
