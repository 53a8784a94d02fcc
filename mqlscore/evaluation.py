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


def tie_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row order by descending score, and each ordered row's tie group (0: the best score)."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    ordered = np.asarray(score, dtype=float)[order]
    return order, np.r_[0, np.cumsum(ordered[1:] != ordered[:-1])].astype(np.int64)


def expected_hits(score: np.ndarray, label: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Expected positives among the top k rows for each k, rows of a tie in random order:
    a tie straddling k gives its positives in proportion to the slots left for it."""
    order, group = tie_groups(score)
    ends = np.flatnonzero(np.r_[group[1:] != group[:-1], True]) + 1
    hits = np.cumsum(np.asarray(label, dtype=float)[order])[ends - 1]
    return np.interp(np.asarray(ks, dtype=float), np.r_[0, ends], np.r_[0.0, hits])


def auc_ap(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision from the positive and negative weight of each tie group
    (columns, best score first; rows: resamples). A tie counts half in the AUC and is one
    step of the precision-recall curve, as in sklearn, so row order never matters."""
    tp, fp = positives.cumsum(axis=1), negatives.cumsum(axis=1)
    p, n = tp[:, -1], fp[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (positives * (n[:, None] - fp + negatives / 2)).sum(axis=1) / (p * n)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (positives * precision).sum(axis=1) / p
    return auc, ap


def ranking_point(score: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """ROC-AUC and PR-AUC (average precision) of one score, ties grouped."""
    order, group = tie_groups(score)
    y = np.asarray(label, dtype=float)[order]
    positives = np.bincount(group, weights=y)[None, :]
    negatives = np.bincount(group, weights=1 - y)[None, :]
    auc, ap = auc_ap(positives, negatives)
    return float(auc[0]), float(ap[0])


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
    """Share of conversions captured when sales works the top x% of rows, per ranker
    (ties at their expected value)."""
    shares = np.linspace(0, 1, points + 1)
    out = {"share_worked": shares.round(4)}
    label = test["label"].to_numpy(dtype=float)
    total = max(label.sum(), 1.0)
    ks = np.rint(shares * len(test))
    for name in rankers:
        out[name] = (expected_hits(test[name].to_numpy(dtype=float), label, ks) / total).round(4)
    return pd.DataFrame(out)


def precision_at_k(test: pd.DataFrame, rankers: list[str], points: int = 30) -> pd.DataFrame:
    """Precision among the top k rows of the test period, per ranker, k up to 20% of rows
    (ties at their expected value)."""
    ks = np.unique(np.geomspace(10, max(len(test) // 5, 11), points).astype(int))
    out = {"k": ks}
    label = test["label"].to_numpy(dtype=float)
    for name in rankers:
        out[name] = (expected_hits(test[name].to_numpy(dtype=float), label, ks) / ks).round(4)
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
    frame: pd.DataFrame, test: pd.DataFrame, params: TrainParams, window_days: int, kind: str
) -> dict[str, dict[str, float]]:
    """The lead model with the other follow-up setting (the same model `kind`, so the
    duel is the setting's, not the kinds'), both ranked on the leads sales never worked
    against the truth (needs the oracle column)."""
    from mqlscore.training import train_model

    corrected = params.follow_up_correction == "ipw"
    update = {"follow_up_correction": "none" if corrected else "ipw"}
    trained = train_model(frame, params.model_copy(update=update), window_days)
    other = trained.model if trained.model.kind == kind else trained.comparison
    test = test.assign(**{"naive_model" if corrected else "ipw_model": other.raw_score(test)})
    test["ipw_model" if corrected else "naive_model"] = test["model"]
    return never_worked_check(test, ["ipw_model", "naive_model", "oracle"])


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
                f"{model['won_deals']:g} won deals vs {base['won_deals']:g} ({kind.baseline})"
            )
        if model["deals_reached"] <= base["deals_reached"]:
            failed.append(
                f"{model['deals_reached']:g} deals reached vs {base['deals_reached']:g} "
                f"({kind.baseline})"
            )
    return {
        "passed": not failed,
        "failed": failed,
        "skipped": skipped,
        "noise": noise(table, kind),
    }


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


def headline(summary: dict, kind: Kind) -> dict:
    """The few figures worth a column in `dvc exp show`: the model's ranking and, at
    sales' capacity (named so), its won deals and revenue beside marketing's pick; the
    gate."""
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
    return out


def flat_metrics(table: dict[str, dict], calibration: dict) -> dict[str, float]:
    """The side-by-side table and calibration as flat MLflow metric names."""
    flat = {}
    for volume, rows in table.items():
        for ranker, row in rows.items():
            for k, v in row.items():
                name = f"test_{volume}_{ranker}_{k}"
                if isinstance(v, list):  # an interval
                    flat[f"{name}_low"], flat[f"{name}_high"] = float(v[0]), float(v[1])
                elif v is not None:
                    flat[name] = float(v)
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
