"""Stage `generate`: write the synthetic world's raw tables and its hidden truth."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import MqlRule, WorldParams, load_section
from mqlscore.console import progress
from mqlscore.io import EXPORT_FILE, write_json, write_parquet
from sources.demo import write_demo_export
from sources.exports import as_of as as_of_tables
from sources.exports import write_nightly_export
from sources.world import generate_world

log = logging.getLogger(__name__)


def main(
    raw: Annotated[Path | None, typer.Option(help="Folder for the raw tables (Parquet).")] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Folder for the truth tables, read by evaluate only.")
    ] = None,
    export: Annotated[
        str, typer.Option(help="training (raw + truth) or nightly (a lead export to score).")
    ] = "training",
    system: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Write the world as this system exports it: salesforce, hubspot, marketo, "
            "or salesforce-converted (no account on a lead before conversion).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the nightly export.")] = Path(
        "data/nightly"
    ),
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
    scale: Annotated[
        float | None, typer.Option(help="Override world.scale (for benchmarks).")
    ] = None,
    as_of: Annotated[
        list[str] | None,
        typer.Option(
            help="Nightly exports as taken on these past dates (YYYY-MM-DD), each "
            "in --out/<date>: scoring history to try `mqlscore track` on."
        ),
    ] = None,
) -> None:
    """Generate the synthetic B2B world: training tables, a nightly export to score, or
    (`--as`) the export of a source system, to try its mapping."""
    if export not in ("training", "nightly"):
        raise typer.BadParameter(f"--export must be training or nightly, not {export!r}")
    if export == "training" and system is None and (raw is None or truth is None):
        raise typer.BadParameter("--export training needs --raw and --truth")
    world_params = load_section(params, "world", WorldParams)
    if scale is not None:
        world_params = world_params.model_copy(update={"scale": scale})
    world = generate_world(world_params, load_section(params, "mql_rule", MqlRule))
    log.info(
        "world: %d accounts, %d leads, %d engagement events, %d opportunities",
        len(world.accounts),
        len(world.leads),
        len(world.engagement),
        len(world.opportunities),
    )
    if system is not None:
        files = write_demo_export(world.tables(), system, out)
        log.info("%s export: %d files in %s", system, len(files), out)
        return
    if export == "nightly" and as_of:
        rule = load_section(params, "mql_rule", MqlRule)
        for day in progress(sorted(as_of), "past nights"):
            when = pd.Timestamp(day)
            write_nightly_export(as_of_tables(world.raw_tables(), when, rule), out / day, when)
        log.info("%d past nightly exports in %s", len(as_of), out)
        return
    if export == "nightly":
        write_nightly_export(world.raw_tables(), out, world.exported_at)
        log.info("nightly export as of %s in %s", world.exported_at, out)
        return
    outputs = [(raw, name, frame) for name, frame in world.tables().items()]
    outputs += [(truth, name, frame) for name, frame in world.truth_tables().items()]
    for folder, name, frame in progress(outputs, "writing tables"):
        write_parquet(frame, folder / f"{name}.parquet")
    write_json({"exported_at": world.exported_at.isoformat()}, raw / EXPORT_FILE)
