"""Stage `features`: point-in-time lead and account snapshots with labels."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.engine import Snapshots, build_snapshots, build_snapshots_spark
from features.snapshots import BuyingRole, SnapshotSpec, data_end, snapshot_dates
from mqlscore.config import FeatureParams, MqlRule, load_section
from mqlscore.io import read_tables, write_json, write_parquet
from mqlscore.schema import RAW_TABLES

log = logging.getLogger(__name__)


def spec_from(config: FeatureParams, rule: MqlRule) -> SnapshotSpec:
    """The snapshot spec from params."""
    return SnapshotSpec(
        windows_days=tuple(config.windows_days),
        label_window_days=config.label_window_days,
        label=config.label,
        half_life_days=config.half_life_days,
        title_points=rule.title_points,
        activity_points=rule.activity_points,
        buying_group=tuple(BuyingRole(**role.model_dump()) for role in config.buying_group),
    )


def summarize(products: Snapshots, leads: pd.DataFrame, snapshots: list) -> dict:
    """Row counts, label rates and what was left out (and why)."""
    frame = products.leads
    complete = frame[frame["label_complete"] == 1]
    accounts = products.accounts[products.accounts["label_complete"] == 1]
    created = leads["created_at"]
    alive_rows = sum(int((created < t).sum()) for t in snapshots)
    return {
        "snapshots": len(snapshots),
        "complete_snapshots": int(complete["snapshot_date"].nunique()),
        "lead_rows": len(frame),
        "lead_label_rate": round(float(complete["label"].mean()), 5) if len(complete) else 0.0,
        "account_rows": len(products.accounts),
        "account_label_rate": round(float(accounts["label"].mean()), 5) if len(accounts) else 0.0,
        # Leads already on an open opportunity get no row at that snapshot: counted here.
        "rows_excluded_open_deal": alive_rows - len(frame),
        "leads_without_any_row": int((~leads["lead_id"].isin(frame["lead_id"])).sum()),
    }


def _spark_session():  # noqa: ANN202
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
        .appName("mqlscore-features")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def main(
    raw: Annotated[Path, typer.Option(help="Folder of validated raw tables.")],
    matches: Annotated[Path, typer.Option(help="Lead -> account matches from the join stage.")],
    leads_out: Annotated[Path, typer.Option(help="Lead snapshot table (Parquet).")],
    accounts_out: Annotated[Path, typer.Option(help="Account snapshot table (Parquet).")],
    outcomes_out: Annotated[Path, typer.Option(help="Opportunities behind each lead label.")],
    summary: Annotated[Path, typer.Option(help="JSON summary (DVC metrics).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Build lead and account snapshots from what happened before each snapshot date."""
    config = load_section(params, "features", FeatureParams)
    spec = spec_from(config, load_section(params, "mql_rule", MqlRule))
    tables = read_tables(raw, RAW_TABLES)
    tables["lead_accounts"] = pd.read_parquet(matches)
    end = data_end(tables)
    start = tables["engagement"]["occurred_at"].min()
    snapshots = snapshot_dates(start, end, config.first_snapshot_month, config.cadence_months)
    if config.engine == "spark":
        products = build_snapshots_spark(_spark_session(), tables, spec, snapshots, end)
    else:
        products = build_snapshots(tables, spec, snapshots, end)
    write_parquet(products.leads, leads_out)
    write_parquet(products.accounts, accounts_out)
    write_parquet(products.lead_outcomes, outcomes_out)
    write_json(summarize(products, tables["leads"], snapshots), summary)
    log.info(
        "features (%s): %d lead rows, %d account rows over %d snapshots",
        config.engine,
        len(products.leads),
        len(products.accounts),
        len(snapshots),
    )
