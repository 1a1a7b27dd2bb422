"""Tools around the package: evaluation, benchmarks, demo data, random test models.

Uses the runtime (and ``spark`` for the Spark rows); never imported by the runtime or ``spark``.
"""
