"""Fine-tune a token-classification model on names with HF Accelerate (``spark-ner train``).

The job reads top to bottom like accelerate's ``examples/nlp_example.py``: typed arguments ->
data -> model -> ``Accelerator`` -> ``accelerator.prepare`` (once) -> training loop -> entity-level
F1 on dev after each epoch -> save. The same code runs under ``python jobs/finetune.py`` and
``accelerate launch jobs/finetune.py`` (multi-GPU / multi-node).

Training data (``--train-file``, ``--eval-file``): a ``.parquet`` or ``.csv`` file with a ``name``
column (str) and EITHER

* ``tags``: the BIO tag of every word of the name, as a list of strings (parquet) or one
  space-separated string (``"B-PER I-PER"``, CSV). Words are exactly
  ``spark_ner.tokenize.split_name(name, 10**6, case_restore=False)[0]`` (the corpus built by
  ``spark-ner build-models`` also stores them as ``words``); tags come from
  ``spark_ner.config.TAGS`` (``O``, ``B-PER`` ... ``I-MISC``); OR
* ``spans``: the entities as character spans of ``name``, a list of ``{start, end, label}``
  (parquet), or that list as a JSON string (CSV); ``label`` is PER/ORG/LOC/MISC (or PERSON,
  ORGANIZATION, LOCATION). A word takes a span's type when it overlaps the span; the first such
  word is ``B-``, the rest ``I-``.

Rows with a null name are skipped. Without ``--eval-file`` a seeded 5% of the training rows is
held out as dev. Words are encoded with the package's own ``WordTokenizer`` so training and
inference tokenize identically: the label sits on each word's first sub-token, ``-100`` elsewhere.

Outputs in ``--output``: ``model.safetensors`` + ``config.json`` (id2label = the 9 TAGS),
the tokenizer, ``train_args.json`` (the resolved arguments) and ``metrics.json`` (dev precision,
recall, F1 overall and per type, after every epoch). ``--checkpoint-every N`` writes
``checkpoints/step-N/`` (``accelerator.save_state`` + the step/epoch); ``--resume`` continues
from the latest one and ends with the same weights as an uninterrupted run, because the shuffle
order of every epoch is a function of (seed, epoch) only, RNG states are restored by
``load_state`` and the already-seen batches are skipped with ``accelerator.skip_first_batches``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spark_ner.cliargs import add_deprecated_alias, add_output_argument
from spark_ner.config import ENTITY_TYPES, TAGS
from spark_ner.errors import ConfigError, ModelSourceError, TrainingDataError, UnsafeWeightsError
from spark_ner.models import PICKLE_WEIGHTS, SAFE_INDEX, SAFE_WEIGHTS, load_tokenizer
from spark_ner.starter.pretrain import PretrainResult, pretrain_mlm, read_texts, word_texts
from spark_ner.tokenize import (
    Encoded,
    WordTokenizer,
    batch_arrays,
    pad_to,
    split_name,
    split_words,
)

logger = logging.getLogger(__name__)

TAG2ID: dict[str, int] = {t: i for i, t in enumerate(TAGS)}
ID2TAG: dict[int, str] = dict(enumerate(TAGS))
IGNORE = -100
CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"
ARGS_FILE = "train_args.json"
METRICS_FILE = "metrics.json"
SPAN_LABELS = {
    "PER": "PER",
    "PERSON": "PER",
    "ORG": "ORG",
    "ORGANIZATION": "ORG",
    "ORGANISATION": "ORG",
    "LOC": "LOC",
    "LOCATION": "LOC",
    "MISC": "MISC",
}
SCRATCH_ARCHS = ("roberta",)
MIXED_PRECISION = ("no", "fp16", "bf16")
#: Accelerate trackers ``--log-with`` accepts (MLflow is the one Databricks users track with)
LOG_WITH = ("mlflow", "tensorboard", "wandb", "comet_ml", "aim", "clearml", "dvclive")


# ----------------------------------------------------------------------------- arguments


@dataclass
class TrainArgs:
    """Everything a training run depends on; saved as ``train_args.json`` next to the weights."""

    train_file: Path
    output_dir: Path
    eval_file: Path | None = None
    init: Path | None = None  # a local transformers folder with an encoder (BERT, RoBERTa, ...)
    from_scratch: str | None = None  # "roberta": BPE + small RoBERTa trained from nothing
    vocab_size: int = 8000
    hidden_size: int = 256
    layers: int = 4
    heads: int = 4
    # masked-LM pre-training of a from-scratch encoder on unlabelled real name text (pretrain.py)
    mlm_file: Path | None = None
    mlm_steps: int = 0
    mlm_batch_size: int = 128
    mlm_lr: float = 1e-3
    max_length: int = 32
    max_words: int = 64
    case_restore: bool = True
    epochs: int = 2
    max_steps: int | None = None
    batch_size: int = 32
    eval_batch_size: int = 256
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    freeze_embeddings: bool = False
    seed: int = 0
    # None: accelerate's setting (``accelerate launch --mixed_precision``, i.e. the
    # ACCELERATE_MIXED_PRECISION variable), else "no"; a value given here wins over accelerate's.
    mixed_precision: str | None = None
    allow_pickle: bool = False  # --init folders with only pickle weights (pytorch_model.bin) are refused
    num_threads: int = 0  # torch intra-op threads; 0 = torch's default (all cores)
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    resume: bool = False
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    quick: bool = False
    progress: bool = True
    # an Accelerate tracker ("mlflow": the run in $MLFLOW_TRACKING_URI, experiment = tracker_project)
    log_with: str | None = None
    tracker_project: str = "spark-ner-train"

    def __post_init__(self) -> None:
        self.train_file = Path(self.train_file)
        self.output_dir = Path(self.output_dir)
        self.eval_file = Path(self.eval_file) if self.eval_file is not None else None
        self.init = Path(self.init) if self.init is not None else None
        self.mlm_file = Path(self.mlm_file) if self.mlm_file is not None else None
        if (self.init is None) == (self.from_scratch is None):
            raise ConfigError("give exactly one of init (a local model folder) or from_scratch")
        if self.from_scratch is not None and self.from_scratch not in SCRATCH_ARCHS:
            raise ConfigError(f"from_scratch = {self.from_scratch!r}; choose one of: {', '.join(SCRATCH_ARCHS)}")
        if (self.mlm_file is None) != (self.mlm_steps <= 0):
            raise ConfigError(
                f"mlm_file = {self.mlm_file}, mlm_steps = {self.mlm_steps}: masked-LM pre-training needs both. "
                "Fix: give --mlm-file FILE and --mlm-steps N (N >= 1), or neither."
            )
        if self.mlm_file is not None and self.from_scratch is None:
            raise ConfigError(
                "--mlm-file pre-trains a from-scratch encoder; an --init model is pre-trained already. "
                "Fix: use --from-scratch roberta with --mlm-file, or drop --mlm-file."
            )
        if self.mixed_precision is not None and self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(
                f"mixed_precision = {self.mixed_precision!r}; choose one of: {', '.join(MIXED_PRECISION)}"
            )
        if self.quick:
            self.max_steps = self.max_steps or 200
            self.max_eval_examples = self.max_eval_examples or 2000
        for key in ("batch_size", "eval_batch_size", "max_length", "max_words", "epochs"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.max_length < 4:
            raise ConfigError("max_length must be >= 4 (special tokens plus at least one word)")
        if self.log_with is not None and self.log_with not in LOG_WITH:
            raise ConfigError(
                f"--log-with {self.log_with!r} is not a tracker spark-ner knows. "
                f"Fix: choose one of {', '.join(LOG_WITH)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (paths as strings)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``spark-ner train`` / ``jobs/finetune.py`` options (defaults = ``TrainArgs``)."""
    d = TrainArgs.__dataclass_fields__
    g = parser.add_argument_group("data")
    g.add_argument("--train-file", type=Path, required=True, help="parquet/CSV: name + tags|spans")
    g.add_argument("--eval-file", type=Path, help="dev set (default: a seeded 5%% of train)")
    add_output_argument(g, "--output-dir", dest="output_dir", type=Path, help="folder for the trained model")
    g.add_argument("--max-length", type=int, default=d["max_length"].default)
    g.add_argument("--max-words", type=int, default=d["max_words"].default)
    g.add_argument(
        "--no-case-restore",
        dest="case_restore",
        action="store_false",
        help="train on ALL-CAPS/all-lower names as given (inference restores case by default)",
    )
    g.add_argument("--max-train-examples", type=int)
    g.add_argument("--max-eval-examples", type=int)
    m = parser.add_argument_group("model")
    src = m.add_mutually_exclusive_group(required=True)
    src.add_argument("--init", type=Path, help="local transformers folder to fine-tune")
    src.add_argument("--from-scratch", choices=SCRATCH_ARCHS, help="train BPE + a small model")
    m.add_argument("--vocab-size", type=int, default=d["vocab_size"].default)
    m.add_argument("--hidden-size", type=int, default=d["hidden_size"].default)
    m.add_argument("--layers", type=int, default=d["layers"].default)
    m.add_argument("--heads", type=int, default=d["heads"].default)
    m.add_argument("--freeze-embeddings", action="store_true", help="freeze word embeddings")
    m.add_argument(
        "--mlm-file",
        type=Path,
        help="unlabelled real name text (.txt one a line, or parquet/CSV with a name column): masked-LM "
        "pre-training of the --from-scratch encoder before its tagging head is trained",
    )
    m.add_argument("--mlm-steps", type=int, default=d["mlm_steps"].default, help="masked-LM steps (with --mlm-file)")
    m.add_argument("--mlm-batch-size", type=int, default=d["mlm_batch_size"].default)
    m.add_argument("--mlm-lr", type=float, default=d["mlm_lr"].default)
    m.add_argument(
        "--allow-pickle",
        action="store_true",
        help="let --init load pickle weights (pytorch_model.bin), which can run code; refused by default",
    )
    t = parser.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=d["epochs"].default)
    t.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    t.add_argument("--batch-size", type=int, default=d["batch_size"].default)
    t.add_argument("--eval-batch-size", type=int, default=d["eval_batch_size"].default)
    t.add_argument("--lr", type=float, default=d["lr"].default)
    t.add_argument("--weight-decay", type=float, default=d["weight_decay"].default)
    t.add_argument("--warmup-ratio", type=float, default=d["warmup_ratio"].default)
    t.add_argument("--max-grad-norm", type=float, default=d["max_grad_norm"].default)
    t.add_argument("--seed", type=int, default=d["seed"].default)
    t.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISION,
        default=None,
        help="default: accelerate's setting (accelerate launch --mixed_precision), else no; "
        "fp16/bf16 need CUDA; on a CPU the run falls back to fp32 with a warning",
    )
    t.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    t.add_argument("--checkpoint-every", type=int, default=0, help="save state every N steps")
    t.add_argument("--keep-checkpoints", type=int, default=d["keep_checkpoints"].default)
    t.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    t.add_argument("--quick", action="store_true", help="a short run (200 steps) for smoke tests")
    t.add_argument("--no-progress", dest="progress", action="store_false")
    t.add_argument(
        "--log-with",
        default=None,
        choices=LOG_WITH,
        help="track params and per-epoch dev metrics with this Accelerate tracker (mlflow: $MLFLOW_TRACKING_URI, "
        "on Databricks the workspace; the mlflow extra)",
    )
    experiment = t.add_argument(
        "--experiment",
        dest="tracker_project",
        metavar="NAME",
        default=d["tracker_project"].default,
        help="the tracker's experiment (MLflow: the experiment name; on Databricks a workspace path)",
    )
    add_deprecated_alias(t, "--tracker-project", experiment)


