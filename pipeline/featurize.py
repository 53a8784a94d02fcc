"""Stage `features`: point-in-time lead and account snapshots with labels."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.engine import (
    build_snapshots_spark,
    drop_blank,
    drop_unsupported,
    spark_session,
    write_snapshots,
)
from features.snapshots import (
    data_end,
    data_start,
    snapshot_dates,
    spec_from,
    summarize,
)
from mqlscore.config import FeatureParams, MqlRule, load_section
from mqlscore.io import read_export_info, read_tables, write_json, write_parquet
from mqlscore.schema import RAW_TABLES

log = logging.getLogger(__name__)


def main(
    raw: Annotated[Path, typer.Option(help="Folder of validated raw tables.")],
    matches: Annotated[Path, typer.Option(help="Lead -> account matches from the join stage.")],
    leads_out: Annotated[Path, typer.Option(help="Lead snapshot table (Parquet).")],
    accounts_out: Annotated[Path, typer.Option(help="Account snapshot table (Parquet).")],
    outcomes_out: Annotated[Path, typer.Option(help="Opportunities behind each lead label.")],
    account_outcomes_out: Annotated[
        Path, typer.Option(help="Opportunities behind each account label.")
    ],
    summary: Annotated[Path, typer.Option(help="JSON summary (DVC metrics).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Build lead and account snapshots from what happened before each snapshot date."""
    config = load_section(params, "features", FeatureParams)
    info = read_export_info(raw)
    extra = tuple(info.get("extra_lead_columns", ()))
    spec = spec_from(config, load_section(params, "mql_rule", MqlRule), extra=extra)
    sources = {name: raw / f"{name}.parquet" for name in RAW_TABLES}
    sources["lead_accounts"] = matches
    times = {  # only the timestamp columns: enough to place the snapshots
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
    targets = {
        "leads": leads_out,
        "accounts": accounts_out,
        "lead_outcomes": outcomes_out,
        "account_outcomes": account_outcomes_out,
    }
    if config.engine == "spark":
        tables = read_tables(raw, RAW_TABLES) | {"lead_accounts": pd.read_parquet(matches)}
        products = build_snapshots_spark(spark_session(), tables, spec, snapshots, end)
        for name, target in targets.items():
            write_parquet(getattr(products, name), target)
    else:
        write_snapshots(sources, spec, snapshots, end, targets, config.duckdb_memory_limit)
    dropped = drop_unsupported(targets, info.get("missing_tables", []))
    blank = drop_blank(targets, config.max_blank_share)
    counted = ["lead_id", "snapshot_date", "label", "label_complete"]
    lead_rows = pd.read_parquet(leads_out, columns=counted)
    account_rows = pd.read_parquet(accounts_out, columns=counted[1:])
    result = summarize(lead_rows, account_rows, times["leads"], snapshots, config.rows)
    write_json(result | {"dropped_features": dropped, "blank_features": blank}, summary)
    log.info(
        "features (%s): %d lead rows, %d account rows over %d snapshots",
        config.engine,
        len(lead_rows),
        len(account_rows),
        len(snapshots),
    )
