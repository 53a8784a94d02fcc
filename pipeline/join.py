"""Stage `join`: match every lead to an account and say which rule matched."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from features.matching import match_leads, match_rates, rate_drops
from mqlscore.config import SYNTHETIC, ValidateParams, load_section
from mqlscore.io import read_export_info, read_tables, write_json, write_parquet
from mqlscore.schema import current_state

log = logging.getLogger(__name__)


def per_source(saved: dict) -> dict[str, dict[str, float]]:
    """Match rates of the last run per source (a baseline from before they were kept per
    source held the synthetic world's)."""
    return saved.get("sources", {SYNTHETIC: saved} if saved else {})


def main(
    raw: Annotated[Path, typer.Option(help="Folder of validated raw tables.")],
    out: Annotated[Path, typer.Option(help="Lead -> account matches (Parquet).")],
    summary: Annotated[Path, typer.Option(help="Match rate per rule (DVC metrics).")],
    baseline: Annotated[
        Path | None, typer.Option(help="Match rates of the last run (read, then updated).")
    ] = None,
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Match leads to accounts: CRM id, else email domain, else company name."""
    tables = read_tables(raw, ("leads", "accounts"))
    info = read_export_info(raw)
    crm_ids = ("leads", "account_id") not in current_state(info.get("known_at_creation", {}))
    if not crm_ids:
        log.warning(
            "join: the leads' CRM account is current state in this source (no mapping says "
            "it is known when a lead is created): matched by email domain and company only"
        )
    matches = match_leads(tables["leads"], tables["accounts"], crm_ids)
    write_parquet(matches, out)
    rates, source = match_rates(matches), info.get("source", SYNTHETIC)
    history = (
        per_source(json.loads(baseline.read_text())) if baseline and baseline.exists() else {}
    )
    max_drop = load_section(params, "validate", ValidateParams).max_match_rate_drop
    drops = rate_drops(rates, history.get(source), max_drop)
    for rule, change in drops.items():
        log.warning(
            "join: %s matches %.1f%% of leads, down from %.1f%% last run (a shared or "
            "free-mail domain, a renamed column?)",
            rule,
            100 * change["now"],
            100 * change["before"],
        )
    write_json({"leads": len(matches), "match_rate": rates, "rate_drops": drops}, summary)
    if baseline:  # kept per source: switching sources is no drop
        write_json({"sources": history | {source: rates}}, baseline)
    log.info("join: %s", ", ".join(f"{rule} {share:.1%}" for rule, share in rates.items()))
