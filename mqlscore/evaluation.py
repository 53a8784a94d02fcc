"""Evaluation: each model beside marketing's own pick, a logistic regression and the
oracle, on the test period; curves; the quality gate and the champion rule.

Lead model vs marketing's MQL flag and points score; account model vs "all target
accounts" and the account-summed points. Every ranker hands sales the same volume at each
test snapshot: marketing's (new MQLs, or target accounts) and sales' capacity (params).
Pure functions: frames in, dicts and frames out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlscore.config import TrainParams
from mqlscore.model import (
    Scorer,
    brier,
    expected_calibration_error,
    grade,
    split_for,
)


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
            "lightgbm": "LightGBM (same features)",
            "lead_source_rate": "lead source alone (its training conversion rate)",
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
            "lightgbm": "LightGBM (same features)",
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
    """Marketing's own rankers as score columns (the baseline's picks set the volume),
    those the source's columns support."""
    sources = {
        "lead": {"mql_flag": "new_mql", "mql_points": "marketing_points"},
        "account": {
            "target_accounts": "is_target_account",
            "marketing_points_sum": "account_marketing_points",
        },
    }[kind]
    test = test.copy()
    for ranker, column in sources.items():
        if column in test.columns:
            test[ranker] = test[column].astype(float)
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
            "precision_at_10pct": round(float(top["label"].mean()), 4),
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


def present_rankers(test: pd.DataFrame, kind: Kind) -> list[str]:
    """The kind's rankers the test rows support: no oracle without a truth table, no
    marketing flag or points the export does not carry (constant on every row)."""
    return [
        name
        for name in kind.rankers
        if name in test.columns and (name == "model" or test[name].nunique() > 1)
    ]


def absent_rankers(test: pd.DataFrame, kind: Kind) -> list[str]:
    """The comparison rows this source cannot support, in words for the report."""
    present = set(present_rankers(test, kind))
    return [label for name, label in kind.rankers.items() if name not in present]


def capacity_per_snapshot(test: pd.DataFrame, per_month: int) -> int:
    """Sales' monthly capacity scaled to the spacing of the snapshots (daily grid: a day's
    share of the month)."""
    dates = pd.Series(sorted(test["snapshot_date"].unique()))
    days = dates.diff().dt.days.median() if len(dates) > 1 else 30.4
    return max(int(round(per_month * min(days, 30.4) / 30.4)), 1)


def side_by_side(
    test: pd.DataFrame, outcomes: pd.DataFrame, kind: Kind, capacity: int
) -> dict[str, dict]:
    """The whole table: ranking figures, then figures at marketing's volume and at sales'
    capacity per snapshot."""
    rankers = present_rankers(test, kind)
    dates = test["snapshot_date"].unique()
    volumes = {"sales_capacity": pd.Series(capacity, index=dates)}
    if kind.baseline in rankers:
        volumes = {kind.volume_name: test.groupby("snapshot_date")[kind.baseline].sum()} | volumes
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


def test_rows(
    frame: pd.DataFrame,
    scorer: Scorer,
    comparison: Scorer,
    params: TrainParams,
    window_days: int,
    kind: str,
    truth: pd.DataFrame | None,
) -> pd.DataFrame:
    """The test period with every ranker as a score column: the model, the other model
    kind fitted on the same purged split (named by its kind: `logistic_regression` or
    `lightgbm`), marketing's own pick, and the oracle when a truth table exists."""
    split = split_for(frame, params, window_days)
    test = marketing_columns(split.test, kind)
    test[comparison.kind] = comparison.probability(test)
    test["model"] = scorer.probability(test)
    if kind == "lead" and "lead_source" in test.columns:
        test["lead_source_rate"] = source_rates(split.train, test)
    if np.isnan(test["model"]).any():
        raise ValueError("model returned missing probabilities")
    if truth is not None:
        key = KINDS[kind].key
        oracle = truth.set_index([key, "snapshot_date"])["p_opportunity"]
        keys = pd.MultiIndex.from_frame(test[[key, "snapshot_date"]])
        test["oracle"] = oracle.reindex(keys).fillna(0.0).to_numpy()
    return test


