"""Stage `features`: point-in-time lead snapshot features and labels."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from features.lead import LeadFeatureSpec, build_lead_snapshots, data_end, snapshot_dates
from mqlscore.config import FeatureParams, MqlRule, load_section
from mqlscore.io import read_tables, write_json, write_parquet
from mqlscore.schema import RAW_TABLES

log = logging.getLogger(__name__)


def main(
    raw: Annotated[Path, typer.Option(help="Folder of validated raw tables.")],
    leads_out: Annotated[Path, typer.Option(help="Lead snapshot feature table (Parquet).")],
    outcomes_out: Annotated[Path, typer.Option(help="Label outcomes per lead snapshot.")],
    summary: Annotated[Path, typer.Option(help="JSON summary (DVC metrics).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Build lead snapshots at monthly dates from what happened before each."""
    config = load_section(params, "features", FeatureParams)
    rule = load_section(params, "mql_rule", MqlRule)
    tables = read_tables(raw, RAW_TABLES)
    spec = LeadFeatureSpec(
        windows_days=tuple(config.windows_days),
        label_window_days=config.label_window_days,
        title_points=rule.title_points,
        activity_points=rule.activity_points,
    )
    start = tables["engagement"]["occurred_at"].min()
    snapshots = snapshot_dates(start, data_end(tables), config.first_snapshot_month)
    frame, outcomes = build_lead_snapshots(tables, spec, snapshots)
    write_parquet(frame, leads_out)
    write_parquet(outcomes, outcomes_out)
    complete = frame[frame["label_complete"] == 1]
    created = tables["leads"]["created_at"]
    alive_rows = sum(int((created < t).sum()) for t in snapshots)
    write_json(
        {
            "lead_rows": len(frame),
            # Leads already on an open opportunity get no row at that snapshot: counted here.
            "rows_excluded_open_deal": alive_rows - len(frame),
            "leads_without_any_row": int((~tables["leads"]["lead_id"].isin(frame["lead_id"])).sum()),
            "snapshots": len(snapshots),
            "complete_snapshots": int(complete["snapshot_date"].nunique()),
            "label_rate": round(float(complete["label"].mean()), 5) if len(complete) else 0.0,
        },
        summary,
    )
    log.info("features: %d lead rows over %d snapshots", len(frame), len(snapshots))
