"""Helpers shared by several test modules (fixtures live in ``conftest.py``).

Test modules import from here, never from each other, so moving or deleting one test file cannot
break another.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from conftest import SAMPLE_NAMES

REPO = Path(__file__).resolve().parents[1]

#: The mixed names the UDF, job and cluster tests label: samples, nulls, blanks, duplicates.
NAMES: list[str | None] = [
    *SAMPLE_NAMES,
    None,
    "",
    "   ",
    "John Smith",  # duplicates, also across partitions
    "JOHN SMITH",
    None,
    "acme corp",
]

#: The label job's output columns (the contract's fields with the ``ner_`` prefix).
NER_COLS = [
    "ner_label",
    "ner_score",
    "ner_agreement",
    "ner_entities",
    "ner_model_version",
    "ner_error",
]


def same(a: Any, b: Any) -> bool:
    """Spark null == pandas NaN/None; floats to 1e-5 (batch padding may differ in the last bits)."""
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), abs_tol=1e-5)
    return bool(a == b)


def entity_dicts(value: Any) -> list[dict[str, Any]] | None:
    """Spark Rows or dicts -> plain dicts (None stays None)."""
    if value is None:
        return None
    return [e.asDict() if hasattr(e, "asDict") else dict(e) for e in value]


def assert_rows_match(got: list[dict[str, Any]], expected: Any) -> None:
    """``got``: Spark rows as dicts with the contract's field names, in input order."""
    assert len(got) == len(expected)
    for i, (row, (_, exp)) in enumerate(zip(got, expected.iterrows(), strict=True)):
        for field in ("label", "score", "agreement", "model_version", "error"):
            assert same(row[field], exp[field]), f"row {i} field {field}"
        g, e = entity_dicts(row["entities"]), entity_dicts(exp["entities"])
        assert (g is None) == (e is None), f"row {i} entities"
        if g is not None and e is not None:
            assert len(g) == len(e), f"row {i} entities"
            for ge, ee in zip(g, e, strict=True):
                assert all(same(ge[k], ee[k]) for k in ("text", "label", "start", "end", "score"))


def labels_by_id(rows: list[Any], names: list[str | None] = NAMES) -> list[dict[str, Any]]:
    """The job's output rows (id = position in ``names``) as contract dicts, in input order."""
    by_id = {r["id"]: r for r in rows}
    assert len(by_id) == len(rows) == len(names), "each input row exactly once"
    return [{c[4:]: by_id[i][c] for c in NER_COLS} for i in range(len(names))]


def job_args(**kw: Any) -> Any:
    """Parsed label-job arguments from keyword flags (``name_col="x"`` -> ``--name-col x``)."""
    from spark_ner.spark import job as jobs

    argv: list[str] = []
    for key, value in kw.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            for v in value:
                argv += [flag, str(v)]
        else:
            argv += [flag, str(value)]
    return jobs.build_parser().parse_args(argv)


def tiny_roberta_args(train_file: Path, eval_file: Path, **over: Any) -> dict[str, Any]:
    """``TrainArgs`` keywords for a one-layer RoBERTa trained from scratch in seconds (``over`` wins)."""
    return {
        "train_file": train_file,
        "eval_file": eval_file,
        "from_scratch": "roberta",
        "vocab_size": 300,
        "hidden_size": 32,
        "layers": 1,
        "heads": 2,
        "batch_size": 16,
        "progress": False,
        **over,
    }


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a job run in a subprocess: offline, loopback Spark, this interpreter."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        JAVA_TOOL_OPTIONS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    )
    return env


def spark_submit() -> str:
    """The pip package's own ``spark-submit``."""
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


def forbid_reading(monkeypatch: Any, location: Path | str) -> None:
    """Fail the test if Spark is asked to read ``location`` (parquet, CSV or table): the run must
    be refused before its input is read. Patches pyspark's public reader API, nothing of ours."""
    from pyspark.sql import DataFrameReader, SparkSession

    target = str(location)

    def guard(real: Any) -> Any:
        def read(self: Any, *paths: Any, **kw: Any) -> Any:
            if target in {str(p) for p in paths}:
                raise AssertionError(f"the input {target} was read although the run is refused")
            return real(self, *paths, **kw)

        return read

    monkeypatch.setattr(DataFrameReader, "parquet", guard(DataFrameReader.parquet))
    monkeypatch.setattr(DataFrameReader, "csv", guard(DataFrameReader.csv))
    monkeypatch.setattr(DataFrameReader, "table", guard(DataFrameReader.table))
    monkeypatch.setattr(SparkSession, "table", guard(SparkSession.table))


def build_tiny_sentencepiece(out: Path, corpus: list[str], labels: list[str], seed: int = 2) -> Path:
    """A 2-layer XLM-RoBERTa token classifier with a SentencePiece-style tokenizer trained here:
    a Unigram model behind a Metaspace (``▁``) pre-tokenizer, saved as a fast tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaConfig, XLMRobertaForTokenClassification, XLMRobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=300, special_tokens=specials, unk_token="<unk>"))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    fast = XLMRobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    torch.manual_seed(seed)
    cfg = XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=514,
        pad_token_id=tok.token_to_id("<pad>"),
        bos_token_id=bos,
        eos_token_id=eos,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={v: i for i, v in enumerate(labels)},
    )
    XLMRobertaForTokenClassification(cfg).save_pretrained(out)
    fast.save_pretrained(out)
    return out


def force_label(src: Path, dst: Path, label: str) -> Path:
    """A copy of the token classifier in ``src`` that gives ``label`` to every token (zero
    classifier weights, a large bias): member outputs known in advance, so values can be checked."""
    import shutil

    import torch
    from transformers import AutoModelForTokenClassification

    shutil.copytree(src, dst)  # tokenizer files as they were
    model = AutoModelForTokenClassification.from_pretrained(src, local_files_only=True, trust_remote_code=False)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[model.config.label2id[label]] = 12.0
    model.save_pretrained(dst)
    return dst


def put_snapshot(cache: Path, repo_id: str, commit: str, folder: Path, refs: tuple[str, ...] = ()) -> Path:
    """Lay ``folder``'s files into a Hugging Face cache as the hub does: content-named blobs,
    ``snapshots/<commit>/`` of relative links to them, and ``refs/<name>`` files naming the commit."""
    import hashlib
    import shutil

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for f in sorted(folder.iterdir()):
        blob = repo / "blobs" / hashlib.sha256(f.read_bytes()).hexdigest()
        if not blob.exists():
            shutil.copyfile(f, blob)
        (snap / f.name).symlink_to(os.path.relpath(blob, snap))
    for ref in refs:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snap


def remove_app_work_dir(app_id: str) -> None:
    """local-cluster workers write executor logs to $SPARK_HOME/work/<app id>: remove ours."""
    import pyspark

    work = Path(pyspark.__file__).parent / "work"
    shutil.rmtree(work / app_id, ignore_errors=True)
    with contextlib.suppress(OSError):
        work.rmdir()  # only when empty
