"""Stage `join`: match every lead to an account and say which rule matched."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from features.matching import match_leads, match_rates
from mqlscore.io import read_tables, write_json, write_parquet

log = logging.getLogger(__name__)


def main(
    raw: Annotated[Path, typer.Option(help="Folder of validated raw tables.")],
    out: Annotated[Path, typer.Option(help="Lead -> account matches (Parquet).")],
    summary: Annotated[Path, typer.Option(help="Match rate per rule (DVC metrics).")],
) -> None:
    """Match leads to accounts: CRM id, else email domain, else company name."""
    tables = read_tables(raw, ("leads", "accounts"))
    matches = match_leads(tables["leads"], tables["accounts"])
    write_parquet(matches, out)
    rates = match_rates(matches)
    write_json({"leads": len(matches), "match_rate": rates}, summary)
    log.info("join: %s", ", ".join(f"{rule} {share:.1%}" for rule, share in rates.items()))
