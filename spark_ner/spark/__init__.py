"""What needs Spark: session, the UDF and its per-worker cache, telemetry, outputs, name cache, label job.

Imports the runtime only; never ``starter`` or ``tools``.
"""
