"""The ensemble: members' word probabilities, combined per word, decoded into name labels.

``Ensemble.predict`` is pure (distinct names in, word probabilities out); ``Ensemble.label`` adds
the contract's columns around it: nulls, dedup, order, errors. Nothing here writes anywhere.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from operator import is_
from typing import Any

import numpy as np
import pandas as pd

from spark_ner.calibrate import calibrate_scores
from spark_ner.config import (
    ENTITY_TYPES,
    NAME_LABELS,
    OUTPUT_FIELDS,
    TAGS,
    Aggregation,
    Attention,
    Config,
    CpuParallel,
    EnsembleConfig,
    MemberKind,
    Precision,
    Strategy,
)
from spark_ner.decode import (
    Decoded,
    EntityTexts,
    decode_labels,
    decode_split,
    entity_bounds,
    label_names,
    records,
)
from spark_ner.graphs import CAPTURE_AFTER, StaticForwards, row_bucket
from spark_ner.lexicon import LexiconMember, load_lexicon_member, tag_factors
from spark_ner.models import (
    Member,
    MemberPlan,
    load_member,
    model_version,
    resolve_device,
    resolve_dtype,
    task_cpus,
    use_attention,
    validate_sources,
)
from spark_ner.tokenize import (
    Encoded,
    WordPositions,
    WordSplit,
    WordTokenizer,
    WordVocab,
    batch_ids,
    plan_padding,
    split_words,
    uniform_batches,
    word_positions,
)

log = logging.getLogger(__name__)

__all__ = [
    "DistinctNames",
    "Ensemble",
    "Prediction",
    "combine",
    "cpu_lanes",
    "load_ensemble",
    "split_names",
    "worker_threads",
]
#: new words per member above which the members tokenize side by side (threads of their own)
_PARALLEL_SYNC_WORDS = 2048


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
class _Launched:
    """A launched batch: its picked positions' raw logits (on the device, maybe not computed yet)."""

    picked: Any
    start: Any = None  # CUDA with ``Stats.time_device``: events around its forward (device time)
    done: Any = None


@dataclass(frozen=True)
class _Flight:
    """Distinct names on their way through the members (see ``Ensemble._start``)."""

    split: WordSplit
    errors: list[str | None]
    member_probs: list[np.ndarray]
    member_valid: list[np.ndarray]
    futures: list[Future[None]]


@dataclass
class Stats:
    """Counters a job reads for its summary (no names, only numbers)."""

    calls: int = 0
    rows: int = 0
    names_scored: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"tokenize": 0.0, "forward": 0.0, "decode": 0.0})
    #: CPU seconds of the threads, by step: "model" = inside the members' forward calls (on a CPU, the
    #: compute; on a GPU, launching it), so a bench can tell host work from model work
    cpu_seconds: dict[str, float] = field(default_factory=lambda: {"model": 0.0})
    #: forward passes launched (every member's batches)
    forwards: int = 0
    #: CUDA only, with ``time_device``: seconds the device spent on the batches, from per-batch events
    device_seconds: float = 0.0
    time_device: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_cpu(self, step: str, seconds: float) -> None:
        with self._lock:  # lane threads add side by side
            self.cpu_seconds[step] = self.cpu_seconds.get(step, 0.0) + seconds

    def add_forward(self, device_seconds: float = 0.0) -> None:
        with self._lock:
            self.forwards += 1
            self.device_seconds += device_seconds


@dataclass(frozen=True)
class DistinctNames:
    """A batch given as its distinct names in first-seen order and, per row, its name's index (-1: a
    null), as Arrow's dictionary encoding gives them: no Python string per row and no hashing in
    Python (the Arrow UDF's path, issue 22)."""

    codes: np.ndarray  # int64 [rows]
    distinct: list[str]


@dataclass
class _Call:
    """One batch given to ``Ensemble.label_stream``: its values and distinct names, and the decoded chunks."""

    values: list[Any] | None  # None: given as DistinctNames (every non-string row is a null)
    is_str: np.ndarray
    codes: np.ndarray
    distinct: list[str]
    parts: list[_NameColumns] = field(default_factory=list)

    def done(self) -> bool:
        return sum(len(p.label) for p in self.parts) == len(self.distinct)


@dataclass(frozen=True)
class _Piece:
    """Distinct names ``lo:hi`` of one batch's call: a chunk of the pipeline is one or more of these."""

    call: _Call
    lo: int
    hi: int


def _piece_names(pieces: list[_Piece]) -> list[str]:
    """The distinct names of a chunk's pieces, in order."""
    if len(pieces) == 1:
        p = pieces[0]
        return p.call.distinct[p.lo : p.hi]
    return [name for p in pieces for name in p.call.distinct[p.lo : p.hi]]


