"""A dev set of real names from sources the trained members never saw: weights chosen on names nobody listed.

    python scripts/source_holdout.py --model-dir ~/.cache/spark-ner/models --out /tmp/holdout   # ~15 min
    python scripts/combination_search.py --config /tmp/holdout/starter.toml \
        --dev /tmp/holdout/union.parquet --mask-lexicon 0.5 --out holdout.json
    # the opt-in masked-LM roberta-names (build-models --roberta-mlm-steps) on the same hold-out:
    python scripts/source_holdout.py --out /tmp/holdout_mlm --roberta-mlm-steps 1200 \
        --link-minilm /tmp/holdout   # ~10 min, one core

Why: the corpus dev split comes from the same generators and lists as the training split, so on it
the trained members look stronger than on real customer names (2026-12-02: minilm-names beats the
lexicon on dev, the lexicon beats minilm-names on the sealed outside check), and weights chosen on it
outvote the lexicon on names such as "Ulta Beauty". This script

1. drops every training row of a few whole real sources (``HELD_OUT``: persons of five locales,
   bank and mobile-operator registries, districts, US counties, exonyms, nationalities, placeholders)
   from the built corpus's train split;
2. trains minilm-names and roberta-names on what is left, with the shipped build's plan and seed,
   side by side (one core each), into ``--out``; the lexicon is the built one (linked);
3. writes ``realdev.parquet``: the dropped rows whose entity no remaining training row names. The
   trained members never saw these entities nor any name of their source. ``union.parquet`` is the
   corpus dev split and realdev together (column ``part``): what the weights are chosen on, so that
   neither the generated names (NONE, events, coined companies) nor the real ones are left out.

The lexicon holds every one of them; ``combination_search.py --mask-lexicon 0.5`` hides the entity's
own key from it on half the entities (by a hash of the entity), as on the outside check, where the
lexicon holds about half the names. A dev-time tool: not part of the package; no outside-check
package is read.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from spark_ner.config import DEFAULT_MODEL_DIR, ENV_MODEL_DIR

log = logging.getLogger("source_holdout")

HELD_OUT_LOCALES = ("tr_TR", "pl_PL", "sv_SE", "en_IN", "nl_NL")
HELD_OUT = (
    *(f"faker:{kind}:{loc}" for kind in ("person", "household") for loc in HELD_OUT_LOCALES),
    "registry:banks:schwifty",
    "registry:imsi:stdnum",
    "districts",
    "geonames:us_county",
    "exonyms:country",
    "misc:nationality",
    "none:placeholder",
)
#: the lexicon steps that read those sources: left out of the masked-LM text with realdev's entities
#: (and US county names, which the places step also holds), so pre-training sees none of them
HELD_OUT_LEXICON_STEPS = (
    "faker_names",
    "registries",
    "banks",
    "admin_regions",
    "cldr",
    "nationalities",
    "placeholders",
)


def split_corpus(corpus: Path, out: Path) -> dict[str, int]:
    """Write ``out/corpus`` (train without the held-out sources; dev/test as built) and ``out/realdev.parquet``."""
    train = pd.read_parquet(corpus / "train.parquet")
    held = train["source"].isin(HELD_OUT)
    kept = train[~held].reset_index(drop=True)
    seen = set(kept["entity_key"])
    realdev = train[held & ~train["entity_key"].isin(seen)].reset_index(drop=True)
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    kept.to_parquet(out / "corpus" / "train.parquet", index=False)
    for split in ("dev", "test"):
        shutil.copy2(corpus / f"{split}.parquet", out / "corpus" / f"{split}.parquet")
    realdev.to_parquet(out / "realdev.parquet", index=False)
    dev = pd.read_parquet(corpus / "dev.parquet")
    union = pd.concat([dev.assign(part="corpus-dev"), realdev.assign(part="realdev")], ignore_index=True)
    union.to_parquet(out / "union.parquet", index=False)
    counts = {
        "train_before": len(train),
        "train_after": len(kept),
        "realdev": len(realdev),
        "realdev_entities": realdev["entity_key"].nunique(),
    }
    log.info("corpus split: %s; realdev by label %s", counts, realdev["label"].value_counts().to_dict())
    return counts


def _train(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """One member, in a spawned process on one core (as build-models trains them)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from spark_ner.starter.train import TrainArgs, train

    started = time.perf_counter()
    metrics = train(TrainArgs(**args))
    shutil.rmtree(Path(args["output_dir"]) / "checkpoints", ignore_errors=True)
    return {"member": name, "seconds": round(time.perf_counter() - started), "dev_f1": metrics["dev"]["f1"]}


