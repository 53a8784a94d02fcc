"""Stage `evaluate`: the model beside marketing's pick, a logistic regression and the
oracle on the test period; curves; the quality gate (the `promote` stage holds the
champion duel)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import (
    EvaluateParams,
    FeatureParams,
    ParamsError,
    TrainParams,
    load_section,
    not_a_kind,
)
from mqlscore.evaluation.assess import assess
from mqlscore.evaluation.gate import headline as headline_figures
from mqlscore.evaluation.kinds import KINDS
from mqlscore.evaluation.ranking import flat_metrics
from mqlscore.io import write_json, write_parquet, write_text
from mqlscore.reporting import markdown as md

log = logging.getLogger(__name__)


def main(
    snapshots: Annotated[Path, typer.Option(help="Lead or account snapshot feature table.")],
    outcomes: Annotated[Path, typer.Option(help="Opportunities behind each positive row.")],
    model_dir: Annotated[
        Path,
        typer.Option(help="Trained model folder: its evaluation/ models are scored."),
    ],
    run_info: Annotated[Path, typer.Option(help="JSON with the training run id.")],
    metrics: Annotated[Path, typer.Option(help="Side-by-side figures, the whole table (JSON).")],
    headline: Annotated[Path, typer.Option(help="A few headline figures (DVC metrics).")],
    test_scores: Annotated[
        Path,
        typer.Option(help="The test rows with every ranker's score (Parquet), for the report."),
    ],
    report: Annotated[Path, typer.Option(help="Markdown report.")],
    plots: Annotated[Path, typer.Option(help="Folder for the plot tables (DVC plots).")],
    truth: Annotated[
        Path | None, typer.Option(help="Truth table (synthetic world only): the oracle row.")
    ] = None,
    kind: Annotated[str, typer.Option(help="lead or account.")] = "lead",
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Compare the model with marketing's pick on the test period; exit 1 below the bars."""
    from mqlscore.tracking import load_evaluation, log_evaluation

    train_cfg = load_section(params, "train", TrainParams)
    if kind not in train_cfg.kinds:
        raise ParamsError(not_a_kind(params, kind, train_cfg.kinds))
    config = load_section(params, "evaluate", EvaluateParams)
    window = load_section(params, "features", FeatureParams).label_window_days
    run = json.loads(run_info.read_text())
    evaluated = load_evaluation(model_dir)  # fitted without the test period
    oracle = pd.read_parquet(truth) if truth and truth.exists() else None
    frame, deals = pd.read_parquet(snapshots), pd.read_parquet(outcomes)
    result = assess(kind, frame, deals, evaluated, oracle, (train_cfg, config, window))
    candidate = {k: run[k] for k in ("registered_model", "version")}
    summary = result.summary | {"candidate": candidate}
    text = md.evaluation_markdown(result, KINDS[kind], train_cfg.follow_up_correction)
    for name, curve in result.curves.items():
        write_text(curve.to_csv(index=False), plots / f"{name}.csv")
    write_json(summary, metrics)
    headline_metrics = headline_figures(summary, KINDS[kind])
    write_json(headline_metrics, headline)
    write_parquet(result.test, test_scores)
    write_text(text, report)
    figures = evaluation_figures(result.curves, evaluated["model"], result.test)
    flat = flat_metrics(result.table, summary["calibration"]) | headline_metrics  # DVC's names
    log_evaluation(run["run_id"], flat, text, result.curves, figures)
    log.info("evaluate %s:\n%s", kind, text)
    if not summary["gate"]["passed"]:
        failed = "; ".join(summary["gate"]["failed"])
        log.error("quality gate: the %s model fails: %s", kind, failed)
        raise typer.Exit(1)


def evaluation_figures(curves: dict[str, pd.DataFrame], scorer, test: pd.DataFrame) -> dict:
    """The run's pictures: each curve, and what drives the score on the test rows."""
    from mqlscore.modeling.training import importance_table
    from mqlscore.reporting import charts
    from mqlscore.serving.reasons import plain_names

    importance = importance_table(scorer, test.sample(min(len(test), 20_000), random_state=0))
    figures = {f"plots/{n}.png": charts.curve_figure(c, n) for n, c in curves.items()}
    names = plain_names(importance["feature"])
    return figures | {"feature_importance.png": charts.importance_figure(importance, names)}
