"""At-volume tables: distinct leads, deals reached and won at marketing's volume
and at sales' capacity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.evaluation.intervals import Bootstrap, ranking_metrics, with_intervals
from mqlscore.evaluation.kinds import Kind
from mqlscore.evaluation.ranking import tie_groups
from mqlscore.schema import longest_window


def _fill(score: np.ndarray, available: np.ndarray, slots: float) -> np.ndarray:
    """Each row's share of `slots` filled best score first, a row taking at most what is
    `available` of it; a tie at the cut shares the slots left in proportion."""
    order, group = tie_groups(score)
    mass = np.bincount(group, weights=available[order])
    before = np.r_[0.0, np.cumsum(mass)[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        taken = np.nan_to_num(np.clip((slots - before) / mass, 0.0, 1.0))
    share = np.empty(len(score))
    share[order] = available[order] * taken[group]
    return share


def top_k_per_snapshot(test: pd.DataFrame, score: str, volume: pd.Series, key: str) -> pd.Series:
    """Each row's share of the hand-over: the `volume[snapshot]` best rows of each snapshot,
    earliest first, never a key handed over at an earlier snapshot (first hand-over). A tie
    at the cut shares the slots left (its expected value under random order), so shares are
    1 or 0 except at a tied cut."""
    codes, uniques = pd.factorize(test[key])
    left = np.ones(len(uniques))
    share = np.zeros(len(test))
    scores = test[score].to_numpy(dtype=float)
    for date, rows in sorted(test.groupby("snapshot_date").indices.items()):
        got = _fill(scores[rows], left[codes[rows]], float(volume.get(date, 0)))
        share[rows] = got
        left[codes[rows]] = np.clip(left[codes[rows]] - got, 0.0, 1.0)
    return pd.Series(share, index=test.index)


def marketing_volume(test: pd.DataFrame, column: str, key: str) -> pd.Series:
    """Per snapshot, the keys marketing's pick (`column` > 0) hands over for the first time
    in the test period: the volume every ranker gets at marketing's volume."""
    picked = test.loc[test[column] > 0, [key, "snapshot_date"]]
    first = picked.sort_values("snapshot_date", kind="stable").drop_duplicates(key)
    dates = sorted(test["snapshot_date"].unique())
    return first.groupby("snapshot_date").size().reindex(dates, fill_value=0)


def deal_links(test: pd.DataFrame, outcomes: pd.DataFrame, key: str) -> pd.DataFrame:
    """(test row position, deal number) for every opportunity a test row is behind, with
    the deal's won flag and amount."""
    rows = test[[key, "snapshot_date"]].assign(row=np.arange(len(test)))
    columns = [key, "snapshot_date", "opportunity_id", "is_won", "amount"]
    links = rows.merge(outcomes[columns], on=[key, "snapshot_date"])
    links["deal"] = pd.factorize(links["opportunity_id"])[0]
    links["won"] = links["is_won"].fillna(False).astype(bool)
    links["amount"] = links["amount"].fillna(0.0).astype(float)
    return links


def deals_reached(share: np.ndarray, links: pd.DataFrame) -> np.ndarray:
    """Per deal, the chance a handed-over row is behind it (1 or 0 but at a tied cut)."""
    missed = np.ones(int(links["deal"].max()) + 1 if len(links) else 0)
    np.multiply.at(missed, links["deal"].to_numpy(), 1 - share[links["row"].to_numpy()])
    return 1 - missed


def _count(value: float) -> float:
    return round(float(value), 2)


