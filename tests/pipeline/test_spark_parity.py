"""The Spark path computes exactly the DuckDB features (local[2], tiny world)."""

from __future__ import annotations

import os
import shutil
import sys

import pandas as pd
import pytest

from features.engine import build_snapshots, build_snapshots_spark
from features.matching import match_leads
from features.snapshots import SnapshotSpec, data_end, snapshot_dates
from sources.world import World

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]
KEYS = {
    "leads": ["lead_id", "snapshot_date"],
    "accounts": ["account_id", "snapshot_date"],
    "lead_outcomes": ["lead_id", "snapshot_date", "opportunity_id"],
    "account_outcomes": ["account_id", "snapshot_date", "opportunity_id"],
}


@pytest.fixture(scope="module")
def spark():
    pyspark_sql = pytest.importorskip("pyspark.sql")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("mqlscore-parity")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield session
    session.stop()


def _with_account_touches(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every 7th sales touch moved onto an account only; every 7th after it also names an
    account (often not its lead's)."""
    sales, accounts = tables["sales_activities"].copy(), tables["accounts"]["account_id"]
    row = pd.Series(range(len(sales)), index=sales.index)
    named = row % 7 <= 1
    sales.loc[named, "account_id"] = accounts.iloc[row[named] % len(accounts)].to_numpy()
    sales.loc[row % 7 == 0, "lead_id"] = None
    return tables | {"sales_activities": sales}


def test_spark_features_equal_duckdb_features_with_touches_on_accounts(
    spark, tiny_world: World, spec: SnapshotSpec
) -> None:
    """The world as generated is compared on a standalone cluster (test_spark_cluster.py);
    here with sales touches moved onto accounts, the path the world draws least."""
    tables = _with_account_touches(tiny_world.raw_tables())
    tables["lead_accounts"] = match_leads(tables["leads"], tables["accounts"])
    end = data_end(tables)
    snaps = snapshot_dates(tables["engagement"]["occurred_at"].min(), end, 3)
    local = build_snapshots(tables, spec, snaps, end)
    distributed = build_snapshots_spark(spark, tables, spec, snaps, end)
    for name, keys in KEYS.items():
        a, b = getattr(local, name), getattr(distributed, name)
        assert len(a) > 0 and list(a.columns) == list(b.columns), name
        a = a.sort_values(keys).reset_index(drop=True)
        b = b.sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, obj=name)