def args_from_namespace(ns: argparse.Namespace) -> TrainArgs:
    """Keep only the ``TrainArgs`` fields of a parsed namespace (the CLI adds its own)."""
    names = {f.name for f in dataclasses.fields(TrainArgs)}
    return TrainArgs(**{k: v for k, v in vars(ns).items() if k in names})


# ----------------------------------------------------------------------------- metrics


def _chunk_parts(tag: str) -> tuple[str, str]:
    if tag == "O" or "-" not in tag:
        return "O", ""
    prefix, _, etype = tag.partition("-")
    return prefix, etype


def extract_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entity spans ``(type, start, end_exclusive)`` of one BIO sequence, the seqeval/conlleval way.

    Lenient like seqeval's default mode: an ``I-X`` after ``O`` or after another type starts a
    new entity, so a model is not given credit or blame twice for one boundary.
    """
    spans: list[tuple[str, int, int]] = []
    prev_tag, prev_type, start = "O", "", -1
    for i, tag in enumerate([*tags, "O"]):
        cur_tag, cur_type = _chunk_parts(tag)
        if cur_tag not in ("B", "I", "O"):  # E-/S- are not in TAGS: treat like B
            cur_tag = "B"
        end_chunk = prev_tag != "O" and (cur_tag in ("B", "O") or cur_type != prev_type)
        start_chunk = cur_tag == "B" or (cur_tag == "I" and (prev_tag == "O" or cur_type != prev_type))
        if end_chunk and start >= 0:
            spans.append((prev_type, start, i))
            start = -1
        if start_chunk:
            start = i
        prev_tag, prev_type = cur_tag, cur_type
    return spans


def _prf(tp: int, n_pred: int, n_true: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def span_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level micro precision/recall/F1 overall and per type (exact span and type match)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sequences but {len(pred)} predicted")
    tp: dict[str, int] = {}
    n_pred: dict[str, int] = {}
    n_true: dict[str, int] = {}
    words = correct = 0
    for g, p in zip(gold, pred, strict=True):
        if len(g) != len(p):
            raise ValueError("a predicted sequence differs in length from its gold sequence")
        gs, ps = set(extract_spans(g)), set(extract_spans(p))
        for s in gs:
            n_true[s[0]] = n_true.get(s[0], 0) + 1
        for s in ps:
            n_pred[s[0]] = n_pred.get(s[0], 0) + 1
        for s in gs & ps:
            tp[s[0]] = tp.get(s[0], 0) + 1
        words += len(g)
        correct += sum(a == b for a, b in zip(g, p, strict=True))
    out: dict[str, Any] = _prf(sum(tp.values()), sum(n_pred.values()), sum(n_true.values()))
    out["support"] = sum(n_true.values())
    out["word_accuracy"] = correct / words if words else 0.0
    types = [t for t in ENTITY_TYPES if t in n_true or t in n_pred]
    types += sorted(t for t in {*n_true, *n_pred} if t not in types)
    out["per_type"] = {
        t: {**_prf(tp.get(t, 0), n_pred.get(t, 0), n_true.get(t, 0)), "support": n_true.get(t, 0)} for t in types
    }
    return out


# ----------------------------------------------------------------------------- data


def _read_table(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise TrainingDataError(f"{path}: no such file")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    raise TrainingDataError(f"{path}: expected a .parquet or .csv file")


def tags_from_spans(spans: Any, starts: list[int], ends: list[int], where: str) -> list[str]:
    """Word-level BIO tags of words ``starts``/``ends`` from character spans (a list or its JSON): how a
    training file's ``spans`` column becomes tags; ``where`` names the row in errors."""
    if isinstance(spans, str):
        try:
            spans = json.loads(spans)
        except json.JSONDecodeError:
            raise TrainingDataError(f"{where}: spans is not a JSON list") from None
    tags = ["O"] * len(starts)
    if spans is None:
        return tags
    items = sorted((dict(s) for s in list(spans)), key=lambda s: (int(s.get("start", 0)), int(s.get("end", 0))))
    for s in items:
        label = SPAN_LABELS.get(str(s.get("label", "")).upper())
        if label is None:
            raise TrainingDataError(f"{where}: span label {s.get('label')!r} is not one of {', '.join(SPAN_LABELS)}")
        lo, hi = int(s["start"]), int(s["end"])
        first = True
        for w, (ws, we) in enumerate(zip(starts, ends, strict=True)):
            if ws < hi and we > lo and tags[w] == "O":
                tags[w] = ("B-" if first else "I-") + label
                first = False
    return tags


