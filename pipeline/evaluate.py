"""Stage `evaluate`: the model beside marketing's MQL flag, its points score and the oracle.

All rows are judged on the test period at the same volume: at each test snapshot, as
many leads as marketing newly flagged MQL in the month before it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from mqlscore.config import EvaluateParams, TrainParams, load_section
from mqlscore.io import write_json, write_text
from mqlscore.model import (
    brier,
    expected_calibration_error,
    feature_columns,
    fit_logistic_baseline,
    grade,
    time_split,
)

log = logging.getLogger(__name__)
RANKERS = ("model", "logistic_regression", "mql_flag", "mql_points", "oracle")
LABELS = {
    "model": "mqlscore model",
    "logistic_regression": "logistic regression (same features)",
    "mql_flag": "marketing MQL flag",
    "mql_points": "marketing points score",
    "oracle": "oracle (synthetic truth)",
}


def top_k_per_snapshot(test: pd.DataFrame, score: str, volume: pd.Series) -> pd.Series:
    """Boolean mask: the `volume[snapshot]` highest-scored rows of each snapshot."""
    ranked = test.sort_values([score, "lead_id"], ascending=[False, True])
    rank = ranked.groupby("snapshot_date").cumcount()
    chosen = rank < ranked["snapshot_date"].map(volume)
    return chosen.reindex(test.index)


def side_by_side(test: pd.DataFrame, outcomes: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Metrics per ranker at marketing's MQL volume.

    `test` holds one row per (lead, snapshot) with `label`, `new_mql` and one score
    column per ranker; `outcomes` lists the opportunities behind each positive row.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score  # slow import: here only

    volume = test.groupby("snapshot_date")["new_mql"].sum()
    keyed = outcomes.set_index(["lead_id", "snapshot_date"])
    keyed = keyed.loc[
        keyed.index.isin(pd.MultiIndex.from_frame(test[["lead_id", "snapshot_date"]]))
    ]
    positives = int(test["label"].sum())
    won_all = keyed.loc[keyed["is_won"].fillna(False).astype(bool)]
    result = {}
    for name in RANKERS:
        chosen = top_k_per_snapshot(test, name, volume)
        picked = test.loc[chosen, ["lead_id", "snapshot_date"]]
        deals = keyed.loc[keyed.index.isin(pd.MultiIndex.from_frame(picked))]
        won = deals[deals["is_won"].fillna(False).astype(bool)].drop_duplicates("opportunity_id")
        hits = int(test.loc[chosen, "label"].sum())
        result[name] = {
            "roc_auc": round(float(roc_auc_score(test["label"], test[name])), 4),
            "pr_auc": round(float(average_precision_score(test["label"], test[name])), 4),
            "leads_selected": int(chosen.sum()),
            "precision": round(hits / max(int(chosen.sum()), 1), 4),
            "recall": round(hits / max(positives, 1), 4),
            "deals_reached": int(deals["opportunity_id"].nunique()),
            "won_deals": len(won),
            "won_revenue": float(won["amount"].sum()),
            "won_revenue_share": round(
                float(won["amount"].sum())
                / max(float(won_all.drop_duplicates("opportunity_id")["amount"].sum()), 1.0),
                4,
            ),
        }
    return result


def calibration_summary(
    raw: np.ndarray, calibrated: np.ndarray, labels: np.ndarray, cuts: dict[str, float]
) -> dict:
    """Brier score and expected calibration error before and after calibration, and how
    each grade converted."""
    grades = grade(calibrated, cuts)
    by_grade = {}
    for name in sorted(set(cuts) | set(grades)):
        mask = grades == name
        by_grade[name] = {
            "leads": int(mask.sum()),
            "mean_probability": round(float(calibrated[mask].mean()), 4) if mask.any() else 0.0,
            "conversion_rate": round(float(labels[mask].mean()), 4) if mask.any() else 0.0,
        }
    return {
        "brier_raw": round(brier(raw, labels), 6),
        "brier": round(brier(calibrated, labels), 6),
        "ece_raw": round(expected_calibration_error(raw, labels), 5),
        "ece": round(expected_calibration_error(calibrated, labels), 5),
        "grades": by_grade,
    }


def report_markdown(table: dict[str, dict[str, float]], test: pd.DataFrame) -> str:
    """The side-by-side table as Markdown."""
    dates = test["snapshot_date"]
    head = (
        f"Test period: {len(dates.unique())} monthly snapshots "
        f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}, {len(test)} lead rows, "
        f"{int(test['label'].sum())} converted (lead on a new opportunity within the window). "
        f"Each row hands sales the same {table['mql_flag']['leads_selected']} leads "
        "marketing flagged MQL.\n\n"
    )
    cols = [
        "roc_auc",
        "pr_auc",
        "precision",
        "recall",
        "deals_reached",
        "won_deals",
        "won_revenue",
        "won_revenue_share",
    ]
    lines = ["| ranker | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in RANKERS:
        row = table[name]
        cells = [f"{row[c]:,.0f}" if c == "won_revenue" else f"{row[c]}" for c in cols]
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def should_promote(challenger: float, champion: float | None, margin: float) -> bool:
    """A challenger takes over only if it beats the champion by the margin (or there is none)."""
    return champion is None or (challenger > champion and challenger >= champion + margin)


def challenge(
    test: pd.DataFrame, challenger: np.ndarray, champion: np.ndarray | None, metric: str
) -> dict[str, float | None]:
    """The challenger's and champion's figure on the same test rows."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    score = {"pr_auc": average_precision_score, "roc_auc": roc_auc_score}[metric]
    return {
        "challenger": round(float(score(test["label"], challenger)), 4),
        "champion": None if champion is None else round(float(score(test["label"], champion)), 4),
    }


