"""Stage `train`: fit the lead or account model; save it for DVC and register it in MLflow."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import (
    FeatureParams,
    TrainParams,
    load_section,
    registered_name,
    source_name,
)
from mqlscore.io import write_json, write_text
from mqlscore.modeling.training import KINDS, importance_table, refit, train_model

log = logging.getLogger(__name__)


def main(
    snapshots: Annotated[Path, typer.Option(help="Lead or account snapshot feature table.")],
    model_dir: Annotated[Path, typer.Option(help="Folder for the trained model (MLflow format).")],
    metrics: Annotated[Path, typer.Option(help="Training figures (DVC metrics).")],
    run_info: Annotated[Path, typer.Option(help="JSON with the MLflow run id and version.")],
    kind: Annotated[str, typer.Option(help="lead or account.")] = "lead",
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Train the lead or account model, save it for DVC and register it in MLflow: the
    refit on every complete row is served, the fit without the test period (with the
    comparison model) goes to `<model-dir>/evaluation/` for evaluate."""
    from mqlscore.tracking import log_training_run, save_evaluation, save_local

    if kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    config = load_section(params, "train", TrainParams)
    if kind not in config.kinds:  # this source supports no such model: say so, train none
        reason = f"train.kinds is {list(config.kinds)} for this source: no {kind} model"
        shutil.rmtree(model_dir, ignore_errors=True)
        model_dir.mkdir(parents=True)
        write_text(reason + "\n", model_dir / "NOT_TRAINED.txt")
        write_json({"skipped": reason}, metrics)
        write_json({"skipped": reason}, run_info)
        log.warning("train %s: %s", kind, reason)
        return
    frame = pd.read_parquet(snapshots)
    window = load_section(params, "features", FeatureParams).label_window_days
    trained = train_model(frame, config, window)
    model, served = refit(frame, trained)
    figures = trained.figures | served
    example = model.example(frame)
    evaluation = {"model": trained.model, "comparison": trained.comparison}

    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model.", dir=model_dir.parent)) / "model"
    save_local(model, example, staging)
    save_evaluation(evaluation, staging)
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)
    shutil.rmtree(staging.parent)

    info = log_training_run(
        experiment=registered_name(params, config.model_prefix, kind),
        registered_model=registered_name(params, config.model_prefix, kind),
        model=model,
        example=example,
        params={f"train.{k}": v for k, v in config.model_dump().items()}
        | {"features.label_window_days": window, "model_kind": figures["model_kind"]},
        metrics={k: v for k, v in figures.items() if isinstance(v, int | float)},
        tags={k: figures[k] for k in ("model_kind", "calibration", "served", "evaluated")},
        evaluation=evaluation,
        inputs={f"{kind}_snapshots": snapshots},
        importance=importance_table(model, frame.sample(min(len(frame), 20_000), random_state=0)),
        kind=kind,
        source=source_name(params),
    )
    write_json(figures, metrics)
    write_json(info, run_info)
    log.info(
        "train %s: %s chosen (valid PR-AUC %s), calibration %s; served: %s; evaluated: %s",
        kind,
        figures["model_kind"],
        {k: v for k, v in figures.items() if k.startswith("valid_pr_auc_")},
        figures["calibration"],
        figures["served"],
        figures["evaluated"],
    )
