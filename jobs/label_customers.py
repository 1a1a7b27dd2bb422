"""Label customer names on a cluster: the same job as ``spark-ner label``, as a spark-submit script.

    spark-submit --master local[4] jobs/label_customers.py \
        --input customers.parquet --output labelled.parquet --name-col name --id-col id
    spark-submit --master yarn --archives env.tar.gz#environment \
        --conf spark.pyspark.python=./environment/bin/python jobs/label_customers.py --ship-models \
        --input-format table --input crm.customers --output-format table \
        --output crm.customer_labels --labels-only --id-col customer_id --mode overwrite

The executors import ``spark_ner`` too: install the wheel on the cluster (Databricks: a cluster
library) or ship a packed environment (README, "Where it runs"); ``--ship-models`` sends the member
folders. An installed wheel has this script too: ``python -m spark_ner.jobs`` prints its path.
All options: ``--help`` (``spark_ner/spark/job.py``).
Exit status: 0 done, 2 refused (bad config or column, output exists, row count mismatch).
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import spark_ner  # noqa: F401
except ImportError:  # run from a source checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spark_ner.spark.job import main

if __name__ == "__main__":
    sys.exit(main())