def source_rates(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """A one-feature baseline: each test lead scored by its lead source's conversion rate
    on the training period (unseen or blank sources: the overall rate)."""
    sources = train["lead_source"].fillna("(blank)")
    rates = train.groupby(sources)["label"].mean()
    mapped = test["lead_source"].fillna("(blank)").map(rates)
    return mapped.fillna(train["label"].mean()).to_numpy(dtype=float)


def follow_up_comparison(
    frame: pd.DataFrame, test: pd.DataFrame, params: TrainParams, window_days: int
) -> dict[str, dict[str, float]]:
    """The lead model with the other follow-up setting, both ranked on the leads sales
    never worked against the truth (needs the oracle column)."""
    from mqlscore.training import train_model

    corrected = params.follow_up_correction == "ipw"
    update = {"follow_up_correction": "none" if corrected else "ipw"}
    other = train_model(frame, params.model_copy(update=update), window_days).model
    test = test.assign(**{"naive_model" if corrected else "ipw_model": other.raw_score(test)})
    test["ipw_model" if corrected else "naive_model"] = test["model"]
    return never_worked_check(test, ["ipw_model", "naive_model", "oracle"])


def quality_gate(
    table: dict[str, dict], kind: Kind, require_beats_mql: bool, min_roc_auc: float
) -> dict:
    """Whether the model may become champion: ROC-AUC at least `min_roc_auc` and, when
    required, at marketing's volume at least as many won deals as marketing's pick and a
    higher precision. Returns `passed` and the failed bars in words."""
    failed, skipped = [], []
    auc = table["ranking"]["model"]["roc_auc"]
    if auc < min_roc_auc:
        failed.append(f"test ROC-AUC {auc} below evaluate.min_roc_auc {min_roc_auc}")
    if require_beats_mql and kind.volume_name not in table:
        skipped.append(f"no {kind.baseline} in this export to beat")
    elif require_beats_mql:
        volume = table[kind.volume_name]
        model, base = volume["model"], volume[kind.baseline]
        if model["won_deals"] < base["won_deals"]:
            failed.append(
                f"{model['won_deals']} won deals vs {base['won_deals']} ({kind.baseline})"
            )
        if model["precision"] <= base["precision"]:
            failed.append(
                f"precision {model['precision']} vs {base['precision']} ({kind.baseline})"
            )
    return {"passed": not failed, "failed": failed, "skipped": skipped}


def headline(summary: dict, kind: Kind) -> dict:
    """The few figures worth a column in `dvc exp show`: the model's ranking and, at
    sales' capacity, its won deals and revenue beside marketing's pick; the gate."""
    ranking, capacity = summary["ranking"]["model"], summary["sales_capacity"]
    out = {
        "roc_auc": ranking["roc_auc"],
        "pr_auc": ranking["pr_auc"],
        "won_deals": capacity["model"]["won_deals"],
        "won_revenue": capacity["model"]["won_revenue"],
        "ece": summary["calibration"]["ece"],
        "gate_passed": summary["gate"]["passed"],
    }
    if kind.baseline in capacity:
        out[f"{kind.baseline}_won_deals"] = capacity[kind.baseline]["won_deals"]
        out[f"{kind.baseline}_won_revenue"] = capacity[kind.baseline]["won_revenue"]
    return out


def flat_metrics(table: dict[str, dict], calibration: dict) -> dict[str, float]:
    """The side-by-side table and calibration as flat MLflow metric names."""
    flat = {
        f"test_{volume}_{ranker}_{k}": float(v)
        for volume, rows in table.items()
        for ranker, row in rows.items()
        for k, v in row.items()
        if v is not None
    }
    return flat | {f"test_{k}": v for k, v in calibration.items() if k != "grades"}


def crown(evaluations: dict[str, dict], experiment: str | None) -> dict[str, dict]:
    """Which registered versions take the champion alias: none unless every evaluated
    model passed its quality gate, none in a DVC experiment (a question, not a release),
    else each version that beat its champion."""
    failed = sorted(name for name, result in evaluations.items() if not result["gate"]["passed"])
    plan = {}
    for name, result in evaluations.items():
        decision = result["champion"]
        if decision is None:  # no model of this kind was trained
            plan[name] = {
                "registered_model": None,
                "version": None,
                "promoted": False,
                "reason": result.get("skipped", "no model"),
            }
            continue
        if failed:
            promote, why = False, f"quality gate failed for {', '.join(failed)}"
        elif experiment:
            promote, why = False, f"DVC experiment {experiment}: registered, never crowned"
        else:
            promote = bool(decision["better"])
            why = "beat the champion" if promote else "the champion stays better"
        plan[name] = {
            "registered_model": decision["registered_model"],
            "version": decision["version"],
            "promoted": promote,
            "reason": why,
        }
    return plan
