"""`mqlscore score`: nightly batch scoring of a lead export, ranked and explained.

Reads an export folder (`generate --export nightly` writes one), checks it (table-level
problems stop the run with exit code 2; bad rows go to `rejects.csv` with their reasons),
builds features as of the run date with the training code, scores leads and accounts
with the registered champions, checks that every row in is scored or rejected, and only
then publishes `lead_scores`, `account_scores` (CSV and Parquet), `rejects.csv`, the
hand-over history `handovers.parquet` (a lead handed over within `score.rehand_after_days`
is not handed over again), with `--writeback` the CRM's own import file(s)
`crm_update*.csv` and their state, and, last, `manifest.json`. The run is
`sources.nightly_run.run_nightly`; this command reads its options and params.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from features.engine import ENGINES
from mqlscore.config import (
    EvaluateParams,
    FeatureParams,
    MqlRule,
    ScoreParams,
    ValidateParams,
    load_section,
)
from mqlscore.refusal import one_line
from sources.nightly_run import Night, NightParams, NightRefused, run_nightly

log = logging.getLogger(__name__)


def main(
    export: Annotated[Path, typer.Option(help="Folder of the nightly export.")],
    out: Annotated[Path, typer.Option(help="Folder for scores, rejects and the manifest.")],
    run_date: Annotated[
        str | None, typer.Option(help="Score as of this date (default: the export's time).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Lead model: models:/name@alias, models:/name/3 or a folder."),
    ] = None,
    account_model: Annotated[
        str | None, typer.Option(help="Account model URI or folder, or 'none'.")
    ] = None,
    column_map: Annotated[
        Path | None, typer.Option(help="YAML {table: {export column: canonical column}}.")
    ] = None,
    mapping: Annotated[
        list[Path] | None,
        typer.Option(help="Mapping file(s) of the source system (mappings/*.yaml)."),
    ] = None,
    engine: Annotated[str, typer.Option(help="duckdb (one machine) or spark.")] = "duckdb",
    reasons: Annotated[bool, typer.Option(help="Explain each lead (top 3 up and down).")] = True,
    allow_thin_context: Annotated[
        bool,
        typer.Option(help="Score even when tonight's touches per lead are far below training's."),
    ] = False,
    writeback: Annotated[
        bool,
        typer.Option(
            help="Also write crm_update*.csv, the CRM's own import file(s) (the mapping's "
            "writeback section), with the records changed since the last write-back."
        ),
    ] = False,
    writeback_all: Annotated[
        bool,
        typer.Option(help="Like --writeback, but every scored record (after a failed import)."),
    ] = False,
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Score a nightly lead export: ranked, graded, explained; bad rows to rejects."""
    config = load_section(params, "score", ScoreParams, mapping)
    checks = load_section(params, "validate", ValidateParams, mapping)
    settings = NightParams(
        score=config,
        grades=load_section(params, "evaluate", EvaluateParams, mapping).grades,
        features=load_section(params, "features", FeatureParams, mapping),
        mql_rule=load_section(params, "mql_rule", MqlRule, mapping),
        email_required=checks.email_present_min_share > 0,  # a source without emails: 0
    )
    if engine not in ENGINES:
        raise typer.BadParameter(f"--engine must be duckdb or spark, not {engine!r}")
    night = Night(
        export=export,
        models={
            "model": model or config.model,
            "account_model": account_model or config.account_model,
        },
        run_date=run_date,
        column_map=column_map,
        mappings=tuple(mapping or ()),
        engine=engine,
        reasons=reasons,
        allow_thin_context=allow_thin_context,
        writeback=writeback or writeback_all,
        writeback_all=writeback_all,
    )
    try:
        manifest = run_nightly(night, out, settings)
    except NightRefused as err:
        log.error("score: %s", one_line(err))
        raise typer.Exit(2) from err
    log.info("score: %s", {k: manifest[k] for k in ("rows_in", "scored", "rejected", "qualified")})
