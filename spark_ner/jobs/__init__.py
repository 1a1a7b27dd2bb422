"""spark-submit entry points that an installed wheel carries (``jobs/`` in the repository holds the same).

``spark-submit`` runs a file, not a module, so the label job ships as ``label_customers.py`` in this
folder (which holds nothing a script's ``sys.path[0]`` could shadow). ``python -m spark_ner.jobs``
prints its path::

    spark-submit --master yarn "$(python -m spark_ner.jobs)" --input crm.customers ...
"""

from __future__ import annotations

from pathlib import Path

#: the label job as a file for ``spark-submit`` (the same code as ``spark-ner label``)
LABEL_JOB = Path(__file__).with_name("label_customers.py")