def load_examples(path: Path, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Names and their word-level BIO tags from a training file (format: module docstring)."""
    df = _read_table(Path(path))
    if "name" not in df.columns:
        raise TrainingDataError(f"{path}: no 'name' column (columns: {', '.join(df.columns)})")
    has_tags, has_spans = "tags" in df.columns, "spans" in df.columns
    if not (has_tags or has_spans):
        raise TrainingDataError(f"{path}: needs a 'tags' or a 'spans' column")
    names: list[str] = []
    tags: list[list[str]] = []
    col = df["tags"].tolist() if has_tags else df["spans"].tolist()
    for i, (name, value) in enumerate(zip(df["name"].tolist(), col, strict=True)):
        if not isinstance(name, str):
            continue
        where = f"{path} row {i}"
        words, starts, ends = split_name(name, 10**6, case_restore=False)
        if has_tags:
            seq = value.split() if isinstance(value, str) else [str(t) for t in list(value)]
            if len(seq) != len(words):
                raise TrainingDataError(
                    f"{where}: {len(seq)} tags for {len(words)} words; tags must follow "
                    "spark_ner.tokenize.split_name(name, 10**6, case_restore=False)"
                )
            bad = [t for t in seq if t not in TAG2ID]
            if bad:
                raise TrainingDataError(f"{where}: unknown tag {bad[0]!r}; allowed: {TAGS}")
        else:
            seq = tags_from_spans(value, starts, ends, where)
        names.append(name)
        tags.append(seq)
        if limit is not None and len(names) >= limit:
            break
    if not names:
        raise TrainingDataError(f"{path}: no usable rows")
    return names, tags


@dataclass
class EncodedSet:
    """Names encoded for one model, with labels aligned to the token ids."""

    enc: Encoded
    labels: np.ndarray  # like enc.ids: a tag id on each word's first sub-token, IGNORE elsewhere
    gold: list[list[str]]  # word tags per name (cut to max_words)
    word_bounds: np.ndarray  # name i owns words word_bounds[i]:word_bounds[i+1]
    word_first: np.ndarray  # first sub-token position of each word in its row, -1 if cut

    def __len__(self) -> int:
        return len(self.gold)


def encode_examples(
    wt: WordTokenizer,
    names: Sequence[str],
    tags: Sequence[Sequence[str]],
    max_words: int,
    case_restore: bool,
) -> EncodedSet:
    """Encode with the inference tokenizer path; label each word's first sub-token."""
    split = split_words(names, max_words, case_restore)
    enc = wt.encode(split)
    counts = split.counts
    gold = [list(t[: int(n)]) for t, n in zip(tags, counts, strict=True)]
    n_words = int(counts.sum())
    flat = np.fromiter((TAG2ID[t] for g in gold for t in g), dtype=np.int64, count=n_words)
    labels = np.full(len(enc.ids), IGNORE, dtype=np.int64)
    word_name = np.repeat(np.arange(len(names)), counts)
    kept = enc.word_first >= 0
    labels[enc.offsets[word_name[kept]] + enc.word_first[kept]] = flat[kept]
    return EncodedSet(enc, labels, gold, split.bounds, enc.word_first)


class _Rows(torch.utils.data.Dataset[int]):
    """Row indices; the collator does the (vectorised) work on whole batches."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class _Collate:
    """Padded ``input_ids``/``attention_mask``/``labels`` (multiple of 8) plus the row numbers."""

    def __init__(self, data: EncodedSet, pad_id: int) -> None:
        self.data = data
        self.pad_id = pad_id
        self.label_enc = Encoded(data.labels, data.enc.offsets, data.word_first, data.word_first)

    def __call__(self, rows: list[int]) -> dict[str, torch.Tensor]:
        idx = np.asarray(rows, dtype=np.int64)
        ids, mask = batch_arrays(self.data.enc, idx, self.pad_id)
        labels, _ = batch_arrays(self.label_enc, idx, IGNORE)
        return {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask),
            "labels": torch.from_numpy(labels),
            "rows": torch.from_numpy(idx),
        }


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Length-bucketed batches whose order is a pure function of (seed, epoch).

    Shuffle: rows are permuted, cut into pools of 50 batches, each pool is sorted by length and
    cut into batches, and the batch order is permuted. Similar lengths share a batch (less
    padding) and resuming needs no sampler state: set ``epoch`` and the order is re-created.
    The attribute is deliberately not called ``set_epoch`` so accelerate's own epoch counter
    (which restarts at 0 in a resumed process) cannot change it.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, shuffle: bool, seed: int) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.drop_last = False
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def batches(self) -> list[np.ndarray]:
        """The batches of the current epoch, in order."""
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable")
            return [order[i : i + bs] for i in range(0, n, bs)]
        rng = np.random.default_rng([self.seed, self.epoch])
        perm = rng.permutation(n)
        pool = bs * 50
        out: list[np.ndarray] = []
        for p in range(0, n, pool):
            chunk = perm[p : p + pool]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            out += [chunk[i : i + bs] for i in range(0, len(chunk), bs)]
        return [out[i] for i in rng.permutation(len(out))]

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.batches():
            yield b.tolist()


def _loader(data: EncodedSet, pad_id: int, batch_size: int, shuffle: bool, seed: int) -> Any:
    sampler = BucketBatchSampler(data.enc.lengths, batch_size, shuffle, seed)
    # A private generator: creating the iterator must not draw from the global torch RNG, or a
    # resumed run (which restores that RNG) would see different dropout masks.
    return torch.utils.data.DataLoader(
        _Rows(len(data)),
        batch_sampler=sampler,
        collate_fn=_Collate(data, pad_id),
        generator=torch.Generator().manual_seed(seed),
    )


# ----------------------------------------------------------------------------- model


def train_bpe_tokenizer(names: Sequence[str], vocab_size: int, max_length: int, case_restore: bool) -> Any:
    """A RoBERTa byte-level BPE tokenizer trained on the words of ``names`` (prefix-spaced)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizer

    bpe = ByteLevelBPETokenizer(add_prefix_space=True)
    texts = (" ".join(split_name(n, 10**6, case_restore)[0]) for n in names)
    bpe.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        length=len(names),
    )
    model = json.loads(bpe._tokenizer.to_str())["model"]
    # tokenizers' BPE wants (left, right) pairs; transformers' hint says list[str]
    merges: Any = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tok = RobertaTokenizer(vocab=model["vocab"], merges=merges, add_prefix_space=True)
    tok.model_max_length = max_length
    return tok


