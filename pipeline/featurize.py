"""Stage `features`: point-in-time lead and account snapshots with labels."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.engine import build_tables, drop_blank, drop_unsupported, snapshot_plan
from features.snapshots import (
    spec_from,
    summarize,
)
from mqlscore.config import FeatureParams, MqlRule, load_section
from mqlscore.io import read_export_info, write_json
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
    leads, snapshots, end = snapshot_plan(sources, config)
    targets = {
        "leads": leads_out,
        "accounts": accounts_out,
        "lead_outcomes": outcomes_out,
        "account_outcomes": account_outcomes_out,
    }
    build_tables(config, sources, spec, (snapshots, end), targets)
    dropped = drop_unsupported(targets, info.get("missing_tables", []))
    blank = drop_blank(targets, config.max_blank_share)
    counted = ["lead_id", "snapshot_date", "label", "label_complete"]
    lead_rows = pd.read_parquet(leads_out, columns=counted)
    account_rows = pd.read_parquet(accounts_out, columns=counted[1:])
    result = summarize(lead_rows, account_rows, leads, snapshots, config.rows)
    write_json(result | {"dropped_features": dropped, "blank_features": blank}, summary)
    log.info(
        "features (%s): %d lead rows, %d account rows over %d snapshots",
        config.engine,
        len(lead_rows),
        len(account_rows),
        len(snapshots),
    )
