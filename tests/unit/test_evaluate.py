"""Side-by-side evaluation on hand-made rows."""

from __future__ import annotations

import pandas as pd

from mqlscore.evaluation import (
    KINDS,
    expected_hits,
    gains_curve,
    precision_at_k,
    ranking_metrics,
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
    volume = rows.groupby("snapshot_date")["new_mql"].sum()
    chosen = top_k_per_snapshot(rows, "model", volume, "lead_id")
    assert rows.loc[chosen, "lead_id"].tolist() == ["a", "b", "c"]  # 1 in T1, 2 in T2


def test_side_by_side_counts_hits_and_won_deals_once() -> None:
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
    assert table["mql_flag"]["precision"] == round(1 / 3, 4)  # b@T1 no, b@T2 yes, c@T2 no
    assert table["model"]["recall"] == round(2 / 3, 4)  # a@T1, b@T2 of 3 positives
    assert table["model"]["won_deals"] == 1 and table["model"]["won_revenue"] == 100.0
    assert table["mql_flag"]["won_deals"] == 0
    assert table["oracle"]["selected"] == 3
    assert (
        table["model"]["worked_per_won_deal"] == 3.0
        and table["mql_flag"]["worked_per_won_deal"] is None
    )
    assert table["logistic_regression"]["precision"] == round(1 / 3, 4)  # a@T1; c, d@T2
    capacity = full["sales_capacity"]  # one lead per snapshot: a@T1, b@T2 for the model
    assert capacity["model"]["selected"] == 2 and capacity["model"]["precision"] == 1.0
    assert full["ranking"]["oracle"]["roc_auc"] > full["ranking"]["mql_points"]["roc_auc"]


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
