"""Bootstrap intervals resampled by account, and which differences are inside the noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlscore.evaluation.kinds import Kind
from mqlscore.evaluation.ranking import auc_ap, expected_hits, ranking_point, tie_groups


@dataclass(frozen=True)
class Bootstrap:
    """Resamples of the test rows by account (a lead without one is its own unit): how
    often each unit is drawn in each resample, the same draws for every ranker (paired)."""

    unit: np.ndarray  # each test row's resampling unit (0..units-1)
    weights: np.ndarray  # resamples x units: times each unit is drawn
    level: float  # the interval's coverage, e.g. 0.9

    def interval(self, values: np.ndarray, digits: int = 4) -> list[float]:
        """The central `level` interval of a figure over the resamples."""
        tail = (1 - self.level) / 2
        low, high = np.nanquantile(np.asarray(values, dtype=float), [tail, 1 - tail])
        return [round(float(low), digits), round(float(high), digits)]

    def totals(self, per_unit: np.ndarray) -> np.ndarray:
        """A figure that adds up over units (deals, won deals), in every resample."""
        return self.weights @ per_unit


def bootstrap_for(
    test: pd.DataFrame, key: str, resamples: int, seed: int, level: float
) -> Bootstrap:
    """Seeded resamples of the test rows' units (accounts; account-less leads alone)."""
    own = test[key].astype("string")
    account = test["account_id"].astype("string") if "account_id" in test else own
    unit, units = pd.factorize(account.fillna("lead " + own))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(units), size=(resamples, len(units)))
    draws += np.arange(resamples)[:, None] * len(units)
    counts = np.bincount(draws.ravel(), minlength=resamples * len(units))
    return Bootstrap(unit, counts.reshape(resamples, len(units)).astype(float), level)


def bootstrap_ranking(
    score: np.ndarray, label: np.ndarray, boot: Bootstrap, block: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and PR-AUC of one score in every resample (ties grouped), `block`
    resamples at a time to bound memory."""
    from scipy.sparse import csr_matrix

    order, group = tie_groups(score)
    y, unit = np.asarray(label, dtype=float)[order], boot.unit[order]
    shape = (int(group[-1]) + 1, boot.weights.shape[1])
    positives = csr_matrix((y, (group, unit)), shape=shape)
    negatives = csr_matrix((1 - y, (group, unit)), shape=shape)
    aucs, aps = [], []
    for start in range(0, len(boot.weights), block):
        drawn = boot.weights[start : start + block].T
        auc, ap = auc_ap(np.asarray((positives @ drawn).T), np.asarray((negatives @ drawn).T))
        aucs.append(auc)
        aps.append(ap)
    return np.concatenate(aucs), np.concatenate(aps)


def with_intervals(
    figures: dict[str, dict],
    by_unit: dict[str, dict[str, np.ndarray]],
    baseline: str,
    boot: Bootstrap,
) -> dict[str, dict]:
    """Each ranker's deals reached and won deals with their intervals, and the model's lead
    over marketing's pick on the same resamples (paired)."""
    for name, counts in by_unit.items():
        for field, per_unit in counts.items():
            figures[name][f"{field}_interval"] = boot.interval(boot.totals(per_unit), 1)
    if "model" in by_unit and baseline in by_unit and baseline != "model":
        for field in ("deals_reached", "won_deals"):
            lead = by_unit["model"][field] - by_unit[baseline][field]
            figures["model"][f"{field}_vs_baseline_interval"] = boot.interval(boot.totals(lead), 1)
    return figures


def noise(table: dict[str, dict], kind: Kind) -> list[str]:
    """The gate's comparisons whose paired interval holds zero: inside the noise."""
    if kind.volume_name not in table:
        return []
    model = table[kind.volume_name]["model"]
    notes = []
    for field in ("won_deals", "deals_reached"):
        low, high = model.get(f"{field}_vs_baseline_interval", (None, None))
        if low is not None and low <= 0 <= high:
            notes.append(
                f"{field.replace('_', ' ')} at {kind.volume_name.replace('_', ' ')}: the "
                f"model's lead over {kind.baseline} is inside the noise ({low:+g} to "
                f"{high:+g}, paired bootstrap by account)"
            )
    return notes


def ranking_metrics(
    test: pd.DataFrame, rankers: list[str], boot: Bootstrap | None = None
) -> dict[str, dict]:
    """Volume-free figures per ranker: ROC-AUC, PR-AUC (with their bootstrap intervals when
    `boot` is given) and lift in the top 10% of rows, ties at their expected value under
    random order."""
    label = test["label"].to_numpy(dtype=float)
    base = max(float(label.mean()), 1e-12)
    tenth = max(len(test) // 10, 1)
    out = {}
    for name in rankers:
        score = test[name].to_numpy(dtype=float)
        roc, pr = ranking_point(score, label)
        precision = float(expected_hits(score, label, np.array([tenth]))[0]) / tenth
        out[name] = {
            "roc_auc": round(roc, 4),
            "pr_auc": round(pr, 4),
            "precision_at_10pct": round(precision, 4),
            "lift_at_10pct": round(precision / base, 3),
        }
        if boot is not None:
            aucs, aps = bootstrap_ranking(score, label, boot)
            out[name] |= {
                "roc_auc_interval": boot.interval(aucs),
                "pr_auc_interval": boot.interval(aps),
            }
    return out