def check_init_weights(folder: Path, allow_pickle: bool) -> None:
    """``--init`` loads weights as inference does: safetensors, or pickle only when allowed."""
    if not (folder / "config.json").is_file():
        raise ModelSourceError(
            f"--init {folder}: not a local transformers model folder (no config.json). "
            "Fix: point --init at a folder saved with save_pretrained."
        )
    if (folder / SAFE_WEIGHTS).is_file() or (folder / SAFE_INDEX).is_file():
        return
    pickles = [p for p in PICKLE_WEIGHTS if (folder / p).is_file()]
    if pickles and not allow_pickle:
        raise UnsafeWeightsError(
            f"--init {folder}: holds only pickle weights ({pickles[0]}), which can run code when loaded. "
            'Fix: convert once with `python -c "from transformers import AutoModel as M; '
            "M.from_pretrained('DIR').save_pretrained('DIR', safe_serialization=True)\"` in a trusted "
            "environment, or pass --allow-pickle."
        )
    if not pickles:
        raise ModelSourceError(f"--init {folder}: no weights (expected {SAFE_WEIGHTS}). Fix: point --init at a model.")


def build_model(args: TrainArgs, tokenizer: Any) -> Any:
    """A token-classification model with the 9 canonical TAGS as its labels."""
    from transformers import (
        AutoModelForTokenClassification,
        RobertaConfig,
        RobertaForTokenClassification,
    )

    if args.init is not None:
        check_init_weights(args.init, args.allow_pickle)
        model = AutoModelForTokenClassification.from_pretrained(
            args.init,
            num_labels=len(TAGS),
            id2label=dict(ID2TAG),
            label2id=dict(TAG2ID),
            ignore_mismatched_sizes=True,
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=not args.allow_pickle,
        )
    else:
        kwargs: dict[str, Any] = dict(
            vocab_size=len(tokenizer),
            hidden_size=args.hidden_size,
            num_hidden_layers=args.layers,
            num_attention_heads=args.heads,
            intermediate_size=4 * args.hidden_size,
            max_position_embeddings=args.max_length + 2 + 8,  # RoBERTa offsets positions by 2
            type_vocab_size=1,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            num_labels=len(TAGS),
            id2label=dict(ID2TAG),
            label2id=dict(TAG2ID),
        )
        model = RobertaForTokenClassification(RobertaConfig(**kwargs))
    if args.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    return model