@dataclass(frozen=True)
class _NameColumns:
    """Name-level columns of some distinct names (see ``Ensemble._decode``); ``concat`` adds the null slot."""

    label: np.ndarray  # object: NAME_LABELS string, None where scoring failed
    score: np.ndarray  # float64, NaN where scoring failed
    agreement: np.ndarray
    error: np.ndarray  # object: None or why the name was not scored
    has_entities: np.ndarray  # bool: False where entities is null (scoring failed; the null slot)
    dec: Decoded
    texts: EntityTexts  # each entity's text
    members: dict[str, np.ndarray]

    def names(self, lo: int, hi: int) -> _NameColumns:
        """The columns of names ``lo:hi`` alone: a chunk's share of one batch (see ``label_stream``)."""
        return _NameColumns(
            self.label[lo:hi],
            self.score[lo:hi],
            self.agreement[lo:hi],
            self.error[lo:hi],
            self.has_entities[lo:hi],
            self.dec.names(lo, hi),
            self.texts.entities(self.dec.entity_slice(lo, hi)),
            {m: col[lo:hi] for m, col in self.members.items()},
        )

    @staticmethod
    def concat(parts: list[_NameColumns], member_names: list[str]) -> _NameColumns:
        """One set of columns for all parts, plus one null slot at the end (null and non-string rows)."""
        offsets = np.cumsum([0, *[len(p.label) for p in parts]])

        def cat(arrays: list[np.ndarray], null: Any, dtype: Any) -> np.ndarray:
            return np.concatenate([*arrays, np.full(1, null, dtype=dtype)]) if arrays else np.full(1, null, dtype)

        dec = Decoded(
            label=cat([p.dec.label for p in parts], 0, np.int8),
            score=cat([p.dec.score for p in parts], np.nan, np.float64),
            ent_name=np.concatenate([p.dec.ent_name + o for p, o in zip(parts, offsets, strict=False)] or [_I64]),
            ent_type=np.concatenate([p.dec.ent_type for p in parts] or [_I64]),
            ent_start=np.concatenate([p.dec.ent_start for p in parts] or [_I64]),
            ent_end=np.concatenate([p.dec.ent_end for p in parts] or [_I64]),
            ent_score=np.concatenate([p.dec.ent_score for p in parts] or [np.zeros(0)]),
        )
        return _NameColumns(
            label=cat([p.label for p in parts], None, object),
            score=cat([p.score for p in parts], np.nan, np.float64),
            agreement=cat([p.agreement for p in parts], np.nan, np.float64),
            error=cat([p.error for p in parts], None, object),
            has_entities=cat([p.has_entities for p in parts], False, bool),
            dec=dec,
            texts=EntityTexts.concat([p.texts for p in parts]),
            members={m: cat([p.members[m] for p in parts], None, object) for m in member_names},
        )


_I64 = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class LabelColumns:
    """The output of one ``label`` call, column-wise: per distinct name (+ a null slot) and, per input
    row, which distinct name it is (``rows``). Nothing per row or per entity is a Python object yet."""

    rows: np.ndarray  # int64 [n]: index into the distinct columns (the last index: null / non-string)
    distinct: _NameColumns
    error: np.ndarray  # object [n]: per input row
    model_version: str

    def entity_bounds(self) -> np.ndarray:
        """[d + 2] offsets: distinct name ``i`` (the null slot last) owns entities ``[b[i], b[i+1])``."""
        return entity_bounds(self.distinct.dec, len(self.distinct.label))

    def to_pandas(self, members: bool = False) -> pd.DataFrame:
        """The contract's columns (entities as lists of dicts) and, with ``members``, each member's label."""
        u = self.distinct
        n_distinct = len(u.label)
        ents = np.full(n_distinct, None, dtype=object)
        dec = u.dec
        texts = u.texts.strings()
        by_name = records(texts, dec.ent_type, dec.ent_start, dec.ent_end, dec.ent_score, self.entity_bounds())
        ents[:] = np.fromiter(by_name, dtype=object, count=n_distinct)
        ents[~u.has_entities] = None
        rows = self.rows
        version = np.full(len(rows), self.model_version, dtype=object)
        columns = (u.label[rows], u.score[rows], u.agreement[rows], ents[rows], version, self.error)
        frame = pd.DataFrame(dict(zip(OUTPUT_FIELDS, columns, strict=True)), copy=False)
        if members:
            for name, col in u.members.items():
                frame[f"member_label__{name}"] = col[rows]
        return frame

    def to_arrow(self, arrow_type: Any) -> Any:
        """The contract's struct as a ``pyarrow.StructArray`` of ``arrow_type`` (built from flat
        arrays: no dict per entity, no pandas), for Arrow-native Spark UDFs."""
        import pyarrow as pa

        u, rows, n = self.distinct, self.rows, len(self.rows)
        null_row = ~u.has_entities[rows] if not u.has_entities.all() else None
        bounds = self.entity_bounds()
        per_row = np.diff(bounds)[rows]
        offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
        total = int(offsets[-1])
        dec = u.dec
        if total == len(dec.ent_name) and np.array_equal(rows, np.arange(len(rows))):
            take: np.ndarray | None = None  # every distinct name once, in order: entities as they are
        else:
            take = np.repeat(bounds[rows] - offsets[:-1], per_row) + np.arange(total)
        values = {
            "text": u.texts.arrow(),
            "label": _arrow_strings(tuple(ENTITY_TYPES)).take(pa.array(dec.ent_type - 1)),
            "start": pa.array(dec.ent_start),
            "end": pa.array(dec.ent_end),
            "score": pa.array(dec.ent_score),
        }
        list_type = arrow_type[arrow_type.get_field_index("entities")].type
        ent_type = list_type.value_type
        children = [values[f.name].cast(f.type) for f in ent_type]
        if take is not None:
            idx = pa.array(take)
            children = [c.take(idx) for c in children]
        ents = pa.StructArray.from_arrays(children, fields=list(ent_type))
        mask = pa.array(null_row) if null_row is not None else None
        entities = pa.ListArray.from_arrays(pa.array(offsets), ents, type=list_type, mask=mask)
        fields = {
            # the label's index into NAME_LABELS; null where scoring failed (as entities are)
            "label": _arrow_strings(tuple(NAME_LABELS)).take(
                pa.array(dec.label[rows].astype(np.int32), mask=~u.has_entities[rows])
            ),
            "score": pa.array(u.score[rows], from_pandas=True),
            "agreement": pa.array(u.agreement[rows], from_pandas=True),
            "entities": entities,
            "model_version": pa.repeat(pa.scalar(self.model_version, pa.string()), n),
            "error": pa.array(self.error, type=pa.string()),
        }
        return pa.StructArray.from_arrays([fields[f.name].cast(f.type) for f in arrow_type], fields=list(arrow_type))


