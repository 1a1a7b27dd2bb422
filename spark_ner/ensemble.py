"""The ensemble: members' word probabilities, combined per word, decoded into name labels.

``Ensemble.predict`` is pure (distinct names in, word probabilities out); ``Ensemble.label`` adds
the contract's columns around it: nulls, dedup, order, errors. Nothing here writes anywhere.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spark_ner.config import (
    ENTITY_TYPES,
    OUTPUT_FIELDS,
    TAGS,
    Aggregation,
    Config,
    CpuParallel,
    MemberKind,
    Precision,
    Strategy,
)
from spark_ner.decode import decode, entity_records, label_names
from spark_ner.lexicon import LexiconMember, load_lexicon_member, tag_factors
from spark_ner.models import (
    Member,
    load_member,
    model_version,
    resolve_device,
    resolve_dtype,
    task_cpus,
    validate_sources,
)
from spark_ner.tokenize import Encoded, WordSplit, WordTokenizer, batch_arrays, length_batches, split_words

log = logging.getLogger(__name__)

__all__ = ["Ensemble", "Prediction", "combine", "cpu_lanes", "load_ensemble", "validate_sources", "worker_threads"]

OUTPUT_COLUMNS = ("label", "score", "agreement", "entities", "model_version", "error")


@dataclass(frozen=True)
class Prediction:
    """Word-level output for distinct names: per member and combined tag probabilities [W, 9]."""

    split: WordSplit
    member_probs: list[np.ndarray]
    member_valid: list[np.ndarray]
    probs: np.ndarray
    valid: np.ndarray
    row_error: list[str | None]  # per distinct name: why it could not be scored, or None


@dataclass(frozen=True)
class _Pending:
    """A launched batch: its rows, the words it scores and the (maybe in-flight) probabilities."""

    rows: np.ndarray
    widx: np.ndarray
    ntok: np.ndarray
    tensor: Any


@dataclass
class Stats:
    """Counters a job reads for its summary (no names, only numbers)."""

    calls: int = 0
    rows: int = 0
    names_scored: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"tokenize": 0.0, "forward": 0.0, "decode": 0.0})


def tag_groups(known: np.ndarray) -> dict[int, list[int]]:
    """For a member that can emit only the tags in ``known`` [9]: which canonical tags each emitted
    tag stands for. A member with no ORG labels says "O" for ORG words; an IO member's ``I-PER``
    covers ``B-PER`` too. Only tags whose group is more than themselves are returned."""
    groups: dict[int, list[int]] = {}
    for k in range(len(ENTITY_TYPES)):
        b, i = 1 + 2 * k, 2 + 2 * k
        if not known[b] and not known[i]:
            groups.setdefault(0, [0]).extend([b, i])
        elif not known[b]:
            groups.setdefault(i, [i]).append(b)
        elif not known[i]:
            groups.setdefault(b, [b]).append(i)
    return groups


def spread_partial(
    probs: list[np.ndarray], valid: list[np.ndarray], weights: Sequence[float], known: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Spread each member's mass on a tag that stands for several (see :func:`tag_groups`) over
    them, in proportion to the members that can tell them apart.

    Why: a member trained without ORG (rampart) puts ORG words in "O"; averaged as-is, it votes
    against every organisation. Spread this way it abstains on what it cannot see.
    """
    w = np.asarray(weights, dtype=np.float32)
    m_known = np.stack(known).astype(np.float32)  # [M, 9]
    mask = np.stack(valid).astype(np.float32)  # [M, W]
    coef = w[:, None, None] * mask[:, :, None] * m_known[:, None, :]  # [M, W, 9]
    total = coef.sum(axis=0)
    ref = np.divide((np.stack(probs) * coef).sum(axis=0), total, out=np.zeros_like(total), where=total > 0)
    out = []
    for p, kn in zip(probs, known, strict=True):
        groups = tag_groups(kn)
        if not groups:
            out.append(p)
            continue
        q = p.copy()
        for src, tags in groups.items():
            share = ref[:, tags]
            denom = share.sum(axis=1, keepdims=True)
            share = np.where(denom > 0, share / np.where(denom > 0, denom, 1.0), np.eye(len(tags))[0])
            q[:, tags] = p[:, src : src + 1] * share
        out.append(q)
    return out


