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

import numpy as np
import pandas as pd
import pytest
from helpers import tiny_roberta_args

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from spark_ner.config import TAGS
from spark_ner.errors import ConfigError
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


class Killed(BaseException):
    """Stands for the process dying (not an Exception: nothing in the job may catch it)."""


def test_resume_gives_the_same_weights(data: dict[str, Path], tiny_bert: Path, tmp_path: Path) -> None:
    # 10 steps per epoch, 2 epochs; checkpoint every 4 steps; killed inside step 15 (mid epoch 2,
    # last checkpoint at step 12) and resumed. The kill comes from torch's public global optimizer
    # hook, so the job itself carries no test-only code.
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    kw = dict(checkpoint_every=4, keep_checkpoints=2)
    full = train(_args(data, tiny_bert, tmp_path / "full", **kw))
    part = tmp_path / "part"
    steps = 0

    def die_in_step_15(*_: object) -> None:
        nonlocal steps
        steps += 1
        if steps == 15:
            raise Killed

    hook = register_optimizer_step_pre_hook(die_in_step_15)
    try:
        with pytest.raises(Killed):
            train(_args(data, tiny_bert, part, **kw))
    finally:
        hook.remove()
    assert steps == 15
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
    from spark_ner.models import load_tokenizer
    from spark_ner.tokenize import WordTokenizer, split_words

    out = tmp_path / "rob"
    metrics = train(TrainArgs(**tiny_roberta_args(data["train"], data["dev"], output_dir=out, max_steps=6)))
    assert metrics["steps"] == 6
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "roberta" and config["num_hidden_layers"] == 1
    tok = load_tokenizer(str(out), 32)
    assert tok.add_prefix_space
    enc = WordTokenizer(tok, 32).encode(split_words(["Mary Smith"], 64))
    assert enc.ids[0] == tok.cls_token_id and enc.ids[-1] == tok.sep_token_id
    assert (enc.word_first >= 0).all()


# ----------------------------------------------------------------------------- pickle weights


