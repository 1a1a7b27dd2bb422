"""Command-line spellings shared by every job module: one name per concept, old names as aliases.

The subcommands grew their own spellings (``--out``, ``--output-dir``, ``--mlflow-experiment``,
``--tracker-project``); each concept now has one name across ``spark-ner``'s subcommands and the job
scripts, and the old spelling still works for a while, with a deprecation warning naming the new
one, so existing scripts and schedules keep running. This lives in the runtime layer because the
modules that declare arguments (spark/, starter/, tools/) cannot import ``spark_ner.cli``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

__all__ = ["DeprecatedAlias", "add_deprecated_alias", "add_output_argument"]

log = logging.getLogger("spark_ner")


class DeprecatedAlias(argparse.Action):
    """An old spelling of an option: stores into the new option's ``dest`` and logs a warning.

    ``stores`` (when given) is stored instead of the value, for an old valued flag that became a
    switch or a choice (``--mlflow`` -> ``--log-with mlflow``).
    """

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        new: str = "",
        stores: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new = new
        self.stores = stores

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        log.warning(
            "%s: %s is deprecated and will be removed; use %s",
            parser.prog,
            option_string,
            self.new,
        )
        setattr(namespace, self.dest, self.stores if self.stores is not None else values)


def add_deprecated_alias(
    container: Any,
    old: str,
    new: argparse.Action,
    *,
    stores: Any = None,
    use: str | None = None,
) -> argparse.Action:
    """Add ``old`` as a hidden, deprecated spelling of the already added option ``new``.

    The alias takes what ``new`` takes (a value of its type, or nothing for a switch). With
    ``stores``, the alias is a switch that stores ``stores`` (``--mlflow`` for ``--log-with mlflow``);
    ``use`` is then the spelling the warning suggests. ``container`` is the parser, or ``new``'s group.
    """
    kwargs: dict[str, Any] = {"nargs": new.nargs, "type": new.type, "choices": new.choices, "metavar": new.metavar}
    if stores is None and new.nargs == 0:  # a switch: store its constant
        stores = new.const
    if stores is not None:
        kwargs = {"nargs": 0}
    action: argparse.Action = container.add_argument(
        old,
        dest=new.dest,
        action=DeprecatedAlias,
        new=use or max(new.option_strings, key=len),
        stores=stores,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
        **kwargs,
    )
    return action


def add_output_argument(container: Any, *old: str, required: bool = True, **kwargs: Any) -> argparse.Action:
    """``--output`` (the one name for "where the command writes") plus deprecated ``old`` spellings.

    A required ``--output`` and its aliases form a required mutually exclusive group, so that an old
    spelling satisfies the requirement; ``kwargs`` go to ``--output`` (``dest``, ``type``, ``help``...).
    """
    kwargs.setdefault("metavar", "OUTPUT")
    target = container.add_mutually_exclusive_group(required=True) if required and old else container
    action: argparse.Action = target.add_argument("--output", required=required and not old, **kwargs)
    for name in old:
        add_deprecated_alias(target, name, action)
    return action
