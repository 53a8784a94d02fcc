"""Stage `evaluate`: each model beside marketing's own pick, a logistic regression and
the oracle, on the test period.

Lead model vs marketing's MQL flag and points score; account model vs "all target
accounts" and the account-summed points. Every ranker hands sales the same volume at each
test snapshot: marketing's (new MQLs, or target accounts) and sales' capacity (params).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
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
from pipeline.train import train_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """What differs between evaluating the lead and the account model."""

    key: str  # the row id besides snapshot_date
    rankers: dict[str, str]  # score column -> label
    baseline: str  # marketing's own pick, which the model must beat
    volume_name: str  # the volume marketing's pick hands sales
    capacity: str  # EvaluateParams field: rows sales can work per snapshot
    noun: str


KINDS = {
    "lead": Kind(
        key="lead_id",
        rankers={
            "model": "mqlscore lead model",
            "logistic_regression": "logistic regression (same features)",
            "mql_flag": "marketing MQL flag",
            "mql_points": "marketing points score",
            "oracle": "oracle (synthetic truth)",
        },
        baseline="mql_flag",
        volume_name="mql_volume",
        capacity="capacity_leads",
        noun="lead",
    ),
    "account": Kind(
        key="account_id",
        rankers={
            "model": "mqlscore account model",
            "logistic_regression": "logistic regression (same features)",
            "target_accounts": "all target accounts",
            "marketing_points_sum": "account-summed marketing points",
            "oracle": "oracle (synthetic truth)",
        },
        baseline="target_accounts",
        volume_name="target_volume",
        capacity="capacity_accounts",
        noun="account",
    ),
}


def marketing_columns(test: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Marketing's own rankers as score columns (the baseline's picks set the volume)."""
    test = test.copy()
    if kind == "lead":
        test["mql_flag"] = test["new_mql"].astype(float)
        test["mql_points"] = test["marketing_points"].astype(float)
    else:
        test["target_accounts"] = test["is_target_account"].astype(float)
        test["marketing_points_sum"] = test["account_marketing_points"].astype(float)
    return test


def top_k_per_snapshot(test: pd.DataFrame, score: str, volume: pd.Series, key: str) -> pd.Series:
    """Boolean mask: the `volume[snapshot]` highest-scored rows of each snapshot."""
    ranked = test.sort_values([score, key], ascending=[False, True])
    rank = ranked.groupby("snapshot_date").cumcount()
    chosen = rank < ranked["snapshot_date"].map(volume)
    return chosen.reindex(test.index)


