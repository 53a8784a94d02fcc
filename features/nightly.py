"""A nightly export's checked tables (`sources.intake.read_inputs`) to features as of the
run date, with the training code."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from features.engine import build_snapshots_spark, spark_session, write_snapshots

log = logging.getLogger(__name__)


def build_features(
    tables: dict[str, pd.DataFrame | Path],
    spec: Any,
    run_date: pd.Timestamp,
    engine: str,
    work: Path,
) -> dict[str, Path]:
    """Lead and account features as of the run date, as Parquet files in `work`."""
    targets = {"leads": work / "leads.parquet", "accounts": work / "accounts.parquet"}
    if engine == "spark":
        spark = spark_session()
        tables = {
            name: spark.read.parquet(str(t.resolve())) if isinstance(t, Path) else t
            for name, t in tables.items()
        }
        products = build_snapshots_spark(spark, tables, spec, [run_date], run_date)
        for name, target in targets.items():
            getattr(products, name).to_parquet(target, index=False)
    else:
        write_snapshots(tables, spec, [run_date], run_date, targets)
    return targets


def check_every_lead_has_features(features: Path, good_rows: int) -> None:
    """Before anything is published: one feature row per good lead, or stop."""
    import pyarrow.parquet as pq

    built = pq.ParquetFile(features).metadata.num_rows
    if built != good_rows:
        raise RuntimeError(
            f"{good_rows} leads passed the checks but {built} got features; nothing written"
        )


def spark_probabilities(features: Path, scorer: Any) -> pd.DataFrame:
    """Lead probabilities computed on Spark by the scorer the driver loaded from the model
    folder's booster and JSON (shipped to the workers with the task), never by MLflow's
    `spark_udf`, which would import and run the folder's own `packaged.py` there."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")
    def predict(rows: pd.DataFrame) -> pd.Series:
        return pd.Series(scorer.probability(rows), index=rows.index)

    spark = spark_session()
    frame = spark.read.parquet(str(features.resolve()))
    columns = F.struct(*[F.col(c) for c in scorer.features])
    return frame.select("lead_id", predict(columns).alias("probability")).toPandas()
