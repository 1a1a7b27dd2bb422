"""Masked-LM pre-training of a from-scratch RoBERTa on unlabelled real name text (issue 25, item 3).

Why: ``roberta-names`` is trained from nothing on ~48k generated names, so its sub-word embeddings
know only the strings those names drew. Real lists hold hundreds of thousands more (places, given
names, surnames, organisations); a masked-LM pass over them first teaches the encoder how real
names are spelled in many languages, which is what it needs on names no list holds. The
token-classification head is then trained as before on the encoder this pass leaves.

Text comes one string per row: a ``.txt`` file (one per line) or a parquet/CSV file with a ``name``
column. Strings are split into words the way inference splits names (``tokenize.split_name``, case
restored), so the encoder sees the same word pieces at both stages.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from spark_ner.errors import ConfigError
from spark_ner.tokenize import split_name

logger = logging.getLogger(__name__)

#: share of a string's word pieces that are hidden (of them: 80% <mask>, 10% a random piece, 10% kept)
MASK_SHARE = 0.2
#: batches drawn, tokenized and cut by length at a time (strings run from 3 to 30 pieces)
POOL = 32


@dataclass(frozen=True)
class PretrainResult:
    """What the pass did: steps, strings, the mean masked-LM loss of its first and last tenth."""

    steps: int
    texts: int
    loss_first: float
    loss_last: float
    seconds: float


def read_texts(path: Path, limit: int | None = None) -> list[str]:
    """The strings of ``path`` (``.txt``: one per line; parquet/CSV: the ``name`` column), blanks dropped."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--mlm-file {path}: no such file. Fix: give a .txt (one string a line) or a parquet/CSV.")
    if path.suffix == ".txt":
        texts = path.read_text(encoding="utf-8").splitlines()
    else:
        import pandas as pd

        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        if "name" not in frame.columns:
            raise ConfigError(
                f"--mlm-file {path}: no 'name' column (columns: {', '.join(map(str, frame.columns))}). "
                "Fix: name the text column 'name', or write a .txt file with one string a line."
            )
        texts = frame["name"].dropna().astype(str).tolist()
    texts = [t.strip() for t in texts if t and t.strip()]
    if not texts:
        raise ConfigError(f"--mlm-file {path}: holds no strings. Fix: point it at the unlabelled name text.")
    return texts[:limit] if limit else texts


def write_mlm_text(
    path: Path,
    exclude: Iterable[Path],
    skip: Collection[str] = (),
    drop: Iterable[str] = (),
) -> dict[str, Any]:
    """Write the lexicon's real entries (``lexicon_data.name_texts(skip)``) to ``path``, one a line,
    leaving out every entity of the parquet files in ``exclude`` (their ``name`` and ``entity_key``)
    and every string whose key ends with a word of ``drop``: the dev and test entities stay unseen by
    the encoder, or its dev figures would flatter it. Returns counts and the text's sha256."""
    import hashlib

    import pandas as pd

    from spark_ner.starter.corpus import entity_key
    from spark_ner.starter.lexicon_data import name_texts

    unseen: set[str] = set()
    for file in exclude:
        frame = pd.read_parquet(file, columns=["name", "entity_key"])
        unseen.update(k.split(":", 1)[1] for k in frame["entity_key"])
        unseen.update(entity_key(n) for n in frame["name"])
    endings = tuple(f" {w.casefold()}" for w in drop)
    texts = name_texts(skip)
    kept = []
    for t in texts:
        key = entity_key(t)
        if key not in unseen and not (endings and key.endswith(endings)):
            kept.append(t)
    body = "\n".join(kept) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    record = {
        "texts": len(kept),
        "left_out": len(texts) - len(kept),
        "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
    }
    logger.info("masked-LM text: %s (%d strings, %d left out)", path, record["texts"], record["left_out"])
    return record


def word_texts(texts: Sequence[str], max_words: int, case_restore: bool) -> list[str]:
    """Each string as inference splits it, words one space apart (the BPE's and the encoder's view)."""
    return [" ".join(split_name(t, max_words, case_restore)[0]) for t in texts]


