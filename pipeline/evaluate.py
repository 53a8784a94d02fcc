"""Stage `evaluate`: the model beside marketing's pick, a logistic regression and the
oracle on the test period; curves; the quality gate; the champion duel (the `promote`
stage acts on it)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import EvaluateParams, FeatureParams, TrainParams, load_section
from mqlscore.evaluation.follow_up import follow_up_comparison, test_rows
from mqlscore.evaluation.gate import challenge, quality_gate, should_promote
from mqlscore.evaluation.gate import headline as headline_figures
from mqlscore.evaluation.intervals import bootstrap_for
from mqlscore.evaluation.kinds import KINDS
from mqlscore.evaluation.ranking import flat_metrics, gains_curve, precision_at_k
from mqlscore.evaluation.reliability import calibration_summary, reliability_curve
from mqlscore.evaluation.volume import (
    absent_rankers,
    capacity_per_snapshot,
    present_rankers,
    side_by_side,
)
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
    from mqlscore.registry import champion_probabilities
    from mqlscore.tracking import load_evaluation, log_evaluation

    if kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    spec = KINDS[kind]
    train_cfg = load_section(params, "train", TrainParams)
    config = load_section(params, "evaluate", EvaluateParams)
    window = load_section(params, "features", FeatureParams).label_window_days
    run = json.loads(run_info.read_text())
    if "skipped" in run:  # no model of this kind for this source
        gate = {"passed": True, "failed": [], "skipped": [run["skipped"]]}
        write_json({"skipped": run["skipped"], "gate": gate, "champion": None}, metrics)
        write_json({"skipped": run["skipped"]}, headline)
        write_parquet(pd.DataFrame(), test_scores)
        write_text(f"No {kind} model: {run['skipped']}.\n", report)
        plots.mkdir(parents=True, exist_ok=True)
        return
    frame = pd.read_parquet(snapshots)
    evaluated = load_evaluation(model_dir)  # fitted without the test period
    scorer = evaluated["model"]
    oracle = pd.read_parquet(truth) if truth and truth.exists() else None
    test = test_rows(frame, scorer, evaluated["comparison"], train_cfg, window, kind, oracle)
    capacity = capacity_per_snapshot(test, getattr(config, spec.capacity))
    boot = bootstrap_for(
        test, spec.key, config.bootstrap_resamples, config.bootstrap_seed, config.interval
    )
    table = side_by_side(test, pd.read_parquet(outcomes), spec, capacity, boot)
    labels = test["label"].to_numpy()
    raw, calibrated = scorer.raw_score(test), test["model"].to_numpy()
    calibration = calibration_summary(raw, calibrated, labels, config.grades)
    own = spec.rankers[scorer.kind]  # the model's own kind is the model row, not absent
    absent = [label for label in absent_rankers(test, spec) if label != own]
    text = md.report_markdown(table, test, spec, absent)
    text += md.calibration_markdown(calibration)
    text += (
        f"\nThe model is the {scorer.kind} (better on validation PR-AUC; the "
        f"{evaluated['comparison'].kind} row is the other), scored here as fitted on the "
        "rows before the test period; the served model is its refit on every complete row.\n"
    )
    extra = {}
    if kind == "lead" and "oracle" in test:
        extra["never_worked"] = follow_up_comparison(frame, test, train_cfg, window, scorer.kind)
        text += md.follow_up_markdown(extra["never_worked"], train_cfg.follow_up_correction)

    champion_version, champion = champion_probabilities(run["registered_model"], test)
    duel = challenge(test, calibrated, champion, config.champion_metric, boot)
    better = should_promote(duel, config.promotion_margin)
    decision = {
        "metric": config.champion_metric,
        "registered_model": run["registered_model"],
        "version": run["version"],
        "champion_version": champion_version,
        **duel,
        "margin": config.promotion_margin,
        "better": better,
    }
    gate = quality_gate(table, spec, config.require_beats_mql, config.min_roc_auc)
    text += md.champion_markdown(decision, gate)
    rankers = present_rankers(test, spec)
    curves = {
        "gains": gains_curve(test, rankers),
        "precision_at_k": precision_at_k(test, rankers),
        "calibration": reliability_curve(calibrated, labels),
    }
    for name, curve in curves.items():
        write_text(curve.to_csv(index=False), plots / f"{name}.csv")
    summary = {
        **table,
        "model_kind": scorer.kind,
        "comparison_kind": evaluated["comparison"].kind,
        "calibration": calibration,
        "champion": decision,
        "gate": gate,
        **extra,
    }
    write_json(summary, metrics)
    write_json(headline_figures(summary, spec), headline)
    write_parquet(test, test_scores)
    write_text(text, report)
    figures = evaluation_figures(curves, scorer, test)
    log_evaluation(run["run_id"], flat_metrics(table, calibration), text, curves, figures)
    log.info("evaluate %s:\n%s", kind, text)
    if not gate["passed"]:
        log.error("quality gate: the %s model fails: %s", kind, "; ".join(gate["failed"]))
        raise typer.Exit(1)


def evaluation_figures(curves: dict[str, pd.DataFrame], scorer, test: pd.DataFrame) -> dict:  # noqa: ANN001
    """The run's pictures: each curve, and what drives the score on the test rows."""
    from mqlscore.modeling.training import importance_table
    from mqlscore.reporting import charts
    from mqlscore.serving.reasons import plain_names

    importance = importance_table(scorer, test.sample(min(len(test), 20_000), random_state=0))
    figures = {f"plots/{n}.png": charts.curve_figure(c, n) for n, c in curves.items()}
    names = plain_names(importance["feature"])
    return figures | {"feature_importance.png": charts.importance_figure(importance, names)}