def train_members(
    out: Path, seed: int = 0, mlm_steps: int = 0, link_minilm: Path | None = None
) -> list[dict[str, Any]]:
    """minilm-names and roberta-names on ``out/corpus`` with the full plan and ``seed``, side by side
    (``link_minilm``: minilm-names is that folder's, same corpus and seed, not trained again);
    ``mlm_steps``: roberta-names is first pre-trained on the masked-LM text of ``HELD_OUT_LEXICON_STEPS``."""
    from spark_ner.starter.build import MINILM, PLANS, ROBERTA, minilm_source
    from spark_ner.starter.pretrain import write_mlm_text

    plan = PLANS["full"]
    corpus = out / "corpus"
    data = {"train_file": corpus / "train.parquet", "eval_file": corpus / "dev.parquet", "seed": seed}
    common = {**data, "num_threads": 1, "checkpoint_every": 0, "progress": False}
    roberta = {**common, "output_dir": out / ROBERTA, "from_scratch": "roberta", **plan.roberta}
    if mlm_steps:
        exclude = [corpus / "dev.parquet", corpus / "test.parquet", out / "realdev.parquet"]
        log.info("mlm text %s", write_mlm_text(out / "mlm_text.txt", exclude, HELD_OUT_LEXICON_STEPS, ("county",)))
        roberta |= {"mlm_file": out / "mlm_text.txt", "mlm_steps": mlm_steps}
    jobs: dict[str, dict[str, Any]] = {ROBERTA: roberta}
    if link_minilm is None:
        jobs[MINILM] = {**common, "output_dir": out / MINILM, "init": minilm_source(), **plan.minilm}
    elif not (out / MINILM).exists():
        (out / MINILM).symlink_to((link_minilm / MINILM).resolve())
    with ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_train, name, args) for name, args in jobs.items()]
        return [f.result() for f in futures]


def pinned_config(out: Path, folders: dict[str, Path], file_name: str = "starter.toml") -> Path:
    """``out/file_name``: the default config with each member of ``folders`` pinned at its folder (what
    ``build-models`` writes as ``starter.toml``)."""
    from spark_ner.lexicon import LEXICON_FILE
    from spark_ner.models import file_sha256
    from spark_ner.starter.build import LEXICON, write_starter

    weights = {name: LEXICON_FILE if name == LEXICON else "model.safetensors" for name in folders}
    pins = {name: (folder, file_sha256(folder / weights[name])) for name, folder in folders.items()}
    return write_starter(out, pins, file_name=file_name)


def write_config(model_dir: Path, out: Path) -> Path:
    """``out/starter.toml``: the built ``starter.toml`` with the two trained members pointed at ``out``."""
    from spark_ner.starter.build import LEXICON, MINILM, RAMPART, ROBERTA

    for linked in (LEXICON, RAMPART):
        if not (out / linked).exists():
            (out / linked).symlink_to(model_dir / linked)
    return pinned_config(out, {name: out / name for name in (MINILM, ROBERTA, RAMPART, LEXICON)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = os.environ.get(ENV_MODEL_DIR) or str(DEFAULT_MODEL_DIR)
    parser.add_argument("--model-dir", default=default_dir, help="a full build-models folder (its corpus is split)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the hold-out build and realdev.parquet")
    parser.add_argument("--seed", type=int, default=0, help="training seed (the corpus stays the built one)")
    parser.add_argument("--no-train", action="store_true", help="only write the corpus split and realdev.parquet")
    parser.add_argument("--roberta-mlm-steps", type=int, default=0, help="masked-LM pre-training steps of roberta")
    parser.add_argument("--link-minilm", type=Path, help="a hold-out folder of the same seed: reuse its minilm-names")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    model_dir, out = Path(args.model_dir).expanduser().resolve(), args.out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    split_corpus(model_dir / "corpus", out)
    if args.no_train:
        return 0
    t0 = time.perf_counter()
    for record in train_members(out, args.seed, args.roberta_mlm_steps, args.link_minilm):
        log.info("trained %s", record)
    log.info("members trained in %.0f s; config %s", time.perf_counter() - t0, write_config(model_dir, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
