# Databricks notebook source
# MAGIC %md
# MAGIC # Label customer names with spark_ner
# MAGIC
# MAGIC Labels each name in a table as PERSON, ORGANIZATION, LOCATION, MISC or NONE (plus score,
# MAGIC agreement, entity spans, model version) with the `spark_ner` ensemble, and writes the input
# MAGIC columns plus `ner_*` columns. It runs the same code as `spark-ner label`.
# MAGIC
# MAGIC * Install: the scheduled job (the repository's `databricks.yml`) builds the `spark-ner` wheel and
# MAGIC   attaches it to its job cluster, so this notebook installs nothing itself. Run by hand, attach the
# MAGIC   wheel to the cluster or run `%pip install` with its path (any version) in a cell above, then
# MAGIC   `dbutils.library.restartPython()` if an older spark_ner was already imported.
# MAGIC * Members: copy the member folders (`spark-ner build-models` output) to a Volume and set **model_dir**
# MAGIC   to it; **config** `databricks` (the packaged conf/databricks.toml) takes the evaluated members by
# MAGIC   name from there. A config path (`/Volumes/.../my.toml`) works too.
# MAGIC * Widgets: leave **input** empty for a small built-in demo; **mode** `error` refuses an
# MAGIC   existing output before any work is done; **cache** (a table, e.g. `main.crm.ner_cache`)
# MAGIC   labels only names not seen before; **ship_models** sends the member folders to executors
# MAGIC   that cannot read them; tables are created in the catalog's default format (Delta) unless
# MAGIC   **table_format** says otherwise; names may be `catalog.schema.table`.
# MAGIC * Serverless and shared clusters are Spark Connect: the same cells run there.
# MAGIC * Scheduled: `databricks bundle deploy` with the repository's `databricks.yml` (a GPU job cluster);
# MAGIC   the notebook's exit value (`dbutils.notebook.exit`) is the run's JSON summary, and the task value
# MAGIC   `summary` carries it to later tasks.
# MAGIC * Outside Databricks: `python jobs/notebooks/label_customers.py --output /tmp/out --config
# MAGIC   my.toml` runs it against a local Spark session (widgets come from `--name value` flags).

# COMMAND ----------

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ON_DATABRICKS = "dbutils" in globals()
try:
    import spark_ner
except ImportError:
    if ON_DATABRICKS:
        raise ImportError(
            "spark_ner is not installed on this cluster. Fix: run the job from databricks.yml (it attaches the "
            "wheel), or attach the spark-ner wheel to the cluster / %pip install it in a cell above"
        ) from None
    sys.path.insert(0, str(Path(sys.argv[0]).resolve().parents[2]))  # a source checkout run as a script
    import spark_ner

from spark_ner.spark.job import InputFormat, OutputFormat, WriteMode, build_parser, get_session, run
from spark_ner.spark.session import is_connect

_CLI: dict[str, str] = {}
if not ON_DATABRICKS:  # plain `python notebook.py --input x --output y`: flags stand in for widgets
    _argv = sys.argv[1:]
    for _i in range(0, len(_argv) - 1, 2):
        if _argv[_i].startswith("--"):
            _CLI[_argv[_i][2:].replace("-", "_")] = _argv[_i + 1]


def widget(name: str, default: str, label: str, choices: list[str] | None = None) -> str:
    """A Databricks widget when there is dbutils, else ``--name value`` or the default."""
    if ON_DATABRICKS:
        w = globals()["dbutils"].widgets
        if choices:
            w.dropdown(name, default, choices, label)
        else:
            w.text(name, default, label)
        return str(w.get(name))
    return _CLI.get(name, default)


def packaged_config(value: str) -> str:
    """A bare name (``databricks``) is the config of that name shipped in the wheel; anything else is a path."""
    if "/" in value or value.endswith(".toml"):
        return value
    packaged = Path(spark_ner.__file__).parent / "conf" / f"{value}.toml"
    if not packaged.is_file():
        names = sorted(p.stem for p in packaged.parent.glob("*.toml"))
        raise ValueError(f"config {value!r}: no such packaged config; choose one of {names} or give a .toml path")
    return str(packaged)


# COMMAND ----------

