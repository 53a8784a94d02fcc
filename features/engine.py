"""Run the snapshot SQL on DuckDB (embedded, default) or Apache Spark (scale-out).

The SQL is written once in DuckDB's dialect (`features.snapshots`); for Spark, sqlglot
translates its spelling. Both return the same pandas frames.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from features.snapshots import (
    SnapshotSpec,
    account_outcomes_sql,
    account_snapshot_sql,
    blank_features,
    data_end,
    data_start,
    lead_outcomes_sql,
    lead_snapshot_sql,
    shared_tables,
    snapshot_dates,
    unsupported_features,
)
from mqlscore.config import FeatureParams
from mqlscore.io import atomic_path
from mqlscore.schema import AUDIT_COLUMNS, OPTIONAL_COLUMNS, TABLES, feature_columns

log = logging.getLogger(__name__)
ENGINES: tuple[str, ...] = ("duckdb", "spark")
INPUT_TABLES: tuple[str, ...] = (
    "accounts",
    "leads",
    "engagement",
    "sales_activities",
    "opportunities",
    "opportunity_contacts",
    "lead_accounts",
)


@dataclass(frozen=True)
class Snapshots:
    """The feature stage's products."""

    leads: pd.DataFrame
    accounts: pd.DataFrame
    lead_outcomes: pd.DataFrame
    account_outcomes: pd.DataFrame


def queries(spec: SnapshotSpec) -> dict[str, str]:
    """The three output queries, in DuckDB's dialect, over the shared tables."""
    return {
        "leads": lead_snapshot_sql(spec),
        "accounts": account_snapshot_sql(spec),
        "lead_outcomes": lead_outcomes_sql(),
        "account_outcomes": account_outcomes_sql(),
    }


def spark_sql(sql: str) -> str:
    """The same query in Spark SQL's spelling."""
    import sqlglot

    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def _normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Stable dtypes whatever the engine: timestamps in microseconds, text as object."""
    for column in frame.columns:
        dtype = frame[column].dtype
        if column in ("snapshot_date", "label_at") or column in AUDIT_COLUMNS:
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
        elif dtype == "string" or str(dtype).startswith("string"):
            frame[column] = frame[column].astype("object").where(frame[column].notna(), None)
        elif dtype == "object" and frame[column].dropna().map(type).eq(bool).all():
            frame[column] = frame[column].astype("boolean")
    return frame


def _snapshot_frame(snapshots: list[pd.Timestamp]) -> pd.DataFrame:
    return pd.DataFrame({"snapshot_date": pd.to_datetime(snapshots).astype("datetime64[us]")})


Source = pd.DataFrame | Path


def with_optional_columns(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A table with the optional canonical columns it lacks, blank (roles without dates)."""
    missing = [c for c in OPTIONAL_COLUMNS.get(name, ()) if c not in frame.columns]
    blank = {"time": "datetime64[us]", "float": "float64"}
    return frame.assign(
        **{
            c: pd.Series(dtype=blank.get(TABLES[name][c], object), index=frame.index)
            for c in missing
        }
    )