def ranking_metrics(test: pd.DataFrame, rankers: list[str]) -> dict[str, dict[str, float]]:
    """Volume-free figures per ranker: ROC-AUC, PR-AUC and lift in the top 10% of rows."""
    from sklearn.metrics import average_precision_score, roc_auc_score  # slow import: here only

    base = max(float(test["label"].mean()), 1e-12)
    tenth = max(len(test) // 10, 1)
    out = {}
    for name in rankers:
        top = test.sort_values(name, ascending=False, kind="stable").head(tenth)
        out[name] = {
            "roc_auc": round(float(roc_auc_score(test["label"], test[name])), 4),
            "pr_auc": round(float(average_precision_score(test["label"], test[name])), 4),
            "lift_at_10pct": round(float(top["label"].mean()) / base, 3),
        }
    return out


def at_volume(
    test: pd.DataFrame, outcomes: pd.DataFrame, rankers: list[str], volume: pd.Series, key: str
) -> dict[str, dict[str, float]]:
    """Per ranker, handing sales `volume[snapshot]` rows at each test snapshot: precision,
    recall, deals reached, won deals and revenue, rows to work per won deal.

    `outcomes` lists the opportunities behind each positive (key, snapshot) row.
    """
    keyed = outcomes.set_index([key, "snapshot_date"])
    keyed = keyed.loc[keyed.index.isin(pd.MultiIndex.from_frame(test[[key, "snapshot_date"]]))]
    positives = int(test["label"].sum())
    won_all = keyed.loc[keyed["is_won"].fillna(False).astype(bool)]
    revenue_all = float(won_all.drop_duplicates("opportunity_id")["amount"].sum())
    result = {}
    for name in rankers:
        chosen = top_k_per_snapshot(test, name, volume, key)
        picked = test.loc[chosen, [key, "snapshot_date"]]
        deals = keyed.loc[keyed.index.isin(pd.MultiIndex.from_frame(picked))]
        won = deals[deals["is_won"].fillna(False).astype(bool)].drop_duplicates("opportunity_id")
        hits = int(test.loc[chosen, "label"].sum())
        selected = int(chosen.sum())
        result[name] = {
            "selected": selected,
            "precision": round(hits / max(selected, 1), 4),
            "recall": round(hits / max(positives, 1), 4),
            "deals_reached": int(deals["opportunity_id"].nunique()),
            "won_deals": len(won),
            "won_revenue": float(won["amount"].sum()),
            "won_revenue_share": round(float(won["amount"].sum()) / max(revenue_all, 1.0), 4),
            "worked_per_won_deal": round(selected / len(won), 1) if len(won) else None,
        }
    return result


def side_by_side(
    test: pd.DataFrame, outcomes: pd.DataFrame, kind: Kind, capacity: int
) -> dict[str, dict]:
    """The whole table: ranking figures, then figures at marketing's volume and at sales'
    capacity per snapshot."""
    rankers = list(kind.rankers)
    dates = test["snapshot_date"].unique()
    volumes = {
        kind.volume_name: test.groupby("snapshot_date")[kind.baseline].sum(),
        "sales_capacity": pd.Series(capacity, index=dates),
    }
    table = {"ranking": ranking_metrics(test, rankers)}
    for name, volume in volumes.items():
        table[name] = at_volume(test, outcomes, rankers, volume, kind.key)
    return table


def never_worked_check(test: pd.DataFrame, scores: list[str]) -> dict[str, dict[str, float]]:
    """How well each score ranks the leads sales never worked (no touch before the snapshot
    nor in the label window), against the truth and the labels."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    rows = test[(test["worked"] == 0) & (test["sales_touches_90d"] == 0)]
    out = {}
    for name in scores:
        out[name] = {
            "rows": len(rows),
            "spearman_vs_truth": round(float(spearmanr(rows[name], rows["oracle"]).statistic), 4),
            "roc_auc": round(float(roc_auc_score(rows["label"], rows[name])), 4)
            if rows["label"].nunique() == 2
            else None,
        }
    return out


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
            "rows": int(mask.sum()),
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


def report_markdown(table: dict[str, dict], test: pd.DataFrame, kind: Kind) -> str:
    """The side-by-side tables as Markdown."""
    dates = test["snapshot_date"]
    lines = [
        f"Test period: {dates.nunique()} monthly snapshots {dates.min():%Y-%m-%d} to "
        f"{dates.max():%Y-%m-%d}, {len(test)} {kind.noun} rows, {int(test['label'].sum())} "
        "converted (on a new opportunity within the label window).",
        "",
        "| ranker | ROC-AUC | PR-AUC | lift at top 10% |",
        "|---|---|---|---|",
    ]
    for name, label in kind.rankers.items():
        row = table["ranking"][name]
        lines.append(f"| {label} | {row['roc_auc']} | {row['pr_auc']} | {row['lift_at_10pct']} |")
    cols = [
        "precision",
        "recall",
        "deals_reached",
        "won_deals",
        "won_revenue",
        "won_revenue_share",
        "worked_per_won_deal",
    ]
    for volume in table:
        if volume == "ranking":
            continue
        picked = table[volume][kind.baseline]["selected"]
        lines += [
            "",
            f"At {volume.replace('_', ' ')}: {picked} {kind.noun}s handed to sales over the "
            "test snapshots.",
            "",
            "| ranker | " + " | ".join(c.replace("_", " ") for c in cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for name, label in kind.rankers.items():
            row = table[volume][name]
            cells = [f"{row[c]:,.0f}" if c == "won_revenue" else f"{row[c]}" for c in cols]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def gains_curve(test: pd.DataFrame, rankers: list[str], points: int = 50) -> pd.DataFrame:
    """Share of conversions captured when sales works the top x% of rows, per ranker."""
    shares = np.linspace(0, 1, points + 1)
    out = {"share_worked": shares.round(4)}
    total = max(int(test["label"].sum()), 1)
    for name in rankers:
        labels = test.sort_values(name, ascending=False, kind="stable")["label"].to_numpy()
        captured = np.concatenate([[0], np.cumsum(labels)]) / total
        out[name] = captured[np.rint(shares * len(labels)).astype(int)].round(4)
    return pd.DataFrame(out)


def precision_at_k(test: pd.DataFrame, rankers: list[str], points: int = 30) -> pd.DataFrame:
    """Precision among the top k rows of the test period, per ranker, k up to 20% of rows."""
    ks = np.unique(np.geomspace(10, max(len(test) // 5, 11), points).astype(int))
    out = {"k": ks}
    for name in rankers:
        labels = test.sort_values(name, ascending=False, kind="stable")["label"].to_numpy()
        out[name] = (np.cumsum(labels)[ks - 1] / ks).round(4)
    return pd.DataFrame(out)


def reliability_curve(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed conversion rate over equal-count bins."""
    order = np.argsort(p, kind="stable")
    parts = [part for part in np.array_split(order, bins) if len(part)]
    return pd.DataFrame(
        {
            "predicted": [round(float(p[part].mean()), 5) for part in parts],
            "observed": [round(float(y[part].mean()), 5) for part in parts],
            "rows": [len(part) for part in parts],
        }
    )


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
        "| grade | rows | mean probability | conversion rate |",
        "|---|---|---|---|",
    ]
    for name, row in calibration["grades"].items():
        lines.append(
            f"| {name} | {row['rows']} | {row['mean_probability']} | {row['conversion_rate']} |"
        )
    return "\n".join(lines) + "\n"


