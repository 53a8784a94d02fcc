"""The quality gate and the promotion rule (the champion duel)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.evaluation.intervals import Bootstrap, bootstrap_ranking, noise
from mqlscore.evaluation.kinds import Kind
from mqlscore.evaluation.ranking import ranking_point


def should_promote(duel: dict, margin: float) -> bool:
    """A challenger takes over only when there is no champion, or when the lower bound of
    its paired lead (challenger minus champion) is above the margin: ahead beyond the noise."""
    if duel["champion"] is None:
        return True
    return duel["difference_interval"][0] > margin


def challenge(
    test: pd.DataFrame,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    metric: str,
    boot: Bootstrap,
) -> dict:
    """The challenger's and champion's figure on the same test rows, and the challenger's
    lead with its interval from a paired bootstrap (the same resamples for both)."""
    label = test["label"].to_numpy(dtype=float)
    pick = {"roc_auc": 0, "pr_auc": 1}[metric]
    mine = ranking_point(challenger, label)[pick]
    if champion is None:
        return {"challenger": round(mine, 4), "champion": None}
    theirs = ranking_point(champion, label)[pick]
    lead = bootstrap_ranking(challenger, label, boot)[pick]
    lead = lead - bootstrap_ranking(champion, label, boot)[pick]
    interval = boot.interval(lead)
    return {
        "challenger": round(mine, 4),
        "champion": round(theirs, 4),
        "difference": round(mine - theirs, 4),
        "difference_interval": interval,
        "inside_noise": interval[0] <= 0 <= interval[1],
    }


def quality_gate(
    table: dict[str, dict], kind: Kind, require_beats_mql: bool, min_roc_auc: float
) -> dict:
    """Whether the model may become champion: ROC-AUC at least `min_roc_auc` and, when
    required, at marketing's volume at least as many distinct won deals as marketing's pick
    and more distinct deals reached. Returns `passed` and the failed bars in words."""
    failed, skipped = [], []
    auc = table["ranking"]["model"]["roc_auc"]
    if not auc >= min_roc_auc:  # a NaN (one class in the test period) fails too
        failed.append(f"test ROC-AUC {auc} below evaluate.min_roc_auc {min_roc_auc}")
    if require_beats_mql and kind.volume_name not in table:
        skipped.append(f"no {kind.baseline} in this export to beat")
    elif require_beats_mql:
        volume = table[kind.volume_name]
        model, base = volume["model"], volume[kind.baseline]
        if model["won_deals"] < base["won_deals"]:
            failed.append(
                f"{model['won_deals']:g} won deals at {kind.volume_name} vs "
                f"{base['won_deals']:g} ({kind.baseline})"
            )
        if model["deals_reached"] <= base["deals_reached"]:
            failed.append(
                f"{model['deals_reached']:g} deals reached at {kind.volume_name} vs "
                f"{base['deals_reached']:g} ({kind.baseline})"
            )
    return {
        "passed": not failed,
        "failed": failed,
        "skipped": skipped,
        "noise": noise(table, kind),
    }


def headline(summary: dict, kind: Kind) -> dict:
    """The few figures worth a column in `dvc exp show`, each named for its volume: the
    model's ranking; at sales' capacity its won deals and revenue beside marketing's pick;
    at marketing's own volume (`mql_volume`, `target_volume`) the won deals the gate
    compares; the gate."""
    ranking, capacity = summary["ranking"]["model"], summary["sales_capacity"]
    out = {
        "roc_auc": ranking["roc_auc"],
        "pr_auc": ranking["pr_auc"],
        "won_deals_at_capacity": capacity["model"]["won_deals"],
        "won_revenue_at_capacity": capacity["model"]["won_revenue"],
        "ece": summary["calibration"]["ece"],
        "gate_passed": summary["gate"]["passed"],
    }
    if "pr_auc_interval" in ranking:
        out["pr_auc_low"], out["pr_auc_high"] = ranking["pr_auc_interval"]
    if kind.baseline in capacity:
        out[f"{kind.baseline}_won_deals_at_capacity"] = capacity[kind.baseline]["won_deals"]
        out[f"{kind.baseline}_won_revenue_at_capacity"] = capacity[kind.baseline]["won_revenue"]
    volume = summary.get(kind.volume_name, {})
    for ranker, prefix in (("model", ""), (kind.baseline, f"{kind.baseline}_")):
        if ranker in volume:
            out[f"{prefix}won_deals_at_{kind.volume_name}"] = volume[ranker]["won_deals"]
    return out


def crown(
    evaluations: dict[str, dict], duels: dict[str, dict], experiment: str | None
) -> dict[str, dict]:
    """Which registered versions take the champion alias: none unless every evaluated
    model passed its quality gate, none in a DVC experiment (a question, not a release),
    else each version ahead of its champion in its duel."""
    failed = sorted(name for name, result in evaluations.items() if not result["gate"]["passed"])
    plan = {}
    for name, decision in duels.items():
        if failed:
            promote, why = False, f"quality gate failed for {', '.join(failed)}"
        elif experiment:
            promote, why = False, f"DVC experiment {experiment}: registered, never crowned"
        elif decision["already_champion"]:
            promote, why = False, "already the champion"
        else:
            promote = bool(decision["better"])
            why = (
                "ahead of the champion beyond the noise"
                if promote
                else "the champion stays: this version is not ahead of it beyond the noise"
            )
        plan[name] = {
            "registered_model": decision["registered_model"],
            "version": decision["version"],
            "promoted": promote,
            "reason": why,
            "duel": decision,
        }
    return plan
