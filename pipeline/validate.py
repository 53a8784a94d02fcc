"""Stage `validate`: check the raw tables before anything learns from them.

Schema, keys, foreign keys, known values and timestamps. A failed check stops the run
with a message naming the table, column, what was expected, how many rows and example
ids.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import ValidateParams, load_section
from mqlscore.io import read_tables, write_json
from mqlscore.schema import (
    ACTIVITY_TYPES,
    FOREIGN_KEYS,
    PRIMARY_KEYS,
    RAW_TABLES,
    SALES_ACTIVITY_TYPES,
    TABLES,
)

log = logging.getLogger(__name__)
EXAMPLES = 5


@dataclass(frozen=True)
class Check:
    """The outcome of one expectation on one table column."""

    table: str
    column: str
    expectation: str
    failed_rows: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failed_rows == 0

    def message(self) -> str:
        ids = ", ".join(self.examples)
        return (
            f"{self.table}.{self.column}: expected {self.expectation}; "
            f"{self.failed_rows} row(s) fail (e.g. {ids})"
        )


def _check(table: str, column: str, expectation: str, bad: pd.Series, ids: pd.Series) -> Check:
    return Check(
        table, column, expectation, int(bad.sum()), ids[bad].astype(str).head(EXAMPLES).tolist()
    )


def _row_ids(table: str, frame: pd.DataFrame) -> pd.Series:
    key = PRIMARY_KEYS.get(table)
    if key and key in frame:
        return frame[key]
    return pd.Series([f"row {i}" for i in range(len(frame))], index=frame.index)


def check_raw_tables(
    tables: dict[str, pd.DataFrame], now: pd.Timestamp, params: ValidateParams
) -> list[Check]:
    """Run every check on the raw tables; pure, returns one Check per expectation."""
    checks: list[Check] = []
    latest_allowed = now + pd.Timedelta(days=params.max_future_days)
    for table, columns in TABLES.items():
        frame = tables[table]
        missing = [c for c in columns if c not in frame.columns]
        checks.append(
            Check(
                table,
                ",".join(missing) or "*",
                "all required columns present",
                len(frame) if missing else 0,
                missing,
            )
        )
        if missing:
            continue
        ids = _row_ids(table, frame)
        key = PRIMARY_KEYS.get(table)
        if key:
            checks.append(_check(table, key, "non-null ids", frame[key].isna(), ids))
            checks.append(_check(table, key, "unique ids", frame[key].duplicated(keep=False), ids))
        for column, kind in columns.items():
            if kind == "time":
                when = pd.to_datetime(frame[column], errors="coerce")
                checks.append(
                    _check(
                        table,
                        column,
                        f"no timestamp after {latest_allowed:%Y-%m-%d}",
                        when > latest_allowed,
                        ids,
                    )
                )
    for (table, column), (parent, parent_key) in FOREIGN_KEYS.items():
        frame, parents = tables[table], tables[parent]
        if column not in frame or parent_key not in parents:
            continue
        values = frame[column]
        blank_ok = (table, column) == ("leads", "account_id")
        bad = ~values.isin(parents[parent_key]) & ~(values.isna() & blank_ok)
        checks.append(
            _check(
                table,
                column,
                f"every value found in {parent}.{parent_key}",
                bad,
                _row_ids(table, frame),
            )
        )
    known = {
        ("engagement", "activity_type"): ACTIVITY_TYPES,
        ("sales_activities", "type"): SALES_ACTIVITY_TYPES,
    }
    for (table, column), allowed in known.items():
        frame = tables[table]
        if column in frame:
            bad = ~frame[column].astype(str).isin(allowed)
            checks.append(
                _check(table, column, f"one of {', '.join(allowed)}", bad, _row_ids(table, frame))
            )
    return checks


def summarize(checks: list[Check]) -> dict:
    """The DVC metrics view of a list of checks."""
    failed = [c for c in checks if not c.passed]
    return {
        "checks": len(checks),
        "failed": len(failed),
        "rows_affected": sum(c.failed_rows for c in failed),
        "failures": [asdict(c) for c in failed],
    }


def main(
    raw: Annotated[Path, typer.Option(help="Folder of raw tables to check.")],
    summary: Annotated[Path, typer.Option(help="JSON summary to write (DVC metrics).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Validate the raw tables; exit 1 with a readable report if any check fails."""
    config = load_section(params, "validate", ValidateParams)
    tables = read_tables(raw, RAW_TABLES)
    checks = check_raw_tables(tables, pd.Timestamp(datetime.now()), config)
    result = summarize(checks)
    write_json(result, summary)
    if result["failed"]:
        for check in checks:
            if not check.passed:
                log.error("%s", check.message())
        raise typer.Exit(1)
    log.info("validate: %d checks passed on %s", result["checks"], raw)