def calibration_markdown(calibration: dict) -> str:
    """Calibration and grades as Markdown."""
    lines = [
        "",
        f"Calibration on the test period: Brier {calibration['brier']} "
        f"(uncalibrated {calibration['brier_raw']}), expected calibration error "
        f"{calibration['ece']} (uncalibrated {calibration['ece_raw']}).",
        "",
        "| grade | leads | mean probability | conversion rate |",
        "|---|---|---|---|",
    ]
    for name, row in calibration["grades"].items():
        lines.append(
            f"| {name} | {row['leads']} | {row['mean_probability']} | {row['conversion_rate']} |"
        )
    return "\n".join(lines) + "\n"


def main(
    snapshots: Annotated[Path, typer.Option(help="Lead snapshot feature table.")],
    outcomes: Annotated[Path, typer.Option(help="Label outcomes per lead snapshot.")],
    truth: Annotated[Path, typer.Option(help="Truth table of the synthetic world (leads).")],
    model_dir: Annotated[Path, typer.Option(help="Trained model folder (MLflow format).")],
    run_info: Annotated[Path, typer.Option(help="JSON with the training run id.")],
    metrics: Annotated[Path, typer.Option(help="Side-by-side metrics (DVC metrics).")],
    report: Annotated[Path, typer.Option(help="Markdown report.")],
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Compare the model with marketing's MQL on the test period."""
    from mqlscore import tracking

    train_cfg = load_section(params, "train", TrainParams)
    config = load_section(params, "evaluate", EvaluateParams)
    frame = pd.read_parquet(snapshots)
    split = time_split(frame, train_cfg.test_snapshots, train_cfg.valid_snapshots)
    test = split.test.copy()
    features = feature_columns(frame, train_cfg.use_marketing_features)
    baseline = fit_logistic_baseline(split.train, features)
    test["logistic_regression"] = baseline.predict_proba(test[features])[:, 1]
    model = tracking.load_model(str(model_dir))
    inputs = model.metadata.get_input_schema().input_names()
    test["model"] = model.predict(test[inputs])["probability"].to_numpy()
    raw = model.unwrap_python_model().scorer.raw_score(test[inputs])
    test["mql_flag"] = test["new_mql"].astype(float)
    test["mql_points"] = test["marketing_points"].astype(float)
    oracle = pd.read_parquet(truth).set_index(["lead_id", "snapshot_date"])["p_opportunity"]
    keys = pd.MultiIndex.from_frame(test[["lead_id", "snapshot_date"]])
    test["oracle"] = oracle.reindex(keys).fillna(0.0).to_numpy()
    if np.isnan(test["model"]).any():
        raise ValueError("model returned missing probabilities")

    table = side_by_side(test, pd.read_parquet(outcomes))
    calibration = calibration_summary(
        raw, test["model"].to_numpy(), test["label"].to_numpy(), config.grades
    )
    text = report_markdown(table, test) + calibration_markdown(calibration)
    run = json.loads(run_info.read_text())
    champion = tracking.champion_probabilities(run["registered_model"], test)
    duel = challenge(test, test["model"].to_numpy(), champion[1], config.champion_metric)
    promote = should_promote(duel["challenger"], duel["champion"], config.promotion_margin)
    if promote:
        tracking.set_champion(run["registered_model"], run["version"])
    decision = {
        "metric": config.champion_metric,
        "version": run["version"],
        "champion_version": champion[0],
        **duel,
        "promoted": promote,
    }
    text += (
        f"\nChampion check ({config.champion_metric} on these test rows): version "
        f"{run['version']} {duel['challenger']} vs champion "
        f"{champion[0] or 'none'} {duel['champion']}: "
        f"{'promoted' if promote else 'champion kept'}.\n"
    )
    write_json({**table, "calibration": calibration, "champion": decision}, metrics)
    write_text(text, report)
    flat = {
        f"test_{ranker}_{k}": float(v) for ranker, row in table.items() for k, v in row.items()
    }
    flat |= {f"test_{k}": v for k, v in calibration.items() if k != "grades"}
    tracking.log_evaluation(run["run_id"], flat, text)
    log.info("evaluate:\n%s", text)
    if config.require_beats_mql and (
        table["model"]["won_deals"] <= table["mql_flag"]["won_deals"]
        or table["model"]["precision"] <= table["mql_flag"]["precision"]
    ):
        log.error("quality bar: the model does not beat marketing's MQL flag at the same volume")
        raise typer.Exit(1)