def combine(
    probs: list[np.ndarray],
    valid: list[np.ndarray],
    weights: Sequence[float],
    strategy: Strategy,
    known: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Combine members per word; a member that lost a word to truncation does not vote on it, and
    a member does not vote against a type it has no labels for (``known``: tags it can emit)."""
    if known is not None:
        probs = spread_partial(probs, valid, weights, known)
    w = np.asarray(weights, dtype=np.float32)[:, None, None]
    stack = np.stack(probs)  # [M, W, 9]
    mask = np.stack(valid)[:, :, None].astype(np.float32)
    wm = w * mask
    total = wm.sum(axis=0)
    any_valid = total[:, 0] > 0
    denom = np.where(total > 0, total, 1.0)
    if strategy == Strategy.MEAN:
        out = (stack * wm).sum(axis=0) / denom
    elif strategy == Strategy.MAX:
        out = np.where(mask > 0, stack, 0.0).max(axis=0)
        out = out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
    else:  # vote: each member's own best tag, by weight
        onehot = np.zeros_like(stack)
        np.put_along_axis(onehot, stack.argmax(axis=2)[:, :, None], 1.0, axis=2)
        out = (onehot * wm).sum(axis=0) / denom
    return out.astype(np.float32), any_valid


class Ensemble:
    """Loaded members plus the config; label names in-process (no Spark needed)."""

    def __init__(self, cfg: Config, members: list[Member | LexiconMember], version: str) -> None:
        self.cfg = cfg
        self.members = members
        self.model_version = version
        self.weights = [m.source.weight for m in members]
        self.known = [m.source.projection.sum(axis=0) > 0 for m in members]  # tags each can emit
        # lexicon members have no tokenizer: they score the words themselves (see predict)
        self.tokenizers = [
            WordTokenizer(m.tokenizer, cfg.ensemble.max_length) if isinstance(m, Member) else None for m in members
        ]
        by_name = {m.name: m for m in cfg.models}
        #: per member, factors on its vote per tag (``weights_by_type``); None = all 1
        self.factors = [
            tag_factors(by_name[m.source.name].weights_by_type) if m.source.name in by_name else None for m in members
        ]
        self.stats = Stats()
        self.lanes = cpu_lanes(cfg, self.device)
        self._pool: ThreadPoolExecutor | None = None
        # GPUs want shapes in multiples of 8 (tensor cores); CPUs only pay for the padding
        self.pad_multiple = 8 if self.device.startswith("cuda") else 1

    def transformers(self) -> list[tuple[Member, WordTokenizer]]:
        """The members that run a model forward (not the lexicon members), with their word tokenizers."""
        return [(m, wt) for m, wt in zip(self.members, self.tokenizers, strict=True) if isinstance(m, Member) and wt]

    @property
    def device(self) -> str:
        return next((m.device for m in self.members if isinstance(m, Member)), "cpu")

    # ------------------------------------------------------------------ forward
    def _launch(self, member: Member, enc: Encoded, rows: np.ndarray, pad_id: int, bounds: np.ndarray) -> _Pending:
        """Start the forward pass of ``rows``; on CUDA it runs asynchronously until collected.

        Only the positions that decoding needs leave the device (each word's first sub-token, or
        all of its sub-tokens for average/max), in fp32: softmax and projection never run in fp16.
        """
        import torch

        counts = bounds[rows + 1] - bounds[rows]
        total = int(counts.sum())
        brow = np.repeat(np.arange(len(rows)), counts)
        widx = np.repeat(bounds[rows] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(total)
        first = enc.word_first[widx]
        ok = first >= 0
        widx, brow, first = widx[ok], brow[ok], first[ok]
        ntok = enc.word_ntok[widx]
        if self.cfg.ensemble.aggregation == Aggregation.FIRST:
            tok_row, tok_pos = brow, first
        else:
            seg = np.concatenate([[0], np.cumsum(ntok)[:-1]]).astype(np.int64)
            tok_row = np.repeat(brow, ntok)
            tok_pos = np.repeat(first - seg, ntok) + np.arange(int(ntok.sum()))
        ids, mask = batch_arrays(enc, rows, pad_id, self.pad_multiple)
        cuda = member.device.startswith("cuda")
        t_ids, t_mask = torch.from_numpy(ids), torch.from_numpy(mask)
        t_row, t_pos = torch.from_numpy(tok_row), torch.from_numpy(tok_pos)
        if cuda:
            t_ids, t_mask, t_row, t_pos = (
                t.pin_memory().to(member.device, non_blocking=True) for t in (t_ids, t_mask, t_row, t_pos)
            )
        # length-sorted batches are often all one length: no mask lets SDPA take its unmasked path
        uniform = bool(mask.all())
        with torch.inference_mode():
            logits = member.model(input_ids=t_ids, attention_mask=None if uniform else t_mask).logits
            picked = torch.softmax(logits[t_row, t_pos].float(), dim=-1) @ member.projection
            if cuda:
                host = torch.empty(picked.shape, dtype=picked.dtype, pin_memory=True)
                host.copy_(picked, non_blocking=True)
                picked = host
        return _Pending(rows, widx, ntok, picked)

    def _collect(self, pending: _Pending, out: tuple[np.ndarray, np.ndarray]) -> None:
        """Wait for a launched batch and write its words' probabilities into ``out``."""
        import torch

        if pending.tensor.is_pinned():
            torch.cuda.current_stream().synchronize()
        tok = pending.tensor.numpy()
        probs_out, valid_out = out
        if len(pending.widx) == 0:
            return
        agg = self.cfg.ensemble.aggregation
        if agg == Aggregation.FIRST:
            probs_out[pending.widx] = tok
        else:
            seg = np.concatenate([[0], np.cumsum(pending.ntok)[:-1]])
            if agg == Aggregation.AVERAGE:
                red = np.add.reduceat(tok, seg, axis=0) / pending.ntok[:, None]
            else:
                red = np.maximum.reduceat(tok, seg, axis=0)
            probs_out[pending.widx] = red / red.sum(axis=1, keepdims=True)
        valid_out[pending.widx] = True

    def _score(
        self,
        member: Member,
        enc: Encoded,
        batches: list[np.ndarray],
        pad_id: int,
        bounds: np.ndarray,
        errors: list[str | None],
        out: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """Score batches with one in flight (the next is prepared while the GPU runs this one).

        On CUDA out-of-memory a batch is split in halves and retried, down to one row; a row that
        still fails, or any batch that raises, gets ``error`` set and the call goes on.
        """
        import torch

        inflight: deque[_Pending] = deque()
        todo = deque(batches)
        while todo or inflight:
            if todo:
                rows = todo.popleft()
                try:
                    inflight.append(self._launch(member, enc, rows, pad_id, bounds))
                except torch.cuda.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    if len(rows) == 1:
                        n_tok = int(enc.lengths[rows[0]])
                        errors[int(rows[0])] = f"CUDA out of memory scoring one row of {n_tok} tokens"
                    else:
                        log.warning("CUDA out of memory on a batch of %d rows; retrying in halves", len(rows))
                        half = len(rows) // 2
                        todo.extendleft([rows[half:], rows[:half]])
                    continue
                except Exception as exc:  # one bad batch must not fail the job: mark its rows
                    log.exception("member %s failed on a batch of %d rows", member.source.name, len(rows))
                    for r in rows.tolist():
                        errors[r] = f"member {member.source.name} failed: {type(exc).__name__}"
                    continue
                if len(inflight) < 2 and todo:
                    continue
            self._collect(inflight.popleft(), out)

    def predict(self, names: list[str]) -> Prediction:
        """Pure scoring of distinct, non-null names: word probabilities per member and combined."""
        t0 = time.perf_counter()
        ens = self.cfg.ensemble
        split = split_words(names, max_words=ens.max_length, case_restore=ens.case_restore)
        encs = [wt.encode(split) if wt is not None else None for wt in self.tokenizers]
        t1 = time.perf_counter()
        errors: list[str | None] = [None] * len(names)
        member_probs = [np.zeros((len(split.words), len(TAGS)), dtype=np.float32) for _ in self.members]
        member_valid = [np.zeros(len(split.words), dtype=bool) for _ in self.members]
        work = [
            (member, enc, length_batches(enc.lengths, ens.batch_size), wt.pad_id, (probs, valid))
            for member, wt, enc, probs, valid in zip(
                self.members, self.tokenizers, encs, member_probs, member_valid, strict=True
            )
            if isinstance(member, Member) and wt is not None and enc is not None
        ]
        if self.lanes > 1:
            # each lane thread takes the next batch and runs it on one core: batches write disjoint rows
            import torch

            if torch.get_num_threads() != 1:  # someone reset torch's threads since load_ensemble
                torch.set_num_threads(1)
            pool = self._lane_pool()
            futures = [
                pool.submit(self._score, member, enc, [rows], pad_id, split.bounds, errors, out)
                for member, enc, batches, pad_id, out in work
                for rows in batches
            ]
            for fut in futures:
                fut.result()
        else:
            for member, enc, batches, pad_id, out in work:
                self._score(member, enc, batches, pad_id, split.bounds, errors, out)
        for i, lex in enumerate(self.members):
            if isinstance(lex, LexiconMember):  # the seam: every member gives [W, len(TAGS)] word probabilities
                member_probs[i], member_valid[i] = lex.tag_probs(split)
        t2 = time.perf_counter()
        scaled = [p if f is None else p * f for p, f in zip(member_probs, self.factors, strict=True)]
        combined, any_valid = combine(scaled, member_valid, self.weights, ens.strategy, self.known)
        if any(f is not None for f in self.factors):  # per-type factors leave the mean unnormalised
            total = combined.sum(axis=1, keepdims=True)
            combined = np.divide(combined, total, out=np.zeros_like(combined), where=total > 0)
        self.stats.seconds["tokenize"] += t1 - t0
        self.stats.seconds["forward"] += t2 - t1
        return Prediction(split, member_probs, member_valid, combined, any_valid, errors)

    def _lane_pool(self) -> ThreadPoolExecutor:
        """The worker's lane threads, started on first use (after Spark forked the worker)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="spark-ner-cpu")
        return self._pool

    # ------------------------------------------------------------------ label
    def label(self, names: Sequence[Any] | pd.Series, members: bool = False) -> pd.DataFrame:
        """One output row per input, in order: the contract's columns (+ per-member labels)."""
        values = list(names)
        n = len(values)
        self.stats.calls += 1
        self.stats.rows += n
        out_label = np.full(n, None, dtype=object)
        out_score = np.full(n, np.nan)
        out_agree = np.full(n, np.nan)
        out_ents: np.ndarray = np.full(n, None, dtype=object)
        out_error = np.full(n, None, dtype=object)
        member_cols = {m.source.name: np.full(n, None, dtype=object) for m in self.members}

        is_str = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=n)
        for i in np.flatnonzero(~is_str):
            v = values[i]
            if not (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA):
                out_error[i] = f"expected a string, got {type(v).__name__}"
        str_idx = np.flatnonzero(is_str)
        if len(str_idx):
            codes, distinct = factorize([values[i] for i in str_idx])
            pred = self.predict(distinct)
            t0 = time.perf_counter()
            dec = decode(pred.probs, pred.valid, pred.split.bounds, pred.split.starts, pred.split.ends)
            ents = entity_records(dec, distinct)
            u_label = label_names(dec.label)
            agree = np.zeros(len(distinct))
            for m, p, v, w in zip(self.members, pred.member_probs, pred.member_valid, self.weights, strict=True):
                m_dec = decode(p, v, pred.split.bounds, pred.split.starts, pred.split.ends)
                agree += w * (m_dec.label == dec.label)
                member_cols[m.source.name][str_idx] = label_names(m_dec.label)[codes]
            agree /= sum(self.weights)
            u_err = np.asarray(pred.row_error, dtype=object)
            failed = np.fromiter((e is not None for e in pred.row_error), dtype=bool, count=len(distinct))
            u_label[failed] = None
            u_ents: np.ndarray = np.empty(len(distinct), dtype=object)
            u_ents[:] = [None if f else e for e, f in zip(ents, failed.tolist(), strict=True)]
            out_label[str_idx] = u_label[codes]
            out_score[str_idx] = np.where(failed, np.nan, dec.score)[codes]
            out_agree[str_idx] = np.where(failed, np.nan, agree)[codes]
            out_ents[str_idx] = u_ents[codes]
            out_error[str_idx] = u_err[codes]
            self.stats.names_scored += len(distinct)
            self.stats.seconds["decode"] += time.perf_counter() - t0
        version = np.full(n, self.model_version, dtype=object)
        columns = (out_label, out_score, out_agree, out_ents, version, out_error)
        frame = pd.DataFrame(dict(zip(OUTPUT_FIELDS, columns, strict=True)))
        if members:
            for name, col in member_cols.items():
                frame[f"member_label__{name}"] = col
        return frame


def factorize(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes and distinct values in first-seen order.

    Not ``pandas.factorize``: its string hashing stops at NUL, so ``"a\\x00b"`` and ``"a\\x00c"``
    would share one code and one label (found by the property test).
    """
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    return codes, list(index)


def worker_threads(cfg: Config) -> int:
    """CPU threads of this Python worker: ``ensemble.num_threads``, else the task's cores."""
    return cfg.ensemble.num_threads or task_cpus()


def cpu_lanes(cfg: Config, device: str) -> int:
    """Threads that each run whole batches on one core: the worker's threads on CPU in ``batches`` mode.

    1 (torch's own per-op threading) on GPUs, in ``ops`` mode and with ``compile`` (compiled
    graphs are not entered from several threads at once here).
    """
    e = cfg.ensemble
    if device != "cpu" or e.cpu_parallel != CpuParallel.BATCHES or e.compile:
        return 1
    return worker_threads(cfg)


def configure_threads(cfg: Config) -> int:
    """Set torch's intra-op threads (1 when lanes run whole batches); return the worker's threads."""
    import torch

    n = worker_threads(cfg)
    intra = 1 if cpu_lanes(cfg, "cpu") > 1 else n
    if torch.get_num_threads() != intra:
        torch.set_num_threads(intra)
    return n


def load_ensemble(cfg: Config | None = None) -> Ensemble:
    """Check every member (as data), then load and place each one; ready for ``label``."""
    from spark_ner.config import load_config

    cfg = cfg if cfg is not None else load_config()
    sources = validate_sources(cfg)
    device = resolve_device(cfg.ensemble.device)
    dtype = resolve_dtype(cfg.ensemble.precision, device)
    if device == "cpu":
        configure_threads(cfg)
    allow = {m.name: m.allow_pickle for m in cfg.models}
    int8 = cfg.ensemble.precision == Precision.INT8
    members: list[Member | LexiconMember] = [
        load_lexicon_member(s) if s.kind == MemberKind.LEXICON else load_member(s, device, dtype, allow[s.name], int8)
        for s in sources
    ]
    if cfg.ensemble.compile:
        import torch

        for m in members:  # dynamic shapes: batches differ in length; measure with `spark-ner bench` first
            if isinstance(m, Member):
                m.model = torch.compile(m.model, dynamic=True)
    version = model_version(cfg, sources)
    log.info("ensemble %s ready on %s", version, device)
    return Ensemble(cfg, members, version)
