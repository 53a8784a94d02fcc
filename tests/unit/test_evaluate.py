"""Side-by-side evaluation on hand-made rows."""

from __future__ import annotations

import pandas as pd

from pipeline.evaluate import side_by_side, top_k_per_snapshot

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
    chosen = top_k_per_snapshot(rows, "model", rows.groupby("snapshot_date")["new_mql"].sum())
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
    table = side_by_side(_rows(), outcomes)
    assert table["mql_flag"]["precision"] == round(1 / 3, 4)  # b@T1 no, b@T2 yes, c@T2 no
    assert table["model"]["recall"] == round(2 / 3, 4)  # a@T1, b@T2 of 3 positives
    assert table["model"]["won_deals"] == 1 and table["model"]["won_revenue"] == 100.0
    assert table["mql_flag"]["won_deals"] == 0
    assert table["oracle"]["leads_selected"] == 3
    assert table["logistic_regression"]["precision"] == round(1 / 3, 4)  # a@T1; c, d@T2
