"""Side-by-side evaluation on hand-made rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mqlscore.evaluation.gate import quality_gate
from mqlscore.evaluation.intervals import bootstrap_for, bootstrap_ranking, ranking_metrics
from mqlscore.evaluation.kinds import KINDS
from mqlscore.evaluation.ranking import expected_hits, gains_curve, precision_at_k
from mqlscore.evaluation.volume import (
    at_volume,
    marketing_volume,
    side_by_side,
    top_k_per_snapshot,
)

T1, T2 = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d", "a", "b", "c", "d"],
            "snapshot_date": [T1] * 4 + [T2] * 4,
            "label": [1, 0, 0, 1, 0, 1, 0, 0],
            "new_mql": [0, 1, 0, 0, 0, 1, 1, 0],
            "model": [0.9, 0.1, 0.2, 0.8, 0.1, 0.7, 0.3, 0.2],
            "logistic_regression": [0.5, 0.4, 0.3, 0.2, 0.1, 0.2, 0.3, 0.4],
            "mql_flag": [0, 1, 0, 0, 0, 1, 1, 0],
            "mql_points": [10, 50, 40, 0, 0, 60, 70, 10],
            "oracle": [0.8, 0.0, 0.0, 0.9, 0.0, 0.9, 0.0, 0.1],
        }
    )


def test_top_k_follows_each_snapshots_mql_volume() -> None:
    rows = _rows()
    volume = marketing_volume(rows, "mql_flag", "lead_id")
    assert volume.tolist() == [1, 1]  # b first flagged at T1, c at T2 (b again is no news)
    chosen = top_k_per_snapshot(rows, "model", volume, "lead_id")
    assert rows.loc[chosen > 0, "lead_id"].tolist() == ["a", "b"]  # a at T1, then b at T2


def test_side_by_side_counts_first_hand_overs_and_distinct_deals() -> None:
    outcomes = pd.DataFrame(
        {
            "lead_id": ["a", "d", "b"],
            "snapshot_date": [T1, T1, T2],
            "opportunity_id": ["O1", "O1", "O2"],
            "is_won": [True, True, False],
            "amount": [100.0, 100.0, 50.0],
        }
    )
    full = side_by_side(_rows(), outcomes, KINDS["lead"], capacity=1)
    table = full["mql_volume"]
    assert table["mql_flag"]["selected"] == 2 and table["mql_flag"]["precision"] == 0.0
    model = table["model"]  # a@T1 (O1, won) and b@T2 (O2)
    assert model["converted"] == 2 and model["deals_reached"] == 2 and model["recall"] == 1.0
    assert model["won_deals"] == 1 and model["won_revenue"] == 100.0
    assert model["worked_per_won_deal"] == 2.0 and table["mql_flag"]["worked_per_won_deal"] is None
    assert table["logistic_regression"]["precision"] == 0.5  # a@T1, then d@T2 (a is taken)
    assert {row["selected"] for row in table.values()} == {2}
    capacity = full["sales_capacity"]  # one lead per snapshot: a@T1, b@T2 for the model
    assert capacity["model"]["selected"] == 2 and capacity["model"]["precision"] == 1.0
    assert full["ranking"]["oracle"]["roc_auc"] > full["ranking"]["mql_points"]["roc_auc"]


def test_two_contacts_of_one_deal_and_a_lead_picked_twice_count_once() -> None:
    rows = pd.DataFrame(
        {
            "lead_id": ["p", "q", "r", "p", "r", "s"],
            "snapshot_date": [T1] * 3 + [T2] * 3,
            "label": [1, 1, 0, 1, 0, 0],
            "model": [0.9, 0.8, 0.1, 0.9, 0.2, 0.05],
        }
    )
    outcomes = pd.DataFrame(
        {
            "lead_id": ["p", "q", "p"],
            "snapshot_date": [T1, T1, T2],
            "opportunity_id": ["O1"] * 3,
            "is_won": [True] * 3,
            "amount": [10.0] * 3,
        }
    )
    figures = at_volume(rows, outcomes, ["model"], pd.Series(2, index=[T1, T2]), "lead_id")
    # rows would say 3 hits (p twice, q); p and q are one deal, and p is handed over once
    model = figures["model"]
    assert (model["selected"], model["converted"], model["deals_reached"]) == (4, 2, 1)
    assert model["won_deals"] == 1 and model["precision"] == 0.5
    shares = top_k_per_snapshot(rows, "model", pd.Series(2, index=[T1, T2]), "lead_id")
    assert shares.groupby(rows["lead_id"]).sum().to_dict() == {"p": 1, "q": 1, "r": 1, "s": 1}


def test_a_tie_at_the_cut_shares_the_slots_left_whatever_the_row_order() -> None:
    rows = pd.DataFrame(
        {
            "lead_id": list("abcdef"),
            "snapshot_date": [T1] * 6,
            "label": [1, 0, 0, 0, 0, 1],
            "mql_flag": [1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    outcomes = pd.DataFrame(
        {
            "lead_id": ["a", "f"],
            "snapshot_date": [T1, T1],
            "opportunity_id": ["O1", "O2"],
            "is_won": [True, True],
            "amount": [1.0, 3.0],
        }
    )
    volume = pd.Series(3, index=[T1])  # the two flagged, then one slot among four tied rows
    shares = top_k_per_snapshot(rows, "mql_flag", volume, "lead_id")
    assert shares.tolist() == [1, 1, 0.25, 0.25, 0.25, 0.25]
    figures = at_volume(rows, outcomes, ["mql_flag"], volume, "lead_id")["mql_flag"]
    assert figures["converted"] == 1.25 and figures["won_deals"] == 1.25
    assert figures["won_revenue"] == 1.75
    backwards = rows.iloc[::-1].reset_index(drop=True)
    assert at_volume(backwards, outcomes, ["mql_flag"], volume, "lead_id")["mql_flag"] == figures


def test_lift_at_top_tenth_is_precision_over_base_rate() -> None:
    rows = pd.concat([_rows()] * 5, ignore_index=True)  # 40 rows, 4 in the top tenth
    rows["lead_id"] = rows.index.astype(str)
    full = side_by_side(
        rows,
        rows.head(0).assign(opportunity_id="", is_won=False, amount=0.0)[
            ["lead_id", "snapshot_date", "opportunity_id", "is_won", "amount"]
        ],
        KINDS["lead"],
        1,
    )
    base = rows["label"].mean()
    top = rows.sort_values("model", ascending=False, kind="stable").head(4)
    assert full["ranking"]["model"]["lift_at_10pct"] == round(top["label"].mean() / base, 3)


def test_gains_and_precision_curves_end_where_they_must() -> None:
    rows = _rows()
    gains = gains_curve(rows, ["model", "mql_flag"], points=4)
    assert gains.iloc[0, 1:].eq(0).all() and gains.iloc[-1, 1:].eq(1).all()
    assert (gains["model"].diff().dropna() >= 0).all()
    rows = pd.concat([rows] * 10, ignore_index=True)
    precision = precision_at_k(rows, ["oracle"])
    k = int(precision["k"].iloc[0])
    expected = rows.sort_values("oracle", ascending=False, kind="stable")["label"].head(k).mean()
    assert precision["oracle"].iloc[0] == round(expected, 4)


def _tied() -> pd.DataFrame:
    """A 0/1 flag with big ties (4 flagged, 1 converts; 16 not, 2 convert) and a score."""
    label = [1, 0, 0, 0] + [1, 1] + [0] * 14
    return pd.DataFrame(
        {
            "label": label,
            "mql_flag": [1.0] * 4 + [0.0] * 16,
            "model": [0.9, 0.1, 0.1, 0.5, 0.8, 0.8, 0.2] + [0.1] * 13,
        }
    )


def test_ties_count_at_their_expected_value_whatever_the_row_order() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    rows = _tied()
    backwards = rows.iloc[::-1].reset_index(drop=True)
    names = ["mql_flag", "model"]
    assert ranking_metrics(rows, names) == ranking_metrics(backwards, names)
    pd.testing.assert_frame_equal(gains_curve(rows, names), gains_curve(backwards, names))
    pd.testing.assert_frame_equal(precision_at_k(rows, names), precision_at_k(backwards, names))
    figures = ranking_metrics(rows, names)
    for name in names:  # sklearn: AUC averages ties, AP steps at distinct thresholds
        assert figures[name]["roc_auc"] == round(roc_auc_score(rows["label"], rows[name]), 4)
        assert figures[name]["pr_auc"] == round(
            average_precision_score(rows["label"], rows[name]), 4
        )
    # top 10% = 2 rows, both from the flagged tie of 4 holding 1 positive: 0.5 expected hits
    assert figures["mql_flag"]["precision_at_10pct"] == 0.25
    assert expected_hits(
        rows["mql_flag"].to_numpy(), rows["label"].to_numpy(), [4, 12]
    ).tolist() == [
        1.0,
        1.0 + 8 * 2 / 16,
    ]


def test_the_gate_weighs_distinct_deals_not_row_precision() -> None:
    def table(model: dict, flag: dict) -> dict:
        return {
            "ranking": {"model": {"roc_auc": 0.9}},
            "mql_volume": {"model": model, "mql_flag": flag},
        }

    # many re-picked rows made precision look 4x; the deals are level: the gate fails
    level = table(
        {"won_deals": 3.0, "deals_reached": 5.0, "precision": 0.4},
        {"won_deals": 3.0, "deals_reached": 5.0, "precision": 0.1},
    )
    gate = quality_gate(level, KINDS["lead"], True, 0.55)
    assert not gate["passed"] and gate["failed"] == [
        "5 deals reached at mql_volume vs 5 (mql_flag)"
    ]
    ahead = table(
        {"won_deals": 3.0, "deals_reached": 6.0, "precision": 0.05},
        {"won_deals": 2.5, "deals_reached": 5.0, "precision": 0.1},
    )
    assert quality_gate(ahead, KINDS["lead"], True, 0.55)["passed"]


def _accounts(n: int = 300, seed: int = 3) -> pd.DataFrame:
    """300 leads: every fifth has no account, the others share 48 accounts; a noisy score."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.2).astype(int)
    account = np.where(np.arange(n) % 5 == 0, None, (np.arange(n) % 60).astype(str))
    return pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "account_id": account,
            "snapshot_date": T1,
            "label": label,
            "model": np.round(label * 0.3 + rng.random(n), 1),  # rounded: many ties
        }
    )


