"""Postal localities (places below admin-2) as the ensemble labels them: a probe of lexicon v16's
``_localities`` step (issue 25, item 2).

    # a lexicon holding only the even half of the new localities (by a hash of the key)
    python scripts/localities_dev.py build-half --out /tmp/lex16h
    # each config's labels on 1,500 new localities of each half
    python scripts/localities_dev.py probe --before /tmp/lex15 --after ~/.cache/spark-ner/models/lexicon \
        --config /tmp/v15.toml --config /tmp/half.toml --config ~/.cache/spark-ner/models/starter.toml

Names: the localities of ``countrystatecity-postal-codes`` whose key the ``--after`` lexicon holds and the
``--before`` one does not (what the step added), as the postal files write them ("KUIVASKYLÄ", "Tabanera de
Cerrato"), split in two halves by the CRC-32 of the key; 1,500 drawn from each (seed 0). Gold is LOCATION,
though some are named after a person ("Antonio Trujillo", a colonia) and the lexicon leaves those to the
members. The odd half is missing from the ``build-half`` lexicon, so a config pointed at it scores localities
no list holds: what the word-shape model learned from the others. Said plainly: the names come from the list
the step reads, so the held half says that the lists reach the vote, not how the change generalises; that is
the dev's and the sealed check's to say (EVALUATION.md, "Places below admin-2"). A dev-time tool: not part of
the package.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import zlib
from pathlib import Path

import numpy as np

log = logging.getLogger("localities_dev")
SAMPLE = 1500


def _half(key: str) -> int:
    """0 (even: in the ``build-half`` lexicon) or 1 (odd: left out of it), by the CRC-32 of the key."""
    return zlib.crc32(key.encode("utf-8")) % 2


def _keys(folder: Path) -> set[str]:
    from spark_ner.lexicon import LEXICON_FILE

    with np.load(folder / LEXICON_FILE, allow_pickle=False) as z:
        return set(z["keys"].tobytes().decode("utf-8").split("\n"))


def build_half(out: Path) -> None:
    """Build the lexicon with only the even half of the postal localities."""
    from spark_ner.starter import lexicon_data as ld

    every = ld.postal_locality_names
    ld.postal_locality_names = lambda: [n for n in every() if _half(ld.key_of(n)) == 0]  # type: ignore[assignment]
    record = ld.build_lexicon(out)
    sys.stdout.write(f"{out}: {record['keys']} keys, sha256 {record['sha256']}\n")


def halves(before: Path, after: Path) -> tuple[list[str], list[str]]:
    """The new localities (held by ``after``, not by ``before``): a sample of the odd half, then the even."""
    from spark_ner.starter.lexicon_data import key_of, postal_locality_names

    old, new = _keys(before), _keys(after)
    keyed = [(n, key_of(n)) for n in postal_locality_names()]
    keyed = [(n, k) for n, k in keyed if k in new and k not in old]
    odd = [n for n, k in keyed if _half(k) == 1]
    even = [n for n, k in keyed if _half(k) == 0]
    log.warning("%d new locality names (%d odd, %d even)", len(keyed), len(odd), len(even))
    rng = random.Random(0)
    return rng.sample(odd, min(SAMPLE, len(odd))), rng.sample(even, min(SAMPLE, len(even)))


def probe(before: Path, after: Path, configs: list[str]) -> None:
    from spark_ner.config import load_config
    from spark_ner.ensemble import load_ensemble

    odd, even = halves(before, after)
    for cfg in configs:
        ens = load_ensemble(load_config(cfg))
        parts = []
        for part, names in (("odd half (not in build-half)", odd), ("even half", even)):
            shares = ens.label(names)["label"].value_counts(normalize=True).round(3).to_dict()
            parts.append(f"{part}: {shares}")
        sys.stdout.write(f"{cfg}: {'; '.join(parts)}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("build-half", "probe"))
    parser.add_argument("--out", type=Path, help="build-half: the lexicon folder to write")
    parser.add_argument("--before", type=Path, help="probe: the lexicon before the step (v15)")
    parser.add_argument("--after", type=Path, help="probe: the lexicon with the step (v16)")
    parser.add_argument("--config", action="append", default=[], help="probe: an ensemble config; repeat")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.step == "build-half":
        if args.out is None:
            parser.error("build-half needs --out")
        build_half(args.out)
        return
    if args.before is None or args.after is None or not args.config:
        parser.error("probe needs --before, --after and at least one --config")
    probe(args.before, args.after, args.config)


if __name__ == "__main__":
    main()