def handover_figures(
    share: np.ndarray, label: np.ndarray, links: pd.DataFrame, deals: pd.DataFrame
) -> dict[str, float]:
    """Figures of one hand-over (`share` per test row): keys handed over and converted,
    distinct deals reached and won, won revenue, rows to work per won deal."""
    reached = deals_reached(share, links)
    won = deals["won"].to_numpy()
    amount = deals["amount"].to_numpy()
    selected, converted = float(share.sum()), float(share @ label)
    won_deals, revenue = float(reached[won].sum()), float((reached * amount)[won].sum())
    return {
        "selected": _count(selected),
        "converted": _count(converted),
        "precision": round(converted / max(selected, 1e-12), 4),
        "recall": round(float(reached.sum()) / max(len(deals), 1), 4),
        "deals_reached": _count(reached.sum()),
        "won_deals": _count(won_deals),
        "won_revenue": round(revenue, 2),
        "won_revenue_share": round(revenue / max(float(amount[won].sum()), 1.0), 4),
        "worked_per_won_deal": round(selected / won_deals, 1) if won_deals > 0.5 else None,
    }


def deals_by_unit(
    share: np.ndarray, links: pd.DataFrame, deals: pd.DataFrame, boot: Bootstrap
) -> dict[str, np.ndarray]:
    """Deals reached and won deals per resampling unit (a deal is its first row's unit)."""
    reached = deals_reached(share, links)
    unit = boot.unit[links.groupby("deal")["row"].first().to_numpy()]
    units = boot.weights.shape[1]
    won = reached * deals["won"].to_numpy()
    return {
        "deals_reached": np.bincount(unit, weights=reached, minlength=units),
        "won_deals": np.bincount(unit, weights=won, minlength=units),
    }


def at_volume(
    test: pd.DataFrame,
    outcomes: pd.DataFrame,
    rankers: list[str],
    volume: pd.Series,
    key: str,
    boot: Bootstrap | None = None,
    baseline: str = "",
) -> dict[str, dict[str, float]]:
    """Per ranker, handing sales `volume[snapshot]` first hand-overs at each test snapshot
    (`top_k_per_snapshot`): keys handed over (each once), how many converted, precision,
    recall (the share of the period's deals reached), distinct deals reached and won, won
    revenue and its share, keys worked per won deal.

    A deal is reached when a handed-over row is a contact on it within its label window:
    `outcomes` lists the opportunities behind each positive (key, snapshot) row. With
    `boot`, deals reached and won get intervals, and the model its lead over `baseline`.
    """
    links = deal_links(test, outcomes, key)
    deals = links.drop_duplicates("deal").sort_values("deal")
    label = test["label"].to_numpy(dtype=float)
    shares = {name: top_k_per_snapshot(test, name, volume, key).to_numpy() for name in rankers}
    figures = {
        name: handover_figures(share, label, links, deals) for name, share in shares.items()
    }
    if boot is None:
        return figures
    by_unit = {name: deals_by_unit(share, links, deals, boot) for name, share in shares.items()}
    return with_intervals(figures, by_unit, baseline, boot)


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
    test: pd.DataFrame,
    outcomes: pd.DataFrame,
    kind: Kind,
    capacity: int,
    boot: Bootstrap | None = None,
) -> dict[str, dict]:
    """The whole table: ranking figures, then figures at marketing's volume (its first
    hand-overs per snapshot) and at sales' capacity per snapshot; with `boot`, the
    headline figures' bootstrap intervals."""
    rankers = present_rankers(test, kind)
    dates = sorted(test["snapshot_date"].unique())
    volumes = {"sales_capacity": pd.Series(capacity, index=dates)}
    if kind.baseline in rankers:
        volumes = {kind.volume_name: marketing_volume(test, kind.baseline, kind.key)} | volumes
    table = {"ranking": ranking_metrics(test, rankers, boot)}
    for name, volume in volumes.items():
        table[name] = at_volume(test, outcomes, rankers, volume, kind.key, boot, kind.baseline)
    return table


def never_worked_check(test: pd.DataFrame, scores: list[str]) -> dict[str, dict[str, float]]:
    """How well each score ranks the leads sales never worked (no touch before the snapshot
    nor in the label window), against the truth and the labels."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    touches = longest_window(test.columns, "sales_touches")
    rows = test[(test["worked"] == 0) & (test[touches] == 0)]
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
