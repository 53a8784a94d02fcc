"""Stage `ingest`: the source named in params.yaml (`source`) to the canonical raw tables
in `--raw` with `export.json`, and the truth tables in `--truth` (synthetic world only).

The export files are read where they are (`source.input`) and never written: nothing of
another source is ever restored over them.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Annotated

import typer

from mqlscore.config import MqlRule, SourceParams, WorldParams, load_section
from mqlscore.console import progress
from mqlscore.io import EXPORT_FILE, write_json, write_parquet
from mqlscore.refusal import one_line
from sources.intake import MappingError
from sources.load import load

log = logging.getLogger(__name__)


def main(
    raw: Annotated[Path, typer.Option(help="Folder for the canonical raw tables (Parquet).")],
    truth: Annotated[Path, typer.Option(help="Folder for the truth tables (synthetic only).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Write the source's canonical tables; exit 2 naming file, column, value and row when
    an export does not fit its mapping."""
    config = load_section(params, "source", SourceParams)
    try:
        loaded = load(
            config,
            load_section(params, "world", WorldParams),
            load_section(params, "mql_rule", MqlRule),
        )
    except MappingError as err:
        log.error("ingest: %s", one_line(err))
        raise typer.Exit(2) from err
    for folder in (raw, truth):  # no table of an earlier source stays behind
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    outputs = [(raw, n, f) for n, f in loaded.tables.items()]
    outputs += [(truth, n, f) for n, f in loaded.truth.items()]
    for folder, name, frame in progress(outputs, "writing tables"):
        write_parquet(frame, folder / f"{name}.parquet")
    write_json(loaded.info, raw / EXPORT_FILE)
    rows = ", ".join(f"{len(f)} {n}" for n, f in loaded.tables.items())
    log.info("ingest %s: %s", loaded.info["source"], rows)
    if loaded.info["missing_tables"]:
        log.warning("the source has no %s", ", ".join(loaded.info["missing_tables"]))