@functools.cache
def _arrow_strings(values: tuple[str, ...]) -> Any:
    """``values`` as a pyarrow string array, to ``take`` labels from by index (no Python string per row)."""
    import pyarrow as pa

    return pa.array(values, type=pa.string())


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
    groups_of = [tag_groups(kn) for kn in known]
    if not any(groups_of):  # every member can emit every tag: nothing to spread
        return list(probs)
    w = np.asarray(weights, dtype=np.float32)
    m_known = np.stack(known).astype(np.float32)  # [M, 9]
    mask = np.stack(valid).astype(np.float32)  # [M, W]
    coef = w[:, None, None] * mask[:, :, None] * m_known[:, None, :]  # [M, W, 9]
    total = coef.sum(axis=0)
    ref = np.divide((np.stack(probs) * coef).sum(axis=0), total, out=np.zeros_like(total), where=total > 0)
    out = []
    for p, groups in zip(probs, groups_of, strict=True):
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


def split_names(names: Sequence[str], cfg: EnsembleConfig) -> WordSplit:
    """The words the members see of ``names`` under ``cfg`` (``max_length``, ``case_restore``,
    ``trim_punctuation``): one definition for the ensemble, the bench and the dev scripts."""
    return split_words(names, cfg.max_length, cfg.case_restore, cfg.trim_punctuation)


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
    mask = np.stack(valid)[:, :, None].astype(np.float32)
    wm = w * mask
    total = wm.sum(axis=0)
    any_valid = total[:, 0] > 0
    denom = np.where(total > 0, total, 1.0)
    if strategy == Strategy.MEAN:
        # member by member, in the order a sum over axis 0 adds them: the same floats without the
        # [M, W, 9] stack and product (issue 22: the warm host side)
        out = np.multiply(probs[0], wm[0], dtype=np.result_type(*probs, wm))
        for p, m_w in zip(probs[1:], wm[1:], strict=True):
            out += p * m_w
        out /= denom
        return out.astype(np.float32), any_valid
    stack = np.stack(probs)  # [M, W, 9]
    if strategy == Strategy.MAX:
        out = np.where(mask > 0, stack, 0.0).max(axis=0)
        out = out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
    else:  # vote: each member's own best tag, by weight
        onehot = np.zeros_like(stack)
        np.put_along_axis(onehot, stack.argmax(axis=2)[:, :, None], 1.0, axis=2)
        out = (onehot * wm).sum(axis=0) / denom
    return out.astype(np.float32), any_valid


def sdpa_backend(choice: Attention) -> Any:
    """The SDPA kernel an ``ensemble.attention`` choice names (a ``torch.nn.attention.SDPBackend``), or
    None for ``auto`` and ``matmul``, which leave the choice among flash, efficient and math to torch."""
    from torch.nn.attention import SDPBackend

    return {
        Attention.FLASH: SDPBackend.FLASH_ATTENTION,
        Attention.EFFICIENT: SDPBackend.EFFICIENT_ATTENTION,
        Attention.MATH: SDPBackend.MATH,
        Attention.CUDNN: SDPBackend.CUDNN_ATTENTION,
    }.get(choice)


def attention_kernels(cuda: bool, choice: Attention = Attention.AUTO) -> Any:
    """On CUDA, the scaled-dot-product attention kernels ``ensemble.attention`` allows; elsewhere nothing.

    ``auto`` leaves cuDNN out: it builds an execution plan for each new (rows, length) shape, and
    exact-length batches bring many shapes: on the H200 run of 2026-12-04 fp16 BERT-base + RoBERTa-base
    scored 2.6k-28k names/s with it (fp32, which never takes cuDNN, 10k-16k), and under memory pressure
    its plan failed as a RuntimeError instead of an out-of-memory error the batch split handles. A named
    kernel goes first, math after it for shapes it cannot take. The switch is torch's process-wide flag,
    set and restored around each forward on the thread that feeds the device (issue 22).
    """
    if not cuda:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    first = sdpa_backend(choice)
    if first is None:
        return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])
    allowed = list(dict.fromkeys([first, SDPBackend.MATH]))
    try:
        return sdpa_kernel(allowed, set_priority=True)
    except TypeError:  # torch < 2.6: no priorities; torch's own order (flash, efficient, math) decides
        return sdpa_kernel(allowed)


