"""Stage `validate_features`: the model tables of the kinds `train.kinds` trains, checked
before training (nulls, label rate, one row per key, point in time, no leak).

A fatal failure stops the run with a message naming the table, column, what was
expected, how many rows and example ids; warnings are printed and recorded only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import TrainParams, ValidateParams, load_section
from mqlscore.evaluation.kinds import KINDS
from mqlscore.io import write_json

log = logging.getLogger(__name__)


def main(
    snapshots: Annotated[Path, typer.Option(help="Lead snapshot table to check.")],
    account_snapshots: Annotated[Path, typer.Option(help="Account snapshot table to check.")],
    summary: Annotated[Path, typer.Option(help="JSON summary to write (DVC metrics).")],
    docs: Annotated[Path | None, typer.Option(help="Folder for the Data Docs HTML.")] = None,
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Validate the model tables of the kinds `train.kinds` trains: nulls, label rate, one
    row per key, point in time, and no feature that leaks the label."""
    from mqlscore.schema import AUDIT_COLUMNS, feature_columns
    from mqlscore.validation.expectations import (
        log_checks,
        model_table_suite,
        run_suites,
        summarize,
    )
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
            key=KINDS[kind].key,
            audit=tuple(c for c in AUDIT_COLUMNS if c in frame.columns),
        )
        for kind, frame in frames.items()
    }
    for kind in sorted(set(KINDS) - set(kinds)):
        log.info("validate_features: no %s model is trained (train.kinds): not checked", kind)
    checks, _ = run_suites(tables, suites, docs)
    result = summarize(checks) | {"kinds": list(kinds)}
    audit, leaks = audit_tables(frames, config, train.use_marketing_features)
    result |= {"leakage": audit, "failed": result["failed"] + len(leaks)}
    result["failures"] += leaks
    write_json(result, summary)
    if not log_checks(result, f"validate {snapshots.parent}"):
        raise typer.Exit(1)