def test_the_bootstrap_resamples_accounts_and_matches_sklearn_on_each_draw() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    rows = _accounts()
    boot = bootstrap_for(rows, "lead_id", resamples=30, seed=7, level=0.9)
    units = pd.Series(boot.unit).groupby(rows["account_id"].fillna(rows["lead_id"])).nunique()
    assert units.eq(1).all() and boot.weights.shape == (30, 48 + 60)  # 48 accounts, 60 alone
    assert (boot.weights.sum(axis=1) == 108).all()
    aucs, aps = bootstrap_ranking(rows["model"].to_numpy(), rows["label"].to_numpy(), boot)
    for b in (0, 17):  # the vectorized figure is sklearn's on the resample spelled out
        drawn = rows.loc[rows.index.repeat(boot.weights[b][boot.unit].astype(int))]
        assert aucs[b] == pytest.approx(roc_auc_score(drawn["label"], drawn["model"]))
        assert aps[b] == pytest.approx(average_precision_score(drawn["label"], drawn["model"]))
    again = bootstrap_for(rows, "lead_id", resamples=30, seed=7, level=0.9)
    np.testing.assert_array_equal(again.weights, boot.weights)  # seeded
    figures = ranking_metrics(rows, ["model"], boot)["model"]
    low, high = figures["pr_auc_interval"]
    assert low < figures["pr_auc"] < high and high - low > 0.02


