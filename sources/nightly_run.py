"""One nightly scoring run, down the floors once: the export read and its rows checked
(`sources.intake`; a source system's shape mapped first), features as of the run date
with the training code (`features.nightly`), leads and accounts scored, qualified and
explained (`mqlscore.scoring`), every row in scored or rejected, then `lead_scores`,
`account_scores`, `rejects.csv`, the hand-over history, with `--writeback` the CRM's own
import file(s) and their state (`mqlscore.serving.writeback`, records from
`sources.crm_records`) and, last, `manifest.json` published as one set. The manifest is
built here, in one place.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from features import nightly
from features.engine import ENGINES
from features.snapshots import spec_from
from mqlscore.config import FeatureParams, MqlRule, ScoreParams
from mqlscore.io import (
    file_md5,
    publish,
    read_export_time,
    staging_folder,
    write_json,
    write_parquet,
    write_text,
)
from mqlscore.refusal import Refusal
from mqlscore.serving import writeback
from mqlscore.serving.batch import drift_summary, score_outputs, thin_context
from mqlscore.serving.handovers import (
    HANDOVERS,
    HISTORY_COLUMNS,
    empty_history,
    handovers_as_of,
    updated_history,
)
from mqlscore.serving.outputs import OUTPUT_FILES
from sources import crm_records, intake
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


class NightRefused(Refusal):
    """What stops a night before anything is published: an export, mapping, model or
    hand-over history that cannot be read, or tonight's touches far below training's."""


@dataclass(frozen=True)
class NightParams:
    """The params sections a night reads."""

    score: ScoreParams
    grades: dict[str, float]
    features: FeatureParams
    mql_rule: MqlRule
    email_required: bool


@dataclass(frozen=True)
class Night:
    """What one run reads and how: the export, its models (a URI, a folder or 'none' for
    no account model), the run date (None: the export's time), a column map, the source
    system's mapping files, the engine, whether to explain, and whether a thin context
    is scored anyway."""

    export: Path
    models: dict[str, str]
    run_date: str | None = None
    column_map: Path | None = None
    mappings: tuple[Path, ...] = ()
    engine: str = "duckdb"
    reasons: bool = True
    allow_thin_context: bool = False
    writeback: bool = False  # also the CRM's import file(s): records changed since last time
    writeback_all: bool = False  # ... every scored record (after an import that failed)


@dataclass(frozen=True)
class _Writeback:
    """What a write-back needs, read before anything is scored: the shape, each lead's
    record (None: the lead id), and what earlier write-backs into `--out` wrote."""

    target: crm_records.Target
    records: pd.DataFrame | None
    state: pd.DataFrame | None


@dataclass(frozen=True)
class _Inputs:
    when: pd.Timestamp
    models: dict[str, str | None]  # each model's URI, its alias resolved once
    scorers: dict[str, Any]
    history: pd.DataFrame
    tables: dict[str, pd.DataFrame | Path]
    rejects: pd.DataFrame
    rows_in: int
    files: dict[str, Path]
    writeback: _Writeback | None = None


def run_nightly(night: Night, out: Path, params: NightParams) -> dict:
    """Score `night` into `out` and return its manifest; a problem with the export, the
    models or the history stops it (`NightRefused`) before anything is published."""
    started = time.perf_counter()
    if night.engine not in ENGINES:
        raise NightRefused(f"engine must be one of {', '.join(ENGINES)}, not {night.engine!r}")
    config = params.score
    with staging_folder(out, "score") as work:  # holds `out`: one writer
        got = _read(night, out, params, work)
        extras = tuple(c for c in pq.read_schema(got.tables["leads"]).names if c.startswith("x_"))
        spec = spec_from(params.features, params.mql_rule, scoring=True, extra=extras)
        paths = nightly.build_features(got.tables, spec, got.when, night.engine, work)
        nightly.check_every_lead_has_features(paths["leads"], got.rows_in - len(got.rejects))
        scorer = got.scorers["model"]
        context = thin_context(scorer.context, paths["leads"], config.min_context_ratio)
        if context["thin"] and not night.allow_thin_context:
            raise NightRefused(
                f"{context['says']}; nothing written (--allow-thin-context scores anyway)"
            )
        from_spark = None
        if night.engine == "spark":
            from_spark = nightly.spark_probabilities(paths["leads"], scorer)
            from_spark = from_spark.set_index("lead_id")["probability"]
        staged = work / "out"
        scored, counts, accounts_scored = score_outputs(
            paths,
            scorer,
            got.scorers["account_model"],
            config,
            params.grades,
            night.reasons,
            staged,
            from_spark,
            handovers_as_of(got.history, got.when, config.rehand_after_days),
        )
        write_text(got.rejects.to_csv(index=False), staged / "rejects.csv")
        history = updated_history(got.history, scored, got.when)
        write_parquet(history, staged / HANDOVERS)
        crm = _write_back(got, night, staged, scored)
        names = (*OUTPUT_FILES[:-1], *(crm["names"] if crm else ()), "manifest.json")
        manifest = _manifest(
            night,
            got,
            config,
            scored=scored,
            accounts_scored=accounts_scored,
            drift=drift_summary(scorer.profile, counts, config.drift_warn_psi),
            context=context,
            outputs={  # each file's MD5: a reader can tell this run's set from a mixed one
                n: file_md5(staged / n)
                for n in names
                if n != "manifest.json" and (staged / n).exists()
            },
            seconds=time.perf_counter() - started,
            writeback=crm["counts"] if crm else None,
        )
        write_json(manifest, staged / "manifest.json")
        # an earlier run's import files go (a run without --writeback leaves none behind
        # to be imported twice); the write-back state stays for the next --writeback
        stale = tuple(p.name for p in out.glob(writeback.FILE_GLOB))
        publish(
            [staged / n for n in names if (staged / n).exists()],
            out,
            (*OUTPUT_FILES, *stale),
        )
    return manifest


def _write_back(got: _Inputs, night: Night, staged: Path, scored: pd.DataFrame) -> dict | None:
    """The CRM import file(s) and the write-back state into `staged`: the names written
    and the manifest's counts (None without --writeback)."""
    if got.writeback is None:
        return None
    columns = [c for c in writeback.needed_columns(got.writeback.target.shape) if c != "held"]
    scores = pd.read_parquet(staged / "lead_scores.parquet", columns=columns)
    held = scored.set_index(scored["lead_id"].astype(str))["held"]
    update = writeback.updates(
        scores.assign(held=scores["lead_id"].map(held).fillna(False).astype(bool)),
        got.writeback.records,
        got.writeback.target.shape,
        got.when,
        got.writeback.state,
        everything=night.writeback_all,
    )
    names = writeback.write(update, staged)
    mapping = got.writeback.target.mapping
    counts = update.counts | {"mapping": mapping.name if mapping else None}
    log.info(
        "write-back: %d record(s) written, %d unchanged skipped (%s)",
        counts["written"],
        counts["unchanged"],
        ", ".join(f"{f}: {c['rows']}" for f, c in counts["files"].items()),
    )
    if counts["no_record"]:
        log.warning("write-back: %d scored lead(s) have no CRM record", counts["no_record"])
    return {"names": names, "counts": counts}


def _read(night: Night, out: Path, params: NightParams, work: Path) -> _Inputs:
    """The models, the hand-over history and the export's checked tables; whatever
    cannot be read stops the night in one line."""
    try:
        export = night.export
        if night.mappings:  # the source system's own shape: mapped to canonical tables first
            export = canonical_export(list(night.mappings), export, work / "export")
        when = pd.Timestamp(night.run_date) if night.run_date else read_export_time(export)
        models = {k: None if u == "none" else pinned_model(u) for k, u in night.models.items()}
        scorers = {k: u and load_scorer(u) for k, u in models.items()}
        history = read_history(out / HANDOVERS)
        columns = load_column_map(night.column_map)
        dayfirst = date_order_of(find_file(export, "leads"), columns.get("leads", {}))
        rules = RowRules(
            when,
            params.score.lead_id_pattern,
            dayfirst=dayfirst,
            email_required=params.email_required,
        )
        tables, rejects, rows_in, files = intake.read_inputs(
            export, rules, columns, params.score, work
        )
        crm = _read_writeback(night, out) if night.writeback or night.writeback_all else None
    except (ExportError, MappingError, FileNotFoundError, BlockingIOError) as err:
        raise NightRefused(str(err)) from err
    return _Inputs(when, models, scorers, history, tables, rejects, rows_in, files, crm)


def _read_writeback(night: Night, out: Path) -> _Writeback:
    """The write-back's shape, records and state, or a refusal naming what is wrong."""
    target = crm_records.writeback_target(night.mappings)
    records = crm_records.record_ids(target, night.export)
    try:
        state = writeback.read_state(out / writeback.STATE_FILE)
    except writeback.WritebackError as err:
        raise ExportError(str(err)) from err
    return _Writeback(target, records, state)


def _manifest(
    night: Night,
    got: _Inputs,
    config: ScoreParams,
    *,
    scored: pd.DataFrame,
    accounts_scored: int,
    drift: dict,
    context: dict,
    outputs: dict[str, str],
    seconds: float,
    writeback: dict | None = None,
) -> dict:
    """What the run did; refuses when rows in != scored + rejected (nothing lost)."""
    from mqlscore.registry import model_version

    rejected = len(got.rejects)
    if got.rows_in != len(scored) + rejected:
        raise RuntimeError(
            f"row count mismatch: {got.rows_in} rows in, {len(scored)} scored, {rejected} rejected"
        )
    held_back = int(scored["held"].sum()) if "held" in scored else 0
    return {
        "run_date": str(got.when),
        "engine": night.engine,
        **{k: u and {**model_version(u), "uri": night.models[k]} for k, u in got.models.items()},
        "inputs": {path.name: file_md5(path) for path in got.files.values()},
        "rows_in": got.rows_in,
        "scored": len(scored),
        "rejected": rejected,
        "qualified": int(scored["qualified"].sum()),
        "held_back": held_back,
        "accounts_scored": accounts_scored,
        "reasons": night.reasons,
        "drift": drift,
        "outputs": outputs,
        "handovers": {
            "file": HANDOVERS,
            "rehand_after_days": config.rehand_after_days,
            "held_back": held_back,
        },
        "context": context,
        "id_case_mismatches": intake.id_case_mismatches(got.tables),
        "run_date_from": "--run-date" if night.run_date else "export.json",
        "writeback": writeback,  # rows written per import file, unchanged ones skipped
        "run_seconds": round(seconds, 2),
    }


def read_history(path: Path) -> pd.DataFrame:
    """The hand-over history of earlier runs into this `--out` (none yet: empty); a file
    that cannot be read or lacks its columns is a refusal, not a fresh start."""
    if not path.exists():
        return empty_history()
    try:
        history = pd.read_parquet(path)
    except Exception as err:
        raise ExportError(f"{path}: cannot read the hand-over history: {err}") from err
    missing = sorted(set(HISTORY_COLUMNS) - set(history.columns))
    if missing:
        raise ExportError(f"{path}: the hand-over history lacks {', '.join(missing)}")
    return history.assign(handed_over_at=pd.to_datetime(history["handed_over_at"]))


def pinned_model(uri: str) -> str:
    """The model URI with its alias resolved to a version, once for the whole night."""
    from mqlscore.modeling.registered import pinned

    try:
        return pinned(uri)
    except Refusal as err:
        raise ExportError(f"cannot load model {uri}: {err}") from err


def load_scorer(uri: str) -> Any:
    """A scorer from the registry or a folder; an unloadable model is an export-level stop."""
    from mqlscore.modeling.registered import load_scorer

    try:
        return load_scorer(uri)
    except Exception as err:
        raise ExportError(f"cannot load model {uri}: {err}") from err