@pytest.fixture(scope="module")
def pickle_bert(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny encoder again, its weights only as ``pytorch_model.bin`` (a pickle)."""
    import shutil

    import torch
    from safetensors.torch import load_file

    out = tmp_path_factory.mktemp("pickle-bert")
    for f in tiny_bert.iterdir():
        if f.name != "model.safetensors":
            shutil.copy(f, out / f.name)
    torch.save(load_file(str(tiny_bert / "model.safetensors")), out / "pytorch_model.bin")
    return out


def test_init_with_pickle_weights_is_refused_unless_allowed(
    data: dict[str, Path], pickle_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spark_ner import cli
    from spark_ner.errors import UnsafeWeightsError

    with pytest.raises(UnsafeWeightsError, match=r"pytorch_model\.bin.*--allow-pickle"):
        train(_args(data, pickle_bert, tmp_path / "refused", max_steps=1))
    assert not (tmp_path / "refused" / "model.safetensors").exists()
    # the command line: one line, exit 2
    argv = [
        "train",
        "--train-file",
        str(data["train"]),
        "--init",
        str(pickle_bert),
        "--output-dir",
        str(tmp_path / "o"),
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spark-ner train: error: --init") and "Fix:" in err[0]
    # allowed: the pickle is loaded (the encoder's weights, not a fresh init) and training runs
    metrics = train(_args(data, pickle_bert, tmp_path / "allowed", max_steps=1, allow_pickle=True))
    assert metrics["steps"] == 1 and (tmp_path / "allowed" / "model.safetensors").is_file()


# ----------------------------------------------------------------------------- mixed precision


def test_accelerate_mixed_precision_is_honoured_unless_the_flag_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """``accelerate launch --mixed_precision X`` exports ACCELERATE_MIXED_PRECISION=X; the script's
    own ``--mixed-precision`` wins when given; neither: fp32."""
    from spark_ner.errors import ConfigError
    from spark_ner.starter.train import requested_precision

    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    assert requested_precision(None) == "no"
    assert requested_precision("bf16") == "bf16"
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    assert requested_precision(None) == "fp16"
    assert requested_precision("no") == "no"
    assert requested_precision("bf16") == "bf16"
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp8")
    with pytest.raises(ConfigError, match=r"ACCELERATE_MIXED_PRECISION.*Fix:"):
        requested_precision(None)


@pytest.mark.slow
@pytest.mark.parametrize("script_flag", [None, "no"])
def test_accelerate_launch_mixed_precision_reaches_the_job(
    data: dict[str, Path], tiny_bert: Path, tmp_path: Path, script_flag: str | None
) -> None:
    """The real launcher: ``accelerate launch --mixed_precision bf16 jobs/finetune.py`` requests
    bf16 (CPU-only here, so fp32 is used with a warning); the script's flag overrides it."""
    import subprocess
    import sys

    from helpers import REPO

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1"]
    cmd += ["--mixed_precision", "bf16", "--dynamo_backend", "no", str(REPO / "jobs" / "finetune.py")]
    cmd += ["--train-file", str(data["train"]), "--eval-file", str(data["dev"]), "--init", str(tiny_bert)]
    cmd += ["--output-dir", str(out), "--max-steps", "1", "--no-progress"]
    if script_flag is not None:
        cmd += ["--mixed-precision", script_flag]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved = json.loads((out / "train_args.json").read_text())
    assert resolved["mixed_precision_requested"] == (script_flag or "bf16")
    if not _has_cuda():
        assert resolved["mixed_precision_used"] == "no"
    else:
        assert resolved["mixed_precision_used"] == (script_flag or "bf16")


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


# ----------------------------------------------------------------------------- train/serve token ids

# ALL-CAPS, all-lower, accented (composed and decomposed), apostrophes, legal forms, punctuation
TRAIN_SERVE_NAMES = [
    "John Smith",
    "JOHN SMITH",
    "MARÍA JOSÉ GARCÍA LÓPEZ",
    "María José García López",
    "Jose\u0301 Garci\u0301a",  # decomposed accents: NFC per word
    "ZÜRICH VERSICHERUNG AG",
    "müller-lüdenscheidt gmbh",
    "O'BRIEN & SONS LTD",
    "São Paulo Futebol Clube",
    "Dr. Ana Pérez",
    "SMITH, John",
    "Walmart #1234",
]


def _word_tags(name: str) -> list[str]:
    return ["O"] * len(split_name(name, 10**6, case_restore=False)[0])


@pytest.mark.parametrize("family", ["wordpiece", "byte-level BPE", "byte-level BPE from scratch"])
def test_training_and_inference_give_a_member_the_same_token_ids(  # type: ignore[no-untyped-def]
    family: str, data: dict[str, Path], tiny_models, tmp_path: Path
) -> None:
    """The ids a member is trained on (``encode_examples`` over the job's tokenizer) are the ids
    the ensemble feeds the saved member at inference, name by name, and the training label sits on
    the first sub-token of every word (where inference reads the word's probabilities)."""
    from spark_ner.config import load_config
    from spark_ner.ensemble import load_ensemble
    from spark_ner.models import load_tokenizer
    from spark_ner.starter.train import IGNORE, encode_examples, load_examples, train_bpe_tokenizer
    from spark_ner.tokenize import WordTokenizer

    src = tmp_path / "train.parquet"
    names = TRAIN_SERVE_NAMES + [r["name"] for r in _rows(60, 11)]
    pd.DataFrame({"name": names, "tags": [_word_tags(n) for n in names]}).to_parquet(src)
    out = tmp_path / "member"
    kw: dict[str, object] = dict(train_file=src, eval_file=data["dev"], output_dir=out, max_steps=1, progress=False)
    if family == "byte-level BPE from scratch":
        kw.update(from_scratch="roberta", vocab_size=300, hidden_size=32, layers=1, heads=2)
    else:
        kw.update(init=tiny_models[0] if family == "wordpiece" else tiny_models[1])
    args = TrainArgs(**kw)  # type: ignore[arg-type]
    train(args)

    # what the job trained on: its tokenizer (as train() builds it) through encode_examples
    train_names, train_tags = load_examples(src)
    if args.init is not None:
        tok = load_tokenizer(str(args.init), args.max_length)
    else:
        tok = train_bpe_tokenizer(train_names, args.vocab_size, args.max_length, args.case_restore)
    seen = encode_examples(WordTokenizer(tok, args.max_length), train_names, train_tags, args.max_words, True)

    # what inference feeds the saved member: the input_ids of its forward passes, one name at a time
    conf = tmp_path / "member.toml"
    conf.write_text(
        f'[ensemble]\ndevice = "cpu"\nbatch_size = 1\nmax_length = {args.max_length}\n\n'
        f'[[models]]\nname = "m"\npath = "{out}"\n',
        encoding="utf-8",
    )
    ens = load_ensemble(load_config(conf))
    member = ens.members[0]
    fed: list[list[int]] = []
    forward = member.forward_module.forward

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        fed.extend(k["input_ids"].tolist())
        return forward(*a, **k)

    member.forward_module.forward = spy
    for i, name in enumerate(TRAIN_SERVE_NAMES):
        fed.clear()
        assert ens.label([name]).error[0] is None
        lo, hi = seen.enc.offsets[i], seen.enc.offsets[i + 1]
        assert fed == [seen.enc.ids[lo:hi].tolist()], name
        # the training labels sit on the first sub-token of each word, as the served tokenizer splits it
        words = split_name(name, 10**6, case_restore=True)[0]
        lengths = [len(member.tokenizer(w, add_special_tokens=False)["input_ids"]) for w in words]
        specials = (member.tokenizer.cls_token_id, member.tokenizer.bos_token_id)
        prefix = 1 if fed[0][0] in specials else 0
        firsts = [prefix + sum(lengths[:j]) for j in range(len(words))]
        labelled = [int(p) for p in np.flatnonzero(seen.labels[lo:hi] != IGNORE)]
        assert labelled == firsts, name


# ----------------------------------------------------------------------------- masked-LM pre-training


def test_mlm_arguments_are_checked_at_the_boundary(tmp_path: Path) -> None:
    base = {"train_file": "t.parquet", "output_dir": tmp_path}
    with pytest.raises(ConfigError, match="needs both"):
        TrainArgs(**base, from_scratch="roberta", mlm_file=tmp_path / "x.txt")
    with pytest.raises(ConfigError, match="needs both"):
        TrainArgs(**base, from_scratch="roberta", mlm_steps=5)
    with pytest.raises(ConfigError, match="from-scratch"):
        TrainArgs(**base, init=tmp_path, mlm_file=tmp_path / "x.txt", mlm_steps=5)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(
        [
            "--train-file",
            "t",
            "--output-dir",
            "o",
            "--from-scratch",
            "roberta",
            "--mlm-file",
            "m.txt",
            "--mlm-steps",
            "7",
        ]
    )
    args = args_from_namespace(ns)
    assert args.mlm_file == Path("m.txt") and args.mlm_steps == 7 and args.mlm_batch_size == 128


def test_read_texts_names_the_file_and_the_fix(tmp_path: Path) -> None:
    from spark_ner.starter.pretrain import read_texts

    with pytest.raises(ConfigError, match="no such file"):
        read_texts(tmp_path / "missing.txt")
    pd.DataFrame({"text": ["a"]}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(ConfigError, match=r"no 'name' column.*Fix"):
        read_texts(tmp_path / "t.parquet")
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no strings"):
        read_texts(tmp_path / "empty.txt")
    (tmp_path / "ok.txt").write_text("Oslo\n\n Acme Widgets \n", encoding="utf-8")
    assert read_texts(tmp_path / "ok.txt") == ["Oslo", "Acme Widgets"]


def test_mlm_pretraining_sets_the_encoder_the_tagger_starts_from(data: dict[str, Path], tmp_path: Path) -> None:
    """Same seed, same data: with --mlm-file the encoder the tagging head trains on is the pre-trained
    one (its weights differ from a plain run's, the masked-LM loss falls), and the tokenizer is the same."""
    texts = [str(row["name"]) for row in _rows(400, 7)]
    (tmp_path / "real.txt").write_text("\n".join(texts * 3), encoding="utf-8")
    common = tiny_roberta_args(data["train"], data["dev"], max_steps=3)
    plain = train(TrainArgs(output_dir=tmp_path / "plain", **common))
    mlm = {"mlm_file": tmp_path / "real.txt", "mlm_steps": 40, "mlm_batch_size": 32}
    pre = train(TrainArgs(output_dir=tmp_path / "pre", **mlm, **common))
    assert "pretrain" not in plain
    assert pre["pretrain"]["steps"] == 40 and pre["pretrain"]["texts"] == 1200
    assert pre["pretrain"]["loss_last"] < pre["pretrain"]["loss_first"]
    a, b = _weights(tmp_path / "plain"), _weights(tmp_path / "pre")
    key = "roberta.encoder.layer.0.attention.self.query.weight"
    assert not np.array_equal(np.asarray(a[key]), np.asarray(b[key]))
    assert (tmp_path / "plain" / "tokenizer.json").read_text() == (tmp_path / "pre" / "tokenizer.json").read_text()
    saved = json.loads((tmp_path / "pre" / "train_args.json").read_text())
    assert saved["mlm_steps"] == 40 and saved["mlm_file"].endswith("real.txt")


def test_mlm_text_leaves_out_the_entities_it_is_told_to(tmp_path: Path) -> None:
    """write_mlm_text: the lexicon's entries of the steps not skipped, minus the excluded files'
    entities (by name and by entity key, accents and case ignored) and the dropped endings."""
    from spark_ner.starter.lexicon_data import STEP_NAMES, name_texts
    from spark_ner.starter.pretrain import write_mlm_text

    skip = [s for s in STEP_NAMES if s not in ("placeholders", "nationalities")]
    every = name_texts(skip)
    assert "unknown" in every and "test" in every
    pd.DataFrame({"name": ["UNKNOWN"], "entity_key": ["NONE:x"]}).to_parquet(tmp_path / "dev.parquet")
    pd.DataFrame({"name": ["zz"], "entity_key": ["NONE:test"]}).to_parquet(tmp_path / "test.parquet")
    out = tmp_path / "mlm.txt"
    record = write_mlm_text(out, [tmp_path / "dev.parquet", tmp_path / "test.parquet"], skip)
    kept = out.read_text("utf-8").splitlines()
    assert "unknown" not in kept and "test" not in kept
    assert set(kept) == set(every) - {"unknown", "test"} and record["texts"] == len(kept)
    with pytest.raises(ValueError, match="no lexicon step"):
        name_texts(["no_such_step"])