def test_deal_intervals_are_paired_against_marketings_pick() -> None:
    rows = _accounts().assign(mql_flag=lambda f: (f["lead_id"].str[-1] == "1").astype(float))
    positives = rows[rows["label"] == 1]
    outcomes = pd.DataFrame(
        {
            "lead_id": positives["lead_id"],
            "snapshot_date": T1,
            "opportunity_id": "O" + positives["account_id"].fillna(positives["lead_id"]),
            "is_won": True,
            "amount": 1.0,
        }
    )
    boot = bootstrap_for(rows, "lead_id", resamples=50, seed=7, level=0.9)
    full = side_by_side(rows, outcomes, KINDS["lead"], 30, boot)
    model = full["mql_volume"]["model"]
    low, high = model["deals_reached_interval"]
    assert low <= model["deals_reached"] <= high
    lead_low, lead_high = model["deals_reached_vs_baseline_interval"]
    flag = full["mql_volume"]["mql_flag"]["deals_reached"]
    assert lead_low <= model["deals_reached"] - flag <= lead_high
    assert "deals_reached_vs_baseline_interval" not in full["mql_volume"]["mql_flag"]
    assert "pr_auc_interval" in full["ranking"]["mql_flag"]


def test_a_noise_category_with_many_levels_is_no_leak() -> None:
    """Rare levels scored on their own rows would look like a perfect predictor: pooled,
    a 600-level category of pure noise ranks like noise."""
    from mqlscore.validation.leakage import single_column_auc

    rng = np.random.default_rng(0)
    values = pd.Series(rng.integers(0, 600, 2000).astype(str))
    labels = pd.Series((rng.random(2000) < 0.2).astype(int))
    assert single_column_auc(values, labels, "category") < 0.6
