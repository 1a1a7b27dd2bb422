"""Fine-tune a names NER model: the same job as ``spark-ner train``, as a script for launchers.

    python jobs/finetune.py --train-file corpus/train.parquet --eval-file corpus/dev.parquet \
        --init ./my-bert --output-dir out/bert-names
    accelerate launch --num_processes 2 jobs/finetune.py --from-scratch roberta \
        --train-file ... --output-dir ... --mixed-precision fp16

CPU-only data parallel (gloo): ``ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2 jobs/finetune.py ...``
(without ``ACCELERATE_USE_CPU`` accelerate sees no CUDA and each process would train alone).

All options: ``python jobs/finetune.py --help`` (documented in ``spark_ner/starter/train.py``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

try:
    import spark_ner  # noqa: F401
except ImportError:  # run from a source checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spark_ner.starter.train import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the training job."""
    parser = argparse.ArgumentParser(prog="finetune.py", description="Fine-tune a token-classification model on names.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