# ----------------------------------------------------------------------------- checkpoints


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint (its ``trainer_state.json`` is written last)."""
    root = Path(output_dir) / CHECKPOINTS
    done = [p for p in root.glob("step-*") if (p / STATE_FILE).is_file()] if root.is_dir() else []
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def _save_checkpoint(accelerator: Any, args: TrainArgs, tokenizer: Any, state: dict[str, Any]) -> None:
    ckpt = args.output_dir / CHECKPOINTS / f"step-{state['step']:08d}"
    accelerator.save_state(str(ckpt))
    if accelerator.is_main_process:
        tokenizer.save_pretrained(ckpt / "tokenizer")
        (ckpt / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        older = sorted(
            (p for p in (args.output_dir / CHECKPOINTS).glob("step-*") if p != ckpt),
            key=lambda p: int(p.name.split("-")[1]),
        )
        for p in older[: max(0, len(older) - max(args.keep_checkpoints, 1) + 1)]:
            shutil.rmtree(p, ignore_errors=True)
    accelerator.wait_for_everyone()


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: Any, loader: Any, data: EncodedSet, accelerator: Any) -> dict[str, Any]:
    """Span F1 on ``data``: argmax at each word's first sub-token; cut words count as ``O``."""
    model.eval()
    width = pad_to(max(int(data.enc.lengths.max()), 1))
    pred_tok = np.zeros((len(data), width), dtype=np.int64)
    for batch in loader:
        rows = batch.pop("rows")
        batch.pop("labels")
        logits = model(**batch).logits
        pred = logits.argmax(-1)
        pred = torch.nn.functional.pad(pred, (0, width - pred.shape[1]), value=0)
        rows, pred = accelerator.gather_for_metrics((rows, pred))
        pred_tok[rows.cpu().numpy()] = pred.cpu().numpy()
    counts = np.diff(data.word_bounds)
    word_name = np.repeat(np.arange(len(data)), counts)
    first = data.word_first
    word_pred = np.where(first >= 0, pred_tok[word_name, np.maximum(first, 0)], 0)
    pred_tags = [
        [ID2TAG[int(t)] for t in word_pred[data.word_bounds[i] : data.word_bounds[i + 1]]] for i in range(len(data))
    ]
    return span_f1(data.gold, pred_tags)


