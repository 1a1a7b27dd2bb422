"""``spark-ner cache stats|vacuum``: inspect a name cache, drop old model versions and leftovers.

The store itself (layout, atomicity, one store per kind of location) is :mod:`spark_ner.spark.name_cache`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from spark_ner.errors import CacheError
from spark_ner.spark.name_cache import STALE_AFTER_HOURS, NameCache, is_table
from spark_ner.spark.session import get_session

log = logging.getLogger(__name__)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``spark-ner cache stats|vacuum --cache PATH_OR_TABLE``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--cache", required=True, help="cache path (parquet) or table name (no '/')")
        p.add_argument("--master", default=None, help="Spark master (default: local[*])")
        p.add_argument("--remote", default=None, metavar="sc://HOST:PORT", help="a Spark Connect server instead")
        p.add_argument(
            "--catalog-dir",
            default="spark-catalog",
            help="local runs with tables: folder of the warehouse and the embedded Derby metastore",
        )

    stats = sub.add_parser("stats", help="rows, distinct names, batches and bytes per model version (JSON)")
    common(stats)
    stats.add_argument("--no-distinct", action="store_true", help="skip the distinct-name count (a full scan)")
    vacuum = sub.add_parser("vacuum", help="drop old model versions and leftovers of killed runs")
    common(vacuum)
    keep = vacuum.add_mutually_exclusive_group(required=True)
    keep.add_argument("--keep-version", action="append", metavar="V", help="keep this version (repeatable)")
    keep.add_argument("--keep-latest", type=int, metavar="N", help="keep the N most recently written versions")
    vacuum.add_argument(
        "--stale-after",
        type=float,
        default=STALE_AFTER_HOURS,
        metavar="HOURS",
        help=f"remove staging folders of runs started this long ago (default {STALE_AFTER_HOURS:g}; 0 when "
        "no job is writing the cache)",
    )
    vacuum.add_argument("--dry-run", action="store_true", help="report what would go; change nothing")


def run(args: argparse.Namespace) -> int:
    """``stats`` or ``vacuum``; prints JSON (counts and versions, never names)."""

    spark, created = get_session(
        args.master, hive=is_table(args.cache), catalog_dir=args.catalog_dir, remote=getattr(args, "remote", None)
    )
    try:
        cache = NameCache(spark, args.cache)
        cache.check()
        result = _stats(cache, distinct=not args.no_distinct) if args.action == "stats" else _vacuum(cache, args)
    finally:
        if created:
            spark.stop()
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


def _stats(cache: NameCache, distinct: bool) -> dict[str, Any]:
    versions = cache.stats(distinct=distinct)
    sizes = [v["bytes"] for v in versions if v["bytes"] is not None]
    return {
        "cache": cache.location,
        "kind": cache.store.kind,
        "versions": versions,
        "total_rows": sum(v["rows"] for v in versions),
        "total_bytes": sum(sizes) if len(sizes) == len(versions) else None,
        "stale_staging": len(cache.stale_staging(STALE_AFTER_HOURS)),
    }


def _vacuum(cache: NameCache, args: argparse.Namespace) -> dict[str, Any]:
    if args.keep_latest is not None and args.keep_latest < 1:
        raise CacheError("--keep-latest must be at least 1 (use --keep-version to choose what stays)")
    if args.stale_after < 0:
        raise CacheError("--stale-after must be >= 0 hours")
    versions = cache.stats(distinct=False)  # latest first
    present = [v["model_version"] for v in versions]
    if args.keep_version:
        missing = [v for v in args.keep_version if v not in present]
        if missing:
            raise CacheError(
                f"--keep-version {', '.join(missing)}: not in the cache (versions: {', '.join(present) or '-'}); "
                "nothing was dropped"
            )
        keep = [v for v in present if v in args.keep_version]
    else:
        keep = present[: args.keep_latest]
    drop = [v for v in present if v not in keep]
    rows = {v["model_version"]: v["rows"] for v in versions}
    stale = cache.stale_staging(args.stale_after)
    if not args.dry_run:
        cache.drop_versions(drop)
        cache.clean_staging(args.stale_after)
    log.info("name cache: %s %d versions", "would drop" if args.dry_run else "dropped", len(drop))
    return {
        "cache": cache.location,
        "dry_run": bool(args.dry_run),
        "kept": keep,
        "dropped": drop,
        "rows_dropped": sum(rows[v] for v in drop),
        "staging_removed": len(stale),
    }