def _mask(ids: torch.Tensor, special: torch.Tensor, tokenizer: Any, gen: torch.Generator) -> tuple[Any, Any]:
    """BERT's recipe on a padded batch: hide MASK_SHARE of the real pieces (at least one per row)."""
    labels = ids.clone()
    p = torch.rand(ids.shape, generator=gen)
    p[special] = 2.0  # never chosen
    chosen = p < MASK_SHARE
    first = p.argmin(dim=1)  # every row hides at least one piece (names are short)
    chosen[torch.arange(ids.shape[0]), first] = ~special[torch.arange(ids.shape[0]), first]
    labels[~chosen] = -100
    ids = ids.clone()
    how = torch.rand(ids.shape, generator=gen)
    ids[chosen & (how < 0.8)] = tokenizer.mask_token_id
    swap = chosen & (how >= 0.8) & (how < 0.9)
    ids[swap] = torch.randint(len(tokenizer), (int(swap.sum()),), generator=gen)
    return ids, labels


class _MaskedLM(torch.nn.Module):
    """RoBERTa's masked-LM, its vocabulary head applied to the hidden pieces only: the head is the
    largest matmul of a small encoder (every position x the vocabulary), and a fifth of the pieces
    carry a label. One module, so ``accelerator.prepare`` wraps (and DDP syncs) the whole step."""

    def __init__(self, config: Any) -> None:
        from transformers import RobertaForMaskedLM

        super().__init__()
        self.mlm = RobertaForMaskedLM(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hidden = self.mlm.roberta(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        picked = labels != -100
        logits = self.mlm.lm_head(hidden[picked])
        return torch.nn.functional.cross_entropy(logits, labels[picked])


def pretrain_mlm(
    encoder_config: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    max_length: int,
    seed: int,
    accelerator: Any,
) -> tuple[dict[str, torch.Tensor], PretrainResult]:
    """Train a ``RobertaForMaskedLM`` of ``encoder_config`` for ``steps`` on ``texts`` (word-split);
    return its encoder's state dict (the ``roberta.`` weights a token-classification model loads)."""
    from transformers import get_linear_schedule_with_warmup

    started = time.perf_counter()
    torch.manual_seed(seed)
    model = _MaskedLM(encoder_config)
    texts = [t for t in texts if t]
    if not texts:
        raise ConfigError("--mlm-file: no string has a word. Fix: check the file holds names.")
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    rest = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, max(1, steps // 16), steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    device = accelerator.device
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    pad = tokenizer.pad_token_id
    order: list[int] = []
    ready: list[list[list[int]]] = []
    losses: list[float] = []
    model.train()
    for _ in range(steps):
        if not ready:  # the next POOL batches: tokenized together, cut by length (little padding), shuffled
            if len(order) < batch_size * POOL:
                order += rng.sample(range(len(texts)), len(texts))
            picked, order = [texts[i] for i in order[: batch_size * POOL]], order[batch_size * POOL :]
            # (cut here, not with truncation=True: that would change the tokenizer the member saves)
            pieces = [
                r if len(r) <= max_length else [*r[: max_length - 1], r[-1]] for r in tokenizer(picked)["input_ids"]
            ]
            pieces.sort(key=len)
            ready = [pieces[k : k + batch_size] for k in range(0, len(pieces), batch_size)]
            rng.shuffle(ready)
        batch = ready.pop()
        width = max(len(r) for r in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        for k, r in enumerate(batch):
            ids[k, : len(r)] = torch.tensor(r)
        attention = ids != pad
        special = ~attention | (ids == tokenizer.bos_token_id) | (ids == tokenizer.eos_token_id)
        masked, labels = _mask(ids, special, tokenizer, gen)
        loss = model(masked.to(device), attention.to(device), labels.to(device))
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    tenth = max(1, math.ceil(len(losses) / 10))
    result = PretrainResult(
        steps=steps,
        texts=len(texts),
        loss_first=round(sum(losses[:tenth]) / tenth, 4),
        loss_last=round(sum(losses[-tenth:]) / tenth, 4),
        seconds=round(time.perf_counter() - started, 1),
    )
    if accelerator.is_main_process:
        logger.info(
            "masked-LM pre-training: %d steps over %d strings, loss %.3f -> %.3f, %.0f s",
            result.steps,
            result.texts,
            result.loss_first,
            result.loss_last,
            result.seconds,
        )
    state = accelerator.unwrap_model(model).mlm.roberta.state_dict()
    return {k: v.detach().cpu() for k, v in state.items()}, result


__all__ = ["MASK_SHARE", "PretrainResult", "pretrain_mlm", "read_texts", "word_texts", "write_mlm_text"]