# ----------------------------------------------------------------------------- the job


def requested_precision(flag: str | None) -> str:
    """The script's ``--mixed-precision`` if given, else accelerate's (``accelerate launch
    --mixed_precision X`` exports ACCELERATE_MIXED_PRECISION=X), else ``"no"``."""
    if flag is not None:
        return flag
    env = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").strip().lower() or "no"
    if env not in MIXED_PRECISION:
        raise ConfigError(
            f"ACCELERATE_MIXED_PRECISION = {env!r} is not supported by spark-ner train; expected one of "
            f"{', '.join(MIXED_PRECISION)}. Fix: pass --mixed-precision, or launch with one of those."
        )
    return env


def _resolve_precision(requested: str) -> str:
    """fp16/bf16 only with CUDA: CPU autocast (bf16 above all) is far slower than fp32 here."""
    return requested if requested == "no" or torch.cuda.is_available() else "no"


def _split_dev(
    names: list[str], tags: list[list[str]], seed: int
) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    rng = np.random.default_rng([seed, 5])
    is_dev = rng.random(len(names)) < 0.05
    if is_dev.all() or not is_dev.any():
        is_dev[:] = False
        is_dev[-1] = len(names) > 1
    tr = [i for i in range(len(names)) if not is_dev[i]]
    dv = [i for i in range(len(names)) if is_dev[i]]
    return (
        [names[i] for i in tr],
        [tags[i] for i in tr],
        [names[i] for i in dv],
        [tags[i] for i in dv],
    )


def train(args: TrainArgs) -> dict[str, Any]:
    """Run the job; returns the metrics written to ``metrics.json``."""
    threads = torch.get_num_threads()
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    try:
        return _train(args)
    finally:
        torch.set_num_threads(threads)  # a library call must not leave the process changed
        _reset_accelerate_state()