def tag_probs(logits: Any, projection: Any) -> Any:
    """Canonical tag probabilities [W, len(TAGS)] of picked positions' logits [W, num_labels], in fp32.

    Softmax over the short label axis runs as axis 0 of the transposed logits: the same numbers, and
    on CPU torch's softmax over a last axis of 9 labels is ~8x slower than this (issue 22)."""
    import torch

    probs_t = torch.softmax(logits.float().t().contiguous(), dim=0)  # [num_labels, W]
    return (projection.t() @ probs_t).t()


class Ensemble:
    """Loaded members plus the config; label names in-process (no Spark needed)."""

    def __init__(self, cfg: Config, members: list[Member | LexiconMember], version: str) -> None:
        self.cfg = cfg
        self.members = members
        self.model_version = version
        self.weights = [m.source.weight for m in members]
        self.known = [m.source.projection.sum(axis=0) > 0 for m in members]  # tags each can emit
        # lexicon members have no tokenizer: they score the words themselves (see predict)
        #: the word numbering the members' token caches share (each batch's words are looked up once)
        self.vocab = WordVocab()
        self.tokenizers = [
            WordTokenizer(m.tokenizer, cfg.ensemble.max_length, vocab=self.vocab) if isinstance(m, Member) else None
            for m in members
        ]
        by_name = {m.name: m for m in cfg.models}
        #: per member, factors on its vote per tag (``weights_by_type``); None = all 1
        self.factors = [
            tag_factors(by_name[m.source.name].weights_by_type) if m.source.name in by_name else None for m in members
        ]
        self.stats = Stats()
        self.lanes = cpu_lanes(cfg, self.device)
        self._pool: ThreadPoolExecutor | None = None
        self._driver: ThreadPoolExecutor | None = None
        self._tokenizing: ThreadPoolExecutor | None = None
        #: distinct names per pipeline step of ``label`` (None: see ``_chunk_names``)
        self.pipeline_names: int | None = None
        self._shared_rows: dict[tuple[str, int], dict[str, Any]] = {}  # see _row_inputs
        #: the exact-length forwards as CUDA graphs (``ensemble.cuda_graphs``); None: every forward eager
        self.graphs: StaticForwards | None = None
        if cfg.ensemble.cuda_graphs:
            if self.device.startswith("cuda"):
                self.graphs = StaticForwards(cfg.ensemble.batch_size, capture_after=CAPTURE_AFTER)
            else:
                log.info("ensemble.cuda_graphs is on but the members run on %s: eager forwards", self.device)

    def transformers(self) -> list[tuple[Member, WordTokenizer]]:
        """The members that run a model forward (not the lexicon members), with their word tokenizers."""
        return [(m, wt) for m, wt in zip(self.members, self.tokenizers, strict=True) if isinstance(m, Member) and wt]

    @property
    def device(self) -> str:
        return next((m.device for m in self.members if isinstance(m, Member)), "cpu")

    # ------------------------------------------------------------------ forward
    def _launch(self, member: Member, enc: Encoded, rows: np.ndarray, pad_id: int, pos: np.ndarray) -> _Launched:
        """Start the forward pass of ``rows``; on CUDA it runs asynchronously (nothing here waits for it).

        Only the positions ``pos`` that decoding needs are kept, as raw logits on the device: softmax,
        projection and the copy to the host run once per call, in :meth:`_collect` (issue 22).
        """
        import torch

        ids, mask = batch_ids(enc, rows, pad_id)  # mask None: every row one length (SDPA's unmasked path)
        cuda = member.device.startswith("cuda")
        staged = [torch.from_numpy(a) for a in (ids, pos, *([] if mask is None else [mask]))]
        if cuda:
            staged = [t.pin_memory().to(member.device, non_blocking=True) for t in staged]
        t_ids, t_pos = staged[:2]
        t_mask = staged[2] if mask is not None else None
        start = done = None
        if cuda and self.stats.time_device:
            start = torch.cuda.Event(enable_timing=True)
            start.record()
        extra = self._row_inputs(member, ids.shape[1]) if mask is None else {}
        head = member.head  # the classifier on the picked positions only (models.split_head)

        def forward(x: Any) -> Any:  # hidden states (head split off) or logits, [rows, length, *]
            if head is not None:
                return member.encoder(input_ids=x, attention_mask=t_mask, **extra)[0]
            return member.model(input_ids=x, attention_mask=t_mask, **extra).logits

        with torch.inference_mode(), attention_kernels(cuda, self.cfg.ensemble.attention):
            c0 = time.thread_time()
            out = None
            if self.graphs is not None and mask is None:  # its output is read below, before the next forward
                out = self.graphs.forward(member.source.name, forward, t_ids)
            if out is None:
                out = forward(t_ids)
            picked = out.reshape(-1, out.shape[-1]).index_select(0, t_pos)
            if head is not None:
                picked = head(picked)
            self.stats.add_cpu("model", time.thread_time() - c0)
        if start is not None:
            done = torch.cuda.Event(enable_timing=True)
            done.record()
        return _Launched(picked, start, done)

    def _row_inputs(self, member: Member, length: int) -> dict[str, Any]:
        """The member's shared [1, length] position ids / token types (``models.shared_row_inputs``), made
        once per length on its device."""
        if member.row_inputs is None:
            return {}
        key = (member.source.name, length)
        got = self._shared_rows.get(key)
        if got is None:
            import torch

            start, names = member.row_inputs
            row = {
                "position_ids": torch.arange(start, start + length, device=member.device).unsqueeze(0),
                "token_type_ids": torch.zeros(1, length, dtype=torch.long, device=member.device),
            }
            got = self._shared_rows.setdefault(key, {k: row[k] for k in names})
        return got

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
        """Score ``batches`` and write their words' probabilities into ``out``."""
        self._collect(member, *self._launch_all(member, enc, batches, pad_id, bounds, errors), out)

    def _launch_all(
        self,
        member: Member,
        enc: Encoded,
        batches: list[np.ndarray],
        pad_id: int,
        bounds: np.ndarray,
        errors: list[str | None],
    ) -> tuple[list[_Launched], list[WordPositions]]:
        """Launch every batch without waiting for the one before (CUDA queues them: no per-batch
        sync); the picked logits stay on the device until :meth:`_collect`. The positions of all
        batches come from one vectorised :func:`word_positions` pass, not NumPy calls per batch.

        On CUDA out-of-memory a batch is split in halves and retried, down to one row; a row that
        still fails, or any batch that raises, gets ``error`` set and the call goes on.
        """
        import torch

        first_only = self.cfg.ensemble.aggregation == Aggregation.FIRST
        todo = deque(zip(batches, word_positions(enc, batches, bounds, first_only), strict=True))
        launched: list[_Launched] = []
        scored: list[WordPositions] = []
        while todo:
            rows, wp = todo.popleft()
            try:
                launched.append(self._launch(member, enc, rows, pad_id, wp.pos))
                scored.append(wp)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                if len(rows) == 1:
                    n_tok = int(enc.lengths[rows[0]])
                    errors[int(rows[0])] = f"CUDA out of memory scoring one row of {n_tok} tokens"
                else:
                    log.warning("CUDA out of memory on a batch of %d rows; retrying in halves", len(rows))
                    halves = [rows[: len(rows) // 2], rows[len(rows) // 2 :]]
                    retry = zip(halves, word_positions(enc, halves, bounds, first_only), strict=True)
                    todo.extendleft(reversed(list(retry)))
            except Exception as exc:  # one bad batch must not fail the job: mark its rows
                log.exception("member %s failed on a batch of %d rows", member.source.name, len(rows))
                for r in rows.tolist():
                    errors[r] = f"member {member.source.name} failed: {type(exc).__name__}"
        return launched, scored

    def _collect(
        self, member: Member, launched: list[_Launched], scored: list[WordPositions], out: tuple[np.ndarray, np.ndarray]
    ) -> None:
        """One softmax + projection over every launched batch's picked logits, one copy to the host
        (the only wait for the device), and the words' probabilities written into ``out``."""
        import torch

        if not launched:
            return
        with torch.inference_mode():
            picked = launched[0].picked if len(launched) == 1 else torch.cat([la.picked for la in launched])
            probs = tag_probs(picked, member.projection)
            if probs.is_cuda:  # the one wait for the device, asleep: a spinning wait takes a core from the
                done = torch.cuda.Event(blocking=True)  # feeders of the other tasks sharing this GPU
                done.record()
                done.synchronize()
            probs = probs.cpu()
        for la in launched:  # device time from each batch's own events (all done now)
            self.stats.add_forward(la.start.elapsed_time(la.done) / 1000 if la.start is not None else 0.0)
        tok = probs.numpy()
        widx = scored[0].widx if len(scored) == 1 else np.concatenate([wp.widx for wp in scored])
        probs_out, valid_out = out
        if len(widx) == 0:
            return
        if self.cfg.ensemble.aggregation == Aggregation.FIRST:
            probs_out[widx] = tok
        else:
            ntok = np.concatenate([wp.ntok for wp in scored])
            seg = np.concatenate([[0], np.cumsum(ntok)[:-1]])
            if self.cfg.ensemble.aggregation == Aggregation.AVERAGE:
                red = np.add.reduceat(tok, seg, axis=0) / ntok[:, None]
            else:
                red = np.maximum.reduceat(tok, seg, axis=0)
            probs_out[widx] = red / red.sum(axis=1, keepdims=True)
        valid_out[widx] = True

    def _encode(self, split: WordSplit) -> list[Encoded | None]:
        """Every tokenizing member's token ids for ``split`` (None for members that have no tokenizer).

        The words are looked up once in the shared vocabulary; words new to it go to each member's
        Rust tokenizer, members side by side in threads of their own (the Rust call releases the GIL).
        """
        slots = self.vocab.ids(split.words, split.keys)
        pending = [wt for wt in self.tokenizers if wt is not None and wt.pending() >= _PARALLEL_SYNC_WORDS]
        if self.lanes > 1 and len(pending) > 1:
            for fut in [self._tokenizer_pool().submit(wt.sync) for wt in pending]:
                fut.result()
        return [wt.encode(split, slots) if wt is not None else None for wt in self.tokenizers]

    def _start(self, names: list[str]) -> _Flight:
        """Split and encode ``names`` and hand their batches to the lane threads (or the driver thread
        that feeds the GPU); returns at once, so the caller can prepare the next names meanwhile."""
        t0 = time.perf_counter()
        ens = self.cfg.ensemble
        split = split_names(names, ens)
        encs = self._encode(split)
        errors: list[str | None] = [None] * len(names)
        member_probs = [np.zeros((len(split.words), len(TAGS)), dtype=np.float32) for _ in self.members]
        member_valid = [np.zeros(len(split.words), dtype=bool) for _ in self.members]
        work = [
            (member, enc, self._batches(enc, ens.batch_size), wt.pad_id, (probs, valid))
            for member, wt, enc, probs, valid in zip(
                self.members, self.tokenizers, encs, member_probs, member_valid, strict=True
            )
            if isinstance(member, Member) and wt is not None and enc is not None
        ]
        futures: list[Future[None]] = []
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
        elif self.cfg.ensemble.compile:  # compiled graphs stay on the calling thread
            for member, enc, batches, pad_id, out in work:
                self._score(member, enc, batches, pad_id, split.bounds, errors, out)
        elif work:  # one thread feeds the device member after member while this one goes on
            futures = [self._driver_pool().submit(self._score_all, work, split.bounds, errors)]
        self.stats.seconds["tokenize"] += time.perf_counter() - t0
        return _Flight(split, errors, member_probs, member_valid, futures)

    def _score_all(self, work: list[Any], bounds: np.ndarray, errors: list[str | None]) -> None:
        """Every member's batches launched before any is collected: on CUDA the device has the next
        member's work queued while the host waits for the first's results."""
        launched = [
            self._launch_all(member, enc, batches, pad_id, bounds, errors) for member, enc, batches, pad_id, _ in work
        ]
        for (member, *_, out), (la, wp) in zip(work, launched, strict=True):
            self._collect(member, la, wp, out)

    def _finish(self, flight: _Flight) -> Prediction:
        """Wait for a started flight's batches; add the members that score words themselves; combine."""
        t0 = time.perf_counter()
        split, member_probs, member_valid = flight.split, flight.member_probs, flight.member_valid
        # lexicon members score on this thread while the device members' batches are still running
        for i, lex in enumerate(self.members):
            if isinstance(lex, LexiconMember):  # the seam: every member gives [W, len(TAGS)] word probabilities
                member_probs[i], member_valid[i] = lex.tag_probs(split)
        for fut in flight.futures:  # transformer members write their word probabilities in their lanes
            fut.result()
        scaled = [p if f is None else p * f for p, f in zip(member_probs, self.factors, strict=True)]
        combined, any_valid = combine(scaled, member_valid, self.weights, self.cfg.ensemble.strategy, self.known)
        if any(f is not None for f in self.factors):  # per-type factors leave the mean unnormalised
            total = combined.sum(axis=1, keepdims=True)
            combined = np.divide(combined, total, out=np.zeros_like(combined), where=total > 0)
        self.stats.seconds["forward"] += time.perf_counter() - t0
        return Prediction(split, member_probs, member_valid, combined, any_valid, flight.errors)

    def predict(self, names: list[str]) -> Prediction:
        """Pure scoring of distinct, non-null names: word probabilities per member and combined."""
        return self._finish(self._start(names))

    def plan_tokens(self, names: list[str]) -> tuple[int, int]:
        """(padded, real) tokens of the forward batches ``names`` would get, over all members: what the
        device computes against what it must (the batch plan's waste, computable without a GPU). With
        CUDA graphs, a one-length batch is computed at its bucket's rows (``graphs.row_bucket``)."""
        ens = self.cfg.ensemble
        split = split_names(names, ens)
        padded = real = 0
        for enc in self._encode(split):
            if enc is None:
                continue
            lengths = enc.lengths
            real += int(lengths.sum())
            batches = self._batches(enc, ens.batch_size)
            p, _ = plan_padding(lengths, batches)
            padded += p
            if self.graphs is not None:  # the bucket rows of the unmasked (one-length) batches
                for rows in batches:
                    lens = lengths[rows]
                    if len(rows) and lens.min() == lens.max():
                        padded += (row_bucket(len(rows), ens.batch_size) - len(rows)) * int(lens[0])
        return padded, real

    def _batches(self, enc: Encoded, batch_size: int) -> list[np.ndarray]:
        """Exact-length batches: the rows of one length together where there are enough of them (the
        rest share batches padded to their longest row only), on CPUs and GPUs alike."""
        return uniform_batches(enc.lengths, batch_size, min_rows=max(32, batch_size // 8))

    def _lane_pool(self) -> ThreadPoolExecutor:
        """The worker's lane threads, started on first use (after Spark forked the worker)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="spark-ner-cpu")
        return self._pool

    def _tokenizer_pool(self) -> ThreadPoolExecutor:
        """Threads for new words (Rust, no GIL): apart from the lanes, so they do not queue behind the
        previous chunk's forward passes."""
        if self._tokenizing is None:
            self._tokenizing = ThreadPoolExecutor(self.lanes, thread_name_prefix="spark-ner-tokenize")
        return self._tokenizing

    def _driver_pool(self) -> ThreadPoolExecutor:
        """The one thread that runs the members' batches when there are no lanes (GPU; CPU ``ops``)."""
        if self._driver is None:
            self._driver = ThreadPoolExecutor(1, thread_name_prefix="spark-ner-device")
        return self._driver

    # ------------------------------------------------------------------ label
    def label(self, names: Sequence[Any] | pd.Series, members: bool = False) -> pd.DataFrame:
        """One output row per input, in order: the contract's columns (+ per-member labels)."""
        return self.label_columns(names).to_pandas(members)

    def label_columns(self, names: Sequence[Any] | pd.Series | DistinctNames) -> LabelColumns:
        """What :meth:`label` returns, column-wise (no Python object per row or entity yet): the
        Spark UDF builds its Arrow output from this, ``label`` its DataFrame."""
        return next(self.label_stream([names]))

    def label_stream(self, batches: Iterable[Sequence[Any] | pd.Series | DistinctNames]) -> Iterator[LabelColumns]:
        """:meth:`label_columns` of each batch, in order, one pipeline across all of them.

        Distinct names go through in chunks of :meth:`_chunk_names` names, filled from consecutive
        batches: a small Arrow batch does not make a small chunk, so the forward batches of one
        length stay full (fewer, fuller launches; issue 22). Chunk k+1 is split, encoded and its
        batches handed to the lanes (or the GPU) before chunk k is decoded, so host work (splitting,
        tokenizing, decoding, the caller's Arrow conversion) overlaps the forward passes. A batch is
        yielded once its last chunk is decoded; later batches are read before that.
        """
        step = self._chunk_names()
        open_calls: deque[_Call] = deque()  # read, not yet yielded, in order
        in_flight: deque[tuple[list[_Piece], _Flight]] = deque()
        filling: list[_Piece] = []  # the next chunk's pieces of batches, not started yet
        filled = 0
        for names in batches:
            call = self._call(names)
            open_calls.append(call)
            lo = 0
            while lo < len(call.distinct):
                hi = min(len(call.distinct), lo + step - filled)
                filling.append(_Piece(call, lo, hi))
                filled, lo = filled + hi - lo, hi
                if filled == step:
                    in_flight.append((filling, self._start(_piece_names(filling))))
                    filling, filled = [], 0
                    while len(in_flight) > 1:
                        self._land(*in_flight.popleft())
            while len(open_calls) > 1 and open_calls[0].done():
                yield self._columns(open_calls.popleft())
        if filling:
            in_flight.append((filling, self._start(_piece_names(filling))))
        while in_flight:
            self._land(*in_flight.popleft())
        while open_calls:
            yield self._columns(open_calls.popleft())

    def _call(self, names: Sequence[Any] | pd.Series | DistinctNames) -> _Call:
        """One batch's values: which are strings, and their distinct names in first-seen order."""
        if isinstance(names, DistinctNames):
            is_str = names.codes >= 0
            call = _Call(None, is_str, names.codes if is_str.all() else names.codes[is_str], names.distinct)
        else:
            values = names.tolist() if isinstance(names, pd.Series) else list(names)
            is_str = np.fromiter(map(isinstance, values, repeat(str)), dtype=bool, count=len(values))
            strs = values if is_str.all() else [values[i] for i in np.flatnonzero(is_str).tolist()]
            codes, distinct = factorize(strs)
            call = _Call(values, is_str, codes, distinct)
        self.stats.calls += 1
        self.stats.rows += len(call.is_str)
        return call

    def _land(self, pieces: list[_Piece], flight: _Flight) -> None:
        """Wait for one chunk's forward passes, decode it and hand each batch its share."""
        t0 = time.perf_counter()
        cols = self._decode(self._finish(flight))
        at = 0
        for piece in pieces:
            n = piece.hi - piece.lo
            piece.call.parts.append(cols if n == len(cols.label) else cols.names(at, at + n))
            at += n
        self.stats.names_scored += len(cols.label)
        self.stats.seconds["decode"] += time.perf_counter() - t0

    def _columns(self, call: _Call) -> LabelColumns:
        """A call whose chunks are all decoded, as output columns (the null slot for non-strings)."""
        d, n = len(call.distinct), len(call.is_str)
        if d == n:
            rows = call.codes
        else:
            rows = np.full(n, d, dtype=np.int64)  # the null slot
            rows[call.is_str] = call.codes
        cols = _NameColumns.concat(call.parts, [m.source.name for m in self.members])
        error = cols.error[rows]
        if call.values is not None:  # (given as DistinctNames, every non-string row is a null)
            for i in np.flatnonzero(~call.is_str).tolist():
                v = call.values[i]
                if not (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA):
                    error[i] = f"expected a string, got {type(v).__name__}"
        return LabelColumns(rows, cols, error, self.model_version)

    def _chunk_names(self) -> int:
        """Distinct names per pipeline step: 32,768 or more (8 rounds of forward batches). Smaller
        steps split the one-length batches: names of 16-32 tokens in steps of 8,192 made forward
        batches of ~500 rows on average, 1.5x the launches per name of steps of 32,768 (issue 22). A
        GPU computes one step while the host prepares and decodes the next (issue 18)."""
        if self.pipeline_names:
            return self.pipeline_names
        return max(32768, 8 * max(self.lanes, 1) * self.cfg.ensemble.batch_size)

    def _decode(self, pred: Prediction) -> _NameColumns:
        """Name-level columns of one prediction: label, score, agreement, entities, error, member labels."""
        split = pred.split
        d = len(split.bounds) - 1
        dec, texts = decode_split(pred.probs, pred.valid, split)
        agree = np.zeros(d)
        by_member: dict[str, np.ndarray] = {}
        for m, p, v, w in zip(self.members, pred.member_probs, pred.member_valid, self.weights, strict=True):
            m_label = decode_labels(p, v, split.bounds, split.starts, split.ends)  # labels only: decode once
            agree += w * (m_label == dec.label)
            by_member[m.source.name] = label_names(m_label)
        agree /= sum(self.weights)
        errors = np.empty(d, dtype=object)
        errors[:] = pred.row_error
        ok = np.fromiter(map(is_, pred.row_error, repeat(None)), dtype=bool, count=d)
        label_ = label_names(dec.label)
        score = calibrate_scores(dec.score, dec.label, self.cfg.calibration)  # identity unless [calibration]
        if not ok.all():
            label_[~ok] = None
            score = np.where(ok, score, np.nan)
            agree[~ok] = np.nan
        return _NameColumns(label_, score, agree, errors, ok, dec, texts, by_member)


def factorize(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes and distinct values in first-seen order (three C-level passes, no per-value Python).

    Not ``pandas.factorize``: its string hashing stops at NUL, so ``"a\\x00b"`` and ``"a\\x00c"``
    would share one code and one label (found by the property test).
    """
    distinct = list(dict.fromkeys(values))
    index = dict(zip(distinct, range(len(distinct)), strict=True))
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    return codes, distinct


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


def configure_threads(cfg: Config, device: str = "cpu") -> int:
    """Set torch's intra-op threads (1 when lanes run whole batches); return the worker's threads.

    On a GPU worker too: torch's default is a thread per core in every process, so N Spark tasks
    sharing a GPU would run N x cores threads for their few CPU-side ops (staging copies) on the task's
    cores. Process-wide, as torch's setting is.
    """
    import torch

    n = worker_threads(cfg)
    intra = 1 if cpu_lanes(cfg, device) > 1 else n  # on a GPU no lanes: the worker's threads per op
    if torch.get_num_threads() != intra:
        torch.set_num_threads(intra)
    return n


def configure_huge_pages(cfg: Config) -> bool | None:
    """Turn NumPy's transparent huge pages for new arrays on or off (``ensemble.huge_pages``); return
    the setting before, or None where this NumPy has no such switch.

    Why: on Linux NumPy asks for 2 MB pages (``madvise``) for every array of 4 MB or more. The host
    side allocates and frees such temporaries in every pipeline step; each comes back as fresh pages,
    and with THP in ``madvise`` mode (the usual default) the kernel zeroes, and may compact memory
    for, a whole huge page at each first touch. Measured on the GPU path's host side, first pass over
    new names: 10.7-12.3 us per name in the kernel on, 1.6-4.3 off (BENCHMARKS.md, eleventh session).
    NumPy's documented ``NUMPY_MADVISE_HUGEPAGE`` is read once at import, which in a Spark Python worker
    happens before any of this package's code runs, so its runtime switch is used. Process-wide, like
    torch's threads.
    """
    import numpy

    core = getattr(numpy, "_core", None) or getattr(numpy, "core", None)  # NumPy 2 / NumPy 1
    switch = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if switch is None:
        log.debug("this NumPy has no huge-page switch; ensemble.huge_pages is ignored")
        return None
    return bool(switch(cfg.ensemble.huge_pages))


def load_ensemble(cfg: Config | None = None, plan: MemberPlan | None = None) -> Ensemble:
    """Check every member (as data), then load and place each one; ready for ``label``.

    ``plan``: the members as the driver resolved them (:func:`spark_ner.models.resolve_members`): each
    copy found here must have the driver's digest (and hub commit), and a shipped copy is read from the
    folder the plan names. Without one, the members are resolved here, from ``cfg`` alone.
    """
    from spark_ner.config import load_config

    cfg = cfg if cfg is not None else load_config()
    sources = validate_sources(cfg, plan)
    device = resolve_device(cfg.ensemble.device)
    dtype = resolve_dtype(cfg.ensemble.precision, device)
    configure_threads(cfg, device)  # on a GPU too: N workers per GPU must not each start a thread per core
    configure_huge_pages(cfg)  # before the members load: their arrays are the first it applies to
    allow = {m.name: m.allow_pickle for m in cfg.models}
    int8 = cfg.ensemble.precision == Precision.INT8
    members: list[Member | LexiconMember] = [
        load_lexicon_member(s) if s.kind == MemberKind.LEXICON else load_member(s, device, dtype, allow[s.name], int8)
        for s in sources
    ]
    short = cfg.ensemble.attention == Attention.MATMUL
    if short or (cfg.ensemble.cuda_graphs and device.startswith("cuda")):
        for m in members:
            if isinstance(m, Member):
                use_attention(m.model, short)  # the split-off encoder shares the model's config
    if cfg.ensemble.compile:
        import torch

        for m in members:  # dynamic shapes: batches differ in length; measure with `spark-ner bench` first
            if isinstance(m, Member):
                m.model = torch.compile(m.model, dynamic=True)
                if m.encoder is not None:  # what _launch calls when the classifier is split off
                    m.encoder = torch.compile(m.encoder, dynamic=True)
    version = model_version(cfg, sources)  # equal to plan.model_version: the digests were checked against it
    log.info("ensemble %s ready on %s", version, device)
    return Ensemble(cfg, members, version)
