"""The label job as a spark-submit script, from an installed wheel (``python -m spark_ner.jobs``).

    spark-submit --master yarn "$(python -m spark_ner.jobs)" --input crm.customers --input-format table \
        --output crm.customer_labels --output-format table --id-col customer_id --ship-models

All options: ``--help`` (``spark_ner/spark/job.py``). Exit status: 0 done, 2 refused.
"""

from __future__ import annotations

import sys

from spark_ner.spark.job import main

if __name__ == "__main__":
    sys.exit(main())