def _reset_accelerate_state() -> None:
    """accelerate keeps one process-wide state: left set, a finished run would pin the next run's
    mixed precision (a second ``train`` with another precision fails on a GPU)."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def _train(args: TrainArgs) -> dict[str, Any]:
    """The job: data -> tokenizer -> model -> ``accelerator.prepare`` -> loop -> save."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    started = time.perf_counter()
    requested = requested_precision(args.mixed_precision)
    precision = _resolve_precision(requested)
    accelerator = Accelerator(mixed_precision=precision, **_tracker_kwargs(args))
    if args.log_with:
        params = {k: v for k, v in args.to_dict().items() if v is not None and k not in ("log_with", "progress")}
        accelerator.init_trackers(args.tracker_project, config=params)
    main = accelerator.is_main_process
    if main and precision != requested:
        logger.warning(
            "mixed_precision=%s needs CUDA; training in fp32 on the CPU (bf16 autocast on a "
            "CPU without AMX is hundreds of times slower)",
            requested,
        )
    set_seed(args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    resume_from = latest_checkpoint(args.output_dir) if args.resume else None
    if args.resume and resume_from is None and main:
        logger.info("no checkpoint in %s: starting from scratch", args.output_dir)

    # -- data
    names, tags = load_examples(args.train_file, args.max_train_examples)
    if args.eval_file is not None:
        dev_names, dev_tags = load_examples(args.eval_file, args.max_eval_examples)
    else:
        names, tags, dev_names, dev_tags = _split_dev(names, tags, args.seed)
        cap = args.max_eval_examples
        dev_names, dev_tags = dev_names[:cap], dev_tags[:cap]

    # -- unlabelled text for masked-LM pre-training
    mlm_texts = read_texts(args.mlm_file) if args.mlm_file is not None and resume_from is None else []

    # -- tokenizer (trained on the training names when from scratch; reused on resume)
    if resume_from is not None and (resume_from / "tokenizer").is_dir():
        tokenizer = load_tokenizer(str((resume_from / "tokenizer").resolve()), args.max_length)
    elif args.init is not None:
        tokenizer = load_tokenizer(str(args.init.resolve()), args.max_length)
    else:
        # on the training names only: the extra text does not lengthen the pieces names are cut into
        tokenizer = train_bpe_tokenizer(names, args.vocab_size, args.max_length, args.case_restore)
    wt = WordTokenizer(tokenizer, args.max_length)
    train_set = encode_examples(wt, names, tags, args.max_words, args.case_restore)
    dev_set = encode_examples(wt, dev_names, dev_tags, args.max_words, args.case_restore)
    train_dl = _loader(train_set, wt.pad_id, args.batch_size, shuffle=True, seed=args.seed)
    eval_dl = _loader(dev_set, wt.pad_id, args.eval_batch_size, shuffle=False, seed=args.seed)
    train_sampler: BucketBatchSampler = train_dl.batch_sampler
    if main:
        logger.info(
            "data: %d train / %d dev names, %.1f tokens per name",
            len(train_set),
            len(dev_set),
            float(train_set.enc.lengths.mean()),
        )

    # -- model, optimizer, schedule
    set_seed(args.seed)
    model = build_model(args, tokenizer)
    pretrained: PretrainResult | None = None
    if mlm_texts:
        encoder, pretrained = pretrain_mlm(
            model.config,
            tokenizer,
            word_texts(mlm_texts, args.max_words, args.case_restore),
            steps=args.mlm_steps,
            batch_size=args.mlm_batch_size,
            lr=args.mlm_lr,
            max_length=args.max_length,
            seed=args.seed,
            accelerator=accelerator,
        )
        model.roberta.load_state_dict(encoder)
        set_seed(args.seed)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and not _no_decay(n)]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and _no_decay(n)]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=args.lr,
    )
    steps_per_epoch = math.ceil(len(train_dl) / accelerator.num_processes)
    total_steps = steps_per_epoch * args.epochs
    if args.max_steps is not None:
        total_steps = min(total_steps, args.max_steps)
    scheduler = get_linear_schedule_with_warmup(
        optimizer,
        num_warmup_steps=int(args.warmup_ratio * total_steps) * accelerator.num_processes,
        num_training_steps=total_steps * accelerator.num_processes,
    )
    if main:
        n_params = sum(p.numel() for p in model.parameters())
        logger.info(
            "model: %s, %s parameters; %d steps (%d per epoch), batch %d, %s",
            type(model).__name__,
            f"{n_params:,}",
            total_steps,
            steps_per_epoch,
            args.batch_size,
            "fp32" if precision == "no" else precision,
        )

    model, optimizer, train_dl, eval_dl, scheduler = accelerator.prepare(model, optimizer, train_dl, eval_dl, scheduler)

    # -- resume
    state: dict[str, Any] = {"step": 0, "epoch": 0, "step_in_epoch": 0, "history": []}
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        state = json.loads((resume_from / STATE_FILE).read_text(encoding="utf-8"))
        if main:
            logger.info("resumed from %s (step %d)", resume_from, state["step"])

    # -- loop
    step = int(state["step"])
    progress = tqdm(
        total=total_steps,
        initial=step,
        disable=not (accelerator.is_local_main_process and args.progress),
        desc="train",
        unit="step",
    )
    loss_sum, loss_n = 0.0, 0
    start_epoch = int(state["epoch"])
    for epoch in range(start_epoch, args.epochs):
        if step >= total_steps:
            break
        model.train()
        train_sampler.epoch = epoch
        skip = int(state["step_in_epoch"]) if epoch == start_epoch else 0
        epoch_dl = accelerator.skip_first_batches(train_dl, skip) if skip else train_dl
        step_in_epoch = skip
        for batch in epoch_dl:
            batch.pop("rows")
            outputs = model(**batch)
            loss = outputs.loss
            accelerator.backward(loss)
            if args.max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            step_in_epoch += 1
            loss_sum += float(loss.detach())
            loss_n += 1
            progress.update(1)
            progress.set_postfix(loss=f"{loss_sum / loss_n:.4f}", refresh=False)
            if args.checkpoint_every and step % args.checkpoint_every == 0:
                state.update(step=step, epoch=epoch, step_in_epoch=step_in_epoch)
                _save_checkpoint(accelerator, args, tokenizer, state)
            if step >= total_steps:
                break
        scores = evaluate(model, eval_dl, dev_set, accelerator)
        scores.update(epoch=epoch + 1, step=step)
        scores["train_loss"] = loss_sum / loss_n if loss_n else None
        state["history"].append(scores)
        if args.log_with:
            accelerator.log(tracker_metrics(scores), step=step)
        state.update(epoch=epoch + 1, step_in_epoch=0)
        loss_sum, loss_n = 0.0, 0
        if main:
            logger.info(
                "epoch %d (step %d): dev entity F1 %.4f (P %.4f R %.4f) %s",
                epoch + 1,
                step,
                scores["f1"],
                scores["precision"],
                scores["recall"],
                " ".join(f"{t}={v['f1']:.3f}" for t, v in scores["per_type"].items()),
            )
    progress.close()

    # -- save
    accelerator.wait_for_everyone()
    final = state["history"][-1] if state["history"] else evaluate(model, eval_dl, dev_set, accelerator)
    metrics = {
        "dev": {k: v for k, v in final.items() if k not in ("epoch", "step", "train_loss")},
        "history": state["history"],
        "steps": step,
        "train_examples": len(train_set),
        "dev_examples": len(dev_set),
        "parameters": sum(p.numel() for p in accelerator.unwrap_model(model).parameters()),
        "seconds": round(time.perf_counter() - started, 2),
        "num_processes": accelerator.num_processes,
        "mixed_precision": precision,
    }
    if pretrained is not None:
        metrics["pretrain"] = dataclasses.asdict(pretrained)
    if main:
        out = args.output_dir
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.save_pretrained(out, is_main_process=True, save_function=accelerator.save, max_shard_size="10GB")
        for stale in out.glob("pytorch_model*.bin"):
            stale.unlink()
        tokenizer.save_pretrained(out)
        for f in out.iterdir():
            if f.is_file() and f.suffix in (".safetensors", ".json", ".txt"):
                f.chmod(0o644)  # temp-file writes leave 0600; executors may run as other users
        resolved = args.to_dict()
        resolved.update(
            mixed_precision_requested=requested, mixed_precision_used=precision, num_processes=accelerator.num_processes
        )
        _write_json(out / ARGS_FILE, resolved)
        _write_json(out / METRICS_FILE, metrics)
        if not args.checkpoint_every or args.keep_checkpoints <= 0:
            shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
        logger.info("saved %s: dev entity F1 %.4f in %.0f s", out, metrics["dev"]["f1"], metrics["seconds"])
    if args.log_with:
        accelerator.log({"final_dev_f1": float(metrics["dev"]["f1"]), "seconds": float(metrics["seconds"])}, step=step)
        accelerator.end_training()
    accelerator.wait_for_everyone()
    return metrics


