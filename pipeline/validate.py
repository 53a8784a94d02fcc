"""Stages `validate` and `validate_features`: Great Expectations gates before learning.

A fatal failure stops the run with a message naming the table, column, what was
expected, how many rows and example ids; warnings are printed and recorded only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import SYNTHETIC, TrainParams, ValidateParams, load_section
from mqlscore.io import read_export_info, read_export_time, read_tables, write_json
from mqlscore.schema import RAW_TABLES

log = logging.getLogger(__name__)
KEYS: dict[str, str] = {"lead": "lead_id", "account": "account_id"}  # model kind -> its key


def _report(result: dict, what: str) -> None:
    for item in result["warning_details"]:
        log.warning("warning: %s", item["message"])
    for item in result["failures"]:
        log.error("FAILED: %s", item["message"])
    if result["failed"]:
        log.error(
            "%s: %d of %d checks failed (%d rows affected); see the summary and Data Docs",
            what,
            result["failed"],
            result["checks"],
            result["rows_affected"],
        )
        raise typer.Exit(1)
    log.info("%s: %d checks passed, %d warnings", what, result["checks"], result["warnings"])


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
    )

    config = load_section(params, "validate", ValidateParams)
    info = read_export_info(raw)
    source, absent = info.get("source", SYNTHETIC), info.get("missing_tables", [])
    tables = read_tables(raw, RAW_TABLES)
    history = json.loads(baseline.read_text()) if baseline.exists() else {}
    history = history.get("sources", {SYNTHETIC: history["rows"]} if "rows" in history else {})
    suites = raw_suites(tables, config, read_export_time(raw), history.get(source))
    for table in absent:  # a table the source does not have: nothing to check
        suites.pop(table, None)
        log.warning(
            "validate: %s is not in this source (%s): its checks are skipped", table, source
        )
    checked = {t: tables[t] for t in suites}
    if "engagement" in suites:  # across tables: touches against their lead's creation
        checked["engagement_timing"] = timing_table(tables)
        suites["engagement_timing"] = timing_suite()
    checks, _ = run_suites(checked, suites, docs)
    result = summarize(checks) | {"source": source, "skipped_tables": absent}
    if info.get("other_activity_types"):
        result["other_activity_types"] = info["other_activity_types"]
    if info.get("dropped_rows"):
        result["dropped_rows"] = info["dropped_rows"]
        _report_dropped(info["dropped_rows"])
    write_json(result, summary)
    _report(result, f"validate {raw}")
    rows = {name: len(tables[name]) for name in suites if name in tables}
    write_json({"sources": history | {source: rows}}, baseline)


def features_main(
    snapshots: Annotated[Path, typer.Option(help="Lead snapshot table to check.")],
    account_snapshots: Annotated[Path, typer.Option(help="Account snapshot table to check.")],
    summary: Annotated[Path, typer.Option(help="JSON summary to write (DVC metrics).")],
    docs: Annotated[Path | None, typer.Option(help="Folder for the Data Docs HTML.")] = None,
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Validate the model tables of the kinds `train.kinds` trains: nulls, label rate, one
    row per key, point in time, and no feature that leaks the label."""
    from mqlscore.schema import AUDIT_COLUMNS, feature_columns
    from mqlscore.validation.expectations import model_table_suite, run_suites, summarize
    from mqlscore.validation.leakage import audit_tables

    config = load_section(params, "validate", ValidateParams)
    train = load_section(params, "train", TrainParams)
    kinds = train.kinds
    paths = {"lead": snapshots, "account": account_snapshots}
    frames = {kind: pd.read_parquet(paths[kind]) for kind in kinds}
    tables = {f"{kind}_snapshots": frame for kind, frame in frames.items()}
    suites = {
        f"{kind}_snapshots": model_table_suite(
            config,
            feature_columns(frame, use_marketing=True),
            key=KEYS[kind],
            audit=tuple(c for c in AUDIT_COLUMNS if c in frame.columns),
        )
        for kind, frame in frames.items()
    }
    for kind in sorted(set(KEYS) - set(kinds)):
        log.info("validate_features: no %s model is trained (train.kinds): not checked", kind)
    checks, _ = run_suites(tables, suites, docs)
    result = summarize(checks) | {"kinds": list(kinds)}
    audit, leaks = audit_tables(frames, config, train.use_marketing_features)
    result |= {"leakage": audit, "failed": result["failed"] + len(leaks)}
    result["failures"] += leaks
    write_json(result, summary)
    _report(result, f"validate {snapshots.parent}")