def sql_text(value: object) -> str:
    """A value (a file path) as a SQL string literal, its single quotes doubled, so a path
    such as `o'brien/raw` names that file rather than ending the string. DuckDB takes no
    prepared parameter in a view's definition or a COPY target, hence the literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _connect(
    sources: dict[str, Source],
    spec: SnapshotSpec,
    snapshots: list[pd.Timestamp],
    end: pd.Timestamp,
    memory_limit: str | None = None,
) -> Any:
    """DuckDB with the inputs (frames in memory, Parquet by path) and the shared tables
    computed once."""
    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = {sql_text(memory_limit)}")
    for name in INPUT_TABLES:
        source = sources[name]
        if isinstance(source, pd.DataFrame):
            con.register(name, with_optional_columns(name, source))
        else:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({sql_text(source)})")
    con.register("snaps", _snapshot_frame(snapshots))
    for name, sql in shared_tables(spec, end):
        con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
    return con


def build_snapshots(
    sources: dict[str, Source],
    spec: SnapshotSpec,
    snapshots: list[pd.Timestamp],
    end: pd.Timestamp,
) -> Snapshots:
    """Lead and account snapshots and lead outcomes as frames, written by the production
    writer (`write_snapshots`, DuckDB's COPY to Parquet) to a temporary folder and read
    back: what the features stage writes, not a twin of it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mqlscore-snapshots-") as tmp:
        targets = {name: Path(tmp) / f"{name}.parquet" for name in queries(spec)}
        write_snapshots(sources, spec, snapshots, end, targets)
        frames = {name: _normalize(pd.read_parquet(path)) for name, path in targets.items()}
    return Snapshots(**frames)


def write_snapshots(
    sources: dict[str, Source],
    spec: SnapshotSpec,
    snapshots: list[pd.Timestamp],
    end: pd.Timestamp,
    targets: dict[str, Path],
    memory_limit: str | None = None,
) -> None:
    """Compute the snapshots in DuckDB and stream each straight to its Parquet file.

    Nothing passes through pandas, so memory stays near `memory_limit` (DuckDB spills
    to disk beyond it). `targets` names the products wanted (any of `queries`).
    """
    con = _connect(sources, spec, snapshots, end, memory_limit)
    try:
        for name, target in targets.items():
            sql = queries(spec)[name]
            with atomic_path(target) as tmp:
                con.execute(f"COPY ({sql}) TO {sql_text(tmp)} (FORMAT parquet)")
    finally:
        con.close()


def build_snapshots_spark(
    spark: Any,
    tables: dict[str, Any],
    spec: SnapshotSpec,
    snapshots: list[pd.Timestamp],
    end: pd.Timestamp,
) -> Snapshots:
    """The same snapshots computed by Spark. `tables` holds Spark or pandas frames."""
    for name in INPUT_TABLES:
        frame = tables[name]
        if isinstance(frame, pd.DataFrame):
            frame = spark.createDataFrame(with_optional_columns(name, frame))
        frame.createOrReplaceTempView(name)
    spark.createDataFrame(_snapshot_frame(snapshots)).createOrReplaceTempView("snaps")
    for name, sql in shared_tables(spec, end):
        spark.sql(spark_sql(sql)).cache().createOrReplaceTempView(name)
    frames = {
        name: _normalize(spark.sql(spark_sql(sql)).toPandas())
        for name, sql in queries(spec).items()
    }
    return Snapshots(**frames)


def spark_session():
    """The Spark session for the feature queries (SPARK_MASTER, default local[*]; UTC)."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
        .appName("mqlscore-features")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def drop_unsupported(targets: dict[str, Path], missing: list[str]) -> dict[str, list[str]]:
    """Remove from the snapshot tables the features a missing table cannot support, and
    say which (per table)."""
    import pyarrow.parquet as pq

    from mqlscore.io import write_parquet

    named: dict[str, set[str]] = {}
    for name in ("leads", "accounts"):
        columns = pq.ParquetFile(targets[name]).schema_arrow.names
        unsupported = unsupported_features(columns, missing)
        gone = [c for cols in unsupported.values() for c in cols]
        if gone:
            write_parquet(pd.read_parquet(targets[name]).drop(columns=gone), targets[name])
        for table, cols in unsupported.items():
            named.setdefault(table, set()).update(cols)
        if gone:
            log.warning("%s: dropped %d features the source cannot support", name, len(gone))
    return {table: sorted(cols) for table, cols in named.items()}


def blank_counts(path: Path, columns: list[str]) -> tuple[int, dict[str, int]]:
    """The rows of a Parquet file and the blank (null) values of each column, counted by
    DuckDB (the table is never loaded whole)."""
    blanks = "".join(f', count(*) - count("{c}")' for c in columns)
    with duckdb.connect() as con:
        found = con.execute(
            f"SELECT count(*){blanks} FROM read_parquet({sql_text(path)})"
        ).fetchone()
    return int(found[0]), dict(zip(columns, map(int, found[1:]), strict=True))


def drop_blank(targets: dict[str, Path], max_share: float) -> dict[str, dict[str, float]]:
    """Remove from the snapshot tables the features blank on more than `max_share` of
    their rows (a field the source never fills), and say which with their blank share."""
    import pyarrow.parquet as pq

    from mqlscore.io import write_parquet

    named: dict[str, dict[str, float]] = {}
    for name in ("leads", "accounts"):
        columns = pq.ParquetFile(targets[name]).schema_arrow.names
        features = feature_columns(pd.DataFrame(columns=columns), use_marketing=False)
        rows, blanks = blank_counts(targets[name], features)
        named[name] = blank_features(blanks, rows, max_share)
        if named[name]:
            frame = pd.read_parquet(targets[name]).drop(columns=list(named[name]))
            write_parquet(frame, targets[name])
            log.warning("%s: dropped blank features: %s", name, ", ".join(named[name]))
    return named


def snapshot_plan(
    sources: dict[str, Path], config: FeatureParams
) -> tuple[pd.DataFrame, list[pd.Timestamp], pd.Timestamp]:
    """The leads' creation times, the snapshot dates and the data's end, read from the
    timestamp columns only (enough to place the snapshots)."""
    times = {
        "engagement": pd.read_parquet(sources["engagement"], columns=["occurred_at"]),
        "sales_activities": pd.read_parquet(sources["sales_activities"], columns=["occurred_at"]),
        "opportunities": pd.read_parquet(
            sources["opportunities"], columns=["created_at", "closed_at"]
        ),
        "leads": pd.read_parquet(sources["leads"], columns=["lead_id", "created_at"]),
    }
    end = data_end(times)
    snapshots = snapshot_dates(
        data_start(times),
        end,
        config.first_snapshot_month,
        config.cadence_months,
        config.cadence_days,
    )
    return times["leads"], snapshots, end


def build_tables(
    config: FeatureParams,
    sources: dict[str, Path],
    spec: SnapshotSpec,
    plan: tuple[list[pd.Timestamp], pd.Timestamp],
    targets: dict[str, Path],
) -> None:
    """The four snapshot tables written to `targets`, by the engine `features.engine`
    names (DuckDB streaming to disk, or Spark)."""
    snapshots, end = plan
    if config.engine == "spark":
        from mqlscore.io import read_tables, write_parquet
        from mqlscore.schema import RAW_TABLES

        raw = read_tables(sources["leads"].parent, RAW_TABLES)
        raw["lead_accounts"] = pd.read_parquet(sources["lead_accounts"])
        products = build_snapshots_spark(spark_session(), raw, spec, snapshots, end)
        for name, target in targets.items():
            write_parquet(getattr(products, name), target)
    else:
        write_snapshots(sources, spec, snapshots, end, targets, config.duckdb_memory_limit)