def tracker_metrics(scores: Mapping[str, Any]) -> dict[str, float]:
    """An epoch's dev scores as flat tracker metrics: dev_f1, dev_precision, dev_recall, dev_f1_PER, train_loss."""
    out = {f"dev_{k}": float(scores[k]) for k in ("f1", "precision", "recall") if scores.get(k) is not None}
    out.update({f"dev_f1_{t}": float(v["f1"]) for t, v in (scores.get("per_type") or {}).items()})
    if scores.get("train_loss") is not None:
        out["train_loss"] = float(scores["train_loss"])
    return out


def _tracker_kwargs(args: TrainArgs) -> dict[str, Any]:
    """Accelerate's ``log_with`` (checked here, so a missing package is one line, not a traceback)."""
    if not args.log_with:
        return {}
    if args.log_with == "mlflow":
        from accelerate.utils import is_mlflow_available

        if not is_mlflow_available():
            raise ConfigError(
                "--log-with mlflow needs MLflow, which is not installed. Fix: pip install 'spark-ner[mlflow]'"
            )
    return {"log_with": args.log_with, "project_dir": str(args.output_dir)}


def _no_decay(name: str) -> bool:
    return name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:
    """``spark-ner train``: 0 on success."""
    metrics = train(args_from_namespace(args))
    return 0 if metrics.get("dev") is not None else 1