params = {
    "input": widget("input", "", "Input (path or table; empty = demo)"),
    "input_format": widget("input_format", "parquet", "Input format", [f.value for f in InputFormat]),
    "output": widget("output", "", "Output (path or table; empty = temp folder)"),
    "output_format": widget("output_format", "parquet", "Output format", [f.value for f in OutputFormat]),
    "mode": widget("mode", "error", "If the output exists", [m.value for m in WriteMode]),
    "name_col": widget("name_col", "name", "Name column"),
    "id_col": widget("id_col", "id", "Id column (empty = none)"),
    "config": widget("config", "", "Config: a TOML path, or a packaged name (databricks, default, hub)"),
    "model_dir": widget("model_dir", "", "Folder of the members (empty = $SPARK_NER_MODEL_DIR / config)"),
    "labels_only": widget("labels_only", "false", "Only id + labels", ["false", "true"]),
    "partition_by": widget("partition_by", "", "Partition by (comma-separated)"),
    "cache": widget("cache", "", "Name cache (table or path; empty = none)"),
    "table_format": widget("table_format", "", "Format of new tables (empty = catalog default)"),
    "ship_models": widget("ship_models", "false", "Ship member folders to executors", ["false", "true"]),
    "summary": widget("summary", "", "Summary JSON path (empty = temp file)"),
    "master": widget("master", "local[2]", "Spark master when run outside Databricks"),
}

# COMMAND ----------

# The session: Databricks gives `spark`; elsewhere a local one (Hive catalog when tables are used).
_created = False
if "spark" not in globals():
    _hive = params["input_format"] == "table" or params["output_format"] != "parquet"
    _hive = _hive or bool(params["cache"] and "/" not in params["cache"])
    spark, _created = get_session(params["master"], hive=_hive)
    if not is_connect(spark):  # a Connect session ($SPARK_REMOTE) has no SparkContext
        spark.sparkContext.setLogLevel("WARN")

_work = Path(tempfile.mkdtemp(prefix="spark-ner-notebook-"))
if not params["input"]:  # demo: a few synthetic names with a null, a blank and a duplicate
    demo = [
        (1, "John Smith"),
        (2, "Smith & Sons Ltd"),
        (3, "Banco Santander S.A."),
        (4, "Mr & Mrs García"),
        (5, None),
        (6, "   "),
        (7, "John Smith"),
        (8, "New York"),
    ]
    spark.createDataFrame(demo, "id long, name string").write.parquet(str(_work / "input"))
    params.update(input=str(_work / "input"), input_format="parquet", name_col="name", id_col="id")
if not params["output"]:
    params.update(output=str(_work / "output"), output_format="parquet")
if not params["summary"]:
    params["summary"] = str(_work / "summary.json")

# COMMAND ----------

argv = [
    "--input", params["input"],
    "--input-format", params["input_format"],
    "--output", params["output"],
    "--output-format", params["output_format"],
    "--mode", params["mode"],
    "--name-col", params["name_col"],
    "--summary", params["summary"],
]  # fmt: skip
if params["id_col"]:
    argv += ["--id-col", params["id_col"]]
if params["config"]:
    argv += ["--config", packaged_config(params["config"])]
if params["model_dir"]:
    argv += ["--model-dir", params["model_dir"]]
if params["labels_only"].lower() == "true":
    argv += ["--labels-only"]
if params["partition_by"]:
    argv += ["--partition-by", params["partition_by"]]
if params["cache"]:
    argv += ["--cache", params["cache"]]
if params["table_format"]:
    argv += ["--table-format", params["table_format"]]
if params["ship_models"].lower() == "true":
    argv += ["--ship-models"]

rc = run(build_parser().parse_args(argv))
summary: dict[str, Any] = json.loads(Path(params["summary"]).read_text(encoding="utf-8"))
summary["exit_code"] = rc
print(f"exit {rc}: {summary['rows_out']} rows labelled, labels {summary['labels']}")
if ON_DATABRICKS:  # later tasks read it with dbutils.jobs.taskValues.get(taskKey="label", key="summary")
    globals()["dbutils"].jobs.taskValues.set(key="summary", value=summary)

# COMMAND ----------

if params["output_format"] == "parquet":
    labelled = spark.read.parquet(params["output"])
elif params["output_format"] == "table" or "/" not in params["output"]:
    labelled = spark.table(params["output"])
else:
    labelled = spark.read.format("delta").load(params["output"])
if ON_DATABRICKS:
    globals()["display"](labelled.limit(20))
else:
    labelled.groupBy("ner_label").count().orderBy("ner_label").show()

# COMMAND ----------

# The run's result: the JSON summary is the notebook's exit value (the job run's output, and what
# dbutils.notebook.run returns to a calling notebook); as a script, the last line printed.
if _created:
    spark.stop()
if ON_DATABRICKS:
    globals()["dbutils"].notebook.exit(json.dumps(summary))
else:
    print(json.dumps(summary))
