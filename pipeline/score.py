"""`mqlscore score`: nightly batch scoring of a lead export, ranked and explained.

Reads an export folder (`generate --export nightly` writes one), checks it (table-level
problems stop the run with exit code 2; bad rows go to `rejects.csv` with their reasons),
builds features as of the run date with the training code, scores leads and accounts
with the registered champions, checks that every row in is scored or rejected, and only
then publishes `lead_scores`, `account_scores` (CSV and Parquet), `rejects.csv`, the
hand-over history `handovers.parquet` (a lead handed over within `score.rehand_after_days`
is not handed over again) and, last, `manifest.json` (see `mqlscore.scoring`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow.parquet as pq
import typer

from features import nightly
from features.snapshots import spec_from
from mqlscore import scoring
from mqlscore.config import (
    EvaluateParams,
    FeatureParams,
    MqlRule,
    ScoreParams,
    ValidateParams,
    load_section,
)
from mqlscore.io import (
    file_md5,
    one_writer,
    publish,
    read_export_time,
    staging_folder,
    write_json,
    write_parquet,
    write_text,
)
from sources import intake
from sources.intake import (
    ExportError,
    MappingError,
    RowRules,
    date_order_of,
    find_file,
    load_column_map,
)
from sources.load import canonical_export

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
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Score a nightly lead export: ranked, graded, explained; bad rows to rejects."""
    from mqlscore import tracking

    started = time.perf_counter()
    config = load_section(params, "score", ScoreParams, mapping)
    cuts = load_section(params, "evaluate", EvaluateParams, mapping).grades
    features = load_section(params, "features", FeatureParams, mapping)
    rule = load_section(params, "mql_rule", MqlRule, mapping)
    emails = load_section(params, "validate", ValidateParams, mapping).email_present_min_share > 0
    if engine not in ("duckdb", "spark"):
        raise typer.BadParameter(f"--engine must be duckdb or spark, not {engine!r}")
    uris = {"model": model or config.model, "account_model": account_model or config.account_model}
    with one_writer(out), staging_folder(out, "score") as work:
        try:
            if mapping:  # the source system's own shape: mapped to canonical tables first
                export = canonical_export(list(mapping), export, work / "export")
            when = pd.Timestamp(run_date) if run_date else read_export_time(export)
            scorers = {k: None if u == "none" else load(u) for k, u in uris.items()}
            history = read_history(out / scoring.HANDOVERS)
            columns = load_column_map(column_map)
            dayfirst = date_order_of(find_file(export, "leads"), columns.get("leads", {}))
            rules = RowRules(
                when, config.lead_id_pattern, dayfirst=dayfirst, email_required=emails
            )
            tables, rejects, rows_in, files = intake.read_inputs(
                export, rules, columns, config, work
            )
        except (ExportError, MappingError, FileNotFoundError, BlockingIOError) as err:
            log.error("score: %s", err)
            raise typer.Exit(2) from err
        extras = tuple(c for c in pq.read_schema(tables["leads"]).names if c.startswith("x_"))
        spec = spec_from(features, rule, scoring=True, extra=extras)
        paths = nightly.build_features(tables, spec, when, engine, work)
        nightly.check_every_lead_has_features(paths["leads"], rows_in - len(rejects))
        scorer = scorers["model"]
        context = scoring.thin_context(scorer.context, paths["leads"], config.min_context_ratio)
        if context["thin"] and not allow_thin_context:
            log.error(
                "score: %s; nothing written (--allow-thin-context scores anyway)", context["says"]
            )
            raise typer.Exit(2)
        from_spark = None
        if engine == "spark":
            from_spark = nightly.spark_probabilities(uris["model"], paths["leads"], scorer)
            from_spark = from_spark.set_index("lead_id")["probability"]
        staged = work / "out"
        handovers = scoring.handovers_as_of(history, when, config.rehand_after_days)
        scored, counts, accounts_scored = scoring.score_outputs(
            paths,
            scorer,
            scorers["account_model"],
            config,
            cuts,
            reasons,
            staged,
            from_spark,
            handovers,
        )
        write_text(rejects.to_csv(index=False), staged / "rejects.csv")
        write_parquet(scoring.updated_history(history, scored, when), staged / scoring.HANDOVERS)
        drift = scoring.drift_summary(scorer.profile, counts, config.drift_warn_psi)
        manifest = scoring.run_manifest(
            run_date=when,
            engine=engine,
            models={k: s and tracking.model_version(uris[k]) for k, s in scorers.items()},
            inputs={path.name: file_md5(path) for path in files.values()},
            rows_in=rows_in,
            scored=scored,
            rejected=len(rejects),
            accounts_scored=accounts_scored,
            reasons=reasons,
            drift=drift,
        )
        files = scoring.OUTPUT_FILES
        manifest |= {
            "outputs": [n for n in files if (staged / n).exists() or n == "manifest.json"],
            "handovers": {
                "file": scoring.HANDOVERS,
                "rehand_after_days": config.rehand_after_days,
                "held_back": manifest["held_back"],
            },
            "context": context,
            "id_case_mismatches": intake.id_case_mismatches(tables),
            "run_date_from": "--run-date" if run_date else "export.json",
            "run_seconds": round(time.perf_counter() - started, 2),
        }
        write_json(manifest, staged / "manifest.json")
        publish([staged / n for n in files if (staged / n).exists()], out, files)
    log.info("score: %s", {k: manifest[k] for k in ("rows_in", "scored", "rejected", "qualified")})


def read_history(path: Path) -> pd.DataFrame:
    """The hand-over history of earlier runs into this `--out` (none yet: empty); a file
    that cannot be read or lacks its columns is a refusal, not a fresh start."""
    if not path.exists():
        return scoring.empty_history()
    try:
        history = pd.read_parquet(path)
    except Exception as err:
        raise ExportError(f"{path}: cannot read the hand-over history: {err}") from err
    missing = sorted(set(scoring.HISTORY_COLUMNS) - set(history.columns))
    if missing:
        raise ExportError(f"{path}: the hand-over history lacks {', '.join(missing)}")
    return history.assign(handed_over_at=pd.to_datetime(history["handed_over_at"]))


def load(uri: str):  # noqa: ANN201
    """A scorer from the registry or a folder; an unloadable model is an export-level stop."""
    from mqlscore import tracking

    try:
        return tracking.load_scorer(uri)
    except Exception as err:
        raise ExportError(f"cannot load model {uri}: {err}") from err
