"""Stage `validate`: Great Expectations checks of the raw tables before anything learns.

A fatal failure stops the run with a message naming the table, column, what was
expected, how many rows and example ids; warnings are printed and recorded only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from mqlscore.config import SYNTHETIC, ValidateParams, load_section
from mqlscore.io import (
    read_export_info,
    read_export_time,
    read_optional_tables,
    read_tables,
    write_json,
)
from mqlscore.schema import OPTIONAL_TABLES, RAW_TABLES

log = logging.getLogger(__name__)


def _report_dropped(dropped: dict[str, dict[str, int]]) -> None:
    """Rows the mapping layer dropped before validation (e.g. sales touches on nobody)."""
    for table, reasons in dropped.items():
        for reason, count in reasons.items():
            log.warning("%d %s row(s) dropped before validation: %s", count, table, reason)


def main(
    raw: Annotated[Path, typer.Option(help="Folder of raw tables to check.")],
    summary: Annotated[Path, typer.Option(help="JSON summary to write (DVC metrics).")],
    baseline: Annotated[
        Path, typer.Option(help="Row counts of the last accepted run (read, then updated).")
    ],
    docs: Annotated[Path | None, typer.Option(help="Folder for the Data Docs HTML.")] = None,
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Validate the raw tables; exit 1 with a readable report if a fatal check fails."""
    from mqlscore.validation.expectations import (
        raw_suites,
        run_suites,
        summarize,
        timing_suite,
        timing_table,
        with_found_keys,
    )

    config = load_section(params, "validate", ValidateParams)
    info = read_export_info(raw)
    source, absent = info.get("source", SYNTHETIC), info.get("missing_tables", [])
    tables = read_tables(raw, RAW_TABLES) | read_optional_tables(raw, OPTIONAL_TABLES)
    history = json.loads(baseline.read_text()) if baseline.exists() else {}
    history = history.get("sources", {SYNTHETIC: history["rows"]} if "rows" in history else {})
    suites = raw_suites(tables, config, read_export_time(raw), history.get(source))
    for table in absent:  # a table the source does not have: nothing to check
        suites.pop(table, None)
        log.warning(
            "validate: %s is not in this source (%s): its checks are skipped", table, source
        )
    found = with_found_keys(tables)
    checked = {t: found[t] for t in suites}
    timing = timing_table(tables) if "engagement" in suites else None
    if timing is not None:  # across tables: touches against their lead's creation
        checked["engagement_timing"] = timing
        suites["engagement_timing"] = timing_suite()
    checks, _ = run_suites(checked, suites, docs)
    result = summarize(checks) | {"source": source, "skipped_tables": absent}
    if info.get("other_activity_types"):
        result["other_activity_types"] = info["other_activity_types"]
    if info.get("dropped_rows"):
        result["dropped_rows"] = info["dropped_rows"]
        _report_dropped(info["dropped_rows"])
    write_json(result, summary)
    _exit_unless(result, f"validate {raw}")
    rows = {name: len(tables[name]) for name in suites if name in tables}
    write_json({"sources": history | {source: rows}}, baseline)


def _exit_unless(result: dict, what: str) -> None:
    from mqlscore.validation.expectations import log_checks

    if not log_checks(result, what):
        raise typer.Exit(1)
