"""A nightly export's checked tables (`sources.intake.read_inputs`) to features as of the
run date, with the training code."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from features.engine import build_snapshots_spark, spark_session, write_snapshots
from mqlscore.modeling import packaged
from mqlscore.modeling.packaged import probability

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


def worker_predict(scorer: Any) -> Callable[[pd.DataFrame], pd.Series]:
    """What Spark's executors run on a batch of leads: a plain function over the model the
    driver read from the folder (LightGBM's booster, or the regression's JSON) with its
    features, levels and calibrator. Shipped by cloudpickle with `mqlscore.modeling.packaged`'s
    functions by value (`packaged_by_value`), it imports only pandas, numpy and lightgbm
    on the executor: no mqlscore there, and no code from the model folder."""
    model = scorer.estimator
    spec = {
        "features": list(scorer.features),
        "levels": dict(scorer.levels),
        "calibrator": scorer.calibrator.spec if scorer.calibrator else None,
    }

    def predict(rows: pd.DataFrame) -> pd.Series:
        return pd.Series(probability(model, spec, rows), index=rows.index)

    return predict


@contextmanager
def packaged_by_value() -> Iterator[None]:
    """While pyspark pickles a UDF: `mqlscore.modeling.packaged`'s functions and classes go by
    value, not as references an executor would have to import from mqlscore."""
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(packaged)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(packaged)


def spark_probabilities(features: Path, scorer: Any) -> pd.DataFrame:
    """Lead probabilities computed on Spark by `worker_predict`, never by MLflow's
    `spark_udf`, which would import and run the folder's own `packaged.py` there."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    predict = pandas_udf(worker_predict(scorer), "double")
    spark = spark_session()
    frame = spark.read.parquet(str(features.resolve()))
    with packaged_by_value():  # the UDF is pickled when it is applied to its columns
        column = predict(F.struct(*[F.col(c) for c in scorer.features]))
    return frame.select("lead_id", column.alias("probability")).toPandas()
