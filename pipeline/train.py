"""Stage `train`: fit the lead or account model; save it for DVC and register it in MLflow."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import (
    FeatureParams,
    ParamsError,
    TrainParams,
    load_section,
    not_a_kind,
    registered_name,
    source_name,
)
from mqlscore.io import write_json
from mqlscore.modeling.training import importance_table, refit, train_model

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
    from mqlscore.tracking import log_training_run, save_model_folder

    config = load_section(params, "train", TrainParams)
    if kind not in config.kinds:
        raise ParamsError(not_a_kind(params, kind, config.kinds))
    frame = pd.read_parquet(snapshots)
    features = load_section(params, "features", FeatureParams)
    window = features.label_window_days
    trained = train_model(frame, config, window, tuple(r.name for r in features.buying_group))
    model, served = refit(frame, trained)
    figures = trained.figures | served
    example = model.example(frame)
    evaluation = {"model": trained.model, "comparison": trained.comparison}

    save_model_folder(model, example, evaluation, model_dir)
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
        params_file=params,
    )
    write_json(figures, metrics)
    write_json(info, run_info)
    log.info("train %s: %s", kind, trained_in_words(figures))


def trained_in_words(figures: dict) -> str:
    """The training run in one line: the kind chosen and why, calibration, what is served."""
    valid = {k: v for k, v in figures.items() if k.startswith("valid_pr_auc_")}
    return (
        f"{figures['model_kind']} chosen (valid PR-AUC {valid}), calibration "
        f"{figures['calibration']}; served: {figures['served']}; evaluated: {figures['evaluated']}"
    )
