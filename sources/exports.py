"""The synthetic world written in the shapes real teams hand over (a nightly export)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mqlscore.console import progress
from mqlscore.io import EXPORT_FILE, write_json, write_parquet, write_text

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