def main(
    snapshots: Annotated[Path, typer.Option(help="Lead or account snapshot feature table.")],
    outcomes: Annotated[Path, typer.Option(help="Opportunities behind each positive row.")],
    truth: Annotated[Path, typer.Option(help="Truth table of the synthetic world.")],
    model_dir: Annotated[Path, typer.Option(help="Trained model folder (MLflow format).")],
    run_info: Annotated[Path, typer.Option(help="JSON with the training run id.")],
    metrics: Annotated[Path, typer.Option(help="Side-by-side metrics (DVC metrics).")],
    report: Annotated[Path, typer.Option(help="Markdown report.")],
    plots: Annotated[Path, typer.Option(help="Folder for the plot tables (DVC plots).")],
    kind: Annotated[str, typer.Option(help="lead or account.")] = "lead",
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Compare the model with marketing's pick on the test period."""
    from mqlscore import tracking

    if kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    spec = KINDS[kind]
    train_cfg = load_section(params, "train", TrainParams)
    config = load_section(params, "evaluate", EvaluateParams)
    frame = pd.read_parquet(snapshots)
    split = time_split(frame, train_cfg.test_snapshots, train_cfg.valid_snapshots)
    features = feature_columns(frame, train_cfg.use_marketing_features)
    test = marketing_columns(split.test, kind)
    baseline = fit_logistic_baseline(split.train, features)
    test["logistic_regression"] = baseline.predict_proba(test[features])[:, 1]
    model = tracking.load_model(str(model_dir))
    inputs = model.metadata.get_input_schema().input_names()
    test["model"] = model.predict(test[inputs])["probability"].to_numpy()
    raw = model.unwrap_python_model().scorer.raw_score(test[inputs])
    oracle = pd.read_parquet(truth).set_index([spec.key, "snapshot_date"])["p_opportunity"]
    keys = pd.MultiIndex.from_frame(test[[spec.key, "snapshot_date"]])
    test["oracle"] = oracle.reindex(keys).fillna(0.0).to_numpy()
    if np.isnan(test["model"]).any():
        raise ValueError("model returned missing probabilities")

    table = side_by_side(test, pd.read_parquet(outcomes), spec, getattr(config, spec.capacity))
    bias = None
    if kind == "lead":  # the same model with the other follow-up setting, for comparison
        corrected = train_cfg.follow_up_correction == "ipw"
        flipped = {"follow_up_correction": "none" if corrected else "ipw"}
        other, _ = train_model(frame, train_cfg.model_copy(update=flipped))
        test["naive_model" if corrected else "ipw_model"] = other.raw_score(test)
        test["ipw_model" if corrected else "naive_model"] = test["model"]
        bias = never_worked_check(test, ["ipw_model", "naive_model", "oracle"])
    labels = test["label"].to_numpy()
    calibration = calibration_summary(raw, test["model"].to_numpy(), labels, config.grades)
    text = report_markdown(table, test, spec) + calibration_markdown(calibration)
    if bias:
        text += (
            f"\nFollow-up bias: on the {bias['naive_model']['rows']} test rows of leads sales "
            "never worked, rank correlation with the truth: IPW-corrected model "
            f"{bias['ipw_model']['spearman_vs_truth']}, naive model "
            f"{bias['naive_model']['spearman_vs_truth']}; ROC-AUC "
            f"{bias['ipw_model']['roc_auc']} vs {bias['naive_model']['roc_auc']} "
            f"(in use: {train_cfg.follow_up_correction}).\n"
        )
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
    curves = {
        "gains": gains_curve(test, list(spec.rankers)),
        "precision_at_k": precision_at_k(test, list(spec.rankers)),
        "calibration": reliability_curve(test["model"].to_numpy(), labels),
    }
    for name, curve in curves.items():
        write_text(curve.to_csv(index=False), plots / f"{name}.csv")
    extra = {"never_worked": bias} if bias else {}
    write_json({**table, "calibration": calibration, "champion": decision, **extra}, metrics)
    write_text(text, report)
    flat = {
        f"test_{volume}_{ranker}_{k}": float(v)
        for volume, rows in table.items()
        for ranker, row in rows.items()
        for k, v in row.items()
        if v is not None
    }
    flat |= {f"test_{k}": v for k, v in calibration.items() if k != "grades"}
    tracking.log_evaluation(run["run_id"], flat, text, curves)
    log.info("evaluate %s:\n%s", kind, text)
    at_marketing = table[spec.volume_name]
    if config.require_beats_mql and (
        at_marketing["model"]["won_deals"] < at_marketing[spec.baseline]["won_deals"]
        or at_marketing["model"]["precision"] <= at_marketing[spec.baseline]["precision"]
    ):
        log.error("quality bar: the %s model does not beat marketing's pick at its volume", kind)
        raise typer.Exit(1)
