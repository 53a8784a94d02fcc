"""`mqlscore train-flat`: one flat lead table in, an honest model out.

Infers each column's kind, audits every column for leakage before training, trains and
calibrates with the main pipeline's code (without the flagged columns, and with them, to
show what the leak was worth), and writes `metrics.json`, `leakage.json`, `report.md`,
`importance.csv` and the model to `--out`, and the run to MLflow: the store of the
project folder (the one holding the params.yaml read, found by walking up from the current
folder unless --params names it), never one in the current folder as a side effect. The
train_flat DVC stage runs it on `source.flat`, `--metrics` the figures for DVC.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from mqlscore.config import FlatParams, TrainParams, find_params, load_section
from mqlscore.io import (
    finish_publish,
    publish,
    staging_folder,
    write_json,
    write_text,
)
from mqlscore.modeling import flat_mode
from mqlscore.reporting import markdown as md
from sources.flat_file import flat_frame, read_flat

log = logging.getLogger(__name__)


def main(
    input: Annotated[Path, typer.Option(help="The flat lead file (CSV or Parquet).")],
    target: Annotated[str, typer.Option(help="The outcome column (Yes/No, 1/0, ...).")],
    out: Annotated[Path, typer.Option(help="Folder for the model, metrics and report.")],
    id: Annotated[str | None, typer.Option(help="The lead id column ('': none).")] = None,
    date: Annotated[str | None, typer.Option(help="A date column: split by time.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Columns never used.")] = None,
    keep: Annotated[list[str] | None, typer.Option(help="Flagged columns to use anyway.")] = None,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml (default: found walking up from here).")
    ] = None,
    metrics: Annotated[
        Path | None, typer.Option(help="Also write the test figures here (DVC metrics).")
    ] = None,
) -> None:
    """Train on one flat lead table, leaky columns audited and left out."""
    from mqlscore.tracking import log_training_run, save_local

    params = find_params(params)
    id, date = id or None, date or None  # '' from the DVC stage: none
    finish_publish(out)  # a killed run's set lands first, even if this run is refused
    config = load_section(params, "flat", FlatParams)
    raw = read_flat(input)
    named = {"--exclude": exclude or (), "--keep": keep or ()}
    flat_mode.check_options(list(raw.columns), target, id, date, named, input)
    frame, kinds = flat_frame(raw, target, id, None)
    run = flat_mode.train_flat(
        frame,
        kinds,
        config,
        load_section(params, "train", TrainParams),
        id_column=id,
        date=date,
        exclude=exclude or (),
        keep=keep or (),
    )
    report = md.flat_report(input.name, run.table, run.metrics, run.audit, run.dropped)
    files = ("model", "importance.csv", "leakage.json", "report.md", "metrics.json")
    with staging_folder(out, "train-flat") as work:  # holds `out`: one writer
        save_local(run.model, run.example, work / "model")
        write_json(run.metrics, work / "metrics.json")
        write_json(run.leakage, work / "leakage.json")
        write_text(run.importance.to_csv(index=False), work / "importance.csv")
        write_text(report, work / "report.md")
        publish([work / n for n in files], out)  # the model folder replaces the old one
    if metrics is not None:
        write_json(run.metrics, metrics)
    log_training_run(
        experiment=config.model_name,
        registered_model=config.model_name,
        model=run.model,
        example=run.example,
        params={
            "flat.target": target,
            "flat.features": len(run.features),
            "flat.flagged": len(run.flagged),
        },
        metrics={f"test_{k}": v for k, v in run.table["model"].items()},
        inputs={"flat_input": input},
        importance=run.importance,
        kind="flat",
        source=input.stem,
        root=params.parent,
        params_file=params,
        texts={"leakage.json": json.dumps(run.leakage, indent=1), "report.md": report},
    )
    log.info(
        "train-flat: test ROC-AUC %.4f; left out %s", run.metrics["roc_auc"], run.flagged or "none"
    )
