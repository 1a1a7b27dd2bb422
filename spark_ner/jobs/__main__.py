"""``python -m spark_ner.jobs``: the path of the label job's spark-submit script."""

from __future__ import annotations

import sys

from spark_ner.jobs import LABEL_JOB

sys.stdout.write(f"{LABEL_JOB}\n")
