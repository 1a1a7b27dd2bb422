"""Distillation of roberta-names from the rest of the ensemble, on a hold-out build (issue 25, item 3).

    python scripts/distill_dev.py --holdout /tmp/holdout --out /tmp/distill0 --seed 0 --texts 160000 --balance
    python scripts/distill_dev.py --holdout /tmp/holdout_s1 --out /tmp/distill1 --seed 1 --texts 160000 --balance
    python scripts/holdout_checks.py candidates --detail --dev /tmp/holdout/union.parquet \
        --build /tmp/distill0/base.toml --build /tmp/distill0/starter.toml \
        --build /tmp/distill1/base.toml --build /tmp/distill1/starter.toml \
        --weights "minilm-names=1.5,roberta-names=0.5,lexicon=2;lexicon:MISC=2"

Why: roberta-names is trained from nothing on ~48k generated names; the rest of the vote (minilm-names and the
lexicon) knows far more real names. This script lets that vote label unlabelled real strings and trains
roberta-names on them beside the corpus (hard labels: the teacher's entities as word tags):

1. the strings: the masked-LM text of ``source_holdout`` (every lexicon entry as its source writes it, minus
   the held-out sources' steps and every dev/test/realdev entity), ``--texts`` of them drawn at random;
2. the teacher: the hold-out build's own minilm-names and roberta-names with the default config's weights and
   rules and the built lexicon of ``--model-dir``, so no held-out name reaches the student through it; labels
   scored under ``--min-score`` are dropped; ``--balance`` keeps as many place rows as organisation rows (the
   text is mostly places: without it 88% of the rows are places);
3. the student: roberta-names with the shipped plan and seed, on the hold-out corpus's train split plus those
   rows (one core), into ``--out``; ``base.toml`` and ``starter.toml`` are the default config pinned at the
   hold-out's members and at the student (``source_holdout.pinned_config``).

A dev-time tool: not part of the package; its figures are in EVALUATION.md ("Distilling roberta-names").
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import source_holdout as sh

from spark_ner.config import DEFAULT_MODEL_DIR

log = logging.getLogger("distill_dev")


def pseudo_rows(names: list[str], labels: pd.DataFrame, min_score: float) -> pd.DataFrame:
    """The teacher's labels as training rows (the corpus's columns; word tags from its entities)."""
    from spark_ner.starter.train import tags_from_spans
    from spark_ner.tokenize import split_name

    rows = []
    for name, label, score, entities in zip(names, labels["label"], labels["score"], labels["entities"], strict=True):
        words, starts, ends = split_name(name, 10**6, case_restore=False)
        if score < min_score or not words:
            continue
        spans = [{"start": int(e["start"]), "end": int(e["end"]), "label": e["label"]} for e in entities or []]
        rows.append(
            {
                "name": name,
                "words": np.array(words, dtype=object),
                "tags": np.array(tags_from_spans(spans, starts, ends, name), dtype=object),
                "label": label,
                "source": "distill",
                "entity_key": f"DISTILL:{name.casefold()}",
            }
        )
    return pd.DataFrame(rows)


def balanced(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """As many place rows as organisation rows (drawn at random), every other row kept."""
    places = rows[rows["label"] == "LOCATION"]
    keep = min(len(places), int((rows["label"] == "ORGANIZATION").sum()))
    out = pd.concat([rows[rows["label"] != "LOCATION"], places.sample(n=keep, random_state=seed)])
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdout", type=Path, required=True, help="a source_holdout.py folder (its members, corpus)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0, help="the hold-out build's training seed")
    parser.add_argument("--texts", type=int, default=160_000, help="real strings drawn for the teacher")
    parser.add_argument("--min-score", type=float, default=0.7, help="teacher labels scored below are dropped")
    parser.add_argument("--balance", action="store_true", help="as many place rows as organisation rows")
    parser.add_argument("--model-dir", type=Path, default=Path(DEFAULT_MODEL_DIR), help="the build whose lexicon votes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    from spark_ner.config import load_config
    from spark_ner.ensemble import load_ensemble
    from spark_ner.starter.build import LEXICON, MINILM, PLANS, ROBERTA
    from spark_ner.starter.pretrain import write_mlm_text
    from spark_ner.starter.train import TrainArgs, train

    holdout, out = args.holdout.expanduser().resolve(), args.out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    corpus = holdout / "corpus"
    lexicon = args.model_dir.expanduser().resolve() / LEXICON
    members = {MINILM: holdout / MINILM, ROBERTA: holdout / ROBERTA, LEXICON: lexicon}
    teacher = sh.pinned_config(out, members, "base.toml")
    exclude = [corpus / "dev.parquet", corpus / "test.parquet", holdout / "realdev.parquet"]
    record = write_mlm_text(out / "text.txt", exclude, sh.HELD_OUT_LEXICON_STEPS, ("county",))
    texts = (out / "text.txt").read_text(encoding="utf-8").splitlines()
    names = random.Random(args.seed).sample(texts, min(args.texts, len(texts)))
    t0 = time.perf_counter()
    labels = load_ensemble(load_config(teacher)).label(names)
    rows = pseudo_rows(names, labels, args.min_score)
    if args.balance:
        rows = balanced(rows, args.seed)
    log.info(
        "text %s; teacher labelled %d strings in %.0f s; %d rows kept %s",
        record,
        len(names),
        time.perf_counter() - t0,
        len(rows),
        rows["label"].value_counts().to_dict(),
    )
    pd.concat([pd.read_parquet(corpus / "train.parquet"), rows], ignore_index=True).to_parquet(
        out / "train.parquet", index=False
    )
    student = {
        "train_file": out / "train.parquet",
        "eval_file": corpus / "dev.parquet",
        "seed": args.seed,
        "num_threads": 1,
        "checkpoint_every": 0,
        "progress": False,
        "output_dir": out / ROBERTA,
        "from_scratch": "roberta",
        **PLANS["full"].roberta,
    }
    t0 = time.perf_counter()
    metrics = train(TrainArgs(**student))
    shutil.rmtree(out / ROBERTA / "checkpoints", ignore_errors=True)
    log.info("student trained in %.0f s; corpus-dev entity F1 %.4f", time.perf_counter() - t0, metrics["dev"]["f1"])
    sh.pinned_config(out, members | {ROBERTA: out / ROBERTA})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
