"""The synthetic world written in the shapes real teams hand over (a nightly export)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mqlscore.config import MqlRule
from mqlscore.console import progress
from mqlscore.io import EXPORT_FILE, write_json, write_parquet, write_text
from sources.world import apply_mql_rule

NIGHTLY_LEADS = "leads.csv"


def write_nightly_export(
    tables: dict[str, pd.DataFrame], out: Path, exported_at: pd.Timestamp
) -> None:
    """A nightly export as marketing ops hands it over: the lead export as CSV, the tables
    scoring needs (engagement, accounts, sales activities, opportunities) as Parquet."""
    for name, frame in progress(list(tables.items()), "writing nightly export"):
        if name == "leads":
            write_text(
                frame.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S"), out / NIGHTLY_LEADS
            )
        else:
            write_parquet(frame, out / f"{name}.parquet")
    write_json({"exported_at": exported_at.isoformat()}, out / EXPORT_FILE)


def as_of(
    tables: dict[str, pd.DataFrame], when: pd.Timestamp, rule: MqlRule
) -> dict[str, pd.DataFrame]:
    """The tables as an export taken at `when` would hold them: nothing created after it,
    deals closed later still open, marketing's points and MQL flags as they stood."""
    before = {
        name: frame[frame[column] < when]
        for name, column in (
            ("engagement", "occurred_at"),
            ("sales_activities", "occurred_at"),
            ("opportunities", "created_at"),
        )
        for frame in [tables[name]]
    }
    deals = before["opportunities"].copy()
    still_open = deals["closed_at"] >= when
    deals.loc[still_open, "closed_at"] = pd.NaT
    deals["is_won"] = deals["is_won"].astype("boolean").mask(still_open)
    leads = tables["leads"][tables["leads"]["created_at"] < when]
    leads = apply_mql_rule(
        leads.drop(columns=["marketing_score", "mql_at"]), before["engagement"], rule
    )
    contacts = tables["opportunity_contacts"]
    return {
        "accounts": tables["accounts"],
        "leads": leads,
        "engagement": before["engagement"],
        "sales_activities": before["sales_activities"],
        "opportunities": deals,
        "opportunity_contacts": contacts[contacts["opportunity_id"].isin(deals["opportunity_id"])],
    }
